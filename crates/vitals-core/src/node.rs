//! [`Node`]: one participant's failure-detection state machine. The host feeds it inputs
//! (`handle_message`, `handle_tick`, `handle_command`), drains [`Output`]s with
//! `poll_output` after every input, and calls `handle_tick` again at `poll_timeout`.
//!
//! The node owns no socket and reads no clock: `now` comes with every input. Its
//! handlers dispatch; membership rules live in [`crate::members`], strategy rules in
//! [`crate::strategy`].

use std::net::SocketAddr;

use crate::adapt::{AutoTune, Change, Target};
use crate::config::Config;
use crate::config::{DetectorKind, StrategyKind};
use crate::links::{self, Links};
use crate::members::{Members, Observed};
use crate::message::{Envelope, Health, MemberEntry, Message, Opinion, Peer};
use crate::reach::{Due, Reach, Row, matrix};
use crate::rng::Rng;
use crate::strategy::{Ctx, Leadership, Strategy};
use crate::time::Instant;
use crate::timing::{ANNOUNCE_ROUNDS, Pace, Timing};
use crate::verdicts::Verdicts;
use crate::wire;
use paging::Paging;

use crate::output::Outbox;
pub use crate::output::{Event, Output, Stats};
pub use lifecycle::ForceLeaveError;

mod lifecycle;
mod paging;

/// Mixed into the node's seed to key its member index (so the key is not the RNG's seed).
const INDEX_KEY_SALT: u64 = 0x6d65_6d62_6572_7321;

/// How soon news for the quorum (a new member, a change of this node's word, a new
/// question) is sent, at the latest, when the next round is later, per 10 members up
/// (20 ms up to 19 members, 100 ms at 50): the opinions of that long go out together
/// (one datagram to each member), so a cluster forms in tens of milliseconds whatever
/// the interval (memberlist gossips every 200 ms whatever its probe interval) while a
/// large cluster forming at once sends O(N) such batches per node, not one per news.
pub const NEWS_DELAY: std::time::Duration = std::time::Duration::from_millis(20);

/// The first wait before a join request is sent again when no seed has answered yet; it
/// doubles with each request, up to the interval (a seed started a moment after its
/// joiners is reached within milliseconds, not one interval later).
pub const JOIN_RESEND_FIRST: std::time::Duration = std::time::Duration::from_millis(50);

/// After auto-tune changes this node's timing, this many rounds carry it (besides one
/// round in [`ANNOUNCE_ROUNDS`]), so that a lost datagram does not leave an observer on
/// the old timing.
pub const RETIME_ANNOUNCE_ROUNDS: u32 = 3;

/// What an operator (or the host) asks of a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Join the cluster through these seed addresses (empty: start a new cluster).
    Join(Vec<SocketAddr>),
    /// Leave on purpose: tell every member, then stop.
    Leave,
    /// The host sampled the node's health; heartbeats carry it from now on.
    SetHealth(Health),
    /// Forget a dead (or left) member here and at every member up (see
    /// [`Node::force_leave`], which says why it may be refused).
    ForceLeave(String),
}

/// One participant's failure-detection state machine.
#[derive(Debug)]
pub struct Node {
    config: Config,
    me: Peer,
    members: Members,
    strategy: Strategy,
    rng: Rng,
    out: Outbox,
    round: u64,
    next_round: Instant,
    /// When the current round was due.
    round_at: Instant,
    health: Option<Health>,
    seeds: Vec<SocketAddr>,
    /// The member lists this node reads page after page (`paging.rs`).
    paging: Paging,
    /// While no seed has answered: when the join is sent again, and the wait after that.
    join_resend: Option<(Instant, std::time::Duration)>,
    /// Under a quorum: when the opinions news asks for go out (before the next round).
    opinions_due: Option<Instant>,
    joined: bool,
    left: bool,
    /// Who turns evidence into statuses: the detectors, or a quorum's tally.
    verdicts: Verdicts,
    /// The reachability rows held, and this node's own as last sent.
    reach: Reach,
    /// What this node measures of each peer it hears directly (`links.rs`); `None` when
    /// the host turned it off ([`Node::set_link_measurement`]).
    links: Option<Links>,
    /// `--auto-tune`: the controller that picks this node's interval and threshold.
    auto_tune: Option<AutoTune>,
    /// Rounds left that announce this node's timing with everything sent, after a change.
    announce_left: u32,
}

impl Node {
    /// A node named `me.name`, listening at `me.addr`, starting at `me.incarnation`.
    /// `config` must have passed [`Config::validate`]. All randomness derives from `seed`.
    pub fn new(me: Peer, config: Config, seed: u64, now: Instant) -> Node {
        debug_assert_eq!(config.validate(), Ok(()));
        let verdicts = Verdicts::new(&config, &me);
        let judged = Strategy::judged(&config, &me, verdicts.observing());
        let mut members = Members::new(&me, &config, judged, now, seed ^ INDEX_KEY_SALT);
        // In SWIM only the suspect's own refutation (a higher incarnation) clears a suspicion.
        // Under a quorum, a suspect (unconfirmed, or doubted here) is cleared by the tally.
        members.set_direct_clears_suspicion(Strategy::direct_clears_suspicion(&config, verdicts.is_quorum()));
        if let Some(senders) = Strategy::hearing_senders(&config, &me, verdicts.observing()) {
            members.set_senders(senders);
        }
        let timing = Timing::of(&config);
        members.announce(now, &me.name, timing);
        while members.pop_transition().is_some() {} // the node's own arrival is not news
        let mut rng = Rng::seeded(seed);
        // A random phase, so that nodes started together do not send in lockstep.
        let phase = rng.below(config.interval.as_micros().max(1) as u64);
        let strategy = Strategy::new(&config, &me, now, &mut rng);
        Node {
            strategy,
            next_round: now + std::time::Duration::from_micros(phase),
            round_at: now,
            config,
            me,
            members,
            rng,
            out: Outbox::announcing(timing),
            round: 0,
            health: None,
            seeds: Vec::new(),
            paging: Paging::new(),
            join_resend: None,
            opinions_due: None,
            joined: false,
            left: false,
            verdicts,
            reach: Reach::default(),
            links: Some(Links::default()),
            auto_tune: None,
            announce_left: 0,
        }
    }

    /// Turns auto-tune on (`--auto-tune`): from now on this node picks its own interval
    /// and threshold (`adapt.rs`), starting from its configured timing. Refused (with the
    /// fix) unless the strategy is push with the missed-heartbeat detector, the one whose
    /// observers follow every change of the member's announced timing at once.
    pub fn enable_auto_tune(&mut self, now: Instant, target: Target) -> Result<(), String> {
        if self.config.kind() != StrategyKind::Push || self.config.detector != DetectorKind::Missed {
            return Err(format!(
                "--auto-tune needs --strategy push with --detector missed (this node runs {} with {}): under the other strategies a member's observers do not follow its announced timing at once",
                self.config.kind().name(),
                self.config.detector.name()
            ));
        }
        let start = Pace::own(&self.config);
        let tune = AutoTune::new(target, start);
        let first = tune.controller().current();
        self.auto_tune = Some(tune);
        if first != start {
            // The configured timing is outside the bounds: the first pick applies at once.
            let change = Change {
                from: start,
                to: first,
                reason: crate::adapt::Reason::TooSlow,
                figures: crate::adapt::Figures::default(),
            };
            self.retime(now, &change);
        }
        Ok(())
    }

    /// Auto-tune's state, if it is on.
    pub fn auto_tune(&self) -> Option<&AutoTune> {
        self.auto_tune.as_ref()
    }

    /// A datagram from `src` was decoded into `envelope`. Never fails: stale, unexpected
    /// or out-of-role messages are counted in [`Node::stats`] and dropped.
    pub fn handle_message(&mut self, now: Instant, src: SocketAddr, envelope: Envelope) {
        let Envelope { from, message, timing } = envelope;
        self.handle_from(now, src, &from, message, timing);
    }

    /// [`Node::handle_message`] for an envelope the host keeps (the simulator decodes a
    /// broadcast once and hands it to every recipient): only the message is cloned, not
    /// the sender's name (an allocation per delivery).
    pub fn handle_shared_message(&mut self, now: Instant, src: SocketAddr, envelope: &Envelope) {
        self.handle_from(now, src, &envelope.from, envelope.message.clone(), envelope.timing);
    }

    fn handle_from(&mut self, now: Instant, src: SocketAddr, from: &Peer, message: Message, timing: Option<Timing>) {
        if self.left {
            return;
        }
        self.notice_pause(now);
        let listed = self.is_starting_list(&message);
        if let (Some(tune), Message::Heartbeat { .. }) = (&mut self.auto_tune, &message) {
            tune.heard();
        }
        if self.contests_name(src, from, &message) {
            return;
        }
        if from.name == self.me.name {
            self.out.stats.impostor_messages += 1;
            return;
        }
        if let Message::Refused { reason } = message {
            // Told only: the refusing node is not taken as a member for having refused.
            return self.on_refused(src, reason);
        }
        self.verdicts.observe(now, &mut self.members, from, &message);
        let observed = self.members.observe(now, from);
        if observed == Observed::Refused {
            return;
        }
        self.measure_link(now, src, from, &message);
        if let Some(timing) = timing {
            self.on_timing(now, src, from, timing);
        }
        match message {
            Message::Opinions { opinions } if observed != Observed::Stale => self.on_opinions(now, from, opinions),
            Message::Join { page, .. } => {
                if page == 0 && observed != Observed::Stale {
                    self.with_ctx(now, |s, ctx| s.on_discovery(ctx, from));
                }
                self.on_join(src, page);
            }
            Message::Members { entries, next_page } => {
                if observed == Observed::Current {
                    // A join's reply is a direct signal too (leader: what a node without
                    // a leader hears from each member every round).
                    self.with_ctx(now, |s, ctx| s.on_discovery(ctx, from));
                }
                self.on_members(now, src, from, entries, next_page);
            }
            Message::Leave => self.members.leave(now, from),
            Message::Reap { name, incarnation } => self.on_reap(from, &name, incarnation),
            Message::Reach { row } if observed != Observed::Stale => self.reach.receive(now, &from.name, row),
            other if observed != Observed::Stale => {
                let view = self.with_ctx(now, |s, ctx| s.on_message(ctx, src, from, other));
                let authoritative = self.strategy.views_are_authoritative();
                self.learn_with(now, view, authoritative);
            }
            _ => {}
        }
        if observed == Observed::Stale {
            self.out.stats.stale_messages += 1;
        }
        // Under a quorum a suspect is not accused by this node alone: nothing to refute.
        let suspected = observed == Observed::Suspected && !self.verdicts.is_quorum();
        if matches!(observed, Observed::Stale | Observed::Overtaken) || suspected {
            self.correct(src, &from.name);
        }
        self.verdicts.settle(now, &mut self.members);
        self.flush_transitions(now, listed);
        self.note_news(now);
    }

    /// Feeds the link table: the arrival, its round number, and the round trip of an
    /// answered probe (read before the strategy takes the probe off the record).
    fn measure_link(&mut self, now: Instant, src: SocketAddr, from: &Peer, message: &Message) {
        let Some(links) = &mut self.links else { return };
        links.heard(now, &from.name, src, links::round_number(message));
        if let Message::Ack { seq } | Message::PollReply { seq, .. } = message
            && let Some((sent, at)) = self.members.pending_probe(&from.name)
            && sent == *seq
        {
            links.round_trip(now, &from.name, now.saturating_since(at));
        }
    }

    /// Turns link measurement on (the default) or off (the simulator: it costs memory per
    /// pair of nodes and decides nothing).
    pub fn set_link_measurement(&mut self, on: bool) {
        self.links = on.then(Links::default);
    }

    /// What this node measured of each peer heard directly within
    /// [`links::WINDOW`] of `now`, in name order (empty when measurement is off).
    pub fn links(&self, now: Instant) -> Vec<links::LinkSummary> {
        self.links.as_ref().map(|l| l.summaries(now)).unwrap_or_default()
    }

    /// How many rumors the ping strategy holds to piggyback (0 for the others).
    #[cfg(test)]
    pub(crate) fn queued_news(&self) -> usize {
        self.strategy.queued_news()
    }

    /// Time passed. Cheap and idempotent: calling it early or twice is harmless.
    pub fn handle_tick(&mut self, now: Instant) {
        if self.left {
            return;
        }
        self.notice_pause(now);
        if now >= self.next_round {
            self.round += 1;
            self.round_at = self.next_round;
            self.next_round = (self.next_round + self.config.interval).max(now);
            self.retry_join();
            self.ask_again();
            self.adapt(now);
            self.out.announcing = self.round % ANNOUNCE_ROUNDS == 1 || self.announce_left > 0;
            self.announce_left = self.announce_left.saturating_sub(1);
            self.with_ctx(now, |s, ctx| s.on_round(ctx));
            self.out.announcing = false;
            self.send_opinions(now);
            self.share_reach(now);
        }
        self.resend_join(now);
        if self.opinions_due.is_some_and(|due| now >= due) {
            self.send_opinions(now);
        }
        self.verdicts.judge(now, &mut self.members);
        self.with_ctx(now, |s, ctx| s.after_judge(ctx));
        self.flush_transitions(now, false);
        self.note_news(now);
    }

    /// An operator (or the host) asked for something.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Join(seeds) => self.join(now, seeds),
            Command::Leave => self.leave(now),
            Command::SetHealth(health) => {
                self.health = Some(health.clone());
                self.members.set_health(&self.me.name, Some(health));
            }
            Command::ForceLeave(name) => {
                if let Err(error) = self.force_leave(&name) {
                    self.out.event(Event::ForceLeaveRefused(error));
                }
            }
        }
        self.flush_transitions(now, false);
    }

    /// The next thing the host must do. Drain until `None` after every `handle_*` call.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop()
    }

    /// When `handle_tick` must next be called; `None` once the node has left.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.left {
            return None;
        }
        [
            Some(self.next_round),
            self.verdicts.next_deadline(&self.members),
            self.strategy.next_deadline(&self.config),
            self.join_resend.filter(|_| !self.joined).map(|(at, _)| at),
            self.opinions_due,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The membership table, for the host's API and for checkers.
    pub fn members(&self) -> &Members {
        &self.members
    }

    /// The node's identity, at its current incarnation.
    pub fn me(&self) -> &Peer {
        &self.me
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters of dropped and refuted inputs.
    pub fn stats(&self) -> Stats {
        Stats {
            refused_updates: self.members.refused(),
            ..self.out.stats
        }
    }

    /// Whether the node has heard back from a seed (or was told to start a cluster).
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// Whether the node has left.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// Why `name` has the status it has here; `None` for an unknown member.
    pub fn why(&self, name: &str, now: Instant) -> Option<crate::why::Why> {
        use crate::why::{DetectorReading, Why, millis};
        let member = self.members.get(name)?;
        let detector = self
            .members
            .detector_reading(name, now)
            .map(|(level, timeout)| DetectorReading {
                level,
                timeout_ms: timeout.as_secs_f64() * 1e3,
            });
        let evidence = self.strategy.evidence(name, now, &self.config, &self.members);
        Some(Why {
            name: member.name.clone(),
            status: member.status,
            incarnation: member.incarnation,
            status_age_ms: millis(now - member.since),
            last_heard_ms: member.last_heard.map(|t| millis(now - t)),
            detector,
            suspicion: evidence.suspicion,
            failed_probe: evidence.failed_probe,
            local_awareness: evidence.awareness,
            quorum: self.verdicts.evidence(now, &self.members, &self.me.name, name),
            unreachable_quorum: self.unreachable_quorum(),
            held_by_brake: self.members.is_held(name),
            damped: self.members.is_damped(name),
            doubt: self.members.doubt_evidence(name, now),
            leader_quorum: self.leadership(now).map(|l| l.quorum),
            history: self.members.history(name),
            timing: (name == self.me.name).then(|| self.timing_in_force()),
        })
    }

    /// The timing this node runs with, and why.
    pub fn timing_in_force(&self) -> crate::why::TimingInForce {
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let tune = self.auto_tune.as_ref().map(AutoTune::controller);
        crate::why::TimingInForce {
            interval_ms: millis(self.config.interval),
            timeout_ms: millis(self.config.timeout),
            threshold: self.config.threshold,
            reason: tune.map_or("configured", |c| c.reason().as_str()).to_string(),
            target: tune.map(|c| c.target().to_string()),
            measured_loss: tune.and_then(|c| c.last_figures()).map(|f| f.loss),
            changes: tune.map_or(0, |c| c.changes()),
        }
    }

    /// Whether `--quorum-size` is out of reach with the members up now (nobody can be
    /// declared dead or admitted alive by quorum): `/readyz` and `why` say so.
    pub fn unreachable_quorum(&self) -> Option<crate::config::UnreachableQuorum> {
        self.config.unreachable_quorum(self.members.up_count())
    }

    /// Push with acknowledgements: whether nobody acknowledges this node's heartbeats.
    pub fn is_isolated(&self) -> bool {
        self.strategy.isolated()
    }

    /// Leader strategy: the leader and term this node knows, the voters, its role and, when
    /// it leads, its lease; `None` for the other strategies.
    pub fn leadership(&self, now: Instant) -> Option<Leadership> {
        self.strategy.leadership(now, &self.members)
    }

    /// Leader strategy: whether this node leads and holds its lease at `now`, so that it
    /// acts (publishes its view). At most one node does at any instant.
    pub fn is_acting_leader(&self, now: Instant) -> bool {
        self.strategy.acting_leader(now, &self.members)
    }

    /// Who hears whom: this node's own row and those the others sent (`reach.rs`),
    /// every unreachable pair classified.
    pub fn reachability(&self, now: Instant) -> matrix::Matrix {
        let (own, rtt_us) = self.own_reach_row(now, true);
        let ttl = crate::reach::row_ttl(self.config.interval, self.members.up_count().saturating_sub(1));
        let up = |name: &str| self.members.get(name).is_some_and(|m| m.status.is_up());
        let mut observers: std::collections::BTreeMap<&str, matrix::Observed<'_>> = self
            .reach
            .rows()
            .iter()
            .filter(|(name, r)| up(name) && now - r.at <= ttl)
            .map(|(name, r)| {
                let observed = matrix::Observed {
                    observer: name.as_str(),
                    row: &r.row,
                    age: now - r.at,
                    rtt_us: Default::default(),
                };
                (name.as_str(), observed)
            })
            .collect();
        let me = self.me.name.as_str();
        let own = matrix::Observed {
            observer: me,
            row: &own,
            age: std::time::Duration::ZERO,
            rtt_us,
        };
        observers.insert(me, own);
        let targets: Vec<&str> = self
            .members
            .iter()
            .filter(|m| m.status != crate::message::Status::Left)
            .map(|m| m.name.as_str())
            .collect();
        let observers: Vec<matrix::Observed<'_>> = observers.into_values().collect();
        matrix::build(&targets, &observers)
    }

    /// This node's own reachability row, and (`by_member`) the round trips it measured
    /// by member. One walk over the member table, no lookup by name.
    fn own_reach_row(&self, now: Instant, by_member: bool) -> (Row, std::collections::BTreeMap<&str, u32>) {
        let members = &self.members;
        let window = self
            .config
            .swim()
            .map(|_| self.config.dead_after() + self.config.interval * members.up_count() as u32);
        let (mut known, mut words, mut rtts) = (0, Vec::new(), Vec::new());
        let mut rtt_us = std::collections::BTreeMap::new();
        for (m, word) in members.words(now, window) {
            known += 1;
            if let Some(heard) = word {
                words.push((m.name.as_str(), heard));
            }
            if let Some(rtt) = m.rtt {
                let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
                rtts.push(us);
                if by_member {
                    rtt_us.insert(m.name.as_str(), us);
                }
            }
        }
        (Row::compact(&words, known, &mut rtts), rtt_us)
    }

    /// This round's reachability row to whoever needs it: every member up when it
    /// changed, else a few in rotation (each once per `REFRESH_ROUNDS`) and joiners.
    fn share_reach(&mut self, now: Instant) {
        if !self.joined {
            return;
        }
        let (row, _) = self.own_reach_row(now, false);
        let members = &self.members;
        if self.reach.forgotten != members.forgotten() {
            // Members left the table since the last look: drop their rows.
            self.reach.forgotten = members.forgotten();
            self.reach.keep_only(|name| members.get(name).is_some());
        }
        let up: Vec<&str> = members.up_others().map(|m| m.name.as_str()).collect();
        let up_changes = members.roster_changes();
        let Some(due) = self.reach.due(&row, &up, up_changes, now, self.config.interval) else {
            return;
        };
        let names: Vec<&str> = match &due {
            Due::Everyone => up.clone(),
            Due::Some { count, newcomers } => {
                let mut names = self.reach.rotation(&up, *count);
                let new: Vec<&str> = newcomers
                    .iter()
                    .map(String::as_str)
                    .filter(|n| !names.contains(n))
                    .collect();
                names.extend(new);
                names
            }
        };
        let targets = names.iter().filter_map(|n| members.get(n)).map(|m| m.addr).collect();
        let row = std::sync::Arc::new(row);
        self.out.broadcast(&self.me, targets, Message::Reach { row });
    }

    /// The next random number of the node's generator (for the host's jitter needs, so
    /// that one seed governs everything).
    pub fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn with_ctx<R>(&mut self, now: Instant, f: impl FnOnce(&mut Strategy, &mut Ctx<'_>) -> R) -> R {
        let mut ctx = Ctx {
            now,
            round: self.round,
            round_at: self.round_at,
            config: &self.config,
            me: &mut self.me,
            health: self.health.clone(),
            members: &mut self.members,
            out: &mut self.out,
            rng: &mut self.rng,
        };
        f(&mut self.strategy, &mut ctx)
    }

    /// Auto-tune's round: the window's bookkeeping, and the change it calls for, applied.
    fn adapt(&mut self, now: Instant) {
        let Some(tune) = &mut self.auto_tune else { return };
        let me = &self.me.name;
        let per_second: f64 = self
            .members
            .iter()
            .filter(|m| m.name != *me && m.status == crate::message::Status::Alive)
            .map(|m| 1.0 / m.timing.map_or(self.config.interval, |t| t.interval).as_secs_f64())
            .sum();
        if let Some(change) = tune.round(now, per_second) {
            self.retime(now, &change);
        }
    }

    /// Runs with `change.to` from now on: this node's detectors of others are unchanged
    /// (they follow each member's own timing); its rounds, its announced timing and its
    /// own record change, and the next [`RETIME_ANNOUNCE_ROUNDS`] rounds announce it, so
    /// every observer's detector of this node follows within a round or two.
    fn retime(&mut self, now: Instant, change: &Change) {
        let Pace {
            interval,
            timeout,
            threshold,
        } = change.to;
        (self.config.interval, self.config.timeout, self.config.threshold) = (interval, timeout, threshold);
        let timing = Timing::of(&self.config);
        self.members.retime(now, &self.me.name, &self.config, timing);
        self.out.timing = Some(timing);
        self.out.announcing = true;
        self.announce_left = RETIME_ANNOUNCE_ROUNDS;
        self.next_round = self.next_round.min(now + interval);
        self.out.event(Event::Retimed {
            from: change.from,
            to: change.to,
            reason: change.reason,
            loss: change.figures.loss,
        });
    }

    /// The host ticks the node by `next_round` at the latest: an input arriving more than
    /// an interval later means the node itself was stopped (SIGSTOP, a VM pause, a long
    /// stall), so the silence it would judge is its own. It re-arms its detectors instead
    /// of accusing everyone it did not hear while it slept. It gives them `dead_after` to
    /// be heard again: those that held it dead while it slept send to it only now and then
    /// until it has refuted (a round trip and a round or two).
    fn notice_pause(&mut self, now: Instant) {
        if now > self.next_round + self.config.interval {
            self.members.rearm(now + self.config.dead_after());
            self.out.stats.pauses += 1;
            // The round that was due runs now (not once for every round slept through).
            self.next_round = now;
        }
    }

    fn join(&mut self, now: Instant, seeds: Vec<SocketAddr>) {
        let mut seeds: Vec<SocketAddr> = seeds.into_iter().filter(|addr| *addr != self.me.addr).collect();
        // In an order of this node's own, so that the first to answer (whose list it
        // reads, `paging.rs`) is not the first named for every node.
        self.rng.shuffle(&mut seeds);
        if self.joined {
            // Already a member (`vitals join` on a running agent): one join to each, whose
            // replies merge what they know into this node's view.
            self.paging.started();
            for seed in seeds {
                self.out.send(&self.me, seed, Message::join(0));
            }
            return;
        }
        self.seeds = seeds;
        if self.seeds.is_empty() {
            self.mark_joined();
        }
        self.retry_join();
        let first = JOIN_RESEND_FIRST.min(self.config.interval);
        self.join_resend = Some((now + first, first));
    }

    /// While no seed has answered, the join goes out again after a doubling wait (from
    /// [`JOIN_RESEND_FIRST`] up to the interval), besides once every round.
    fn resend_join(&mut self, now: Instant) {
        let Some((at, wait)) = self.join_resend else { return };
        if self.joined || now < at {
            return;
        }
        self.retry_join();
        let wait = (wait * 2).min(self.config.interval);
        self.join_resend = Some((now + wait, wait));
    }

    /// Under a quorum, news (see [`NEWS_DELAY`]) has its opinions sent within
    /// [`NEWS_DELAY`] rather than at the next round.
    fn note_news(&mut self, now: Instant) {
        if self.verdicts.take_news() && self.verdicts.sends_opinions() && self.opinions_due.is_none() {
            let tens = u32::try_from(self.members.up_count() / 10).unwrap_or(u32::MAX).max(1);
            let due = now + NEWS_DELAY * tens;
            if due < self.next_round {
                self.opinions_due = Some(due);
            }
        }
    }

    /// Pages asked in an earlier round and still not come are asked again (`paging.rs`).
    fn ask_again(&mut self) {
        for (from, page) in self.paging.again(self.round) {
            self.out.send(&self.me, from, Message::join(page));
        }
    }

    /// Whether `message` is a page of a member list (its seed's, its first exchange
    /// partner's), not its last, read by this node as it starts. The members it lists are
    /// news to this node only: the seed and those it heard them from spread them. (500
    /// agents starting at once each queued news of every member listed to it, about
    /// N² / 2 rumors in all, and news of the last to start took a minute to reach
    /// everyone.) A list's last page cannot be told from an anti-entropy exchange: its
    /// members are news as before.
    fn is_starting_list(&self, message: &Message) -> bool {
        self.paging.starting(self.round) && matches!(message, Message::Members { next_page: Some(_), .. })
    }

    fn retry_join(&mut self) {
        if self.joined {
            return;
        }
        for seed in self.seeds.clone() {
            self.out.send(&self.me, seed, Message::join(0));
        }
    }

    fn mark_joined(&mut self) {
        if !self.joined {
            self.joined = true;
            self.strategy.on_joined();
            self.out.event(Event::Joined);
        }
    }

    fn leave(&mut self, now: Instant) {
        if self.left {
            return;
        }
        let targets: Vec<SocketAddr> = self.members.up_others().map(|m| m.addr).collect();
        for to in targets {
            self.out.send(&self.me, to, Message::Leave);
        }
        self.members.leave_self(now);
        self.left = true;
    }

    /// A page of `from`'s member list (or a one-off list: a refutation, a correction, an
    /// introduction): learn it, and ask for the next page of a list this node reads.
    fn on_members(&mut self, now: Instant, src: SocketAddr, from: &Peer, entries: Vec<MemberEntry>, next: Option<u32>) {
        let may_end = paging::may_end_a_list(&entries, &from.name, &self.me.name);
        self.learn(now, entries);
        match next {
            Some(page) if self.paging.next(src, self.seeds.contains(&src), page, self.round) => {
                self.out.send(&self.me, src, Message::join(page));
            }
            None if may_end => self.paging.last(src),
            _ => {}
        }
    }

    /// Reply to a join with one page of the member list (the joiner asks for the next;
    /// one page per padded request, so a reply is never larger than its request).
    fn on_join(&mut self, src: SocketAddr, page: u32) {
        // Being joined is not hearing back from a seed: a node whose own join raced its
        // seed's start keeps asking, or it and its joiners could form an island (push
        // and pull learn members only from join replies and the occasional sync).
        let mut pages = wire::chunk_entries(self.members.entries());
        let page = page as usize;
        if page >= pages.len() {
            return;
        }
        let next_page = (page + 1 < pages.len()).then(|| page as u32 + 1);
        let entries = pages.swap_remove(page);
        self.out.send(&self.me, src, Message::Members { entries, next_page });
    }

    /// `from` announced its timing: its detector follows it (`Members::announce`), and a
    /// timing this node cannot work with is reported once, when it is first heard.
    fn on_timing(&mut self, now: Instant, src: SocketAddr, from: &Peer, theirs: Timing) {
        if !self.members.announce(now, &from.name, theirs) {
            return;
        }
        let voter = |name: &str| {
            self.config
                .leader()
                .is_some_and(|l| l.voters.is_empty() || l.voters.iter().any(|v| v == name))
        };
        let both_vote = voter(&self.me.name) && voter(&from.name);
        let Some(ours) = self.members.get(&self.me.name).and_then(|m| m.timing) else {
            return;
        };
        if let Some(cause) = crate::timing::mismatch(&ours, &theirs, both_vote) {
            self.out.event(Event::TimingMismatch {
                name: from.name.clone(),
                addr: src,
                cause,
                ours,
                theirs,
            });
        }
    }

    /// Tell a stale sender how this node holds it, so that it can refute.
    fn correct(&mut self, src: SocketAddr, name: &str) {
        if let Some(entry) = self.members.entry(name) {
            self.out.send(
                &self.me,
                src,
                Message::Members {
                    entries: vec![entry],
                    next_page: None,
                },
            );
        }
    }

    /// Take in second-hand news (see [`Ctx::learn`]), then let the strategy introduce
    /// this node to whoever must hear from it.
    fn learn(&mut self, now: Instant, entries: Vec<MemberEntry>) {
        self.learn_with(now, entries, false);
    }

    /// [`Node::learn`]; with `authoritative` (the elected leader's view), the entries about
    /// others replace what is held at the same incarnation, in either direction.
    fn learn_with(&mut self, now: Instant, entries: Vec<MemberEntry>, authoritative: bool) {
        if entries.is_empty() {
            return;
        }
        self.mark_joined();
        let entries = self.verdicts.learned(&self.me, &self.members, entries);
        self.with_ctx(now, |s, ctx| {
            let learned = ctx.learn_with(entries, authoritative);
            if learned.refuted {
                s.on_refute(ctx);
            }
            s.introduce(ctx, &learned);
        });
    }

    /// Quorum: `from`'s opinions join the tally.
    fn on_opinions(&mut self, now: Instant, from: &Peer, opinions: Vec<Opinion>) {
        if !self.verdicts.report(now, &self.members, &from.name, opinions) {
            self.out.ignored();
        }
    }

    /// Quorum: this round's opinions, to the strategy's usual targets (every member; for
    /// gossip `fanout` random members that are up), only where there is something to say.
    fn send_opinions(&mut self, now: Instant) {
        self.opinions_due = None;
        if !self.verdicts.sends_opinions() {
            return;
        }
        let targets = self.with_ctx(now, |s, ctx| s.opinion_targets(ctx));
        for (addr, opinions) in self.verdicts.on_round(now, &self.members, self.round, targets) {
            self.out.send(&self.me, addr, Message::Opinions { opinions });
        }
    }

    /// Hands every recorded transition to the strategy (the ping strategy spreads it),
    /// then to the host as an event. `listed`: they came from a page of a seed's member
    /// list that this node reads as it starts ([`Node::is_starting_list`]).
    fn flush_transitions(&mut self, now: Instant, listed: bool) {
        while let Some(transition) = self.verdicts.next_transition(&mut self.members) {
            self.with_ctx(now, |s, ctx| s.on_transition(ctx, &transition, listed));
            if !transition.quiet {
                self.out.event(Event::Transition(transition));
            }
        }
    }
}
