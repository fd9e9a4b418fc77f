//! The strategies: how liveness information flows between nodes. A closed set, so an
//! enum with one module each; this file holds the only `match` over them.
//!
//! Strategies see the world only through [`Ctx`]: they read the configuration, report
//! evidence to [`Members`], and queue messages. They never encode bytes and never change
//! a status themselves.

pub(crate) mod election;
mod gossip;
mod leader;
mod ping;
mod pull;
mod push;

use std::net::SocketAddr;

use crate::config::{Config, StrategyKind};
use crate::members::{Members, Reach, Transition};
use crate::message::{Health, MemberEntry, Message, Peer};
use crate::node::{Event, Outbox};
use crate::rng::Rng;
use crate::time::Instant;

pub use election::{Leadership, Role};
pub(crate) use gossip::Gossip;
pub(crate) use leader::Leader;
pub(crate) use ping::Ping;
pub(crate) use pull::Pull;
pub(crate) use push::Push;

/// A member held dead is still sent every heartbeat (or poll) for this many rounds after
/// its death (it may only be unable to reach us), and then one every
/// [`DEAD_RETRY_ROUNDS`], so that the two sides of a healed partition find each other.
pub(crate) const DEAD_FULL_RATE_ROUNDS: u32 = 30;
/// See [`DEAD_FULL_RATE_ROUNDS`].
pub(crate) const DEAD_RETRY_ROUNDS: u64 = 5;

/// Everything a strategy may touch while handling one input.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) round: u64,
    /// When the current round was due. `now` is later by the host's wake-up delay, so
    /// timers meant to fire on a round boundary are set from this, not from `now`.
    pub(crate) round_at: Instant,
    pub(crate) config: &'a Config,
    pub(crate) me: &'a mut Peer,
    pub(crate) health: Option<Health>,
    pub(crate) members: &'a mut Members,
    pub(crate) out: &'a mut Outbox,
    /// The node's seeded generator (the only randomness a strategy may use).
    pub(crate) rng: &'a mut Rng,
}

/// What [`Ctx::learn`] found.
#[derive(Debug, Default)]
pub(crate) struct Learned {
    /// Members newly learned alive, or everyone up after a refutation: those who must
    /// hear from this node.
    pub(crate) introduce: Vec<String>,
    /// Whether this node raised its incarnation to refute news of its death.
    pub(crate) refuted: bool,
}

impl Ctx<'_> {
    /// Queue `message` for `to`, signed with the local node's identity.
    pub(crate) fn send(&mut self, to: SocketAddr, message: Message) {
        self.out.send(self.me, to, message);
    }

    /// Queue one `message` for each of `targets` (one shared envelope).
    pub(crate) fn broadcast(&mut self, targets: Vec<SocketAddr>, message: Message) {
        self.out.broadcast(self.me, targets, message);
    }

    /// This round's heartbeat or poll: `message` to every [`Ctx::round_targets`] member
    /// (one shared envelope); with `probe`, each is recorded as sent probe `probe`, so
    /// that its answer measures the round trip.
    pub(crate) fn broadcast_round(&mut self, message: Message, probe: Option<u64>) {
        let contacted = self.contact_rule();
        let roster = self.members.roster().iter();
        let targets: Vec<SocketAddr> = roster.filter(|c| contacted(c.reach)).map(|c| c.addr).collect();
        self.broadcast(targets, message);
        if let Some(seq) = probe {
            // Names only when probing: this runs every round for every member.
            let names: Vec<String> = self.round_targets().map(|m| m.name.clone()).collect();
            for name in names {
                self.members.probe_sent(self.now, &name, seq);
            }
        }
    }

    /// Take in second-hand news: refute news of our own death first (so that what is
    /// sent next carries the new incarnation), then apply the rest by precedence.
    pub(crate) fn learn(&mut self, entries: Vec<MemberEntry>) -> Learned {
        self.learn_with(entries, false)
    }

    /// [`Ctx::learn`]; with `authoritative` (the elected leader's view), the entries about
    /// others replace what is held at the same incarnation, in either direction.
    pub(crate) fn learn_with(&mut self, entries: Vec<MemberEntry>, authoritative: bool) -> Learned {
        let mut learned = Learned::default();
        let (about_me, others): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| e.name == self.me.name);
        for entry in about_me {
            if let Some(incarnation) = self.members.refute(self.now, entry.incarnation, entry.status) {
                self.me.incarnation = incarnation;
                self.out.refuted();
                self.out.event(Event::Refuted { incarnation });
                learned.refuted = true;
            }
        }
        if learned.refuted {
            learned
                .introduce
                .extend(self.members.up_others().map(|m| m.name.clone()));
        }
        for entry in &others {
            let new = if authoritative {
                self.members.adopt(self.now, entry)
            } else {
                self.members.apply(self.now, entry)
            };
            if new && entry.status.is_up() {
                learned.introduce.push(entry.name.clone());
            }
        }
        learned
    }

    /// Anti-entropy: every `swim.push_pull_rounds` rounds, ask one random member that is
    /// up for its member list (a join's paged reply), so a node that missed news (a lost
    /// page of its join reply, a member it never heard of) converges.
    pub(crate) fn sync_now_and_then(&mut self) {
        if !self.round.is_multiple_of(u64::from(self.config.swim.push_pull_rounds)) {
            return;
        }
        let up: Vec<SocketAddr> = self.members.up_others().map(|m| m.addr).collect();
        if !up.is_empty() {
            let partner = up[self.rng.below(up.len() as u64) as usize];
            self.send(partner, Message::join(0));
        }
    }

    /// Queue an event for the host.
    pub(crate) fn event(&mut self, event: Event) {
        self.out.event(event);
    }

    /// `count` distinct random members that are up (fewer if there are not as many).
    pub(crate) fn random_up(&mut self, count: usize) -> Vec<(String, SocketAddr)> {
        let mut up: Vec<(String, SocketAddr)> = self.members.up_others().map(|m| (m.name.clone(), m.addr)).collect();
        let count = count.min(up.len());
        for i in 0..count {
            let j = i + self.rng.below((up.len() - i) as u64) as usize;
            up.swap(i, j);
        }
        up.truncate(count);
        up
    }

    /// Who gets this round's heartbeat or poll: every other member that is up or
    /// recently dead, and one long dead every [`DEAD_RETRY_ROUNDS`] rounds.
    pub(crate) fn round_targets(&self) -> impl Iterator<Item = &crate::Member> {
        let contacted = self.contact_rule();
        self.members.others().filter(move |m| contacted(Reach::of(m)))
    }

    /// Whether a member reached so gets this round's message (see [`Ctx::round_targets`]).
    fn contact_rule(&self) -> impl Fn(Reach) -> bool + use<> {
        let retry_dead = self.round.is_multiple_of(DEAD_RETRY_ROUNDS);
        let full_rate = self.config.interval * DEAD_FULL_RATE_ROUNDS;
        let now = self.now;
        move |reach| match reach {
            Reach::Up => true,
            Reach::Dead { since } => retry_dead || now - since < full_rate,
            Reach::Left => false,
        }
    }
}

/// The strategy a node runs.
#[derive(Clone, Debug)]
pub(crate) enum Strategy {
    Push(Push),
    Pull(Pull),
    Ping(Box<Ping>),
    Leader(Box<Leader>),
    Gossip(Gossip),
}

impl Strategy {
    pub(crate) fn new(config: &Config, me: &Peer, now: Instant, rng: &mut Rng) -> Strategy {
        match config.strategy {
            StrategyKind::Push => Strategy::Push(Push::new(config, now)),
            StrategyKind::Pull => Strategy::Pull(Pull::new(config, me)),
            StrategyKind::Ping => Strategy::Ping(Box::new(Ping::new(now))),
            StrategyKind::Leader => Strategy::Leader(Box::new(Leader::new(config, me, now, rng))),
            StrategyKind::Gossip => Strategy::Gossip(Gossip::new()),
        }
    }

    /// The interval elapsed: send this round's heartbeats or polls.
    pub(crate) fn on_round(&mut self, ctx: &mut Ctx<'_>) {
        match self {
            Strategy::Push(s) => {
                s.on_round(ctx);
                ctx.sync_now_and_then();
            }
            Strategy::Pull(s) => {
                s.on_round(ctx);
                ctx.sync_now_and_then();
            }
            Strategy::Ping(s) => s.on_round(ctx),
            Strategy::Leader(s) => s.on_round(ctx),
            Strategy::Gossip(s) => s.on_round(ctx),
        }
    }

    /// A strategy message from a current (not stale) sender. Returns member entries the
    /// node must learn from (a monitor's view).
    pub(crate) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: SocketAddr,
        from: &Peer,
        message: Message,
    ) -> Vec<MemberEntry> {
        match self {
            Strategy::Push(s) => s.on_message(ctx, src, from, message),
            Strategy::Pull(s) => s.on_message(ctx, src, from, message),
            Strategy::Ping(s) => s.on_message(ctx, src, from, message),
            Strategy::Leader(s) => s.on_message(ctx, src, from, message),
            Strategy::Gossip(s) => s.on_message(ctx, src, from, message),
        }
    }

    /// A first-page join request came straight from `from` (leader: a leaderless node's
    /// discovery, sent every round in place of its heartbeat or report).
    pub(crate) fn on_discovery(&mut self, ctx: &mut Ctx<'_>, from: &Peer) {
        if let Strategy::Leader(s) = self {
            s.on_discovery(ctx, from);
        }
    }

    /// Members were just learned (or the node refuted): make sure those that must hear
    /// from this node do.
    pub(crate) fn introduce(&mut self, ctx: &mut Ctx<'_>, names: &[String]) {
        match self {
            Strategy::Push(_) | Strategy::Ping(_) | Strategy::Gossip(_) => {} // the next round's messages introduce us
            Strategy::Pull(s) => s.introduce(ctx, names),
            Strategy::Leader(_) => {} // the leader's next heartbeat round reaches them
        }
    }

    /// A member's status changed (the ping strategy spreads the news).
    pub(crate) fn on_transition(&mut self, ctx: &mut Ctx<'_>, transition: &Transition) {
        if let Strategy::Ping(s) = self {
            s.on_transition(ctx, transition);
        }
    }

    /// This node just raised its incarnation to refute news of its death.
    pub(crate) fn on_refute(&mut self, ctx: &mut Ctx<'_>) {
        if let Strategy::Ping(s) = self {
            s.on_refute(ctx);
        }
    }

    /// After the detectors ran: strategy-level verdicts (push+ack isolation).
    pub(crate) fn after_judge(&mut self, ctx: &mut Ctx<'_>) {
        match self {
            Strategy::Push(s) => s.after_judge(ctx),
            Strategy::Pull(_) | Strategy::Gossip(_) => {}
            Strategy::Ping(s) => s.after_judge(ctx),
            Strategy::Leader(s) => s.after_judge(ctx),
        }
    }

    /// When the strategy next needs a tick of its own.
    pub(crate) fn next_deadline(&self, config: &Config) -> Option<Instant> {
        match self {
            Strategy::Push(s) => s.next_deadline(config),
            Strategy::Pull(_) | Strategy::Gossip(_) => None,
            Strategy::Ping(s) => s.next_deadline(),
            Strategy::Leader(s) => s.next_deadline(),
        }
    }

    /// Whether this node cannot reach anyone although it hears them (push+ack only).
    pub(crate) fn isolated(&self) -> bool {
        match self {
            Strategy::Push(s) => s.isolated(),
            Strategy::Pull(_) | Strategy::Ping(_) | Strategy::Gossip(_) | Strategy::Leader(_) => false,
        }
    }

    /// The ping strategy's evidence about `name`: the suspicion, this node's last failed
    /// probe, and this node's own awareness.
    pub(crate) fn evidence(
        &self,
        name: &str,
        now: Instant,
        config: &Config,
        members: &Members,
    ) -> (
        Option<crate::why::SuspicionEvidence>,
        Option<crate::why::ProbeEvidence>,
        Option<u32>,
    ) {
        match self {
            Strategy::Ping(s) => s.evidence(name, now, config, members),
            _ => (None, None, None),
        }
    }

    /// Whether the views this strategy returns are authoritative: they replace what the
    /// node holds at the same incarnation (leader: the elected leader's view).
    pub(crate) fn views_are_authoritative(&self) -> bool {
        matches!(self, Strategy::Leader(_))
    }

    /// Leader only: what this node knows of leadership.
    pub(crate) fn leadership(&self, now: Instant, members: &Members) -> Option<Leadership> {
        match self {
            Strategy::Push(_) | Strategy::Pull(_) | Strategy::Ping(_) | Strategy::Gossip(_) => None,
            Strategy::Leader(s) => Some(s.leadership(now, members)),
        }
    }

    /// Leader only: whether this node leads and holds its lease (publishes its view).
    pub(crate) fn acting_leader(&self, now: Instant, members: &Members) -> bool {
        match self {
            Strategy::Push(_) | Strategy::Pull(_) | Strategy::Ping(_) | Strategy::Gossip(_) => false,
            Strategy::Leader(s) => s.acting(now, members),
        }
    }
}
