//! Quorum-confirmed verdicts for push, pull and gossip (`--quorum`): one broken link or
//! one sick observer never removes a healthy node, and a new or returning node is
//! declared alive only once a quorum of its observers hear it.
//!
//! **Owns** the [`Tally`]: every observer's latest *opinion* of each member (an
//! accusation: "my detector declares it dead", or a vouch: "I hear it"), with when it
//! arrived; this node's own opinion and when it last changed; and which incarnation of
//! each member a quorum has vouched for. From these it decides each member's status and
//! writes it through [`Members`] (the only status writer: `set_by_quorum`, `apply`).
//! **Never** reads a clock, sends a datagram (the node queues what
//! [`Tally::opinions_for`] returns as a [`crate::message::Message::Opinions`]) or
//! touches a detector (it reads their verdicts through `Members::detector_verdict`).
//! Not used by ping (SWIM's accuser sets travel with its rumors) nor by leader (the
//! elected leader already needs a majority).
//!
//! **The rule.** For a member `X` held at incarnation `i`, counting only opinions about
//! `i` that arrived within the [`window`] from observers (pull: the monitors; otherwise
//! every member), this node's own detector included:
//! - accusers ≥ `q` ⇒ `Dead`;
//! - otherwise, until vouchers ≥ `q` once for `i` (admission), `X` stays `Suspect` if it
//!   is new or returning, and `Dead` if a quorum declared it dead at `i`;
//! - otherwise `Suspect` while this node's own detector doubts it, else `Alive`.
//!
//! `q` is `Config::quorum_size(n)` with `n` the observers of `X` (excluding `X`): for
//! push and gossip the members held up, for pull the monitors.
//!
//! **Why separate messages.** Opinions travel in their own datagram, sent each round to
//! the strategy's usual targets (push, pull: every member; gossip: `fanout` random ones)
//! but only while there is something to say: an accusation this node holds (repeated
//! every round, so a lost datagram costs nothing), or a vouch less than a [`vouch_period`] old
//! (all of them to a target that is itself new here, so a joiner learns who is
//! confirmed), or a question: a member this node holds unconfirmed is named with
//! `ask`, and every observer answers with its word about it for as long as the question
//! keeps coming (a node that learned of a member late still gathers its quorum; answers
//! carry no question once the answerer has confirmed it, so two nodes never keep each
//! other talking).
//! A quiet cluster therefore sends nothing extra, and the existing messages are encoded
//! exactly as before (old nodes refuse the new kind as a malformed body). There is no
//! retraction message: a withdrawn accusation is replaced by the observer's vouch, or
//! stops counting when its window ends.
//!
//! **Incarnations.** A direct or second-hand message from a member at a higher
//! incarnation than held (or unknown) enters it as `Suspect` at that incarnation
//! ([`hold_unconfirmed`]); third-party `Suspect`/`Dead` news is never adopted, each node
//! counts opinions itself ([`filter_learned`]). A member held dead still comes back by
//! refuting (its next message is stale, it is told, it raises its incarnation) and is
//! then admitted like a new member.
//!
//! **Limits.** Opinions travel one hop: with gossip, an observer's accusation reaches a
//! given node only when it picks it as a target, so in clusters much larger than
//! `fanout × window / interval` a majority quorum may not assemble within one window;
//! use `AtLeast(k)` with a small `k` there. At most [`OPINION_BUDGET`] bytes of opinions
//! go in one datagram; beyond that they rotate from round to round.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::config::{Config, StrategyKind};
use crate::detector::Verdict;
use crate::members::Members;
use crate::message::{Incarnation, MemberEntry, Opinion, Peer, Status};
use crate::time::Instant;
use crate::wire;

/// Most bytes of opinions in one datagram (a member list's budget).
pub const OPINION_BUDGET: usize = wire::LIST_BUDGET;

/// Rounds an opinion keeps counting after it arrived. An accusation is repeated every
/// round, so three rounds survive two lost datagrams in a row (the death is then only
/// one round late), and an accusation the observer no longer holds (its vouch was lost)
/// stops counting within three rounds: accusations count only while they are current,
/// so independent false suspicions under loss rarely add up to a quorum.
pub const WINDOW_ROUNDS: u32 = 3;

/// How long an opinion counts after it arrived: `3 × interval` (600 ms with
/// `lan-fast`); gossip adds [`crate::config::GOSSIP_HOP_ROUNDS`] intervals, as an
/// observer reaches a given node only in the rounds it picks it (1 s with `lan-fast`).
pub fn window(config: &Config) -> Duration {
    let hops = match config.strategy {
        StrategyKind::Gossip => crate::config::GOSSIP_HOP_ROUNDS,
        _ => 0,
    };
    config.interval * (WINDOW_ROUNDS + hops)
}

/// How long this node repeats a vouch after its word changed (or to a new target):
/// `dead_after() + 4 × interval`, long enough for every observer's vouch to meet at every
/// node while a member is admitted.
pub fn vouch_period(config: &Config) -> Duration {
    config.dead_after() + config.interval * 4
}

/// Whether `config` asks this module to decide (quorum with push, pull or gossip).
pub fn applies(config: &Config) -> bool {
    config.quorum.is_some()
        && matches!(
            config.strategy,
            StrategyKind::Push | StrategyKind::Pull | StrategyKind::Gossip
        )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Report {
    incarnation: Incarnation,
    heard: bool,
    at: Instant,
}

/// This node's own word about one member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Own {
    incarnation: Incarnation,
    /// When this node first held the member at that incarnation.
    seen: Instant,
    /// `Some(true)`: heard at that incarnation, detector satisfied; `Some(false)`: the
    /// detector declares it dead and it has had `dead_after()` since `seen`; `None`: no
    /// word (doubting, or not heard at this incarnation yet).
    word: Option<bool>,
    /// When `word` last changed.
    changed: Instant,
}

/// The opinions this node knows, and what a quorum has confirmed.
#[derive(Clone, Debug)]
pub(crate) struct Tally {
    config: Config,
    window: Duration,
    vouch_period: Duration,
    /// Pull: the monitors, the only observers. Empty: every member observes.
    monitors: BTreeSet<String>,
    /// Whether this node's own detector has a word (push, gossip, a pull monitor).
    observing: bool,
    /// member → observer → its latest opinion.
    reports: BTreeMap<String, BTreeMap<String, Report>>,
    /// This node's own word about each member.
    own: BTreeMap<String, Own>,
    /// The incarnation of each member a quorum vouched for.
    confirmed: BTreeMap<String, Incarnation>,
    /// Questions: (asker, member) → when it last asked for this node's word.
    asked: BTreeMap<(String, String), Instant>,
    next_deadline: Option<Instant>,
}

impl Tally {
    pub(crate) fn new(config: &Config, me: &Peer) -> Tally {
        let monitors: BTreeSet<String> = match config.strategy {
            StrategyKind::Pull => config.monitors.iter().cloned().collect(),
            _ => BTreeSet::new(),
        };
        let observing = monitors.is_empty() || monitors.contains(&me.name);
        Tally {
            config: config.clone(),
            window: window(config),
            vouch_period: vouch_period(config),
            monitors,
            observing,
            reports: BTreeMap::new(),
            own: BTreeMap::new(),
            confirmed: BTreeMap::new(),
            asked: BTreeMap::new(),
            next_deadline: None,
        }
    }

    /// Whether this node's own word counts (and is sent).
    pub(crate) fn observing(&self) -> bool {
        self.observing
    }

    /// When a detector's verdict next gets worse (the node must evaluate then).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline
    }

    fn is_observer(&self, name: &str) -> bool {
        self.monitors.is_empty() || self.monitors.contains(name)
    }

    /// Accusers (or vouchers) `name` needs: `q` over its observers.
    fn needed(&self, members: &Members, name: &str) -> usize {
        let observers = if self.monitors.is_empty() {
            let up = members.get(name).is_some_and(|m| m.status.is_up());
            members.up_count() - usize::from(up)
        } else {
            self.monitors.len() - usize::from(self.monitors.contains(name))
        };
        self.config.quorum_size(observers)
    }

    /// `from` sent its opinions. Only observers count, only about members known here.
    pub(crate) fn report(&mut self, now: Instant, members: &Members, from: &str, opinions: Vec<Opinion>) {
        if !self.is_observer(from) {
            return;
        }
        for opinion in opinions {
            if opinion.name == from || members.get(&opinion.name).is_none() {
                continue;
            }
            if opinion.ask {
                self.asked.insert((from.to_string(), opinion.name.clone()), now);
            }
            let Some(heard) = opinion.heard else { continue };
            let report = Report {
                incarnation: opinion.incarnation,
                heard,
                at: now,
            };
            self.reports
                .entry(opinion.name)
                .or_default()
                .insert(from.to_string(), report);
        }
    }

    /// Decide every other member's status at `now` (after every input).
    pub(crate) fn evaluate(&mut self, now: Instant, members: &mut Members) {
        self.next_deadline = None;
        let names: Vec<String> = members
            .others()
            .filter(|m| m.status != Status::Left)
            .map(|m| m.name.clone())
            .collect();
        for name in &names {
            self.evaluate_one(now, members, name);
        }
        let window = self.window;
        self.own.retain(|name, _| members.get(name).is_some());
        self.confirmed.retain(|name, _| members.get(name).is_some());
        self.asked.retain(|_, at| now - *at < window);
        for reports in self.reports.values_mut() {
            reports.retain(|_, r| now - r.at < window);
        }
        self.reports
            .retain(|name, r| !r.is_empty() && members.get(name).is_some());
    }

    fn evaluate_one(&mut self, now: Instant, members: &mut Members, name: &str) {
        let Some(member) = members.get(name) else { return };
        let (incarnation, held, last_heard) = (member.incarnation, member.status, member.last_heard);
        let local = self.observing.then(|| members.detector_verdict(name, now)).flatten();
        let verdict = local.map(|(v, _)| v);
        let (mut accusers, mut vouchers) = self.count(now, name, incarnation);
        if let Some((verdict, next)) = local {
            let own = self.note_own(now, name, incarnation, verdict, last_heard);
            // The grace of an incarnation not heard yet ends `dead_after()` after `seen`.
            let grace = (own.word.is_none() && verdict == Verdict::Dead).then(|| own.seen + self.config.dead_after());
            if let Some(at) = next.into_iter().chain(grace).min() {
                self.next_deadline = Some(self.next_deadline.map_or(at, |n| n.min(at)));
            }
            match own.word {
                Some(true) => vouchers += 1,
                Some(false) => accusers += 1,
                None => {}
            }
        }
        let needed = self.needed(members, name);
        let status = self.decide(name, incarnation, held, verdict, (accusers, vouchers), needed);
        if status != held {
            members.set_by_quorum(now, name, status);
        }
    }

    /// The rule of the module documentation.
    fn decide(
        &mut self,
        name: &str,
        incarnation: Incarnation,
        held: Status,
        verdict: Option<Verdict>,
        (accusers, vouchers): (usize, usize),
        needed: usize,
    ) -> Status {
        if accusers >= needed {
            self.confirmed.remove(name);
            return Status::Dead;
        }
        if self.confirmed.get(name) != Some(&incarnation) {
            if vouchers < needed {
                return if held == Status::Dead {
                    Status::Dead
                } else {
                    Status::Suspect
                };
            }
            self.confirmed.insert(name.to_string(), incarnation);
        }
        match verdict {
            Some(Verdict::Alive) | None => Status::Alive,
            Some(Verdict::Suspect | Verdict::Dead) => Status::Suspect,
        }
    }

    /// (accusers, vouchers) of `name` at `incarnation` among the others' recent opinions.
    fn count(&self, now: Instant, name: &str, incarnation: Incarnation) -> (usize, usize) {
        let Some(reports) = self.reports.get(name) else {
            return (0, 0);
        };
        let current = reports
            .iter()
            .filter(|(from, r)| r.incarnation == incarnation && now - r.at < self.window && self.is_observer(from));
        current.fold((0, 0), |(a, v), (_, r)| if r.heard { (a, v + 1) } else { (a + 1, v) })
    }

    /// Updates this node's own word about `name` from its detector's `verdict`: a vouch
    /// only once heard at this incarnation, an accusation only `dead_after()` after the
    /// incarnation was first held (an old detector's silence says nothing about it).
    fn note_own(
        &mut self,
        now: Instant,
        name: &str,
        incarnation: Incarnation,
        verdict: Verdict,
        last_heard: Option<Instant>,
    ) -> Own {
        let dead_after = self.config.dead_after();
        let own = self.own.entry(name.to_string()).or_insert(Own {
            incarnation,
            seen: now,
            word: None,
            changed: now,
        });
        if own.incarnation != incarnation {
            *own = Own {
                incarnation,
                seen: now,
                word: None,
                changed: now,
            };
        }
        let word = match verdict {
            Verdict::Alive if last_heard.is_some_and(|t| t >= own.seen) => Some(true),
            Verdict::Dead if now - own.seen >= dead_after => Some(false),
            Verdict::Alive | Verdict::Dead => None,
            Verdict::Suspect => own.word, // one late heartbeat changes no word
        };
        if word != own.word {
            own.word = word;
            own.changed = now;
        }
        *own
    }

    /// What to tell `target` this round: every accusation held, then the vouches less
    /// than a vouch period old (all of them when `target` itself is new here), those
    /// `target` asked for, and a question about every member not confirmed here; within [`OPINION_BUDGET`], rotating by `round` beyond it.
    pub(crate) fn opinions_for(&self, now: Instant, members: &Members, target: &str, round: u64) -> Vec<Opinion> {
        if !self.observing {
            return Vec::new();
        }
        let target_new = self.own.get(target).is_some_and(|o| now - o.seen < self.vouch_period);
        let (mut accusations, mut rest) = (Vec::new(), Vec::new());
        for member in members
            .others()
            .filter(|m| m.name != target && m.status != Status::Left)
        {
            let name = &member.name;
            let word = self.own.get(name).filter(|o| o.incarnation == member.incarnation);
            let heard = word.and_then(|o| o.word);
            let ask = self.confirmed.get(name) != Some(&member.incarnation);
            let asked = self.asked.contains_key(&(target.to_string(), name.clone()));
            let fresh = word.is_some_and(|o| now - o.changed < self.vouch_period);
            let opinion = Opinion {
                name: name.clone(),
                incarnation: member.incarnation,
                heard,
                ask,
            };
            match heard {
                Some(false) => accusations.push(opinion),
                Some(true) if fresh || target_new || ask || asked => rest.push(opinion),
                None if ask => rest.push(opinion),
                _ => {}
            }
        }
        accusations.extend(rest);
        within_budget(accusations, round)
    }
}

/// `opinions` if they fit [`OPINION_BUDGET`]; otherwise as many as fit, starting at a
/// point that moves on by that many every round.
fn within_budget(opinions: Vec<Opinion>, round: u64) -> Vec<Opinion> {
    let sizes: Vec<usize> = opinions.iter().map(wire::body_len).collect();
    if sizes.iter().sum::<usize>() <= OPINION_BUDGET {
        return opinions;
    }
    let mut used = 0;
    let fit = sizes.iter().take_while(|&&s| {
        used += s;
        used <= OPINION_BUDGET
    });
    let fit = fit.count().max(1);
    let start = (round as usize).wrapping_mul(fit) % opinions.len();
    let mut used = 0;
    let rotated = opinions.iter().cycle().skip(start).take(opinions.len());
    rotated
        .take_while(|o| {
            used += wire::body_len(*o);
            used <= OPINION_BUDGET
        })
        .cloned()
        .collect()
}

/// A message from `peer` (direct, or a gossiped counter) at an incarnation not held yet:
/// enter it as `Suspect` first, so that it is admitted only once a quorum vouches.
pub(crate) fn hold_unconfirmed(members: &mut Members, now: Instant, peer: &Peer) {
    let new = members.get(&peer.name).is_none_or(|m| peer.incarnation > m.incarnation);
    if new {
        let entry = MemberEntry {
            name: peer.name.clone(),
            addr: peer.addr,
            incarnation: peer.incarnation,
            status: Status::Suspect,
            health: None,
        };
        members.apply(now, &entry);
    }
}

/// Second-hand news under a quorum: about this node, everything but a suspicion (which
/// is no verdict here; a death or a higher incarnation is still refuted); about others,
/// departures as they are, and a new member or a higher incarnation as an unconfirmed
/// `Suspect`. Other verdicts are dropped: every node counts the opinions itself.
pub(crate) fn filter_learned(me: &Peer, members: &Members, entries: Vec<MemberEntry>) -> Vec<MemberEntry> {
    let keep = |mut entry: MemberEntry| {
        if entry.name == me.name {
            return (entry.status != Status::Suspect).then_some(entry);
        }
        if entry.status == Status::Left {
            return Some(entry);
        }
        let new = members
            .get(&entry.name)
            .is_none_or(|m| entry.incarnation > m.incarnation);
        entry.status = Status::Suspect;
        new.then_some(entry)
    };
    entries.into_iter().filter_map(keep).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Preset, Quorum};

    fn opinion(name: &str, heard: bool) -> Opinion {
        Opinion {
            name: name.repeat(30),
            incarnation: 7,
            heard: Some(heard),
            ask: false,
        }
    }

    #[test]
    fn opinions_beyond_the_budget_rotate_and_each_datagram_stays_within_it() {
        let names: Vec<String> = (0..100).map(|i| format!("m{i:03}")).collect();
        let all: Vec<Opinion> = names.iter().map(|n| opinion(n, false)).collect();
        let mut seen = BTreeSet::new();
        for round in 0..20 {
            let part = within_budget(all.clone(), round);
            let bytes: usize = part.iter().map(wire::body_len).sum();
            assert!(bytes <= OPINION_BUDGET, "{bytes} bytes");
            assert!(!part.is_empty());
            seen.extend(part.into_iter().map(|o| o.name));
        }
        assert_eq!(seen.len(), 100, "every opinion goes out within a few rounds");
    }

    #[test]
    fn opinions_count_for_three_rounds_and_vouches_repeat_for_a_detection_time_and_four() {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Push);
        config.quorum = Some(Quorum::Majority);
        assert!(applies(&config));
        assert_eq!(window(&config), Duration::from_millis(600));
        assert_eq!(vouch_period(&config), Duration::from_millis(1_400));
        config.strategy = StrategyKind::Ping;
        assert!(!applies(&config), "ping keeps its own accuser sets");
    }
}
