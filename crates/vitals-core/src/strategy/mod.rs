//! The strategies: how liveness information flows between nodes. A closed set, so an
//! enum with one module each; this file holds the only `match` over them.
//!
//! Strategies see the world only through [`Ctx`]: they read the configuration, report
//! evidence to [`Members`], and queue messages. They never encode bytes and never change
//! a status themselves.

mod anti_entropy;
pub(crate) mod election;
#[cfg(test)]
mod fixture;
mod gossip;
mod indirect;
mod leader;
mod ping;
mod pull;
mod push;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::bounds::{Cluster, Relay};
use crate::config::{Config, DetectorKind, StrategyConfig, StrategyKind};
use crate::members::{Judged, Members, Reach, Transition};
use crate::message::{Health, MemberEntry, Message, Peer};
use crate::output::{Event, Outbox};
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
    /// Members newly learned alive: those who must hear from this node.
    pub(crate) introduce: Vec<String>,
    /// After a refutation: the members up when it was made.
    pub(crate) up_at_refutation: Vec<String>,
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
            learned.up_at_refutation = self.members.up_others().map(|m| m.name.clone()).collect();
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

    /// Send an [`Message::introduction`] to each of the members `names` that is up (one
    /// shared envelope).
    pub(crate) fn introduce(&mut self, names: &[String]) {
        let me = &self.me.name;
        let up = names.iter().filter(|n| *n != me).filter_map(|n| self.members.get(n));
        let targets: Vec<SocketAddr> = up.filter(|m| m.status.is_up()).map(|m| m.addr).collect();
        if !targets.is_empty() {
            self.broadcast(targets, Message::introduction());
        }
    }

    /// Anti-entropy: every `probes.push_pull_rounds` rounds (× ⌈up / 100⌉ above 100
    /// members up: [`Ctx::anti_entropy_rounds`]) and at a node's round 10 (and 20 and 40
    /// while its table grows: `anti_entropy::EARLY_EXCHANGE_ROUNDS`), ask one random
    /// member that is up for its member list (a join's paged reply), so a node that missed
    /// news (a lost page of its join reply, a member it never heard of) converges.
    pub(crate) fn sync_now_and_then(&mut self) {
        if !self.exchange_due(self.round) {
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
        // References first, names cloned only for the chosen: gossip asks every round,
        // and cloning every name up made it O(N) allocations per node per round.
        let mut up: Vec<&crate::Member> = self.members.up_others().collect();
        let count = count.min(up.len());
        for i in 0..count {
            let j = i + self.rng.below((up.len() - i) as u64) as usize;
            up.swap(i, j);
        }
        up[..count].iter().map(|m| (m.name.clone(), m.addr)).collect()
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

/// What other modules ask about a strategy before any node runs it (its bounds, the
/// quorum's observers), as methods of [`StrategyConfig`]: defined here, so the knowledge
/// stays in `strategy/`, and callable without importing this module.
impl StrategyConfig {
    /// The longest time from a crash to its detection by an observer that judges the
    /// crashed node itself (see [`crate::bounds`]): ping and gossip have their own; push,
    /// pull and leader observers hear the member directly ([`detector_bound`]).
    pub(crate) fn detection_bound(&self, config: &Config, cluster: &Cluster) -> Duration {
        match self {
            StrategyConfig::Ping(swim) => ping::detection_bound(config, swim, cluster),
            StrategyConfig::Gossip(gossip) => gossip::detection_bound(config, gossip, cluster),
            StrategyConfig::Push { .. } | StrategyConfig::Pull { .. } | StrategyConfig::Leader(_) => {
                detector_bound(config, cluster)
            }
        }
    }

    /// What the strategy adds to the common convergence bound (ping: a suspicion begun
    /// just before a heal runs to its end unheard by the suspect).
    pub(crate) fn convergence_extra(&self, config: &Config, cluster: &Cluster) -> Duration {
        match self {
            StrategyConfig::Ping(swim) => ping::suspicion_max(config, swim, cluster.nodes),
            _ => Duration::ZERO,
        }
    }

    /// The time for a judge's verdict to reach an observer that does not judge (pull: a
    /// member, from the monitor's next poll; leader: a follower, from the leader's view).
    pub(crate) fn relay_bound(&self, config: &Config, cluster: &Cluster, relay: &Relay) -> Duration {
        match self {
            StrategyConfig::Pull { .. } => pull::relay_bound(config, cluster, relay),
            StrategyConfig::Leader(_) => leader::publish_bound(config, cluster, relay),
            StrategyConfig::Push { .. } | StrategyConfig::Ping(_) | StrategyConfig::Gossip(_) => Duration::ZERO,
        }
    }

    /// Under a quorum, the only observers whose opinions count: pull's monitors. Empty:
    /// every member observes.
    pub(crate) fn observers(&self) -> BTreeSet<String> {
        match self {
            StrategyConfig::Pull { monitors } => monitors.iter().cloned().collect(),
            _ => BTreeSet::new(),
        }
    }
}

/// What needs only the strategy's name.
impl StrategyKind {
    /// Whether `--quorum` makes a quorum decide (push, pull, gossip). Ping's accuser sets
    /// travel with its rumors, and the elected leader already needs a majority.
    pub(crate) fn takes_quorum(self) -> bool {
        matches!(self, StrategyKind::Push | StrategyKind::Pull | StrategyKind::Gossip)
    }

    /// Deliveries a heartbeat crosses before its judge's detector hears of it (pull: the
    /// poll and its reply; gossip: `1 + GOSSIP_HOP_ROUNDS` hops of a counter).
    pub(crate) fn jitter_hops(self) -> u32 {
        match self {
            StrategyKind::Pull => 2,
            StrategyKind::Gossip => 1 + crate::config::GOSSIP_HOP_ROUNDS,
            StrategyKind::Push | StrategyKind::Ping | StrategyKind::Leader => 1,
        }
    }

    /// Rounds an opinion may take to reach a given node beyond the first (gossip: an
    /// observer reaches a node only in the rounds it picks it).
    pub(crate) fn opinion_hop_rounds(self) -> u32 {
        match self {
            StrategyKind::Gossip => crate::config::GOSSIP_HOP_ROUNDS,
            _ => 0,
        }
    }
}

/// The bound of an observer that hears the member directly (push, pull, leader): the
/// silence tolerance, one interval of phase, the slowest delivery (and for phi one
/// interval of slack).
fn detector_bound(config: &Config, cluster: &Cluster) -> Duration {
    let c = config;
    let tolerance = match c.detector {
        DetectorKind::Missed => c.dead_after(),
        // Phi adapts to the history: losses widen its spread and delay the verdict.
        DetectorKind::Phi if cluster.lossy => c.dead_after().max(c.interval * (c.threshold + 2)),
        DetectorKind::Phi => c.dead_after().max(c.interval * c.threshold),
    };
    tolerance + c.interval + cluster.delay
}

/// What a strategy holds against one member, for `why` (only ping holds any).
#[derive(Debug, Default)]
pub(crate) struct Evidence {
    /// The suspicion this node holds, with its accusers.
    pub(crate) suspicion: Option<crate::why::SuspicionEvidence>,
    /// This node's last failed probe of the member.
    pub(crate) failed_probe: Option<crate::why::ProbeEvidence>,
    /// This node's own awareness (Lifeguard's local health).
    pub(crate) awareness: Option<u32>,
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
        match &config.strategy {
            StrategyConfig::Push { ack } => Strategy::Push(Push::new(*ack, now)),
            StrategyConfig::Pull { monitors } => Strategy::Pull(Pull::new(monitors, me)),
            StrategyConfig::Ping(swim) => Strategy::Ping(Box::new(Ping::new(swim.clone(), now))),
            StrategyConfig::Leader(leader) => Strategy::Leader(Box::new(Leader::new(leader, me, now, rng))),
            StrategyConfig::Gossip(gossip) => Strategy::Gossip(Gossip::new(gossip.clone())),
        }
    }

    /// Which members a node running `config`'s strategy judges with its own detectors.
    /// `observing`: whether its own word counts (false only for a pull member under a
    /// quorum, which takes the monitors' word even about the monitors).
    pub(crate) fn judged(config: &Config, me: &Peer, observing: bool) -> Judged {
        match &config.strategy {
            StrategyConfig::Push { .. } => Judged::All,
            StrategyConfig::Pull { .. } if !observing => Judged::Only(Default::default()),
            StrategyConfig::Pull { monitors } => Pull::judged(monitors, me),
            StrategyConfig::Ping(_) => Judged::Only(Default::default()), // probes, not detectors
            StrategyConfig::Leader(_) => Leader::judged(),
            StrategyConfig::Gossip(_) => Judged::All, // every member's counter feeds its detector
        }
    }

    /// Whose signals local health counts (`members/hearing.rs`) when they are not the
    /// members judged: a pull member under a quorum still expects the monitors' polls;
    /// gossip counts its digests and their replies (`Gossip::on_round`), not counter
    /// rises, which reach a node once a round only while one digest holds everyone.
    pub(crate) fn hearing_senders(config: &Config, me: &Peer, observing: bool) -> Option<Judged> {
        match &config.strategy {
            StrategyConfig::Gossip(_) => Some(Judged::Only(Default::default())),
            _ if !observing => Some(Self::judged(config, me, true)),
            _ => None,
        }
    }

    /// Whether a direct message from a suspect at its current incarnation clears the
    /// suspicion: not in SWIM, where only the suspect's refutation (a higher incarnation)
    /// does; nor under a quorum (`quorum`), where the tally clears a suspect.
    pub(crate) fn direct_clears_suspicion(config: &Config, quorum: bool) -> bool {
        config.kind() != StrategyKind::Ping && !quorum
    }

    /// Where this round's quorum opinions go: the strategy's usual targets (every member
    /// a round reaches; gossip: `fanout` random members that are up).
    pub(crate) fn opinion_targets(&self, ctx: &mut Ctx<'_>) -> Vec<(String, SocketAddr)> {
        match self {
            Strategy::Gossip(s) => ctx.random_up(s.fanout()),
            _ => ctx.round_targets().map(|m| (m.name.clone(), m.addr)).collect(),
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

    /// A first-page join request, or a join's reply, came straight from `from` (leader: a
    /// leaderless node's discovery, sent every round in place of its heartbeat or report,
    /// and the answers it gets).
    pub(crate) fn on_discovery(&mut self, ctx: &mut Ctx<'_>, from: &Peer) {
        if let Strategy::Leader(s) = self {
            s.on_discovery(ctx, from);
        }
    }

    /// Members were just learned (or the node refuted): every one of them hears from
    /// this node at once (pull's monitors get a join, so that they poll it; the others an
    /// [`Message::introduction`]), not at the next round: a joiner's seed lists the
    /// members, and each learns of the joiner from the joiner itself, so a cluster forms
    /// in a round trip or two whatever the interval.
    /// After a refutation, push, pull and leader introduce the node to every member up
    /// (they send to everyone each round anyway); ping and gossip do not: their own
    /// dissemination carries the refutation, and a datagram to every member per
    /// refutation would multiply their per-node cost by N (at N = 1,000 under loss it
    /// flooded the cluster into false verdicts).
    pub(crate) fn introduce(&mut self, ctx: &mut Ctx<'_>, learned: &Learned) {
        let broadcasts = matches!(self, Strategy::Push(_) | Strategy::Pull(_) | Strategy::Leader(_));
        let mut names = match broadcasts {
            true => learned.up_at_refutation.clone(),
            false => Vec::new(),
        };
        names.extend(learned.introduce.iter().cloned());
        let rest = match self {
            Strategy::Pull(s) => s.introduce(ctx, &names),
            Strategy::Push(_) | Strategy::Ping(_) | Strategy::Gossip(_) | Strategy::Leader(_) => names,
        };
        ctx.introduce(&rest);
    }

    /// The node has heard back from a seed (or needed none).
    pub(crate) fn on_joined(&mut self) {
        if let Strategy::Leader(s) = self {
            s.on_joined();
        }
    }

    /// How many rumors the ping strategy holds to piggyback (0 for the others).
    #[cfg(test)]
    pub(crate) fn queued_news(&self) -> usize {
        match self {
            Strategy::Ping(s) => s.queued_news(),
            _ => 0,
        }
    }

    /// A member's status changed (the ping strategy spreads the news). `listed`: learned
    /// from a page of a seed's member list as this node starts (`Node::is_starting_list`).
    pub(crate) fn on_transition(&mut self, ctx: &mut Ctx<'_>, transition: &Transition, listed: bool) {
        if let Strategy::Ping(s) = self {
            s.on_transition(ctx, transition, listed);
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
    pub(crate) fn evidence(&self, name: &str, now: Instant, config: &Config, members: &Members) -> Evidence {
        match self {
            Strategy::Ping(s) => s.evidence(name, now, config, members),
            _ => Evidence::default(),
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
