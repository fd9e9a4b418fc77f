//! Leader: one elected leader collects every member's heartbeat (its report, carrying the
//! member's health), judges every member with its detectors, and publishes its view with
//! its own heartbeat to every member; the others judge only the leader, adopt its view,
//! and elect a successor (see [`super::election`]) when it falls silent.
//!
//! This module owns the traffic around the election: the leader's heartbeat rounds and
//! their send times (which the lease counts from), the members' reports, discovery while
//! no leader is known, and which members this node judges. It never sets a status (it
//! reports arrivals to `Members` and hands the leader's view to the node, which learns it
//! with the incarnation rules) and never decides an election rule itself.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::bounds::{Cluster, Relay};
use crate::config::{Config, LeaderConfig};
use crate::members::{Judged, Members};
use crate::message::{MemberEntry, Message, Peer, Status};
use crate::output::Event;
use crate::rng::Rng;
use crate::strategy::Ctx;
use crate::strategy::election::{Ballot, Election, Leadership, Sends, Timing};
use crate::strategy::indirect::Indirect;
use crate::time::Instant;
use crate::wire;

/// How many of its own heartbeat rounds a leader remembers, to map an echo to a send time.
const SENT_KEPT: usize = 32;

#[derive(Clone, Debug)]
pub(crate) struct Leader {
    election: Election,
    /// The configured voters; empty: every member known that has not left.
    configured: BTreeSet<String>,
    seq: u64,
    /// Leader: (sequence number, send time) of its latest heartbeat rounds.
    sent: VecDeque<(u64, Instant)>,
    /// Follower: (term, sequence number) of the latest leader heartbeat received.
    heard: (u64, u64),
    /// The (leader, term) last reported to the host.
    announced: (Option<String>, u64),
    /// Indirect probes of the members this node judges (see `indirect.rs`).
    indirect: Indirect,
    /// `bootstrap_expect`: voters to know before standing (0: none).
    bootstrap_expect: usize,
    /// Whether a seed has answered (or none was needed).
    joined: bool,
    /// Why standing is held back, as last reported ([`Event::ElectionHeld`]).
    held: Option<String>,
}

impl Leader {
    pub(crate) fn new(config: &LeaderConfig, me: &Peer, now: Instant, rng: &mut Rng) -> Leader {
        let timing = Timing {
            election_timeout: config.election_timeout,
            lease: config.lease,
        };
        let configured: BTreeSet<String> = config.voters.iter().cloned().collect();
        Leader {
            election: Election::new(&me.name, timing, !configured.is_empty(), now, rng),
            configured,
            seq: 0,
            sent: VecDeque::new(),
            heard: (0, 0),
            announced: (None, 0),
            indirect: Indirect::default(),
            bootstrap_expect: config.bootstrap_expect.unwrap_or(0) as usize,
            joined: false,
            held: None,
        }
    }

    /// A seed answered (or none was needed): the node may stand.
    pub(crate) fn on_joined(&mut self) {
        self.joined = true;
    }

    /// Why the node must not stand for election with `voters` known, if it must not.
    fn hold(&self, voters: &BTreeSet<String>) -> Option<String> {
        if !self.joined {
            return Some(
                "no seed has answered this node's join: it does not elect itself leader of a one-node \
                 cluster (a split brain); it stands once a seed answers"
                    .to_string(),
            );
        }
        (voters.len() < self.bootstrap_expect).then(|| {
            format!(
                "waiting for {} voters (--bootstrap-expect) before any election: {} known",
                self.bootstrap_expect,
                voters.len()
            )
        })
    }

    /// The judged set a leader-strategy node starts with: nobody, until a leader is known.
    pub(crate) fn judged() -> Judged {
        Judged::Only(BTreeSet::new())
    }

    fn voters(&self, members: &Members) -> BTreeSet<String> {
        if !self.configured.is_empty() {
            return self.configured.clone();
        }
        members
            .iter()
            .filter(|m| m.status != Status::Left)
            .map(|m| m.name.clone())
            .collect()
    }

    pub(crate) fn on_round(&mut self, ctx: &mut Ctx<'_>) {
        self.timers(ctx);
        if self.election.is_leader() {
            self.heartbeat(ctx);
        } else if let Some(leader) = self.election.leader().map(str::to_string) {
            self.report(ctx, &leader);
        } else {
            discover(ctx);
        }
        self.indirect.on_round(ctx);
    }

    pub(crate) fn after_judge(&mut self, ctx: &mut Ctx<'_>) {
        self.timers(ctx);
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.election.deadline()
    }

    pub(crate) fn leadership(&self, now: Instant, members: &Members) -> Leadership {
        let voters = self.voters(members);
        let mut leadership = self.election.leadership(now, &voters);
        leadership.held = self.hold(&voters);
        leadership
    }

    /// Whether this node leads and holds its lease at `now` (it publishes its view).
    pub(crate) fn acting(&self, now: Instant, members: &Members) -> bool {
        self.election.holds_lease(now, &self.voters(members))
    }

    pub(crate) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: SocketAddr,
        from: &Peer,
        message: Message,
    ) -> Vec<MemberEntry> {
        let voters = self.voters(ctx.members);
        let mut view = Vec::new();
        match message {
            Message::LeaderHeartbeat {
                term,
                seq,
                view: carried,
            } => {
                if self.election.on_heartbeat(ctx.now, &from.name, term, ctx.rng) {
                    // Views are applied in the order sent: a late, older one is dropped.
                    let fresh = self.heard.0 != term || seq > self.heard.1;
                    if fresh {
                        self.heard = (term, seq);
                        tell_newer(ctx, src, &carried);
                        view = carried;
                    }
                    ctx.members.arrival(ctx.now, &from.name);
                } else {
                    let term = self.election.term();
                    ctx.send(
                        src,
                        Message::LeaderReport {
                            term,
                            echo: 0,
                            health: ctx.health.clone(),
                        },
                    );
                }
            }
            Message::LeaderReport { term, echo, health } => {
                let echoed = self.sent.iter().find(|(s, _)| *s == echo).map(|(_, at)| *at);
                self.election.on_report(ctx.now, &from.name, term, echoed, ctx.rng);
                if self.election.is_leader() {
                    ctx.members.arrival(ctx.now, &from.name);
                    ctx.members.set_health(&from.name, health);
                }
            }
            Message::VoteRequest { term, pre, known } => {
                let reply =
                    self.election
                        .on_vote_request(ctx.now, &from.name, Ballot { term, pre }, known, &voters, ctx.rng);
                ctx.send(src, reply);
            }
            Message::VoteReply { term, pre, granted } => {
                let sends =
                    self.election
                        .on_vote_reply(ctx.now, &from.name, Ballot { term, pre }, granted, &voters, ctx.rng);
                dispatch(ctx, sends);
            }
            other => {
                if self.indirect.on_message(ctx, src, from, other).is_some() {
                    ctx.out.ignored();
                }
            }
        }
        self.sync(ctx);
        view
    }

    /// A discovery join from `from`: a node without a leader sends one to every member
    /// each round instead of its report (or, a deposed leader, its heartbeat), so it is
    /// that node's periodic signal and feeds the detector of whoever judges it. Without
    /// this a leader deposed by check-quorum (its voters' reports cut off) falls silent
    /// to the followers that still judge it, and they declare a live, reachable node
    /// dead because its role changed (see the handover invariant in ARCHITECTURE.md).
    pub(crate) fn on_discovery(&mut self, ctx: &mut Ctx<'_>, from: &Peer) {
        ctx.members.arrival(ctx.now, &from.name);
    }

    fn timers(&mut self, ctx: &mut Ctx<'_>) {
        let voters = self.voters(ctx.members);
        let held = self.hold(&voters);
        if held != self.held {
            self.held.clone_from(&held);
            ctx.event(Event::ElectionHeld { reason: held.clone() });
        }
        let sends = self.election.tick(ctx.now, &voters, held.is_none(), ctx.rng);
        dispatch(ctx, sends);
        self.sync(ctx);
    }

    /// One leader heartbeat round: to every member, with a slice of the view while the
    /// lease holds (a leader without a lease may not act: its verdicts stay home).
    fn heartbeat(&mut self, ctx: &mut Ctx<'_>) {
        self.seq += 1;
        self.sent.push_back((self.seq, ctx.now));
        if self.sent.len() > SENT_KEPT {
            self.sent.pop_front();
        }
        let view = if self.election.holds_lease(ctx.now, &self.voters(ctx.members)) {
            let mut views = wire::chunk_entries(ctx.members.view_entries());
            let index = (self.seq % views.len() as u64) as usize;
            views.swap_remove(index)
        } else {
            Vec::new()
        };
        let term = self.election.term();
        let message = Message::LeaderHeartbeat {
            term,
            seq: self.seq,
            view,
        };
        ctx.broadcast_round(message, None);
    }

    /// A member's heartbeat to its leader: its health, and the latest round it heard.
    fn report(&mut self, ctx: &mut Ctx<'_>, leader: &str) {
        let Some(addr) = ctx.members.get(leader).map(|m| m.addr) else {
            return;
        };
        let term = self.election.term();
        let echo = if self.heard.0 == term { self.heard.1 } else { 0 };
        ctx.send(
            addr,
            Message::LeaderReport {
                term,
                echo,
                health: ctx.health.clone(),
            },
        );
    }

    /// After any input: tell the host when the (leader, term) pair changed, judge whom the
    /// new arrangement says to judge, and make the change known at once (a new leader
    /// heartbeats, a new follower reports).
    fn sync(&mut self, ctx: &mut Ctx<'_>) {
        let state = (self.election.leader().map(str::to_string), self.election.term());
        if state == self.announced {
            return;
        }
        let leader_changed = state.0 != self.announced.0;
        self.announced = state.clone();
        let (leader, term) = state;
        ctx.event(Event::Leader {
            leader: leader.clone(),
            term,
        });
        if !leader_changed {
            return;
        }
        let judged = match &leader {
            Some(l) if *l == ctx.me.name => Judged::All,
            Some(l) => Judged::Only(BTreeSet::from([l.clone()])),
            // No leader quorum: judge every member with this node's own detectors (fed by
            // the discovery joins sent each round and their replies), so that nobody keeps
            // showing a view no leader stands behind any more.
            None => Judged::All,
        };
        ctx.members.set_judged(ctx.now, judged);
        if self.election.is_leader() {
            self.sent.clear();
            self.heartbeat(ctx);
        } else if let Some(leader) = leader {
            self.report(ctx, &leader);
        }
    }
}

fn dispatch(ctx: &mut Ctx<'_>, sends: Sends) {
    for (name, message) in sends {
        if let Some(addr) = ctx.members.get(&name).map(|m| m.addr) {
            ctx.send(addr, message);
        }
    }
}

/// The leader's view holds some members at an older incarnation than this node does:
/// their refutation reached this node but not the leader (a cut, a lost report, lists
/// exchanged while no leader was known). Tell the leader, which judges a member only at
/// an incarnation it knows: otherwise a member that refuted where the leader could not
/// hear it and then crashed is judged by nobody, and the members holding it up at the
/// newer incarnation ignore the leader's older verdict and never learn of the crash.
fn tell_newer(ctx: &mut Ctx<'_>, leader: SocketAddr, view: &[MemberEntry]) {
    let newer: Vec<MemberEntry> = view
        .iter()
        .filter(|e| e.name != ctx.me.name)
        .filter_map(|e| {
            ctx.members
                .entry(&e.name)
                .filter(|held| held.incarnation > e.incarnation)
        })
        .collect();
    if newer.is_empty() {
        return;
    }
    for entries in wire::chunk_entries(newer) {
        ctx.send(
            leader,
            Message::Members {
                entries,
                next_page: None,
            },
        );
    }
}

/// While no leader is known: ask every member for its member list (a padded join), so
/// that every voter knows every other before it counts majorities, and a newcomer that
/// joined through a follower reaches the leader. Members this node holds dead are asked
/// too (as a round's heartbeat is sent, see [`Ctx::round_targets`]): a node that hears
/// almost nobody (80 % inbound loss) holds its peers dead by its own word, and must not
/// fall silent to them for it, or they declare it dead in turn and it flaps.
fn discover(ctx: &mut Ctx<'_>) {
    let targets: Vec<SocketAddr> = ctx.round_targets().map(|m| m.addr).collect();
    for addr in targets {
        ctx.send(addr, Message::join(0));
    }
}

/// A verdict the leader holds goes out with its next heartbeat round, each round
/// carrying one datagram-sized slice of the view in turn, so an entry is carried every
/// `relay.view_slices` rounds; each lost carrier costs another `view_slices` rounds.
pub(crate) fn publish_bound(config: &Config, cluster: &Cluster, relay: &Relay) -> Duration {
    config.interval * (relay.view_slices * (1 + relay.lost_rounds)) + cluster.delay
}
