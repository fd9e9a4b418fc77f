//! Verdicts: who turns evidence into statuses. Either each node's own detectors
//! ([`Members::judge`]), or, with `--quorum` under push, pull or gossip, the [`Tally`] of
//! every observer's opinion ([`crate::quorum`]). [`crate::node::Node`] calls this module
//! once per input and never asks which of the two is in force.
//!
//! **Owns** the tally and the transitions it has already noted but the node has not yet
//! handed on (`pending`). **Never** changes a status itself (both write through
//! [`Members`]), sends a datagram (it returns what to send) or reads a clock.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::config::Config;
use crate::members::{Members, Transition};
use crate::message::{MemberEntry, Message, Opinion, Peer};
use crate::quorum::{self, Tally};
use crate::time::Instant;
use crate::why::QuorumEvidence;

/// The owner of a node's verdicts.
#[derive(Clone, Debug)]
pub(crate) enum Verdicts {
    /// Each detector's own verdict is applied by the member table.
    Detectors,
    /// Quorum-confirmed verdicts: the tally decides.
    Quorum {
        tally: Box<Tally>,
        /// Transitions taken from the table before the tally's evaluation (it notes
        /// them), still to be handed on by [`Verdicts::next_transition`].
        pending: VecDeque<Transition>,
    },
}

impl Verdicts {
    pub(crate) fn new(config: &Config, me: &Peer) -> Verdicts {
        match quorum::applies(config) {
            true => Verdicts::Quorum {
                tally: Box::new(Tally::new(config, me)),
                pending: VecDeque::new(),
            },
            false => Verdicts::Detectors,
        }
    }

    /// Whether a quorum decides (so a direct message clears no suspicion by itself, and
    /// a suspect is not told to refute: no single node accuses it).
    pub(crate) fn is_quorum(&self) -> bool {
        matches!(self, Verdicts::Quorum { .. })
    }

    /// Whether this node's own detector has a word: always, except for a pull member
    /// (not a monitor) under a quorum, which takes the monitors' word about everyone.
    pub(crate) fn observing(&self) -> bool {
        match self {
            Verdicts::Detectors => true,
            Verdicts::Quorum { tally, .. } => tally.observing(),
        }
    }

    /// Whether this node sends opinions each round (a quorum observer).
    pub(crate) fn sends_opinions(&self) -> bool {
        self.is_quorum() && self.observing()
    }

    /// A message from `from` arrived (before the table observes it). Under a quorum: a
    /// new incarnation enters unconfirmed, and the sender and the members the message
    /// carries evidence about are evaluated again.
    pub(crate) fn observe(&mut self, now: Instant, members: &mut Members, from: &Peer, message: &Message) {
        if let Verdicts::Quorum { tally, .. } = self {
            quorum::hold_unconfirmed(members, now, from);
            tally.touch(&from.name);
            quorum::subjects(message).for_each(|name| tally.touch(name));
        }
    }

    /// Second-hand news as this node may take it (under a quorum: no third-party
    /// verdicts, see [`quorum::filter_learned`]).
    pub(crate) fn learned(&mut self, me: &Peer, members: &Members, entries: Vec<MemberEntry>) -> Vec<MemberEntry> {
        match self {
            Verdicts::Detectors => entries,
            Verdicts::Quorum { tally, .. } => {
                let entries = quorum::filter_learned(me, members, entries);
                entries.iter().for_each(|e| tally.touch(&e.name));
                entries
            }
        }
    }

    /// `from`'s opinions; false when no quorum is in force (the message is ignored).
    pub(crate) fn report(&mut self, now: Instant, members: &Members, from: &str, opinions: Vec<Opinion>) -> bool {
        match self {
            Verdicts::Detectors => false,
            Verdicts::Quorum { tally, .. } => {
                tally.report(now, members, from, opinions);
                true
            }
        }
    }

    /// After a message: under a quorum, decide the statuses it may have changed.
    pub(crate) fn settle(&mut self, now: Instant, members: &mut Members) {
        if let Verdicts::Quorum { tally, pending } = self {
            while let Some(transition) = members.pop_transition() {
                tally.note_transition(&transition);
                pending.push_back(transition);
            }
            members.take_vouched().iter().for_each(|name| tally.touch(name));
            tally.evaluate(now, members);
            #[cfg(test)]
            tally.assert_complete(now, members);
        }
    }

    /// Time passed: the detectors' verdicts, or the tally's decisions.
    pub(crate) fn judge(&mut self, now: Instant, members: &mut Members) {
        match self {
            Verdicts::Detectors => members.judge(now),
            Verdicts::Quorum { .. } => {
                self.settle(now, members);
                members.release_doubts(now);
            }
        }
    }

    /// This round's opinions for each of `targets` (the strategy's opinion targets), only
    /// where there is something to say.
    pub(crate) fn on_round(
        &self,
        now: Instant,
        members: &Members,
        round: u64,
        targets: Vec<(String, SocketAddr)>,
    ) -> Vec<(SocketAddr, Vec<Opinion>)> {
        let Verdicts::Quorum { tally, .. } = self else {
            return Vec::new();
        };
        let candidates = tally.round_opinions(now, members);
        let for_target = |(name, addr): (String, SocketAddr)| {
            let opinions = tally.opinions_for(now, &candidates, &name, round);
            (!opinions.is_empty()).then_some((addr, opinions))
        };
        targets.into_iter().filter_map(for_target).collect()
    }

    /// Under a quorum: whether the tally has news to tell since the last call (a
    /// transition, a change of this node's word, a new question).
    pub(crate) fn take_news(&mut self) -> bool {
        match self {
            Verdicts::Detectors => false,
            Verdicts::Quorum { tally, .. } => tally.take_news(),
        }
    }

    /// When verdicts may next change (the node must tick then).
    pub(crate) fn next_deadline(&self, members: &Members) -> Option<Instant> {
        match self {
            Verdicts::Detectors => members.next_deadline(),
            // Under a quorum the table's own judging is off but for doubts' releases.
            Verdicts::Quorum { tally, .. } => match (tally.next_deadline(), members.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    /// The quorum's evidence about `name`, for `why`.
    pub(crate) fn evidence(&self, now: Instant, members: &Members, me: &str, name: &str) -> Option<QuorumEvidence> {
        match self {
            Verdicts::Detectors => None,
            Verdicts::Quorum { tally, .. } => tally.evidence(now, members, me, name),
        }
    }

    /// The next transition to hand on, oldest first (those the tally noted first).
    pub(crate) fn next_transition(&mut self, members: &mut Members) -> Option<Transition> {
        match self {
            Verdicts::Detectors => members.pop_transition(),
            Verdicts::Quorum { tally, pending } => pending.pop_front().or_else(|| {
                let transition = members.pop_transition()?;
                tally.note_transition(&transition);
                Some(transition)
            }),
        }
    }
}
