//! Ping: SWIM (Das, Gupta & Motivala, 2002) with Lifeguard (Dadgar et al., 2018).
//!
//! Each protocol period a node probes one member, chosen by randomised round-robin so
//! every member is probed within a bounded number of periods. No ack within the probe
//! timeout: it asks k others to probe the member (ping-req). No ack by the end of the
//! period: it marks the member `suspect` and spreads the news. A suspect that hears of it
//! raises its incarnation and refutes; one that does not is declared `dead` when the
//! suspicion times out. News spreads piggybacked on probes and acks, each piece
//! retransmitted `retransmit_mult × ceil(log10(N + 1))` times, plus a full state exchange
//! with one random member every `push_pull_rounds` periods (× ⌈up / 100⌉ above 100
//! members up, so its bytes per node do not grow with N: `anti_entropy.rs`), and
//! (Serf's reconnect loop) a padded join to one random member held dead every few
//! periods, so that the two sides of a healed partition meet again within seconds.
//!
//! A watch ring bounds the wait for a crashed member's first probe (`ring.rs`): each
//! node sends a heartbeat every interval to the member that watches it, and a watcher
//! probes its member as soon as the heartbeats stop.
//!
//! Lifeguard: a local health multiplier (awareness) stretches this node's own period and
//! probe timeout while it misses acks and nacks or has to refute (the sick node slows down
//! before accusing others); suspicion timeouts start long and shrink as independent
//! accusers confirm; a probe of a suspect carries the suspicion so it can refute at once.
//!
//! This module reports evidence and verdicts to `Members`; it never sets a status itself.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::bounds::Cluster;
use crate::checks::Checks;
use crate::config::{Config, SwimConfig};
use crate::members::{Member, Members, Transition};
use crate::message::{Incarnation, MAX_ACCUSERS, MemberEntry, Message, Peer, Rumor, Status};
use crate::strategy::{Ctx, DEAD_RETRY_ROUNDS};
use crate::time::Instant;
use crate::wire;
use news::News;
use ring::Ring;

mod news;
mod ring;

/// Bytes of piggybacked news one message may carry.
const GOSSIP_BUDGET: usize = 800;
/// Bytes of news an ack may carry beyond what its ping carried (about two rumors).
const ACK_EXTRA_NEWS: usize = 56;
/// Most indirect probes this node relays at once for others.
const MAX_RELAYS: usize = 64;
/// Most members an accusation is sent to straight (fast confirmation).
const URGENT_FANOUT: usize = 32;
/// Fast confirmation: this many independent accusers (or a majority of the members up,
/// if fewer) end a suspicion after one period. Each accuser's probe failed directly and
/// through k intermediaries, so at 10 % loss one false accusation is < 1 % likely and
/// eight independent ones are beyond chance.
pub(crate) const FAST_ACCUSERS: usize = 8;
/// Fast confirmation: a node that learns of a death sends it on to `⌈ln N⌉ + 3` random
/// members at once (N the members up), so it reaches everyone in a few network delays,
/// not in the `log N` periods of piggybacking (10–15 s at N = 500). An epidemic with
/// fanout f misses about `N e^-f` members, who hear it piggybacked, up to seconds later
/// (a member that probed the dead one gets no ack to carry it); with `ln N + c` it
/// reaches everyone with probability `exp(-e^-c)` (Kermarrec, Massoulié & Ganesh, 2003),
/// 0.95 for c = 3, whatever N. At N = 500 a fixed 4 left 12 of 497 members 0.25–2.25 s
/// behind, a fixed 6 one or two (up to 3.9 s); the formula gives 6 at N = 10, 8 at 100,
/// 10 at 500 and 1,000.
fn death_fanout(up: usize) -> usize {
    (up.max(1) as f64).ln().ceil() as usize + 3
}
/// How long fast confirmation pauses after a second false death within as long, in
/// intervals (from the latest).
const FAST_PAUSE_INTERVALS: u32 = 120;
/// A member that joins while the round-robin's cycle holds more members than this is
/// probed within the cycle, not only from the next ([`Ping::enlist`]).
const ENLIST_CYCLE: usize = 32;

/// Whether fast confirmation works here now. It declares a member paused for about two
/// periods dead, on the word of members whose failed probes it takes as independent
/// evidence. They are not where a common cause slows everyone: a machine too busy to
/// schedule its agents in time, where every false death is refuted and each refutation
/// is news for everyone, which keeps it busy (500 agents on two cores never formed with
/// it). So fast confirmation works only in a settled cluster, and suspicions end on
/// Lifeguard's timeouts meanwhile:
/// - not within [`crate::members::SETTLE_INTERVALS`] of a member's joining (formation, when a
///   machine is busiest, and this node's start);
/// - not within [`FAST_PAUSE_INTERVALS`] of the second of two false deaths that close
///   together. A false death: a member that died here sooner than Lifeguard's shortest
///   suspicion ([`suspicion_min`]) after this node first suspected it (or that it had not
///   suspected), so by fast confirmation here or elsewhere, and came back sooner than
///   Lifeguard's longest ([`suspicion_max`]) after its death, which Lifeguard alone might
///   not have declared dead at all. A death on Lifeguard's timeout (a sick member that
///   keeps coming back) is not fast confirmation's doing and counts for nothing. One
///   false death alone pauses nothing: a crash restarted at once (systemd's `Restart=`)
///   looks the same from here, and pausing on each slowed the detection of the next
///   crash to Lifeguard's (`scripts/loopback-ping.py`: 5.2–7.6 s instead of 2.1–2.4 s),
///   while a storm makes many;
/// - no one-period verdicts while this node's own awareness is raised
///   ([`Ping::fast_verdicts`]).
#[derive(Clone, Debug, Default)]
struct FastConfirm {
    /// Members held dead here within the window, and since when.
    deaths: BTreeMap<String, Instant>,
    /// When the last false death came back.
    false_death: Option<Instant>,
    /// Paused until then (after a false death).
    paused_until: Option<Instant>,
}

impl FastConfirm {
    /// A member's status changed here; returns whether a false death paused fast
    /// confirmation (it was not paused before). `window`: Lifeguard's longest suspicion
    /// now; `fast`: a death came sooner than Lifeguard's shortest.
    fn on_transition(&mut self, transition: &Transition, window: Duration, interval: Duration, fast: bool) -> bool {
        let now = transition.at;
        self.deaths.retain(|_, at| now - *at < window);
        if transition.to == Status::Dead {
            if fast {
                self.deaths.insert(transition.name.clone(), now);
            }
            return false;
        }
        if !transition.to.is_up() || self.deaths.remove(&transition.name).is_none() {
            return false;
        }
        let pause = interval * FAST_PAUSE_INTERVALS;
        let second = self.false_death.is_some_and(|at| now - at < pause);
        self.false_death = Some(now);
        if !second {
            return false;
        }
        let was_paused = self.paused(now);
        self.paused_until = self.paused_until.max(Some(now + pause));
        !was_paused
    }

    /// Paused after a false death.
    fn paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|until| now < until)
    }
}

/// The probe of the current period.
#[derive(Clone, Debug)]
struct Probe {
    target: String,
    seq: u64,
    /// When the direct probe times out and indirect probes go out.
    direct_deadline: Instant,
    /// The end of the period: no ack by then means suspicion.
    ends_at: Instant,
    acked: bool,
    asked: Vec<String>,
    nacks: u32,
    indirect_sent: bool,
}

/// An indirect probe this node performs for another.
#[derive(Clone, Debug)]
struct Relay {
    requester: SocketAddr,
    requester_seq: u64,
    deadline: Instant,
}

/// A suspicion this node holds, with its independent accusers.
#[derive(Clone, Debug)]
pub(crate) struct Suspicion {
    pub(crate) incarnation: u64,
    pub(crate) started: Instant,
    pub(crate) accusers: BTreeSet<String>,
}

/// The evidence behind this node's last failed probe of a member.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FailedProbe {
    pub(crate) at: Instant,
    pub(crate) asked: Vec<String>,
    pub(crate) nacks: u32,
    pub(crate) awareness: u32,
}

#[derive(Clone, Debug)]
pub(crate) struct Ping {
    seq: u64,
    order: Vec<String>,
    next: usize,
    probe: Option<Probe>,
    relays: BTreeMap<u64, Relay>,
    rumors: News,
    pub(crate) suspicions: BTreeMap<String, Suspicion>,
    pub(crate) failed_probes: BTreeMap<String, FailedProbe>,
    /// Lifeguard's local health score: 0 is healthy; the period is `interval × (1 + it)`.
    pub(crate) awareness: u32,
    next_probe_at: Instant,
    rounds: u64,
    /// The earliest suspicion expiry, recomputed after every input.
    suspicion_deadline: Option<Instant>,
    /// Members others suspect, to probe before the round-robin's next pick.
    confirm: BTreeSet<String>,
    /// Suspects whose probe by this node failed, to probe again (in turn, every other
    /// period: see [`Ping::next_target`]) while the suspicion lasts.
    recheck: VecDeque<String>,
    /// Whether the last probe was a recheck: the next one goes on with the round-robin.
    rechecked_last: bool,
    /// This node's checks and services as last told, and the members told them (at the
    /// incarnation they had): see [`Ping::tell_checks`].
    told: (Option<Checks>, BTreeMap<String, u64>),
    /// Whether fast confirmation settles after a join or is paused after a false death.
    fast: FastConfirm,
    /// Who this node watches and who watches it ([`ring`]).
    ring: Ring,
    /// The SWIM and Lifeguard settings.
    swim: SwimConfig,
}

impl Ping {
    pub(crate) fn new(swim: SwimConfig, now: Instant) -> Ping {
        Ping {
            swim,
            seq: 0,
            order: Vec::new(),
            next: 0,
            probe: None,
            relays: BTreeMap::new(),
            rumors: News::default(),
            suspicions: BTreeMap::new(),
            failed_probes: BTreeMap::new(),
            awareness: 0,
            next_probe_at: now,
            rounds: 0,
            suspicion_deadline: None,
            confirm: BTreeSet::new(),
            recheck: VecDeque::new(),
            rechecked_last: false,
            told: (None, BTreeMap::new()),
            fast: FastConfirm::default(),
            ring: Ring::default(),
        }
    }

    /// How many rumors are queued to piggyback.
    #[cfg(test)]
    pub(crate) fn queued_news(&self) -> usize {
        self.rumors.len()
    }

    /// Whether fast confirmation works here at `now` (configured, and not paused:
    /// [`FastConfirm`]): suspicions are announced and checked at once.
    fn fast_confirm(&self, members: &Members, now: Instant) -> bool {
        self.swim.fast_confirm && !members.settling(now) && !self.fast.paused(now)
    }

    /// Whether this node may also end suspicions after one period and send deaths on at
    /// once: fast confirmation works, and this node's own probes are answered in time
    /// (awareness 0; a mass crash or an overloaded machine raises it).
    fn fast_verdicts(&self, members: &Members, now: Instant) -> bool {
        self.fast_confirm(members, now) && self.awareness == 0
    }

    fn scale(&self, d: Duration) -> Duration {
        d * (self.awareness + 1)
    }

    pub(crate) fn on_round(&mut self, ctx: &mut Ctx<'_>) {
        self.rounds += 1;
        self.finish_probe(ctx);
        self.beat(ctx);
        self.tell_checks(ctx);
        if ctx.exchange_due(self.rounds) {
            let anti_entropy = ctx.anti_entropy_rounds();
            self.push_pull(ctx, anti_entropy);
        } else if self.rounds.is_multiple_of(DEAD_RETRY_ROUNDS) {
            reconnect(ctx);
        }
        ctx.members.reap(ctx.now, self.swim.tombstone_ttl);
        // Periods are counted from when rounds were due, not from when the host woke up:
        // counted from `now`, a period would end just after the next round (by the
        // wake-up delay) and every other round would skip its probe.
        if self.probe.is_none() && ctx.round_at >= self.next_probe_at {
            let period = self.scale(ctx.config.interval);
            self.next_probe_at = ctx.round_at + period;
            self.start_probe(ctx, ctx.round_at + period);
        }
    }

    /// The watch ring's heartbeat, numbered by round, to the member that watches this
    /// node ([`ring`]).
    fn beat(&mut self, ctx: &mut Ctx<'_>) {
        if !self.swim.watch_ring {
            return;
        }
        if let Some(watcher) = self.ring.watcher(ctx.members, &ctx.me.name) {
            let beat = Message::Heartbeat {
                seq: self.rounds,
                health: None,
                ack: false,
            };
            ctx.send(watcher.addr, beat);
        }
    }

    /// The member this node watches, if its heartbeats stopped ([`ring`]); not while the
    /// cluster settles after a join, when nodes may not yet agree on who watches whom.
    fn silent_watched(&mut self, ctx: &Ctx<'_>) -> Option<(String, SocketAddr)> {
        if !self.swim.watch_ring || ctx.members.settling(ctx.now) {
            return None;
        }
        let silence = ctx.config.interval.mul_f64(ring::SILENCE);
        let m = self.ring.silent(ctx.members, &ctx.me.name, ctx.now, silence)?;
        Some((m.name.clone(), m.addr))
    }

    /// Probes the next target (a suspect to confirm first); the probe fails at `ends_at`
    /// unless acknowledged (or nacked by every intermediary) before.
    fn start_probe(&mut self, ctx: &mut Ctx<'_>, ends_at: Instant) {
        let Some((target, addr)) = self.next_target(ctx) else {
            return;
        };
        self.seq += 1;
        let gossip = self.piggyback(ctx, Some(&target), GOSSIP_BUDGET);
        ctx.send(addr, Message::Ping { seq: self.seq, gossip });
        self.probe = Some(Probe {
            target,
            seq: self.seq,
            direct_deadline: ctx.now + self.scale(self.swim.probe_timeout),
            ends_at,
            acked: false,
            asked: Vec::new(),
            nacks: 0,
            indirect_sent: false,
        });
    }

    /// The member to probe this period: a suspect others accuse (while this node's
    /// awareness is 0), a suspect this node's probe failed (every other period), the
    /// member this node watches if its heartbeats stopped ([`ring`]), else the randomised
    /// round-robin over the members up (SWIM §4.3): a shuffled list, walked in order,
    /// reshuffled when exhausted.
    fn next_target(&mut self, ctx: &mut Ctx<'_>) -> Option<(String, SocketAddr)> {
        if self.swim.random_targets {
            let up: Vec<(String, SocketAddr)> = ctx.members.up_others().map(|m| (m.name.clone(), m.addr)).collect();
            return (!up.is_empty()).then(|| up[ctx.rng.below(up.len() as u64) as usize].clone());
        }
        // A member someone else suspects is probed first: confirming (or not) a suspicion
        // quickly is what lets a real failure be declared after the minimum timeout.
        // A doubted member is left out: it is suspected again and again, gets no fast
        // confirmation anyway (`Ping::timeout`), and would take every period.
        // Only while this node's awareness is 0: after many crashes at once, a node that
        // served its suspects first probed only crashed members, got no ack to lower its
        // awareness, and stayed at the ceiling, probing once every `awareness_max`
        // intervals (`a_node_with_raised_awareness_leaves_the_suspects_to_the_round_robin`).
        while self.awareness == 0
            && let Some(name) = self.confirm.pop_first()
        {
            if let Some(m) = ctx
                .members
                .get(&name)
                .filter(|m| m.status == Status::Suspect && !m.doubted)
            {
                return Some((m.name.clone(), m.addr));
            }
        }
        // Rechecks take every other period at most: suspects that outlive their timeout
        // (a minority under a quorum never declares anyone dead) must not keep the
        // round-robin from reaching the members not yet suspected.
        if !std::mem::take(&mut self.rechecked_last) {
            while let Some(name) = self.recheck.pop_front() {
                if let Some(m) = ctx.members.get(&name).filter(|m| m.status == Status::Suspect) {
                    self.rechecked_last = true;
                    return Some((m.name.clone(), m.addr));
                }
            }
        }
        if let Some(target) = self.silent_watched(ctx) {
            return Some(target);
        }
        for _ in 0..2 {
            while self.next < self.order.len() {
                let name = &self.order[self.next];
                self.next += 1;
                if let Some(m) = ctx.members.get(name).filter(|m| m.status.is_up()) {
                    return Some((m.name.clone(), m.addr));
                }
            }
            self.order = ctx.members.up_others().map(|m| m.name.clone()).collect();
            ctx.rng.shuffle(&mut self.order);
            self.next = 0;
        }
        None
    }

    pub(crate) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: SocketAddr,
        from: &Peer,
        message: Message,
    ) -> Vec<MemberEntry> {
        match message {
            Message::Ping { seq, gossip } => {
                // The ack carries little more news than the ping did: no amplification (the
                // agent drops replies more than a name's length larger than the request).
                let budget = gossip.iter().map(wire::body_len).sum::<usize>() + ACK_EXTRA_NEWS;
                let reply = self.piggyback(ctx, None, budget);
                ctx.send(src, Message::PingAck { seq, gossip: reply });
                self.hear(ctx, gossip);
            }
            Message::PingAck { seq, gossip } => {
                self.on_ack(ctx, from, seq);
                self.hear(ctx, gossip);
            }
            Message::PingReq { seq, target } => self.relay(ctx, src, seq, &target),
            Message::IndirectAck { seq, incarnation } => self.on_indirect_ack(ctx, seq, incarnation),
            Message::Nack { seq } => {
                if let Some(probe) = self.probe.as_mut().filter(|p| p.seq == seq) {
                    probe.nacks += 1;
                }
                self.finish_probe(ctx);
            }
            Message::News { gossip } => self.hear(ctx, gossip),
            // The watch ring's heartbeat: hearing it (`Members::observe`) is all it does.
            Message::Heartbeat { .. } => {}
            _ => ctx.out.ignored(),
        }
        self.confirm_at_once(ctx);
        self.refresh_suspicion_deadline(ctx);
        Vec::new()
    }

    /// Fast confirmation: a suspicion heard from others is checked with this node's own
    /// probe straight away (when no probe is under way), not at the next round.
    fn confirm_at_once(&mut self, ctx: &mut Ctx<'_>) {
        if self.fast_confirm(ctx.members, ctx.now) && self.probe.is_none() && !self.confirm.is_empty() {
            let ends_at = ctx.now + self.scale(ctx.config.interval);
            self.start_probe(ctx, ends_at);
        }
    }

    fn mark_acked(&mut self, seq: u64, from: Option<&str>) -> bool {
        match self.probe.as_mut() {
            Some(probe) if probe.seq == seq && from.is_none_or(|f| f == probe.target) => {
                probe.acked = true;
                true
            }
            _ => false,
        }
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_>, from: &Peer, seq: u64) {
        if self.mark_acked(seq, Some(&from.name)) {
            return;
        }
        if let Some(relay) = self.relays.remove(&seq) {
            let ack = Message::IndirectAck {
                seq: relay.requester_seq,
                incarnation: from.incarnation,
            };
            ctx.send(relay.requester, ack);
        }
    }

    /// The target answered through an intermediary. The answer carries the target's
    /// incarnation: if the target refuted a suspicion whose refutation this node missed
    /// (lost, and its gossip spent before it came here), the answer brings the news, so
    /// the suspicion ends here too instead of timing out into a false death.
    fn on_indirect_ack(&mut self, ctx: &mut Ctx<'_>, seq: u64, incarnation: Incarnation) {
        let target = self.probe.as_ref().filter(|p| p.seq == seq).map(|p| p.target.clone());
        if !self.mark_acked(seq, None) {
            return;
        }
        let Some(member) = target.and_then(|t| ctx.members.get(&t)) else {
            return;
        };
        if self.swim.buddy && member.incarnation < incarnation {
            let news = MemberEntry {
                name: member.name.clone(),
                addr: member.addr,
                incarnation,
                status: Status::Alive,
                health: None,
                timing: None,
            };
            ctx.learn(vec![news]);
        }
    }

    /// SWIM's ping-req, as the intermediary: probe `target` only if it is a member this
    /// node knows and holds up, at the address this node knows (never one from the packet).
    ///
    /// The nack is the requester's evidence that this node is there and answering
    /// (Lifeguard's local health): a missing nack raises the requester's awareness. So its
    /// timer is the plain probe timeout, never stretched by this node's own awareness
    /// (the requester waits only to the end of its own period), and it goes at once when
    /// there is no one to probe (a member this node holds down, or does not know).
    /// Otherwise every helper that had heard of a crash first, or whose own awareness was
    /// up, cost its requester a missed nack, and awareness spread from node to node.
    fn relay(&mut self, ctx: &mut Ctx<'_>, requester: SocketAddr, requester_seq: u64, target: &str) {
        let Some(addr) = ctx
            .members
            .get(target)
            .filter(|m| m.status.is_up() && m.name != ctx.me.name)
            .map(|m| m.addr)
        else {
            ctx.send(requester, Message::Nack { seq: requester_seq });
            return;
        };
        if self.relays.len() >= MAX_RELAYS {
            return;
        }
        self.seq += 1;
        let gossip = self.piggyback(ctx, Some(target), GOSSIP_BUDGET);
        ctx.send(addr, Message::Ping { seq: self.seq, gossip });
        let deadline = ctx.now + self.swim.probe_timeout;
        self.relays.insert(
            self.seq,
            Relay {
                requester,
                requester_seq,
                deadline,
            },
        );
    }

    /// Takes in piggybacked news: accusations are recorded (with their accuser) before
    /// the table applies them, so confirmations can shorten the suspicion.
    fn hear(&mut self, ctx: &mut Ctx<'_>, gossip: Vec<Rumor>) {
        for rumor in gossip {
            if rumor.entry.status == Status::Suspect && rumor.entry.name != ctx.me.name {
                let age = Duration::from_millis(u64::from(rumor.age_ms));
                self.accuse(ctx, &rumor.entry, &rumor.accusers, age);
            }
            let learned = ctx.learn(vec![rumor.entry]);
            if learned.refuted {
                self.on_refute(ctx);
            }
        }
    }

    /// Records `accusers`' suspicion of `entry` (merging with the accusers already
    /// known); news of a new accuser (a confirmation) is spread again. An accusation with
    /// no accuser starts the timer but confirms nothing. `age`: how long ago the sender's
    /// suspicion began (our timer starts that long ago).
    fn accuse(&mut self, ctx: &mut Ctx<'_>, entry: &MemberEntry, accusers: &[String], age: Duration) {
        // Accusations still spreading once the member is held dead (or gone) at that
        // incarnation are stale: taken, a new accuser's news replaced the death queued
        // for the member (news is one per member), and the death stopped spreading.
        let overtaken = |m: &Member| !m.status.is_up() && m.incarnation >= entry.incarnation;
        if ctx.members.get(&entry.name).is_some_and(overtaken) {
            return;
        }
        let started = Instant::from_micros(ctx.now.as_micros().saturating_sub(age.as_micros() as u64));
        if let Some(accuser) = accusers.first() {
            ctx.members.accused(ctx.now, &entry.name, entry.incarnation, accuser);
        }
        let only_me = accusers.iter().all(|a| *a == ctx.me.name);
        if !only_me && !self.suspicions.contains_key(&entry.name) && entry.name != ctx.me.name {
            self.confirm.insert(entry.name.clone());
        }
        let suspicion = self.suspicions.entry(entry.name.clone()).or_insert_with(|| Suspicion {
            incarnation: entry.incarnation,
            started,
            accusers: BTreeSet::new(),
        });
        if suspicion.incarnation < entry.incarnation {
            *suspicion = Suspicion {
                incarnation: entry.incarnation,
                started,
                accusers: BTreeSet::new(),
            };
        }
        if suspicion.incarnation != entry.incarnation {
            return;
        }
        let before = suspicion.accusers.len();
        suspicion.accusers.extend(accusers.iter().take(MAX_ACCUSERS).cloned());
        if before > 0 && suspicion.accusers.len() > before {
            let rumor = Rumor {
                entry: entry.clone(),
                accusers: Vec::new(),
                age_ms: 0,
            };
            self.rumors.insert(rumor);
        }
    }

    pub(crate) fn after_judge(&mut self, ctx: &mut Ctx<'_>) {
        self.indirect_probes(ctx);
        self.finish_probe(ctx);
        self.expire_relays(ctx);
        self.expire_suspicions(ctx);
        self.refresh_suspicion_deadline(ctx);
    }

    /// The direct probe timed out: ask k random others to probe the target (ping-req).
    fn indirect_probes(&mut self, ctx: &mut Ctx<'_>) {
        let Some(probe) = self.probe.as_mut() else { return };
        if probe.acked || probe.indirect_sent || ctx.now < probe.direct_deadline {
            return;
        }
        probe.indirect_sent = true;
        let mut helpers: Vec<(String, SocketAddr)> = ctx
            .members
            .others()
            // A doubted member (`members/doubt.rs`) hears too little to relay: its missing
            // nacks would only raise this node's awareness and slow its probes.
            .filter(|m| m.status == Status::Alive && !m.doubted && m.name != probe.target)
            .map(|m| (m.name.clone(), m.addr))
            .collect();
        ctx.rng.shuffle(&mut helpers);
        helpers.truncate(ctx.config.probes.indirect_probes);
        let (seq, target) = (probe.seq, probe.target.clone());
        probe.asked = helpers.iter().map(|(name, _)| name.clone()).collect();
        for (_, addr) in helpers {
            ctx.send(
                addr,
                Message::PingReq {
                    seq,
                    target: target.clone(),
                },
            );
        }
    }

    /// The period ended: an ack means health; none means suspicion (and, per Lifeguard,
    /// missing nacks mean that this node itself may be the sick one).
    ///
    /// The probe also ends early once every intermediary has answered that the target
    /// did not answer it either: there is nothing left to wait for.
    fn finish_probe(&mut self, ctx: &mut Ctx<'_>) {
        let all_nacked = |p: &Probe| !p.asked.is_empty() && p.nacks as usize >= p.asked.len();
        let Some(probe) = self.probe.take_if(|p| ctx.now >= p.ends_at || p.acked || all_nacked(p)) else {
            return;
        };
        let expected_nacks = probe.asked.len() as u32;
        // Local health: an ack (straight or relayed) is all a probe can expect; without
        // one, every intermediary's nack (intermediaries that reach the target relay its
        // ack and send no nack, so a relayed ack must not count their nacks as missed).
        let (expected, heard) = match probe.acked {
            true => (1, 1),
            false => (expected_nacks + 1, probe.nacks),
        };
        ctx.members.answers(ctx.now, expected, heard);
        if probe.acked {
            self.awareness = self.awareness.saturating_sub(1);
            return;
        }
        let delta = if expected_nacks > 0 {
            expected_nacks.saturating_sub(probe.nacks)
        } else {
            1
        };
        let failed = FailedProbe {
            at: ctx.now,
            asked: probe.asked,
            nacks: probe.nacks,
            awareness: self.awareness,
        };
        self.failed_probes.insert(probe.target.clone(), failed);
        // Awareness measures this node's own health: a doubted member (`members/doubt.rs`)
        // is known to answer only some probes, so its silence says nothing about us.
        if !ctx.members.get(&probe.target).is_some_and(|m| m.doubted) {
            self.awareness = (self.awareness + delta).min(self.swim.awareness_max - 1);
        }
        self.suspect(ctx, &probe.target);
        // Probed again (next period, then every other one: `next_target`) while the
        // suspicion lasts: an answer (direct or
        // relayed) carries its incarnation, so a refutation this node missed (lost, and
        // its gossip spent before it came here) still ends the suspicion in time.
        // Only within the suspicion's timeout: one that outlives it (a minority under a
        // quorum declares nobody dead) is left to the round-robin, so that rechecks of
        // crashed members do not halve the pace at which it reaches the others.
        let n = ctx.members.up_count();
        let suspect = ctx
            .members
            .get(&probe.target)
            .is_some_and(|m| m.status == Status::Suspect)
            && self
                .suspicions
                .get(&probe.target)
                .is_some_and(|s| !self.timed_out(ctx, &probe.target, s, n));
        if self.swim.buddy && suspect && !self.recheck.contains(&probe.target) {
            self.recheck.push_back(probe.target);
        }
    }

    /// This node's own probe of `name` failed: accuse it (a new suspicion, or a
    /// confirmation of one already held).
    fn suspect(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        let Some(entry) = ctx.members.entry(name).filter(|e| e.status.is_up()) else {
            return;
        };
        let entry = MemberEntry {
            status: Status::Suspect,
            ..entry
        };
        let me = ctx.me.name.clone();
        self.accuse(ctx, &entry, &[me], Duration::ZERO);
        let addr = entry.addr;
        ctx.learn(vec![entry.clone()]);
        if self.swim.buddy {
            // Tell the suspect at once: if it is alive it refutes before any timer runs out.
            ctx.send(
                addr,
                Message::Members {
                    entries: vec![MemberEntry {
                        health: None,
                        timing: None,
                        ..entry
                    }],
                    next_page: None,
                },
            );
        }
        if self.fast_confirm(ctx.members, ctx.now) {
            self.announce(ctx, name);
        }
    }

    /// Fast confirmation: this node's accusation of `name` (with every accuser it knows)
    /// goes straight to up to [`URGENT_FANOUT`] random members, so that they probe it at
    /// once and their accusations come back within a period.
    fn announce(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        let Some(rumor) = self.suspicion_rumor(ctx, name) else {
            return;
        };
        self.tell_random(ctx, name, URGENT_FANOUT, rumor);
    }

    /// Sends `rumor` about `name` straight to up to `count` random members up (not
    /// `name`), each datagram filled up to [`GOSSIP_BUDGET`] with the least-sent verdicts
    /// queued besides (deaths and refutations, never suspicions: each would send every
    /// recipient to check it with its own probe), counted as sent like a ping's. A mass crash is when this matters:
    /// every node then spends its probes on the suspects, so few pings or acks pass
    /// between members up to carry news, and a node that no direct send of a death
    /// reached heard of it only from its own suspicion's timeout (6.7 s after everyone
    /// else in the simulator, 21.7 s among real agents: docs/SCALE.md), though it
    /// received a dozen such datagrams about other crashes meanwhile.
    fn tell_random(&mut self, ctx: &mut Ctx<'_>, name: &str, count: usize, rumor: Rumor) {
        let mut targets: Vec<SocketAddr> = ctx
            .members
            .up_others()
            .filter(|m| m.name != name)
            .map(|m| m.addr)
            .collect();
        ctx.rng.shuffle(&mut targets);
        targets.truncate(count);
        let budget = GOSSIP_BUDGET.saturating_sub(wire::body_len(&rumor));
        for (i, &addr) in targets.iter().enumerate() {
            let queued = self.fill_news(ctx, budget, Some(name), false);
            if queued.is_empty() {
                // Nothing else queued, now or for the rest: one shared message.
                ctx.broadcast(targets[i..].to_vec(), Message::News { gossip: vec![rumor] });
                return;
            }
            let gossip = std::iter::once(rumor.clone()).chain(queued).collect();
            ctx.send(addr, Message::News { gossip });
        }
    }

    fn expire_relays(&mut self, ctx: &mut Ctx<'_>) {
        let expired: Vec<u64> = self
            .relays
            .iter()
            .filter(|(_, r)| ctx.now >= r.deadline)
            .map(|(&seq, _)| seq)
            .collect();
        for seq in expired {
            let relay = self.relays.remove(&seq).expect("listed");
            ctx.send(
                relay.requester,
                Message::Nack {
                    seq: relay.requester_seq,
                },
            );
        }
    }

    /// Suspicions whose timer ran out become death verdicts; with a quorum, only once
    /// enough distinct members accused (until then the member stays suspect).
    fn expire_suspicions(&mut self, ctx: &mut Ctx<'_>) {
        let n = ctx.members.up_count();
        let quorum = ctx.config.quorum_size(n);
        let expired: Vec<(String, bool)> = self
            .suspicions
            .iter()
            .filter(|(name, s)| self.timed_out(ctx, name, s, n))
            .map(|(name, s)| (name.clone(), s.accusers.len() >= quorum))
            .collect();
        let mut due = Vec::new();
        for (name, enough) in expired {
            if enough {
                due.push(name);
            } else if ctx.config.quorum.is_some() {
                // Past its timeout without the accusers a death needs (a minority under
                // a quorum): its refutation will be a partition's end, not a sick
                // member's. (Without a quorum only an accuser-less suspicion is short,
                // and it counts for no doubt anyway.)
                ctx.members.suspicion_outlived(&name);
            } else if !self.recheck.contains(&name) {
                // No accuser (learned from a member list): no verdict comes of it, and if
                // the others hold the member alive no news will either. This node's own
                // probe settles it: a failed one accuses, and an answer from a member
                // held suspect is told so and refutes (`Node::correct`).
                self.recheck.push_back(name);
            }
        }
        for name in due {
            let suspicion = self.suspicions.remove(&name).expect("listed");
            let held = ctx.members.get(&name).filter(|m| m.status == Status::Suspect);
            if let Some(incarnation) = held.map(|m| m.incarnation).filter(|&i| i > suspicion.incarnation) {
                // Suspected again at a later incarnation, learned from a member list: a
                // status that stays `suspect` is no transition, so nothing timed the new
                // suspicion. Dropped with the old one, it left the member suspect here
                // until some message from it happened to come (likely what kept one agent
                // of 500 from forming: docs/SCALE.md).
                let started = ctx.now;
                let accusers = BTreeSet::new();
                self.suspicions.insert(
                    name,
                    Suspicion {
                        incarnation,
                        started,
                        accusers,
                    },
                );
                continue;
            }
            let still = held.filter(|m| m.incarnation == suspicion.incarnation);
            if let Some(entry) = still.and_then(|m| ctx.members.entry(&m.name)) {
                ctx.learn(vec![MemberEntry {
                    status: Status::Dead,
                    ..entry
                }]);
                if ctx.members.get(&name).is_some_and(|m| m.status == Status::Suspect) {
                    // Held back by the mass-failure brake: try again once its window passes.
                    let started = suspicion.started + ctx.config.brake_window;
                    self.suspicions.insert(name, Suspicion { started, ..suspicion });
                }
            }
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let probe = self.probe.as_ref().map(|p| {
            if p.indirect_sent || p.acked {
                p.ends_at
            } else {
                p.direct_deadline
            }
        });
        let relay = self.relays.values().map(|r| r.deadline).min();
        [probe, relay, self.suspicion_deadline].into_iter().flatten().min()
    }

    fn refresh_suspicion_deadline(&mut self, ctx: &Ctx<'_>) {
        let n = ctx.members.up_count();
        let quorum = ctx.config.quorum_size(n);
        // A suspicion short of its quorum has no deadline: a new accuser re-arms it.
        self.suspicion_deadline = self
            .suspicions
            .iter()
            .filter(|(_, s)| s.accusers.len() >= quorum)
            .map(|(name, s)| s.started + self.timeout(ctx.config, ctx.members, name, s, n, ctx.now))
            .min();
    }

    /// Whether `suspicion` of `name` has run its time ([`Ping::timeout`]) at `ctx.now`.
    fn timed_out(&self, ctx: &Ctx<'_>, name: &str, suspicion: &Suspicion, n: usize) -> bool {
        ctx.now >= suspicion.started + self.timeout(ctx.config, ctx.members, name, suspicion, n, ctx.now)
    }

    /// How long `suspicion` of `name` lasts. A doubted member (one that keeps refuting:
    /// `members/doubt.rs`) gets Lifeguard's longest timeout whatever its accusers: it is
    /// known to answer only some probes, so neither fast confirmation nor independent
    /// accusers say it crashed, and a crash is still found within the detection bound
    /// (which allows the longest timeout). A healthy member's is unchanged.
    fn timeout(
        &self,
        config: &Config,
        members: &Members,
        name: &str,
        suspicion: &Suspicion,
        n: usize,
        now: Instant,
    ) -> Duration {
        let doubted = members.get(name).is_some_and(|m| m.doubted);
        let accusers = if doubted { 1 } else { suspicion.accusers.len() };
        timeout_for(config, &self.swim, n, accusers, self.fast_verdicts(members, now))
    }

    /// Every status change is news to spread, but a member this node first heard of in a
    /// seed's member list as it starts (`listed`): that is news to this node only.
    pub(crate) fn on_transition(&mut self, ctx: &mut Ctx<'_>, transition: &Transition, listed: bool) {
        let up = ctx.members.up_count();
        let window = suspicion_max(ctx.config, &self.swim, up);
        let shortest = suspicion_min(ctx.config, &self.swim, up);
        let fast = transition.to == Status::Dead
            && self
                .suspicions
                .get(&transition.name)
                .is_none_or(|s| ctx.now - s.started < shortest);
        if self.swim.fast_confirm && self.fast.on_transition(transition, window, ctx.config.interval, fast) {
            ctx.out.fast_confirm_paused();
        }
        if transition.to.is_up() && transition.from.is_none() {
            self.enlist(ctx, &transition.name);
        }
        if transition.to != Status::Suspect {
            self.suspicions.remove(&transition.name);
        } else if !self.suspicions.contains_key(&transition.name) {
            // Learned from a member list rather than a rumor: time it, with no accuser.
            let suspicion = Suspicion {
                incarnation: transition.incarnation,
                started: ctx.now,
                accusers: BTreeSet::new(),
            };
            self.suspicions.insert(transition.name.clone(), suspicion);
        }
        self.refresh_suspicion_deadline(ctx);
        let Some(entry) = ctx.members.entry(&transition.name) else {
            return;
        };
        // Accusers and age are filled in when the rumor is sent (see `aged`).
        let rumor = Rumor {
            entry: MemberEntry {
                health: None,
                timing: None,
                ..entry
            },
            accusers: Vec::new(),
            age_ms: 0,
        };
        if transition.to == Status::Dead && self.fast_verdicts(ctx.members, ctx.now) {
            self.tell_random(ctx, &transition.name, death_fanout(up), rumor.clone());
        }
        if !(listed && transition.from.is_none()) {
            self.rumors.insert(rumor);
        }
    }

    /// A member new here joins the current cycle of the round-robin at a random place
    /// among the members not yet probed in it (SWIM's rule, and memberlist's), when that
    /// cycle is long: otherwise it waits for the next cycle, up to N periods away (a
    /// joiner of a formed cluster of 80 was probed by no one in its first 20 periods:
    /// `tests/ping.rs`). A short cycle (up to [`ENLIST_CYCLE`] members) ends soon:
    /// waiting costs little, and the probe order of small clusters stays what it was.
    fn enlist(&mut self, ctx: &mut Ctx<'_>, name: &str) {
        if self.order.len() <= ENLIST_CYCLE || name == ctx.me.name || self.order[self.next..].iter().any(|n| n == name)
        {
            return;
        }
        let unprobed = (self.order.len() - self.next) as u64;
        let at = self.next + ctx.rng.below(unprobed + 1) as usize;
        self.order.insert(at, name.to_string());
    }

    /// Refuting is a sign of ill health (Lifeguard), and the refutation must outrun the
    /// suspicion timers: it is sent straight to every member that is up (rare, and a
    /// race the suspect must win), and spread as a rumor for those that miss it.
    pub(crate) fn on_refute(&mut self, ctx: &mut Ctx<'_>) {
        self.awareness = (self.awareness + 1).min(self.swim.awareness_max - 1);
        let Some(entry) = ctx.members.entry(&ctx.me.name) else {
            return;
        };
        let entry = MemberEntry {
            health: None,
            timing: None,
            ..entry
        };
        let targets: Vec<SocketAddr> = ctx.members.up_others().map(|m| m.addr).collect();
        for addr in targets {
            ctx.send(
                addr,
                Message::Members {
                    entries: vec![entry.clone()],
                    next_page: None,
                },
            );
        }
        self.rumors.insert(Rumor {
            entry,
            accusers: Vec::new(),
            age_ms: 0,
        });
    }

    /// News for one outgoing message: a probe of a suspect first carries the suspicion
    /// (Lifeguard's buddy system), then the least-sent rumors that fit the budget.
    fn piggyback(&mut self, ctx: &mut Ctx<'_>, target: Option<&str>, budget: usize) -> Vec<Rumor> {
        let buddy = target
            .filter(|_| self.swim.buddy)
            .and_then(|name| self.suspicion_rumor(ctx, name));
        let Some(buddy) = buddy else {
            return self.fill_news(ctx, budget, None, true);
        };
        let rest = budget.saturating_sub(wire::body_len(&buddy));
        let name = buddy.entry.name.clone();
        std::iter::once(buddy)
            .chain(self.fill_news(ctx, rest, Some(&name), true))
            .collect()
    }

    /// The least-sent queued rumors that fit `budget` (but any about `skip`), counted as
    /// sent: each goes out `retransmit_mult × ⌈log10(N + 1)⌉` times, then leaves the queue.
    fn fill_news(&mut self, ctx: &Ctx<'_>, budget: usize, skip: Option<&str>, suspicions: bool) -> Vec<Rumor> {
        let n = ctx.members.up_count();
        let limit = self.swim.retransmit_mult * (n as f64 + 1.0).log10().ceil().max(1.0) as u32;
        let mut out = Vec::new();
        for slot in self.rumors.least_sent_that_fit(budget, skip, suspicions) {
            out.extend(self.rumors.send(slot, limit));
        }
        out.into_iter().map(|rumor| self.aged(ctx, rumor)).collect()
    }

    /// `rumor` with the accusers and age of this node's suspicion, when it is one.
    fn aged(&self, ctx: &Ctx<'_>, mut rumor: Rumor) -> Rumor {
        if rumor.entry.status == Status::Suspect
            && let Some(suspicion) = self.suspicions.get(&rumor.entry.name)
        {
            rumor.age_ms = u32::try_from((ctx.now - suspicion.started).as_millis()).unwrap_or(u32::MAX);
            rumor.accusers = suspicion.accusers.iter().take(MAX_ACCUSERS).cloned().collect();
        }
        rumor
    }

    /// The news that `name` is suspected, as this node holds it (for the suspect itself).
    fn suspicion_rumor(&self, ctx: &Ctx<'_>, name: &str) -> Option<Rumor> {
        let entry = ctx.members.entry(name).filter(|e| e.status == Status::Suspect)?;
        let rumor = Rumor {
            entry: MemberEntry {
                health: None,
                timing: None,
                ..entry
            },
            accusers: Vec::new(),
            age_ms: 0,
        };
        Some(self.aged(ctx, rumor))
    }

    /// Pings and acks carry no health, so this node's checks and services (what
    /// `/v1/services` lists) go straight to every member up that has not had them yet, in
    /// a `Members` message with this node's entry: all of them when the checks change,
    /// a member that joins (or restarts) in the next round. At most one datagram per
    /// member per change; one lost is repaired by the next anti-entropy exchange.
    fn tell_checks(&mut self, ctx: &mut Ctx<'_>) {
        let checks = ctx.health.as_ref().and_then(|h| h.checks.clone());
        if checks.is_none() {
            return;
        }
        if self.told.0 != checks {
            self.told = (checks, BTreeMap::new());
        }
        let told = &mut self.told.1;
        let mut untold = Vec::new();
        for member in ctx.members.up_others() {
            // Looked up first: a name is copied only for a member not told yet (every
            // member's, every round, was 8 % of a 500-member agent's time while it formed).
            if told.get(&member.name) != Some(&member.incarnation) {
                told.insert(member.name.clone(), member.incarnation);
                untold.push(member.addr);
            }
        }
        let Some(entry) = ctx.members.entry(&ctx.me.name).filter(|_| !untold.is_empty()) else {
            return;
        };
        told.retain(|name, _| ctx.members.get(name).is_some());
        let message = Message::Members {
            entries: vec![entry],
            next_page: None,
        };
        ctx.broadcast(untold, message);
    }

    /// A full state exchange with one random member (anti-entropy), due every `period`
    /// rounds (`anti_entropy.rs`: spaced with the cluster's size): push our pages and ask
    /// for theirs. Every other time (every `2 × period` rounds) the partner is a member
    /// held dead, so the two sides of a healed partition meet again.
    fn push_pull(&mut self, ctx: &mut Ctx<'_>, period: u64) {
        let want_dead = self.rounds.is_multiple_of(2 * period);
        let mut partners: Vec<SocketAddr> = ctx
            .members
            .others()
            .filter(|m| {
                if want_dead {
                    m.status == Status::Dead
                } else {
                    m.status.is_up()
                }
            })
            .map(|m| m.addr)
            .collect();
        ctx.rng.shuffle(&mut partners);
        let Some(&partner) = partners.first() else { return };
        for entries in wire::chunk_entries(ctx.members.entries()) {
            ctx.send(
                partner,
                Message::Members {
                    entries,
                    next_page: None,
                },
            );
        }
        ctx.send(partner, Message::join(0));
    }
}

/// Serf's reconnect loop, bounded: every [`DEAD_RETRY_ROUNDS`] periods, one padded join
/// (a request for page 0 of the member list) to one random member held dead. If it is back
/// (a healed partition), each side reads that the other holds it dead, both refute, and
/// the refutations spread: the two sides agree within a few periods, instead of waiting
/// for a push-pull that picks a dead partner (every `2 × push_pull_rounds` periods, more
/// above 100 members up: `anti_entropy.rs`).
/// Only while some member is dead, and about one datagram per period for the whole
/// cluster whatever its size: each of the `up` members tries every `DEAD_RETRY_ROUNDS`
/// periods with probability `DEAD_RETRY_ROUNDS / up` (always, up to `DEAD_RETRY_ROUNDS`
/// members), so a node's share of the cost falls as 1/N.
fn reconnect(ctx: &mut Ctx<'_>) {
    let dead: Vec<SocketAddr> = ctx
        .members
        .others()
        .filter(|m| m.status == Status::Dead)
        .map(|m| m.addr)
        .collect();
    if dead.is_empty() {
        return;
    }
    let up = ctx.members.up_count() as u64;
    if up > DEAD_RETRY_ROUNDS && ctx.rng.below(up) >= DEAD_RETRY_ROUNDS {
        return;
    }
    let partner = dead[ctx.rng.below(dead.len() as u64) as usize];
    ctx.send(partner, Message::join(0));
}

impl Ping {
    /// What this node holds against `name` (see `crate::why`).
    pub(crate) fn evidence(
        &self,
        name: &str,
        now: Instant,
        config: &Config,
        members: &Members,
    ) -> crate::strategy::Evidence {
        use crate::why::{ProbeEvidence, SuspicionEvidence, millis};
        let n = members.up_count();
        let suspicion = self.suspicions.get(name).map(|s| SuspicionEvidence {
            accusers: s.accusers.iter().cloned().collect(),
            age_ms: millis(now - s.started),
            timeout_ms: millis(self.timeout(config, members, name, s, n, now)),
            quorum: config.quorum_size(n),
        });
        let failed_probe = self.failed_probes.get(name).map(|p| ProbeEvidence {
            ms_ago: millis(now - p.at),
            asked: p.asked.clone(),
            nacks: p.nacks,
            awareness: p.awareness,
        });
        crate::strategy::Evidence {
            suspicion,
            failed_probe,
            awareness: Some(self.awareness),
        }
    }
}

/// Lifeguard's suspicion timeout: from `max` down to `min` as confirmations arrive.
/// `min = suspicion_mult × max(1, log10 n) × interval`, `max = suspicion_max_mult × min`,
/// `k = suspicion_mult − 2` expected confirmations (0 in clusters too small for them),
/// `timeout = max(min, max − (max − min) × ln(C + 1) / ln(k + 1))` for C confirmations.
/// `fast`: whether fast verdicts are allowed here now ([`Ping::fast_verdicts`]).
fn timeout_for(config: &Config, swim: &SwimConfig, n: usize, accusers: usize, fast: bool) -> Duration {
    if fast && accusers >= (n / 2 + 1).min(FAST_ACCUSERS) && accusers > 1 {
        return config.interval;
    }
    let min = config
        .interval
        .mul_f64(f64::from(swim.suspicion_mult) * (n as f64).log10().max(1.0));
    let max = min * swim.suspicion_max_mult;
    let mut k = swim.suspicion_mult.saturating_sub(2) as usize;
    if n < k + 2 {
        k = 0;
    }
    if !swim.dynamic_suspicion || k == 0 {
        return min;
    }
    let confirmations = accusers.saturating_sub(1) as f64;
    let fraction = (confirmations + 1.0).ln() / (k as f64 + 1.0).ln();
    max.saturating_sub((max - min).mul_f64(fraction.min(1.0))).max(min)
}

/// The bound of an observer's own probe, which needs no rumor to reach it (piggybacked
/// news reaches every node only with high probability, SWIM §4.1). Randomised
/// round-robin probes every member within `2N − 1` periods (SWIM §4.3), the probe fails
/// by the end of its period, and a lone accuser's suspicion lasts Lifeguard's maximum
/// ([`suspicion_max`]). A period is `(1 + awareness)` intervals: an observer at the
/// awareness ceiling (after missed nacks, a partition, a refutation) comes back to one
/// interval per period after `2 + 3 + … + awareness_max` intervals, one successful probe
/// per step (Lifeguard §IV-A). Each hop adds a delivery (probe, ack, ping-req, nack).
pub(crate) fn detection_bound(config: &Config, swim: &SwimConfig, cluster: &Cluster) -> Duration {
    let ceiling = swim.awareness_max;
    let recovery = (ceiling * (ceiling + 1) / 2).saturating_sub(1);
    let periods = 2 * cluster.nodes as u32;
    config.interval * (recovery + periods) + suspicion_max(config, swim, cluster.nodes) + cluster.delay * 4
}

/// Lifeguard's longest suspicion (a lone accuser) with `nodes` members up, as
/// [`timeout_for`] computes it; the timeout is never scaled by awareness.
pub(crate) fn suspicion_max(config: &Config, swim: &SwimConfig, nodes: usize) -> Duration {
    let min = suspicion_min(config, swim, nodes);
    if swim.dynamic_suspicion {
        min * swim.suspicion_max_mult
    } else {
        min
    }
}

/// Lifeguard's shortest suspicion with `nodes` members up:
/// `suspicion_mult × max(1, log10 n) × interval`.
fn suspicion_min(config: &Config, swim: &SwimConfig, nodes: usize) -> Duration {
    let n = nodes.max(2) as f64;
    config
        .interval
        .mul_f64(f64::from(swim.suspicion_mult) * n.log10().max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Preset, StrategyKind};
    use crate::members::SETTLE_INTERVALS;
    use crate::strategy::fixture::{Fixture, entry, messages, names};

    fn fixture(count: usize) -> (Fixture, Vec<String>) {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Ping);
        config.swim_mut().expect("ping").random_targets = false;
        let others = names(count);
        (Fixture::new(config, &others), others)
    }

    /// The SWIM settings of [`fixture`].
    fn lan_fast_swim() -> SwimConfig {
        SwimConfig::for_interval(Preset::LanFast.interval())
    }

    fn rumor(name: &str, i: usize) -> Rumor {
        Rumor {
            entry: entry(name, i, Status::Alive),
            accusers: Vec::new(),
            age_ms: 0,
        }
    }

    /// A ping with `count` rumors queued, none sent yet.
    fn with_rumors(count: usize) -> Ping {
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        for (i, name) in names(count).iter().enumerate() {
            ping.rumors.insert(rumor(name, i + 1));
        }
        ping
    }

    fn news_len(gossip: &[Rumor]) -> usize {
        gossip.iter().map(wire::body_len).sum()
    }

    /// The push-pulls of a ping node that knows `others` members, `m000` of them dead,
    /// over `rounds` periods: the round of each, its partner and how many entries it pushed.
    /// The members were added an hour before (time stands still meanwhile), so only the
    /// first of the early exchanges is made.
    fn push_pulls(others: usize, rounds: u64) -> Vec<(u64, SocketAddr, usize)> {
        let (mut f, _) = fixture(others);
        let later = Instant::ZERO + Duration::from_secs(3600);
        f.members.apply(later, &entry("m000", 1, Status::Dead));
        let mut ping = Ping::new(lan_fast_swim(), later);
        let mut exchanges = Vec::new();
        for round in 1..=rounds {
            let mut ctx = f.ctx(later);
            ctx.round = round;
            ping.on_round(&mut ctx);
            let pages: Vec<(SocketAddr, usize)> = f
                .sent()
                .into_iter()
                .filter_map(|(to, envelope)| match envelope.message {
                    Message::Members { entries, .. } => Some((to[0], entries.len())),
                    _ => None,
                })
                .collect();
            if let Some(&(partner, _)) = pages.first() {
                assert!(pages.iter().all(|(to, _)| *to == partner), "one partner at {round}");
                exchanges.push((round, partner, pages.iter().map(|(_, n)| n).sum()));
            }
        }
        exchanges
    }

    #[test]
    fn with_250_members_up_a_node_pushes_its_list_every_180_periods_every_other_time_to_the_dead() {
        // Once at round 10 (to a member up), then every 180.
        let dead = crate::strategy::fixture::addr(1);
        let rounds: Vec<(u64, bool)> = push_pulls(250, 720)
            .into_iter()
            .map(|(round, partner, _)| (round, partner == dead))
            .collect();
        assert_eq!(
            rounds,
            [(10, false), (180, false), (360, true), (540, false), (720, true)],
            "250 members up: every 180 periods, every other time to m000"
        );
        let small: Vec<(u64, bool)> = push_pulls(100, 240)
            .into_iter()
            .map(|(round, partner, _)| (round, partner == dead))
            .collect();
        assert_eq!(
            small,
            [(10, false), (60, false), (120, true), (180, false), (240, true)],
            "100 members up: every 60 periods"
        );
    }

    #[test]
    fn push_pull_entries_per_period_at_400_members_stay_those_at_100() {
        // Past its first exchange, over 960.
        let per_period = |others: usize| {
            let entries: usize = push_pulls(others, 970)
                .iter()
                .filter(|(round, _, _)| *round > crate::strategy::anti_entropy::EARLY_EXCHANGE_ROUNDS[0])
                .map(|(_, _, n)| n)
                .sum();
            entries as f64 / 960.0
        };
        let (small, large) = (per_period(100), per_period(400));
        assert!(
            large <= 1.05 * small,
            "{large:.2} entries per period at 400, {small:.2} at 100"
        );
    }

    fn transition(name: &str, from: Option<Status>, to: Status, at: Instant) -> Transition {
        Transition {
            name: name.into(),
            addr: crate::strategy::fixture::addr(1),
            incarnation: 1,
            from,
            to,
            at,
            silence: None,
            quiet: false,
        }
    }

    #[test]
    fn a_death_confirmed_fast_is_sent_on_to_ln_n_plus_three_members() {
        // N is the members up once the dead one is not: 9, 99 and 499.
        for (others, fanout) in [(9, 6), (99, 8), (499, 10)] {
            let (mut f, names) = fixture(others);
            let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
            let now = Instant::ZERO + Preset::LanFast.interval() * SETTLE_INTERVALS;
            f.members.apply(now, &entry(&names[3], 4, Status::Dead));
            f.sent();
            let dead = transition(&names[3], Some(Status::Alive), Status::Dead, now);
            ping.on_transition(&mut f.ctx(now), &dead, false);
            let told: Vec<SocketAddr> = f
                .sent()
                .into_iter()
                .filter(|(_, e)| matches!(e.message, Message::News { .. }))
                .flat_map(|(to, _)| to)
                .collect();
            assert_eq!(told.len(), fanout, "N = {others}");
            assert!(told.iter().all(|a| *a != f.me.addr), "{told:?}");
        }
    }

    /// A death sent on also carries the verdicts this node has queued (here an earlier
    /// death and a refutation), never its queued suspicions (which would send every
    /// recipient to check them with its own probes: first verdicts of a mass crash came
    /// later with them), and each carried verdict counts as sent.
    #[test]
    fn a_death_sent_on_carries_the_queued_verdicts_but_not_the_suspicions() {
        let (mut f, names) = fixture(99);
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        let now = Instant::ZERO + Preset::LanFast.interval() * SETTLE_INTERVALS;
        let queued = [(1, Status::Dead), (2, Status::Suspect), (4, Status::Alive)];
        for (i, status) in queued {
            ping.rumors.insert(Rumor {
                entry: entry(&names[i], i, status),
                ..rumor(&names[i], i)
            });
        }
        f.members.apply(now, &entry(&names[3], 4, Status::Dead));
        f.sent();
        let dead = transition(&names[3], Some(Status::Alive), Status::Dead, now);
        ping.on_transition(&mut f.ctx(now), &dead, false);
        let carried: Vec<Vec<(String, Status)>> = messages(f.sent())
            .into_iter()
            .filter_map(|m| match m {
                Message::News { gossip } => Some(gossip.into_iter().map(|r| (r.entry.name, r.entry.status)).collect()),
                _ => None,
            })
            .collect();
        let expected = vec![
            (names[3].clone(), Status::Dead),
            (names[4].clone(), Status::Alive),
            (names[1].clone(), Status::Dead),
        ];
        assert_eq!(carried, vec![expected; 8]);
        // Counted: the carried verdicts went out 8 times, their limit here
        // (4 × ⌈log10 100⌉), and left the queue; the next ping carries the new death
        // (queued after it went) and the suspicion.
        let next = ping.piggyback(&mut f.ctx(now), None, GOSSIP_BUDGET);
        let names_next: Vec<&str> = next.iter().map(|r| r.entry.name.as_str()).collect();
        assert_eq!(names_next, [&names[3], &names[2]]);
    }

    #[test]
    fn fast_confirmation_works_only_in_a_settled_cluster_with_this_nodes_probes_answered() {
        let interval = Preset::LanFast.interval();
        let window = interval * 20;
        let (mut f, _) = fixture(4);
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        let at = |periods: u32| Instant::ZERO + interval * periods;
        // This node's start (and its members' joining, at 0): settling.
        assert!(!ping.fast_confirm(&f.members, at(SETTLE_INTERVALS - 1)));
        assert!(ping.fast_verdicts(&f.members, at(SETTLE_INTERVALS)));
        ping.awareness = 1;
        assert!(
            ping.fast_confirm(&f.members, at(SETTLE_INTERVALS)),
            "suspicions are still announced"
        );
        assert!(
            !ping.fast_verdicts(&f.members, at(SETTLE_INTERVALS)),
            "this node's own probes went unanswered"
        );
        ping.awareness = 0;
        // A join: settling again.
        f.members.apply(at(20), &entry("m009", 9, Status::Alive));
        let joined = transition("m009", None, Status::Alive, at(20));
        assert!(
            !ping.fast.on_transition(&joined, window, interval, false),
            "a join is no false death"
        );
        assert!(!ping.fast_confirm(&f.members, at(20 + SETTLE_INTERVALS - 1)));
        assert!(ping.fast_verdicts(&f.members, at(20 + SETTLE_INTERVALS)));
        // A death on Lifeguard's timeout refuted at once (a sick member): no pause.
        let start = 50;
        let dead = transition("m003", Some(Status::Suspect), Status::Dead, at(start));
        assert!(!ping.fast.on_transition(&dead, window, interval, false));
        let back = transition("m003", Some(Status::Dead), Status::Alive, at(start + 1));
        assert!(!ping.fast.on_transition(&back, window, interval, false));
        assert!(ping.fast_verdicts(&f.members, at(start + 1)));
        // A fast death refuted within the window (or a crash restarted at once): no pause
        // for the first; the second within the pause's length pauses, counted once.
        let start = 100;
        for (name, at_death, paused) in [("m001", start - 40, false), ("m004", start, true)] {
            let dead = transition(name, Some(Status::Suspect), Status::Dead, at(at_death));
            assert!(!ping.fast.on_transition(&dead, window, interval, true));
            assert!(
                ping.fast_verdicts(&f.members, at(at_death + 1)),
                "a death alone pauses nothing"
            );
            let back = transition(name, Some(Status::Dead), Status::Alive, at(at_death + 5));
            assert_eq!(
                ping.fast.on_transition(&back, window, interval, false),
                paused,
                "{name}"
            );
            assert_eq!(ping.fast_verdicts(&f.members, at(at_death + 5)), !paused, "{name}");
        }
        assert!(!ping.fast_confirm(&f.members, at(start + 5 + FAST_PAUSE_INTERVALS - 1)));
        assert!(ping.fast_verdicts(&f.members, at(start + 5 + FAST_PAUSE_INTERVALS)));
        // A member back after the window (a restart): no pause.
        let start = 1000;
        let dead = transition("m002", Some(Status::Suspect), Status::Dead, at(start));
        assert!(!ping.fast.on_transition(&dead, window, interval, true));
        let back = transition("m002", Some(Status::Dead), Status::Alive, at(start + 20));
        assert!(!ping.fast.on_transition(&back, window, interval, false));
        assert!(ping.fast_verdicts(&f.members, at(start + 20)));
    }

    #[test]
    fn the_round_robin_probes_every_member_once_before_any_twice() {
        let (mut f, others) = fixture(5);
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        let mut ctx = f.ctx(Instant::ZERO);
        for _ in 0..3 {
            let mut lap: Vec<String> = (0..5)
                .map(|_| ping.next_target(&mut ctx).expect("a target").0)
                .collect();
            lap.sort();
            assert_eq!(lap, others);
        }
    }

    /// The next `count` targets of a node that knows `others` members, once it has probed
    /// three of them and then learned of a new member, `late`.
    fn targets_after_a_join(others: usize, count: usize) -> Vec<String> {
        let (mut f, _) = fixture(others);
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        let mut ctx = f.ctx(Instant::ZERO);
        for _ in 0..3 {
            ping.next_target(&mut ctx).expect("a target");
        }
        let joined = transition("late", None, Status::Alive, Instant::ZERO);
        ctx.members.apply(Instant::ZERO, &entry("late", 99, Status::Alive));
        ping.on_transition(&mut ctx, &joined, false);
        (0..count)
            .map(|_| ping.next_target(&mut ctx).expect("a target").0)
            .collect()
    }

    #[test]
    fn a_member_that_joins_mid_cycle_of_a_large_cluster_is_probed_within_that_cycle() {
        let others = ENLIST_CYCLE + 8;
        // The rest of the cycle: the others not probed yet, and the joiner.
        let rest = targets_after_a_join(others, others - 3 + 1);
        assert!(rest.contains(&"late".to_string()), "{rest:?}");
        let mut seen = rest.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), rest.len(), "each probed once in the cycle: {rest:?}");
    }

    #[test]
    fn a_member_that_joins_a_short_cycle_waits_for_the_next() {
        let targets = targets_after_a_join(6, 10);
        let (rest, next) = targets.split_at(3);
        assert!(!rest.contains(&"late".to_string()), "{rest:?}");
        assert!(next.contains(&"late".to_string()), "{next:?}");
    }

    #[test]
    fn a_member_that_went_down_leaves_the_round_robin() {
        let (mut f, others) = fixture(4);
        f.members.apply(Instant::ZERO, &entry("m002", 3, Status::Dead));
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        let mut ctx = f.ctx(Instant::ZERO);
        let mut lap: Vec<String> = (0..3)
            .map(|_| ping.next_target(&mut ctx).expect("a target").0)
            .collect();
        lap.sort();
        let up: Vec<String> = others.into_iter().filter(|n| n != "m002").collect();
        assert_eq!(lap, up);
    }

    #[test]
    fn a_member_others_suspect_is_probed_before_the_round_robin_goes_on() {
        let (mut f, _) = fixture(5);
        f.members.apply(Instant::ZERO, &entry("m003", 4, Status::Suspect));
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        // "m001" is not (or no longer) suspected: it is skipped, not probed out of turn.
        ping.confirm.insert("m001".into());
        ping.confirm.insert("m003".into());
        let mut ctx = f.ctx(Instant::ZERO);
        assert_eq!(ping.next_target(&mut ctx).expect("a target").0, "m003");
        assert!(ping.confirm.is_empty());
    }

    /// A node whose awareness is raised goes on with the round-robin: after many crashes
    /// at once, serving the suspects first it probed only crashed members, got no ack to
    /// bring its awareness down, and stayed at the ceiling (docs/SCALE.md).
    #[test]
    fn a_node_with_raised_awareness_leaves_the_suspects_to_the_round_robin() {
        let (mut f, _) = fixture(5);
        f.members.apply(Instant::ZERO, &entry("m003", 4, Status::Suspect));
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        ping.confirm.insert("m003".into());
        ping.awareness = 1;
        let mut ctx = f.ctx(Instant::ZERO);
        let lap: Vec<String> = (0..5)
            .map(|_| ping.next_target(&mut ctx).expect("a target").0)
            .collect();
        // Out of turn and again in the round-robin, it would be there twice.
        assert_eq!(lap.iter().filter(|n| *n == "m003").count(), 1, "{lap:?}");
        assert!(ping.confirm.contains("m003"), "kept for when awareness is back to 0");
    }

    /// A suspicion this node timed at one incarnation, while a member list brought the
    /// member suspect again at a later one (no transition: it stays `suspect`), is timed
    /// again at that incarnation when the first runs out; with no accuser at the new
    /// one, this node then probes the member itself, and its failed probe ends the
    /// suspicion in a verdict.
    #[test]
    fn a_suspicion_that_moved_to_a_later_incarnation_unnoticed_still_ends() {
        // Enough members that the round-robin does not come to it first.
        let (mut f, _) = fixture(400);
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        let suspect = |incarnation| MemberEntry {
            incarnation,
            ..entry("m001", 2, Status::Suspect)
        };
        let rumor = Rumor {
            entry: suspect(0),
            accusers: vec!["m002".into()],
            age_ms: 0,
        };
        ping.hear(&mut f.ctx(Instant::ZERO), vec![rumor]);
        assert_eq!(ping.suspicions.get("m001").map(|s| s.incarnation), Some(0));
        ping.confirm.clear(); // probed out of turn already, and answered
        f.members.apply(Instant::ZERO, &suspect(1));
        let longest = suspicion_max(&f.config, &ping.swim, f.members.up_count());
        let mut now = Instant::ZERO;
        while now < Instant::ZERO + longest * 3 && f.members.get("m001").is_some_and(|m| m.status == Status::Suspect) {
            now = now + Duration::from_millis(100);
            let mut ctx = f.ctx(now);
            // A period: probe (the recheck first once queued), then time out everything.
            if now.as_micros().is_multiple_of(1_000_000) && ping.probe.is_none() {
                ping.start_probe(&mut ctx, now + Duration::from_millis(900));
            }
            ping.after_judge(&mut ctx);
        }
        let member = f.members.get("m001").expect("a member");
        assert_eq!((member.status, member.incarnation), (Status::Dead, 1), "at {now:?}");
    }

    /// Asks this node (`me`, awareness `awareness`) to probe `target` for `m000`, and
    /// returns the nacks to `m000` sent by each of `instants`, in order.
    fn nacks_for_a_ping_req(f: &mut Fixture, awareness: u32, target: &str, instants: &[Instant]) -> Vec<usize> {
        let requester = Peer {
            name: "m000".into(),
            addr: crate::strategy::fixture::addr(1),
            incarnation: 0,
        };
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        ping.awareness = awareness;
        let message = Message::PingReq {
            seq: 9,
            target: target.into(),
        };
        ping.on_message(&mut f.ctx(Instant::ZERO), requester.addr, &requester, message);
        let mut nacks = Vec::new();
        for &now in instants {
            ping.after_judge(&mut f.ctx(now));
            let sent = f.sent().into_iter();
            nacks.push(
                sent.filter(|(to, e)| to == &[requester.addr] && matches!(e.message, Message::Nack { seq: 9 }))
                    .count(),
            );
        }
        nacks
    }

    /// The nack is owed on the requester's clock: a helper whose own awareness is raised
    /// still sends it once the plain probe timeout has passed, within the requester's
    /// period. Stretched by the helper's awareness, it came after the period, the
    /// requester counted it missing and raised its own awareness in turn.
    #[test]
    fn a_helper_nacks_after_the_plain_probe_timeout_whatever_its_awareness() {
        let (mut f, _) = fixture(5);
        let timeout = lan_fast_swim().probe_timeout;
        let just_before = Instant::ZERO + (timeout - Duration::from_micros(1));
        let nacks = nacks_for_a_ping_req(
            &mut f,
            4,
            "m002",
            &[Instant::ZERO, just_before, Instant::ZERO + timeout],
        );
        assert_eq!(nacks, [0, 0, 1]);
    }

    /// A helper that already holds the target down (or does not know it) has no one to
    /// probe, and says so at once: silent, it cost the requester a missed nack.
    #[test]
    fn a_helper_with_no_one_to_probe_nacks_at_once() {
        let (mut f, _) = fixture(5);
        f.members.apply(Instant::ZERO, &entry("m002", 3, Status::Dead));
        assert_eq!(nacks_for_a_ping_req(&mut f, 0, "m002", &[Instant::ZERO]), [1]);
        f.sent();
        assert_eq!(nacks_for_a_ping_req(&mut f, 0, "stranger", &[Instant::ZERO]), [1]);
    }

    /// Once a member is held dead, late news of its suspicion (each new accuser is news,
    /// spread again) neither restarts a suspicion nor replaces the death in the queue of
    /// news (one per member): at N = 500 the accusations of a crashed member still
    /// arriving after its death replaced the death in the queues, and a member or two
    /// learned the death only from their own Lifeguard timeout, 5 s later (docs/SCALE.md).
    #[test]
    fn late_suspicions_of_a_member_held_dead_do_not_replace_its_death_in_the_news() {
        let (mut f, others) = fixture(6);
        let victim = &others[0];
        let mut ping = Ping::new(lan_fast_swim(), Instant::ZERO);
        let mut ctx = f.ctx(Instant::ZERO);
        let dead = entry(victim, 1, Status::Dead);
        ping.hear(
            &mut ctx,
            vec![Rumor {
                entry: dead,
                accusers: Vec::new(),
                age_ms: 0,
            }],
        );
        ping.rumors.insert(Rumor {
            entry: entry(victim, 1, Status::Dead),
            accusers: Vec::new(),
            age_ms: 0,
        });
        for accuser in &others[1..4] {
            let suspicion = Rumor {
                entry: entry(victim, 1, Status::Suspect),
                accusers: vec![accuser.clone()],
                age_ms: 0,
            };
            ping.hear(&mut ctx, vec![suspicion]);
        }
        assert_eq!(ctx.members.get(victim).map(|m| m.status), Some(Status::Dead));
        assert_eq!(ping.rumors.status_of(victim), Some(Status::Dead));
        assert!(!ping.suspicions.contains_key(victim.as_str()));
        assert!(
            !ping.confirm.contains(victim.as_str()),
            "a dead member is not probed to confirm"
        );
    }

    #[test]
    fn piggybacked_news_fits_the_budget_and_the_least_sent_goes_first() {
        let (mut f, _) = fixture(5);
        let mut ping = with_rumors(60);
        let mut ctx = f.ctx(Instant::ZERO);
        let first = ping.piggyback(&mut ctx, None, GOSSIP_BUDGET);
        assert!(!first.is_empty());
        assert!(news_len(&first) <= GOSSIP_BUDGET);
        let unsent: Vec<String> = names(60)
            .into_iter()
            .filter(|n| first.iter().all(|r| &r.entry.name != n))
            .collect();
        assert!(!unsent.is_empty(), "60 rumors cannot fit one budget");
        let second = ping.piggyback(&mut ctx, None, GOSSIP_BUDGET);
        assert!(news_len(&second) <= GOSSIP_BUDGET);
        for name in &unsent {
            assert!(second.iter().any(|r| &r.entry.name == name), "{name} waited a turn");
        }
    }

    #[test]
    fn a_rumor_is_sent_retransmit_mult_times_log_n_then_dropped() {
        let (mut f, _) = fixture(20);
        let mut ping = with_rumors(1);
        let mut ctx = f.ctx(Instant::ZERO);
        let n = ctx.members.up_count();
        let limit = ping.swim.retransmit_mult as usize * ((n + 1) as f64).log10().ceil() as usize;
        let sends = (0..limit + 3)
            .take_while(|_| !ping.piggyback(&mut ctx, None, GOSSIP_BUDGET).is_empty())
            .count();
        assert_eq!(sends, limit);
        assert!(ping.rumors.is_empty());
    }

    #[test]
    fn an_ack_carries_at_most_56_bytes_more_news_than_its_ping() {
        let (mut f, _) = fixture(5);
        let from = Peer {
            name: "m000".into(),
            addr: crate::strategy::fixture::addr(1),
            incarnation: 0,
        };
        for carried in [Vec::new(), vec![rumor("m004", 5), rumor("m001", 2)]] {
            let mut ping = with_rumors(60);
            let mut ctx = f.ctx(Instant::ZERO);
            let ping_news = news_len(&carried);
            let message = Message::Ping {
                seq: 1,
                gossip: carried,
            };
            ping.on_message(&mut ctx, from.addr, &from, message);
            let acks: Vec<usize> = messages(f.sent())
                .into_iter()
                .filter_map(|m| match m {
                    Message::PingAck { gossip, .. } => Some(news_len(&gossip)),
                    _ => None,
                })
                .collect();
            assert_eq!(acks.len(), 1);
            assert!(acks[0] > 0, "the ack carries news");
            assert!(acks[0] <= ping_news + ACK_EXTRA_NEWS, "{} > {ping_news} + 56", acks[0]);
        }
    }
}
