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

use crate::config::Config;
use crate::detector::Verdict;
use crate::members::{Members, Transition};
use crate::message::{Incarnation, MemberEntry, Message, Opinion, Peer, Status};
use crate::time::Instant;
use crate::why::{ObserverReport, QuorumEvidence, millis};
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
    config.interval * (WINDOW_ROUNDS + config.kind().opinion_hop_rounds())
}

/// How long this node repeats a vouch after its word changed (or to a new target):
/// `dead_after() + 4 × interval`, long enough for every observer's vouch to meet at every
/// node while a member is admitted.
pub fn vouch_period(config: &Config) -> Duration {
    config.dead_after() + config.interval * 4
}

/// Whether `config` asks this module to decide (quorum with push, pull or gossip).
pub fn applies(config: &Config) -> bool {
    config.quorum.is_some() && config.kind().takes_quorum()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Report {
    incarnation: Incarnation,
    heard: bool,
    at: Instant,
}

/// The latest report of each observer about one member, and how many of those about
/// `incarnation` accuse and vouch (kept as reports arrive and expire, so that a count
/// costs nothing).
#[derive(Clone, Debug, Default)]
struct Reports {
    by: BTreeMap<String, Report>,
    incarnation: Incarnation,
    accusers: usize,
    vouchers: usize,
}

impl Reports {
    fn insert(&mut self, from: &str, report: Report) {
        let old = match self.by.get_mut(from) {
            Some(held) => Some(std::mem::replace(held, report)),
            None => {
                self.by.insert(from.to_string(), report);
                None
            }
        };
        if let Some(old) = old.filter(|o| o.incarnation == self.incarnation) {
            *self.counter(old.heard) -= 1;
        }
        if report.incarnation == self.incarnation {
            *self.counter(report.heard) += 1;
        }
    }

    fn counter(&mut self, heard: bool) -> &mut usize {
        match heard {
            true => &mut self.vouchers,
            false => &mut self.accusers,
        }
    }

    /// (accusers, vouchers) about `incarnation`.
    fn counts(&mut self, incarnation: Incarnation) -> (usize, usize) {
        if incarnation != self.incarnation {
            self.incarnation = incarnation;
            self.recount();
        }
        (self.accusers, self.vouchers)
    }

    fn recount(&mut self) {
        let incarnation = self.incarnation;
        let current = self.by.values().filter(|r| r.incarnation == incarnation);
        (self.accusers, self.vouchers) =
            current.fold((0, 0), |(a, v), r| if r.heard { (a, v + 1) } else { (a + 1, v) });
    }

    /// Drops the reports that have left the window; returns when the next one does.
    fn prune(&mut self, now: Instant, window: Duration) -> Option<Instant> {
        self.by.retain(|_, r| now - r.at < window);
        self.recount();
        self.by.values().map(|r| r.at + window).min()
    }
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

/// Members due for evaluation at given instants, earliest first.
#[derive(Clone, Debug, Default)]
struct Schedule {
    by_time: BTreeSet<(Instant, String)>,
    of: BTreeMap<String, Instant>,
}

impl Schedule {
    /// `name` is next due at `at` (`None`: not due).
    fn set(&mut self, name: &str, at: Option<Instant>) {
        let old = self.of.get(name).copied();
        if old == at {
            return;
        }
        // The common case, a deadline that moves: one key allocated, the other reused.
        let taken = old.and_then(|old| self.by_time.take(&(old, name.to_string())));
        match at {
            Some(at) => {
                match self.of.get_mut(name) {
                    Some(held) => *held = at,
                    None => {
                        self.of.insert(name.to_string(), at);
                    }
                }
                let name = taken.map_or_else(|| name.to_string(), |(_, name)| name);
                self.by_time.insert((at, name));
            }
            None => {
                self.of.remove(name);
            }
        }
    }

    fn first(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Moves every member due at or before `now` into `due`.
    fn take_due(&mut self, now: Instant, due: &mut BTreeSet<String>) {
        while self.by_time.first().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, name)) = self.by_time.pop_first() {
                self.of.remove(&name);
                due.insert(name);
            }
        }
    }
}

/// The opinions this node knows, and what a quorum has confirmed.
///
/// **Incremental.** A member's decision depends on its own record (status, incarnation,
/// detector), the opinions about it, and its observer count; so only members whose
/// record or opinions changed (`touch`, `note_transition`, `report`) are evaluated, plus
/// those due: a detector deadline or the end of a grace (`wake`, which also wakes the
/// node), or the moment a counted report leaves the window (`expiry`, taken at the next
/// input, as before). A change in how many members are up changes every observer count,
/// so it re-evaluates everyone (`recount`); that is rare (a transition).
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
    reports: BTreeMap<String, Reports>,
    /// This node's own word about each member.
    own: BTreeMap<String, Own>,
    /// The incarnation of each member a quorum vouched for.
    confirmed: BTreeMap<String, Incarnation>,
    /// Questions: asker → member → when it last asked for this node's word.
    asked: BTreeMap<String, BTreeMap<String, Instant>>,
    /// Members to evaluate at the next input.
    dirty: BTreeSet<String>,
    /// Every member must be evaluated (the number of members up changed).
    recount: bool,
    /// Members held up, this node included, as of the last recount.
    up_count: usize,
    /// Detector deadlines and grace ends: the node wakes then.
    wake: Schedule,
    /// When each member's earliest counted report leaves the window.
    expiry: Schedule,
    /// When the bookkeeping of forgotten members and old questions is next pruned.
    next_sweep: Instant,
    /// Something new to tell since the last [`Tally::take_news`]: a transition, a change
    /// of this node's own word, or a question not asked before.
    news: bool,
}

impl Tally {
    pub(crate) fn new(config: &Config, me: &Peer) -> Tally {
        let monitors = config.strategy.observers();
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
            dirty: BTreeSet::new(),
            recount: true,
            up_count: 1,
            wake: Schedule::default(),
            expiry: Schedule::default(),
            next_sweep: Instant::default(),
            news: false,
        }
    }

    /// Whether there was news to tell since the last call (see [`Tally::news`]): the node
    /// then sends its opinions soon instead of at its next round, so that a new member
    /// gathers its quorum in a round trip or two, not in intervals.
    pub(crate) fn take_news(&mut self) -> bool {
        std::mem::take(&mut self.news)
    }

    /// Whether this node's own word counts (and is sent).
    pub(crate) fn observing(&self) -> bool {
        self.observing
    }

    /// When a detector's verdict next gets worse (the node must evaluate then).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.wake.first()
    }

    /// `name`'s record may have changed (a message from it, news or evidence about it):
    /// evaluate it at the next [`Tally::evaluate`].
    pub(crate) fn touch(&mut self, name: &str) {
        if !self.dirty.contains(name) {
            self.dirty.insert(name.to_string());
        }
    }

    /// A status changed in the table: evaluate the member again, and everyone when the
    /// number of members up (their observer count) changed.
    pub(crate) fn note_transition(&mut self, transition: &Transition) {
        self.touch(&transition.name);
        self.news = true;
        let was_up = transition.from.is_some_and(|s| s.is_up());
        if self.monitors.is_empty() && was_up != transition.to.is_up() {
            self.recount = true;
        }
    }

    fn is_observer(&self, name: &str) -> bool {
        self.monitors.is_empty() || self.monitors.contains(name)
    }

    /// The observers of `name`: the members held up but itself, or the monitors but itself.
    fn observers(&self, members: &Members, name: &str) -> usize {
        if self.monitors.is_empty() {
            let up = members.get(name).is_some_and(|m| m.status.is_up());
            self.up_count.saturating_sub(usize::from(up))
        } else {
            self.monitors.len() - usize::from(self.monitors.contains(name))
        }
    }

    /// Accusers (or vouchers) `name` needs: `q` over its observers.
    fn needed(&self, members: &Members, name: &str) -> usize {
        self.config.quorum_size(self.observers(members, name))
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
                let asked = match self.asked.get_mut(from) {
                    Some(asked) => asked,
                    None => self.asked.entry(from.to_string()).or_default(),
                };
                let first = asked.insert(opinion.name.clone(), now).is_none();
                self.news |= first && self.observing;
            }
            let Some(heard) = opinion.heard else { continue };
            let report = Report {
                incarnation: opinion.incarnation,
                heard,
                at: now,
            };
            self.touch(&opinion.name);
            let expiry = self.expiry.of.get(&opinion.name).copied();
            let expiry = expiry.map_or(now + self.window, |at| at.min(now + self.window));
            self.expiry.set(&opinion.name, Some(expiry));
            self.reports.entry(opinion.name).or_default().insert(from, report);
        }
    }

    /// Decide the status of every member that needs it at `now` (after every input):
    /// those touched or due, or everyone after a change in the number of members up.
    pub(crate) fn evaluate(&mut self, now: Instant, members: &mut Members) {
        self.wake.take_due(now, &mut self.dirty);
        let mut expired = BTreeSet::new();
        self.expiry.take_due(now, &mut expired);
        for name in expired {
            self.prune_reports(now, &name);
            self.dirty.insert(name);
        }
        if now >= self.next_sweep {
            self.sweep(now, members);
        }
        // A verdict that changes the number up changes every observer count: one more
        // pass then (a further change waits for the next input).
        for _ in 0..2 {
            let names: Vec<String> = if self.recount {
                self.recount = false;
                self.dirty.clear();
                self.up_count = members.up_count();
                members.others().map(|m| m.name.clone()).collect()
            } else {
                std::mem::take(&mut self.dirty).into_iter().collect()
            };
            for name in &names {
                self.evaluate_one(now, members, name);
            }
            if !self.recount {
                break;
            }
        }
    }

    /// Tests only: evaluating everyone again at `now`, right after [`Tally::evaluate`],
    /// changes no status, i.e. the incremental evaluation left no member behind.
    #[cfg(test)]
    pub(crate) fn assert_complete(&self, now: Instant, members: &Members) {
        if self.recount {
            return; // a change in the number up, left for the next input
        }
        for (name, reports) in &self.reports {
            let Some(member) = members.get(name) else { continue };
            let current = self.current(now, name, member.incarnation);
            let fresh = current.fold((0, 0), |(a, v), (_, r)| if r.heard { (a, v + 1) } else { (a + 1, v) });
            if reports.incarnation == member.incarnation {
                assert_eq!(
                    (reports.accusers, reports.vouchers),
                    fresh,
                    "{name} at {now}: kept counts"
                );
            }
        }
        let (mut tally, mut full) = (self.clone(), members.clone());
        tally.recount = true;
        tally.evaluate(now, &mut full);
        for member in members.others() {
            let status = full.get(&member.name).map(|m| m.status);
            assert_eq!(
                status,
                Some(member.status),
                "{} at {now}: missed by the incremental evaluation",
                member.name
            );
        }
    }

    /// Once an interval: forget the bookkeeping of members no longer held, and old questions.
    fn sweep(&mut self, now: Instant, members: &Members) {
        self.next_sweep = now + self.config.interval;
        let window = self.window;
        self.own.retain(|name, _| members.get(name).is_some());
        self.confirmed.retain(|name, _| members.get(name).is_some());
        self.reports.retain(|name, _| members.get(name).is_some());
        for asked in self.asked.values_mut() {
            asked.retain(|_, at| now - *at < window);
        }
        self.asked.retain(|_, asked| !asked.is_empty());
    }

    fn evaluate_one(&mut self, now: Instant, members: &mut Members, name: &str) {
        let me = &members.me().name;
        let known = members.get(name).filter(|m| m.status != Status::Left && m.name != *me);
        let Some(member) = known else {
            self.wake.set(name, None);
            self.expiry.set(name, None);
            return;
        };
        let (incarnation, held, last_heard) = (member.incarnation, member.status, member.last_heard);
        // Pull: a member that this node's detector hears again is vouched for (and a
        // suspect cleared) only once it answered two polls in a row (`Members::steady`):
        // a sick node's own word, or one lucky answer, is not hearing it.
        let steady = members.steady(name);
        let local = self.observing.then(|| members.detector_verdict(name, now)).flatten();
        let local = local.map(|(v, next)| match v {
            Verdict::Alive if !steady && held != Status::Alive => (Verdict::Suspect, next),
            v => (v, next),
        });
        let verdict = local.map(|(v, _)| v);
        let (mut accusers, mut vouchers) = self.count(name, incarnation);
        let mut wake = None;
        if let Some((verdict, next)) = local {
            let own = self.note_own(now, name, incarnation, verdict, last_heard);
            // The grace of an incarnation not heard yet ends `dead_after()` after `seen`.
            let grace = (own.word.is_none() && verdict == Verdict::Dead).then(|| own.seen + self.config.dead_after());
            wake = next.into_iter().chain(grace).min();
            match own.word {
                Some(true) => vouchers += 1,
                Some(false) => accusers += 1,
                None => {}
            }
        }
        self.wake.set(name, wake);
        let needed = self.needed(members, name);
        let status = self.decide(name, incarnation, held, verdict, (accusers, vouchers), needed);
        if status != held {
            members.set_by_quorum(now, name, status);
            let after = members.get(name).map_or(held, |m| m.status);
            if self.monitors.is_empty() && after.is_up() != held.is_up() {
                self.recount = true;
            }
        }
    }

    /// Drops `name`'s reports older than the window (when the earliest was due to leave
    /// it) and schedules the next expiry.
    fn prune_reports(&mut self, now: Instant, name: &str) {
        let window = self.window;
        let expiry = self
            .reports
            .get_mut(name)
            .and_then(|reports| reports.prune(now, window));
        if expiry.is_none() {
            self.reports.remove(name);
        }
        self.expiry.set(name, expiry);
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
    /// Reports leave the window only at their expiry, which [`Tally::evaluate`] handles
    /// first, so the kept counts are those of [`Tally::current`].
    fn count(&mut self, name: &str, incarnation: Incarnation) -> (usize, usize) {
        self.reports.get_mut(name).map_or((0, 0), |r| r.counts(incarnation))
    }

    /// The others' reports about `name` at `incarnation` that count at `now`.
    fn current<'a>(
        &'a self,
        now: Instant,
        name: &str,
        incarnation: Incarnation,
    ) -> impl Iterator<Item = (&'a String, &'a Report)> + 'a {
        let window = self.window;
        let reports = self.reports.get(name).into_iter().flat_map(|r| &r.by);
        reports.filter(move |(from, r)| r.incarnation == incarnation && now - r.at < window && self.is_observer(from))
    }

    /// What this node counts about `name` at `now`, for [`crate::why::Why`]: the current
    /// accusers and vouchers (its own word first), its observers and the quorum.
    pub(crate) fn evidence(&self, now: Instant, members: &Members, me: &str, name: &str) -> Option<QuorumEvidence> {
        let member = members.get(name).filter(|_| name != me)?;
        let incarnation = member.incarnation;
        let (mut accusers, mut vouchers) = (Vec::new(), Vec::new());
        let own = self
            .own
            .get(name)
            .filter(|o| self.observing && o.incarnation == incarnation);
        if let Some(own) = own {
            let report = |observer: &str| ObserverReport {
                observer: observer.to_string(),
                ms_ago: millis(now - own.changed),
                own: true,
            };
            match own.word {
                Some(false) => accusers.push(report(me)),
                Some(true) => vouchers.push(report(me)),
                None => {}
            }
        }
        for (from, r) in self.current(now, name, incarnation) {
            let report = ObserverReport {
                observer: from.clone(),
                ms_ago: millis(now - r.at),
                own: false,
            };
            if r.heard {
                vouchers.push(report)
            } else {
                accusers.push(report)
            }
        }
        Some(QuorumEvidence {
            accusers,
            vouchers,
            observers: self.observers(members, name),
            needed: self.needed(members, name),
            window_ms: millis(self.window),
            admitted: self.confirmed.get(name) == Some(&incarnation),
        })
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
        let fresh = Own {
            incarnation,
            seen: now,
            word: None,
            changed: now,
        };
        // Looked up first: the common case allocates no key.
        let own = match self.own.get_mut(name) {
            Some(own) => own,
            None => self.own.entry(name.to_string()).or_insert(fresh),
        };
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
            self.news = true;
        }
        *own
    }

    /// This round's opinions before the choice of a target, in member order (once per
    /// round, so that a round costs O(N) lookups, not O(N) per target).
    pub(crate) fn round_opinions(&self, now: Instant, members: &Members) -> RoundOpinions {
        let mut round = RoundOpinions::default();
        if !self.observing {
            return round;
        }
        for member in members.others().filter(|m| m.status != Status::Left) {
            let name = &member.name;
            let word = self.own.get(name).filter(|o| o.incarnation == member.incarnation);
            let heard = word.and_then(|o| o.word);
            let ask = self.confirmed.get(name) != Some(&member.incarnation);
            let fresh = word.is_some_and(|o| now - o.changed < self.vouch_period);
            let kind = match heard {
                Some(false) => Kind::Accusation,
                Some(true) if fresh || ask => Kind::Always,
                Some(true) => Kind::IfNewOrAsked,
                None if ask => Kind::Always,
                None => continue,
            };
            if kind != Kind::IfNewOrAsked {
                round.sure.push(round.all.len());
            }
            let opinion = Opinion {
                name: name.clone(),
                incarnation: member.incarnation,
                heard,
                ask,
            };
            round.all.push((opinion, kind));
        }
        round
    }

    /// What to tell `target` this round: every accusation held, then the vouches less
    /// than a vouch period old (all of them when `target` itself is new here), those
    /// `target` asked for, and a question about every member not confirmed here; within
    /// [`OPINION_BUDGET`], rotating by `round` beyond it.
    pub(crate) fn opinions_for(
        &self,
        now: Instant,
        candidates: &RoundOpinions,
        target: &str,
        round: u64,
    ) -> Vec<Opinion> {
        let target_new = self.own.get(target).is_some_and(|o| now - o.seen < self.vouch_period);
        let asked_by_target = self.asked.get(target);
        let asked = |name: &str| asked_by_target.is_some_and(|a| a.get(name).is_some_and(|at| now - *at < self.window));
        // A target neither new nor asking gets only the sure ones: no walk over the rest.
        let wide = target_new || asked_by_target.is_some();
        let every = (0..candidates.all.len()).filter(|_| wide);
        let sure = candidates.sure.iter().copied().filter(|_| !wide);
        let chosen = every.chain(sure).map(|i| &candidates.all[i]);
        let (mut accusations, mut rest) = (Vec::new(), Vec::new());
        for (opinion, kind) in chosen.filter(|(o, _)| o.name != target) {
            match kind {
                Kind::Accusation => accusations.push(opinion.clone()),
                Kind::Always => rest.push(opinion.clone()),
                Kind::IfNewOrAsked if target_new || asked(&opinion.name) => rest.push(opinion.clone()),
                Kind::IfNewOrAsked => {}
            }
        }
        accusations.extend(rest);
        within_budget(accusations, round)
    }
}

/// What kind of opinion a candidate is, which decides the targets it goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An accusation held: to every target.
    Accusation,
    /// A fresh vouch, or any word (or none) with a question: to every target.
    Always,
    /// An older vouch: only to a target that is new here or asked about it.
    IfNewOrAsked,
}

/// One round's candidate opinions ([`Tally::round_opinions`]).
#[derive(Debug, Default)]
pub(crate) struct RoundOpinions {
    /// Every candidate, in member order.
    all: Vec<(Opinion, Kind)>,
    /// The indices in `all` of those that go to every target.
    sure: Vec<usize>,
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

/// The members a message carries evidence about besides its sender (gossip: every
/// counter in a digest feeds that member's detector), to be evaluated again.
pub(crate) fn subjects(message: &Message) -> impl Iterator<Item = &str> {
    let beats = match message {
        Message::Digest { entries, .. } | Message::DigestReply { entries, .. } => entries.as_slice(),
        _ => &[],
    };
    beats.iter().map(|b| b.name.as_str())
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
            timing: None,
        };
        members.apply(now, &entry);
    }
}

/// Second-hand news under a quorum: about this node, everything but a suspicion (which
/// is no verdict here; a death or a higher incarnation is still refuted); about others,
/// departures as they are, and a new member or a higher incarnation as an unconfirmed
/// `Suspect`. Other verdicts are dropped: every node counts the opinions itself. Only
/// the health of a known member at its incarnation is taken (at the status held here),
/// so that its checks and services reach nodes that hear it only second-hand (pull's
/// members, from the monitors' views).
pub(crate) fn filter_learned(me: &Peer, members: &Members, entries: Vec<MemberEntry>) -> Vec<MemberEntry> {
    let keep = |mut entry: MemberEntry| {
        if entry.name == me.name {
            return (entry.status != Status::Suspect).then_some(entry);
        }
        if entry.status == Status::Left {
            return Some(entry);
        }
        let held = members.get(&entry.name);
        if let Some(held) = held.filter(|m| m.incarnation == entry.incarnation && entry.health.is_some()) {
            entry.status = held.status;
            return Some(entry);
        }
        let new = held.is_none_or(|m| entry.incarnation > m.incarnation);
        entry.status = Status::Suspect;
        new.then_some(entry)
    };
    entries.into_iter().filter_map(keep).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Preset, Quorum, StrategyConfig, StrategyKind};

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

    /// A forged (or mistaken) third-party "X is dead" kills nobody under a quorum: it is
    /// dropped at the incarnation held; only departures and newer incarnations (as
    /// unconfirmed suspects) pass, and news about this node is left to refute.
    #[test]
    fn second_hand_verdicts_are_never_adopted_only_counted() {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Push);
        config.quorum = Some(Quorum::Majority);
        let addr = |i: u8| std::net::SocketAddr::from(([127, 0, 0, i], 7946));
        let me = Peer {
            name: "a".into(),
            addr: addr(1),
            incarnation: 0,
        };
        let mut members = Members::new(&me, &config, crate::members::Judged::All, Instant::default(), 7);
        let entry = |name: &str, incarnation, status| MemberEntry {
            timing: None,
            name: name.into(),
            addr: addr(2),
            incarnation,
            status,
            health: None,
        };
        members.apply(Instant::default(), &entry("b", 3, Status::Alive));
        let with_health = MemberEntry {
            health: Some(crate::message::Health::default()),
            ..entry("b", 3, Status::Dead)
        };
        let news = vec![
            with_health,
            entry("b", 3, Status::Dead),
            entry("b", 3, Status::Suspect),
            entry("c", 0, Status::Dead),
            entry("b", 4, Status::Dead),
            entry("a", 0, Status::Suspect),
            entry("a", 0, Status::Dead),
            entry("b", 5, Status::Left),
        ];
        let kept: Vec<(String, Incarnation, Status)> = filter_learned(&me, &members, news)
            .into_iter()
            .map(|e| (e.name, e.incarnation, e.status))
            .collect();
        // The health of a known member is taken, never the verdict that came with it.
        let expected = [
            ("b", 3, Status::Alive),
            ("c", 0, Status::Suspect),
            ("b", 4, Status::Suspect),
            ("a", 0, Status::Dead),
            ("b", 5, Status::Left),
        ];
        let expected: Vec<(String, Incarnation, Status)> =
            expected.iter().map(|(n, i, s)| (n.to_string(), *i, *s)).collect();
        assert_eq!(kept, expected);
    }

    #[test]
    fn opinions_count_for_three_rounds_and_vouches_repeat_for_a_detection_time_and_four() {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Push);
        config.quorum = Some(Quorum::Majority);
        assert!(applies(&config));
        assert_eq!(window(&config), Duration::from_millis(600));
        assert_eq!(vouch_period(&config), Duration::from_millis(1_420));
        config.strategy = StrategyConfig::defaults(StrategyKind::Ping, config.interval, config.dead_after());
        assert!(!applies(&config), "ping keeps its own accuser sets");
    }
}
