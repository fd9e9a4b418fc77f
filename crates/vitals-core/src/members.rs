//! The membership table: every member this node knows, with its status, incarnation,
//! health, round-trip time and failure detector.
//!
//! This module is the only place a member's status changes, and every change goes through
//! [`Members::set_status`], which records exactly one [`Transition`]. Strategies report
//! evidence (a direct message, second-hand news, a heartbeat arrival, a departure) and the
//! table decides by the precedence rule of [`crate::message::Status`]. It never sends a
//! message and never reads a clock.

mod brake;
mod damping;
mod doubt;
mod graveyard;
mod hearing;
mod roster;
mod table;

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::config::{Config, StrategyConfig};
use crate::detector::{Detector, Verdict};
use crate::message::{Health, Incarnation, MemberEntry, Peer, Status};
use crate::time::Instant;
use crate::timing::{Timing, pace};
use brake::Brake;
pub use damping::{FLAP_REUSE, FLAP_SUPPRESS};
pub use doubt::{ANSWERS_CLEAR, ANSWERS_DOUBTED, DEATH_HALF_LIFE, DOUBT_AT, DOUBT_HALF_LIFE, DOUBT_HOLD};
use doubt::{Doubt, DoubtRule, Refuters};
use graveyard::Graveyard;
pub use graveyard::MAX_GRAVEYARD;
pub use hearing::HEARING_ROUNDS;
use hearing::Hearing;
use roster::Roster;
pub use roster::{Contact, Reach};
use table::{NEVER, Table};

/// One member as this node sees it.
///
/// Laid out in declaration order: the fields every message from the member reads or
/// writes come first and share one cache line (see [`Record`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[repr(C)]
pub struct Member {
    /// The incarnation the status is about.
    pub incarnation: Incarnation,
    /// When this node last received anything from the member directly.
    pub last_heard: Option<Instant>,
    /// Protocol address.
    pub addr: SocketAddr,
    /// Current status.
    pub status: Status,
    /// Ping and pull: the member keeps coming back from trouble (`members/doubt.rs`), so
    /// it is shown `suspect` ([`Member::shown`]) while `status` (the protocol's, which
    /// travels) may say `alive`. Beside `status`, in the line every arrival reads (an
    /// arrival reads it to keep a doubted member's wake-up at its release).
    pub doubted: bool,
    /// Pull: a doubted member that died again is held down: shown `dead` even once it
    /// refutes its death, until the doubt is released.
    pub held_down: bool,
    /// When the status last changed.
    pub since: Instant,
    /// Unique name.
    pub name: String,
    /// The member's last reported health.
    pub health: Option<Health>,
    /// Latest measured round-trip time, where acknowledgements or polls measure it.
    pub rtt: Option<Duration>,
    /// The timing the member announced (`timing.rs`), once heard; its detector here
    /// follows it.
    pub timing: Option<Timing>,
}

impl Member {
    /// The status users and routing see: `status`, except that a doubted member that is
    /// up is shown `suspect`, or `dead` when it is held down (`members/doubt.rs`). Events
    /// follow this status.
    pub fn shown(&self) -> Status {
        match self.status.is_up() && self.doubted {
            true if self.held_down => Status::Dead,
            true => Status::Suspect,
            false => self.status,
        }
    }
}

/// One status change of one member. Exactly one is recorded per change.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transition {
    /// The member.
    pub name: String,
    /// Its address.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub addr: SocketAddr,
    /// The incarnation of the new status.
    pub incarnation: Incarnation,
    /// The previous status; `None` when the member was not known.
    pub from: Option<Status>,
    /// The new status.
    pub to: Status,
    /// When it changed (the HTTP API shows it as an RFC 3339 date).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2026-12-03T15:30:00.123Z"))]
    pub at: Instant,
    /// For a local `Dead` verdict: the silence since the member was last heard from,
    /// which bounds the time from its failure to its detection.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub silence: Option<Duration>,
    /// A change of the protocol's status that users do not see (a doubted member
    /// suspected or refuting: it is shown `suspect` throughout). Handed to the strategy,
    /// never published as an event nor kept in the history.
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub quiet: bool,
}

/// Which members this node judges with its own detectors. Others' statuses come only
/// from what other nodes report (pull: members learn verdicts from the monitors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judged {
    /// Every other member.
    All,
    /// Only these members.
    Only(BTreeSet<String>),
}

/// An incarnation more than this far above the one held (above zero for a member not
/// yet known) is refused: no node refutes that often, and accepting it would let one
/// forged message put a member beyond refutation (the memberlist `u32::MAX` bug).
pub const MAX_INCARNATION_JUMP: Incarnation = 1 << 20;
/// Most members the table holds; news of more is refused and counted.
pub const MAX_MEMBERS: usize = 16_384;

/// How a direct message from a member was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observed {
    /// The sender is alive at its incarnation (pull: a suspect whose answer does not yet
    /// clear it, see [`Members::observe`], is taken as current too).
    Current,
    /// The sender speaks for an incarnation this node holds dead, left, or superseded:
    /// it must be told so that it can refute.
    Stale,
    /// Refused: an implausible incarnation jump, or the table is full.
    Refused,
    /// The sender is suspected at its current incarnation and must refute (SWIM): its
    /// message is taken, but the suspicion stands.
    Suspected,
    /// The sender is up at a newer incarnation than its message names: the datagram was
    /// overtaken by the sender's own refutation (a poll's reply queued before the view in
    /// the same poll made it refute, delivered after the refutation), or the sender
    /// restarted without learning its incarnation. Its message is taken as a sign of life
    /// (it feeds the detector); the status stands, and the sender is told what is held.
    Overtaken,
}

/// Everything held about one member. Laid out for the hot path, where a heartbeat feeds
/// the detector and touches the member's first fields: both are read from memory that no
/// other member shares, so each record starts a cache line, the detector fills the first
/// and the member's hot fields the second. What a heartbeat never reads is out of line
/// ([`Cold`]), so that the table's buckets stay small: the simulator holds N² records and
/// reads them at random, and its speed follows how many pages and cache lines they span.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Record {
    detector: Option<Detector>,
    member: Member,
    cold: Box<Cold>,
}

/// The parts of a [`Record`] that only probes, gossip digests, status changes, flap
/// damping and doubt read.
#[derive(Clone, Debug)]
struct Cold {
    probe: Option<(u64, Instant)>,
    /// Gossip: the highest heartbeat counter seen from the member, with the incarnation
    /// it counts.
    counter: Option<(Incarnation, u64)>,
    /// The member's last [`HISTORY_LEN`] transitions, for explanations.
    history: VecDeque<Transition>,
    /// Flap damping: the penalty and when it was last updated.
    penalty: (f64, Instant),
    /// Flap damping: whether the member's return is being held back.
    damped: bool,
    /// Ping: the refutations behind `Member::doubted` (`doubt.rs`).
    doubt: Doubt,
}

/// While it hears poorly, a node refutes news of its death at most once per this many
/// intervals (30 s at `lan-fast`): see [`Members::refute`].
pub const POOR_REFUTE_BACKOFF: u32 = 150;

/// How many transitions of each member are kept for `why`.
pub const HISTORY_LEN: usize = 8;

/// The membership table.
#[derive(Clone, Debug)]
pub struct Members {
    me: String,
    config: Config,
    judged: Judged,
    records: Table<Record>,
    transitions: VecDeque<Transition>,
    /// Members whose detector a relayed answer fed since the quorum tally last looked
    /// (`take_vouched`): under a quorum that changes this node's own word about them.
    vouched: Vec<String>,
    next_deadline: Option<Instant>,
    refused: u64,
    direct_clears_suspicion: bool,
    /// The mass-failure brake (`brake.rs`).
    brake: Brake,
    /// Incarnations of reaped tombstones, so stale news cannot resurrect them.
    graveyard: Graveyard,
    /// Every other member's [`Contact`], in name order (`roster.rs`).
    roster: Roster,
    /// Local health: the heartbeats this node's detectors hear (`hearing.rs`).
    hearing: Hearing,
    /// Whose periodic signals local health counts when it is not `judged` (a pull member
    /// under a quorum takes the monitors' word, but still expects their polls).
    senders: Option<Judged>,
    /// When this node last refuted news of its death while hearing poorly.
    refuted_poorly: Option<Instant>,
    /// How many members have been removed from the table (reaped or forgotten) so far.
    forgotten: u64,
    /// How many other members are up, kept as statuses change (`up_count` is read for
    /// every message some strategies send).
    up_others: usize,
    /// When a member last joined (was first added), or this node started: see
    /// [`Members::settling`].
    joined_at: Instant,
    /// The members that refuted a suspicion lately (ping's doubt: `doubt::Refuters`).
    refuters: Refuters,
}

/// A cluster is settling for this many intervals after a member joins (or this node
/// starts): a cluster forming is where a machine is busiest, and a member slow to answer
/// then is not yet a sick one. Meanwhile a refutation does not count towards doubt
/// (`doubt.rs`; 500 agents forming on two cores held their seeds in doubt for a minute),
/// nor does ping's fast confirmation work (`strategy/ping.rs`).
pub const SETTLE_INTERVALS: u32 = 10;

/// Whether `(incarnation, status)` overrides what is held: a higher incarnation always
/// does; at the same incarnation, only a status later in `Alive < Suspect < Dead < Left`.
pub fn overrides(new: (Incarnation, Status), held: (Incarnation, Status)) -> bool {
    new.0 > held.0 || (new.0 == held.0 && new.1 > held.1)
}

impl Members {
    /// A table that holds only the local node, alive. `key` (secret, e.g. from the node's
    /// seed) keys the name index, so that nobody can pick names that collide in it.
    pub fn new(me: &Peer, config: &Config, judged: Judged, now: Instant, key: u64) -> Members {
        let mut members = Members {
            me: me.name.clone(),
            config: config.clone(),
            judged,
            records: Table::new(key),
            transitions: VecDeque::new(),
            vouched: Vec::new(),
            next_deadline: None,
            refused: 0,
            direct_clears_suspicion: true,
            brake: Brake::default(),
            graveyard: Graveyard::default(),
            roster: Roster::default(),
            hearing: Hearing::new(now),
            senders: None,
            refuted_poorly: None,
            refuters: Refuters::default(),
            forgotten: 0,
            up_others: 0,
            joined_at: now,
        };
        members.insert(now, now, &me.name, me.addr, me.incarnation, Status::Alive);
        members
    }

    /// The local node's own entry.
    pub fn me(&self) -> &Member {
        &self
            .records
            .get(&self.me)
            .expect("the local node is always held")
            .member
    }

    /// A member by name.
    pub fn get(&self, name: &str) -> Option<&Member> {
        self.records.get(name).map(|r| &r.member)
    }

    /// Gossip: `name` and the highest heartbeat counter seen from it, with the incarnation
    /// the counter belongs to; `None` unless both are held.
    pub fn counted(&self, name: &str) -> Option<(&Member, (Incarnation, u64))> {
        let record = self.records.get(name)?;
        Some((&record.member, record.cold.counter?))
    }

    /// Gossip: `name`'s heartbeat counter rose to `heartbeat` at `incarnation`.
    pub fn set_counter(&mut self, name: &str, incarnation: Incarnation, heartbeat: u64) {
        if let Some(record) = self.records.get_mut(name) {
            record.cold.counter = Some((incarnation, heartbeat));
        }
    }

    /// Gossip: every other member whose counter is held, with it, in name order from the
    /// first name after `after`, wrapping around once.
    pub fn counted_from(&self, after: &str) -> impl Iterator<Item = (&Member, (Incarnation, u64))> {
        let me = self.me();
        self.records
            .values_from(after)
            .filter(move |r| !std::ptr::eq(&r.member, me))
            .filter_map(|r| Some((&r.member, r.cold.counter?)))
    }

    /// How many members the table holds, the local node and the dead included.
    pub fn held(&self) -> usize {
        self.records.len()
    }

    /// Every member, the local node included, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.records.values().map(|r| &r.member)
    }

    /// Every member in name order, the local node included, with the reading of its
    /// detector at `now` where this node judges it ([`Members::detector_reading`], without
    /// looking each member up again: a snapshot of 500 members spent a quarter of its time there).
    pub fn readings(&self, now: Instant) -> impl Iterator<Item = (&Member, Option<(f64, Duration)>)> {
        self.records.values().map(move |r| (&r.member, reading(r, now)))
    }

    /// Every member but the local node.
    pub fn others(&self) -> impl Iterator<Item = &Member> {
        let me = self.me();
        self.iter().filter(move |m| !std::ptr::eq(*m, me))
    }

    /// Every other member's address and reach, in name order (cheap to read each round).
    pub fn roster(&mut self) -> &[Contact] {
        let me = &self.me;
        let others = self.records.values().map(|r| &r.member).filter(move |m| m.name != *me);
        self.roster.get_or_build(others)
    }

    /// Every other member that is up (alive or suspect).
    pub fn up_others(&self) -> impl Iterator<Item = &Member> {
        self.others().filter(|m| m.status.is_up())
    }

    /// How many members are up, the local node included (the N of the formulas).
    pub fn up_count(&self) -> usize {
        debug_assert_eq!(
            self.up_others,
            self.up_others().count(),
            "the count follows the statuses"
        );
        self.up_others + 1
    }

    /// How many members have each status, the local node included.
    pub fn count(&self, status: Status) -> usize {
        self.iter().filter(|m| m.status == status).count()
    }

    /// The table as entries for other nodes, the local node included.
    pub fn entries(&self) -> Vec<MemberEntry> {
        self.iter().map(|m| self.told(m)).collect()
    }

    /// The table as entries for a view sent every round (pull's polls, the leader's
    /// heartbeats): without announced timings, which travel with joins instead.
    pub fn view_entries(&self) -> Vec<MemberEntry> {
        self.iter()
            .map(|m| MemberEntry {
                timing: None,
                ..self.told(m)
            })
            .collect()
    }

    /// The entry describing `name`.
    pub fn entry(&self, name: &str) -> Option<MemberEntry> {
        self.get(name).map(|m| self.told(m))
    }

    /// What this node tells others of `member`. Under pull, its verdict: a suspicion is
    /// the judge's own and stays here (`alive` until it declares the member dead). Told,
    /// one lost reply at 10 % loss (a fifth of the polls) made every member show the
    /// member suspect; and each judge decides alone ([`Members::apply`]).
    fn told(&self, member: &Member) -> MemberEntry {
        let mut entry = entry_of(member);
        if self.judges_alone() && entry.status == Status::Suspect && member.name != self.me {
            entry.status = Status::Alive;
        }
        entry
    }

    /// The reading of `name`'s detector at `now` (missed heartbeats or phi) and its
    /// effective timeout, when this node judges it.
    pub fn detector_reading(&self, name: &str, now: Instant) -> Option<(f64, Duration)> {
        reading(self.records.get(name)?, now)
    }

    /// How long `name`'s detector has gone without an arrival it counts (`None`: not
    /// judged here). Not the time since anything was last heard from it: a reachability
    /// row or a refutation proves the member sends, not that the signal judged arrives.
    pub fn detector_silence(&self, name: &str, now: Instant) -> Option<Duration> {
        let detector = self.records.get(name)?.detector.as_ref()?;
        Some(now.saturating_since(detector.last_arrival()))
    }

    /// Whether a direct message from a suspect (at its current incarnation) clears the
    /// suspicion. True for strategies whose suspicion is local; false for SWIM, where
    /// only the suspect's refutation (a higher incarnation) does.
    pub fn set_direct_clears_suspicion(&mut self, clears: bool) {
        self.direct_clears_suspicion = clears;
    }

    /// Forgets dead and left members whose status is older than `ttl`; their last
    /// incarnation is remembered, so only the member itself (at a higher one) can return.
    pub fn reap(&mut self, now: Instant, ttl: Duration) -> usize {
        let me = &self.me;
        let expired = self
            .records
            .remove_where(|r| !r.member.status.is_up() && r.member.name != *me && now - r.member.since >= ttl);
        if !expired.is_empty() {
            self.forgotten += expired.len() as u64;
            self.roster.invalidate();
        }
        for (name, record) in &expired {
            self.graveyard.bury(name, record.member.incarnation);
        }
        expired.len()
    }

    /// A count that moves whenever a member is added or removed, goes up or down, or
    /// changes address: while it stands still, the members up are those the caller saw
    /// at its last look.
    pub fn roster_changes(&self) -> u64 {
        self.roster.changes()
    }

    /// How many members have been removed from the table so far (reaped or forgotten):
    /// a count that moves whenever a name the caller may hold a note about is gone.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Forgets `name` now if it is held dead or left (an operator's `force-leave`), keeping
    /// its last incarnation as [`Members::reap`] does. Returns whether it was forgotten.
    pub fn forget(&mut self, name: &str) -> bool {
        let me = &self.me;
        let gone = self
            .records
            .remove_where(|r| r.member.name == name && r.member.name != *me && !r.member.status.is_up());
        for (name, record) in &gone {
            self.graveyard.bury(name, record.member.incarnation);
        }
        if !gone.is_empty() {
            self.forgotten += gone.len() as u64;
            self.roster.invalidate();
        }
        !gone.is_empty()
    }

    /// How many updates were refused (implausible incarnation jumps, full table).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Whether news of `name` at `incarnation` is plausible; counts it when not.
    fn plausible(&mut self, name: &str, incarnation: Incarnation) -> bool {
        let ok = match self.records.get(name) {
            Some(record) => incarnation <= record.member.incarnation.saturating_add(MAX_INCARNATION_JUMP),
            None => incarnation <= MAX_INCARNATION_JUMP && self.records.len() < MAX_MEMBERS,
        };
        if !ok {
            self.refused += 1;
        }
        ok
    }

    /// The next status change recorded, oldest first.
    pub fn pop_transition(&mut self) -> Option<Transition> {
        self.transitions.pop_front()
    }

    /// The earliest instant at which a detector's verdict may change. May be early
    /// (arrivals only push deadlines later); never late.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_deadline
    }

    /// A message came straight from `from`: proof that it is alive at its incarnation,
    /// unless this node already holds that incarnation dead, left or superseded.
    pub fn observe(&mut self, now: Instant, from: &Peer) -> Observed {
        debug_assert_ne!(from.name, self.me, "the node never observes itself");
        let judges_alone = self.judges_alone();
        let Some(record) = self.records.get_mut(&from.name) else {
            if !self.plausible(&from.name, from.incarnation) {
                return Observed::Refused;
            }
            self.insert(now, now, &from.name, from.addr, from.incarnation, Status::Alive);
            self.touch(now, &from.name);
            return Observed::Current;
        };
        if from.incarnation > record.member.incarnation.saturating_add(MAX_INCARNATION_JUMP) {
            self.refused += 1;
            return Observed::Refused;
        }
        if from.incarnation == record.member.incarnation && record.member.status == Status::Alive {
            // The common case, on every heartbeat: nothing changes but the time.
            if record.member.addr != from.addr {
                record.member.addr = from.addr;
                self.roster.invalidate();
            }
            record.member.last_heard = Some(now);
            return Observed::Current;
        }
        let held = (record.member.incarnation, record.member.status);
        // Pull: a member this node polls is cleared only once it answered two polls in a
        // row (see `Members::probe_answered`), whatever else it sends. (The rule of
        // `Members::steady`, read from the record this lookup already holds.)
        let steady = !judges_alone || record.cold.doubt.steady();
        let clears = held.1 == Status::Alive || (held.1 == Status::Suspect && self.direct_clears_suspicion && steady);
        let current = from.incarnation > held.0 || (from.incarnation == held.0 && clears);
        if from.incarnation == held.0 && held.1 == Status::Suspect && !clears {
            self.touch(now, &from.name);
            // Pull's suspicion waits for the next answer (nothing to refute); SWIM's for
            // the suspect's refutation.
            return match self.direct_clears_suspicion {
                true => Observed::Current,
                false => Observed::Suspected,
            };
        }
        if !current && from.incarnation < held.0 && held.1.is_up() {
            self.touch(now, &from.name);
            return Observed::Overtaken;
        }
        if !current {
            return Observed::Stale;
        }
        if record.member.addr != from.addr {
            record.member.addr = from.addr;
            self.roster.invalidate();
        }
        let status = still_suspect(judges_alone, record, Status::Alive);
        self.set_status(now, &from.name, from.incarnation, status);
        self.touch(now, &from.name);
        Observed::Current
    }

    /// Second-hand news about another member. Returns whether the member was new.
    pub fn apply(&mut self, now: Instant, entry: &MemberEntry) -> bool {
        debug_assert_ne!(entry.name, self.me, "news about the local node is the node's to refute");
        if !self.plausible(&entry.name, entry.incarnation) {
            return false;
        }
        if self.graveyard.outdates(&entry.name, entry.incarnation) {
            return false; // stale news of a reaped member
        }
        let judges_alone = self.judges_alone();
        let Some(record) = self.records.get_mut(&entry.name) else {
            // Learned second-hand: it may not know us yet, and hears of us only with our
            // next heartbeat; give its first heartbeat one extra interval before doubting.
            let expected = now + self.config.interval;
            self.insert(now, expected, &entry.name, entry.addr, entry.incarnation, entry.status);
            self.set_health(&entry.name, entry.health.clone());
            if let Some(timing) = entry.timing {
                self.announce(expected, &entry.name, timing);
            }
            return true;
        };
        let held = (record.member.incarnation, record.member.status);
        // Pull: a member this node judges itself is judged by its own detector alone; news
        // of it at the incarnation held (another node's verdict) changes nothing here. A
        // sick member's sync once spread its verdict that a monitor everyone hears was dead.
        let own_verdict = judges_alone && record.detector.is_some() && entry.incarnation == held.0;
        if overrides((entry.incarnation, entry.status), held) && !(own_verdict && entry.status != Status::Left) {
            record.member.addr = entry.addr;
            self.roster.invalidate();
            let status = still_suspect(judges_alone, record, entry.status);
            self.set_status(now, &entry.name, entry.incarnation, status);
        }
        if entry.incarnation >= held.0 && entry.health.is_some() {
            self.set_health(&entry.name, entry.health.clone());
        }
        // Second-hand timing only fills in what the member has not told us itself.
        if let Some(timing) = entry.timing
            && self.get(&entry.name).is_some_and(|m| m.timing.is_none())
        {
            self.announce(now, &entry.name, timing);
        }
        false
    }

    /// The elected leader's word about another member (leader strategy): a higher
    /// incarnation wins as in [`Members::apply`]; at the same incarnation the leader's status
    /// replaces the one held in either direction (so a verdict this node reached alone is
    /// withdrawn when the leader disagrees), except that `Left` (the member's own word) stays,
    /// and members this node judges itself (the leader) keep its own verdict. Returns
    /// whether the member was new.
    pub fn adopt(&mut self, now: Instant, entry: &MemberEntry) -> bool {
        let Some(record) = self.records.get(&entry.name) else {
            return self.apply(now, entry);
        };
        let held = (record.member.incarnation, record.member.status);
        let same = entry.incarnation == held.0 && entry.status != held.1;
        if same && held.1 != Status::Left && record.detector.is_none() && self.plausible(&entry.name, entry.incarnation)
        {
            if let Some(record) = self.records.get_mut(&entry.name) {
                record.member.addr = entry.addr;
            }
            self.roster.invalidate();
            self.set_status(now, &entry.name, entry.incarnation, entry.status);
            self.set_health(&entry.name, entry.health.clone());
            return false;
        }
        self.apply(now, entry)
    }

    /// `from` announced that it is leaving.
    pub fn leave(&mut self, now: Instant, from: &Peer) {
        let Some(record) = self.records.get(&from.name) else {
            return;
        };
        if from.incarnation >= record.member.incarnation {
            self.set_status(now, &from.name, from.incarnation, Status::Left);
        }
    }

    /// The local node left: its own entry says so.
    pub fn leave_self(&mut self, now: Instant) {
        let incarnation = self.me().incarnation;
        let me = self.me.clone();
        self.set_status(now, &me, incarnation, Status::Left);
    }

    /// Somebody holds the local node at `(incarnation, status)`; if that would override
    /// the node's own claim, raise its incarnation above it and return the new value.
    pub fn refute(&mut self, now: Instant, incarnation: Incarnation, status: Status) -> Option<Incarnation> {
        let mine = self.me().incarnation;
        let wrong = incarnation > mine || (incarnation == mine && status != Status::Alive);
        if !wrong {
            return None;
        }
        if incarnation > mine.saturating_add(MAX_INCARNATION_JUMP) {
            self.refused += 1;
            return None;
        }
        if self.lifeguard() && self.hears_poorly(now) {
            // Sick (Lifeguard): refuting now would only be undone within a timeout, and
            // flip this node's status at every other member; it refutes once it hears
            // again. News of its death it still refutes once per `POOR_REFUTE_BACKOFF`:
            // a member held dead is sent to only every few rounds, so a node cut off by a
            // partition that just healed hears too little to tell itself from a sick one,
            // and its one refutation brings the others' full rate back.
            let recent = self
                .refuted_poorly
                .is_some_and(|at| now - at < self.config.interval * POOR_REFUTE_BACKOFF);
            if status == Status::Suspect || recent {
                return None;
            }
            self.refuted_poorly = Some(now);
        }
        let raised = incarnation.checked_add(1)?;
        let me = self.me.clone();
        self.set_status(now, &me, raised, Status::Alive);
        Some(raised)
    }

    /// `name` announced its timing (`timing.rs`): it is kept, and the member's detector
    /// follows it from now on, counting silence from `at`. Returns whether it changed.
    pub fn announce(&mut self, at: Instant, name: &str, timing: Timing) -> bool {
        let (config, me) = (&self.config, &self.me);
        let Some((record, wake)) = self.records.get_mut_and_wake(name) else {
            return false;
        };
        if record.member.timing == Some(timing) {
            return false;
        }
        record.member.timing = Some(timing);
        let mut next = None;
        if let Some(detector) = &mut record.detector {
            *detector = Detector::paced(config, pace(config, me, name, Some(&timing)), at);
            next = detector.next_change(at);
            rewake(wake, record.member.doubted, next.unwrap_or(NEVER));
        }
        self.pull_deadline(next);
        true
    }

    /// This node's own timing changed (auto-tune): the timing its detectors fall back on
    /// for members that never announced theirs, and its own record's announced timing.
    pub fn retime(&mut self, at: Instant, me: &str, config: &Config, timing: Timing) {
        (self.config.interval, self.config.timeout, self.config.threshold) =
            (config.interval, config.timeout, config.threshold);
        self.announce(at, me, timing);
    }

    /// A periodic liveness signal from `name` arrived: feed its detector.
    pub fn arrival(&mut self, now: Instant, name: &str) {
        let config = &self.config;
        let judged = self.judged.includes(name);
        let bound = self.records.len();
        if let Some((record, wake)) = self.records.get_mut_and_wake(name) {
            if record.member.status.is_up() && self.senders.as_ref().map_or(judged, |s| s.includes(name)) {
                self.hearing.arrival(now, config.interval, bound);
            }
            match &mut record.detector {
                Some(detector) => detector.arrival(now),
                None if judged => {
                    let pace = pace(config, &self.me, name, record.member.timing.as_ref());
                    record.detector = Some(Detector::paced(config, pace, now));
                }
                None => return,
            }
            // Arrivals only move a verdict's change later: judging can wait until then.
            let next = record.detector.as_ref().and_then(|d| d.next_change(now));
            rewake(wake, record.member.doubted, next.unwrap_or(NEVER));
        }
    }

    /// Local health for a node judged by no detector here: whose periodic signals it
    /// still expects (see `senders`).
    pub fn set_senders(&mut self, senders: Judged) {
        self.senders = Some(senders);
    }

    /// Whether local health expects to hear from `member` at `now`: it is up, or died
    /// here within the window local health looks back over (a node that hears nothing
    /// holds everyone dead soon, and must not count that as hearing well).
    pub fn expects_to_hear(&self, now: Instant, member: &Member) -> bool {
        let window = self.config.interval * HEARING_ROUNDS;
        member.status.is_up() || (member.status == Status::Dead && now - member.since < window)
    }

    /// Local health (gossip): this round's digests went to `count` members that
    /// [`Members::expects_to_hear`], so about twice as many messages are due here (a reply
    /// to each, and about as many digests from others).
    pub fn expect_messages(&mut self, now: Instant, count: usize) {
        self.hearing.expect(now, self.config.interval, 2 * count);
    }

    /// Local health (gossip): a digest or a digest's reply arrived.
    pub fn heard_message(&mut self, now: Instant) {
        self.hearing.heard(now, self.config.interval);
    }

    /// Local health (ping): a probe ended that expected `expected` answers (an ack, or a
    /// nack from each intermediary) and got `heard` of them.
    pub fn answers(&mut self, now: Instant, expected: u32, heard: u32) {
        self.hearing.answers(now, self.config.interval, expected, heard);
    }

    /// Whether this node holds back its refutations while it hears poorly: every strategy
    /// but ping, whose Lifeguard already slows a node that misses answers (its awareness
    /// stretches its probe timeouts and suspicions). Applied to ping too, it cost false
    /// deaths at 10 % loss everywhere (`vitals-sim` test `loss::ping...`: 1–19 in 1,000
    /// node-hours where 0 is required), because a healthy node then sometimes counted
    /// itself deaf and let a suspicion of itself run out.
    fn lifeguard(&self) -> bool {
        self.config.swim().is_none()
    }

    /// Ping: `accuser` suspects `name` (at its current incarnation): who accuses is what
    /// tells a sick member from a healthy one a sick node keeps accusing (`doubt.rs`).
    pub fn accused(&mut self, now: Instant, name: &str, incarnation: Incarnation, accuser: &str) {
        // An accuser back from the dead here less than a doubt half-life ago (from a
        // partition) speaks from a stale view: its accusation counts for no doubt. A
        // sick member is accused by members that were up all along.
        let settled = self.config.interval * DOUBT_HALF_LIFE;
        let stale = |r: &Record| !r.member.status.is_up() || r.cold.doubt.back_within(now, settled);
        if self.records.get(accuser).is_none_or(stale) {
            return;
        }
        if let Some(record) = self
            .records
            .get_mut(name)
            .filter(|r| r.member.incarnation == incarnation)
        {
            record.cold.doubt.accused(accuser);
        }
    }

    /// Ping: the suspicion of `name` outlived its timeout without the accusers a death
    /// needs (a minority under a quorum): its refutation does not count toward doubt.
    pub fn suspicion_outlived(&mut self, name: &str) {
        if let Some(record) = self.records.get_mut(name) {
            record.cold.doubt.outlived();
        }
    }

    /// Whether an answer from `name` may clear a suspicion of it: under pull, once a member
    /// this node polls answered two polls in a row (`doubt.rs`); always otherwise. The
    /// quorum's tally asks too.
    pub fn steady(&self, name: &str) -> bool {
        !self.judges_alone() || self.records.get(name).is_none_or(|r| r.cold.doubt.steady())
    }

    /// Whether a member this node judges is judged by its detector alone, never by news
    /// of it at the same incarnation (pull: each judge decides, see [`Members::apply`]).
    fn judges_alone(&self) -> bool {
        matches!(self.config.strategy, StrategyConfig::Pull { .. })
    }

    /// What puts members in doubt here (`doubt.rs`): ping's refutations, pull's answer
    /// rates and repeated deaths; nothing under the other strategies, whose sick node
    /// stays in one state without it (`tests/sick.rs`).
    fn doubt_rule(&self) -> Option<DoubtRule> {
        match &self.config.strategy {
            _ if self.config.swim().is_some() => Some(DoubtRule::Refutations),
            StrategyConfig::Pull { .. } => Some(DoubtRule::Answers),
            _ => None,
        }
    }

    /// Local health: whether this node hears fewer than half of the heartbeats (or polls)
    /// it expects from the members it judges (`hearing.rs`): those up, and those it
    /// declared dead within the window (a node that holds everyone dead hears nobody).
    pub fn hears_poorly(&self, now: Instant) -> bool {
        let senders = self.senders.as_ref().unwrap_or(&self.judged);
        let judged_up = self
            .others()
            .filter(|m| self.expects_to_hear(now, m) && senders.includes(&m.name))
            .count();
        self.hearing.is_poor(now, self.config.interval, judged_up)
    }

    /// Whether an answer relayed by another member counts here ([`Members::vouched`]):
    /// not in SWIM, which has its own indirect probes. Under a quorum too: there a
    /// relayed answer feeds only this observer's detector (so it does not accuse a member
    /// others still reach), while the tally alone sets the status. Pull's three monitors
    /// otherwise accused on three failed round trips each (0.7 % of polls at 10 % loss),
    /// and two at once made a death: 13 false positives per node-hour in the simulator.
    pub fn counts_relays(&self) -> bool {
        self.config.swim().is_none()
    }

    /// `name`, judged here, answered an indirect probe (another member heard it for this
    /// node): a heartbeat for its detector, which also withdraws a suspicion its silence
    /// raised (where a direct message would, see [`Members::observe`]). Never revives a
    /// dead member.
    pub fn vouched(&mut self, now: Instant, name: &str) {
        let Some(record) = self.records.get(name) else { return };
        if !self.counts_relays() || !record.member.status.is_up() || record.detector.is_none() {
            return;
        }
        let (incarnation, status) = (record.member.incarnation, record.member.status);
        let steady = self.steady(name);
        self.arrival(now, name);
        if status == Status::Suspect && self.direct_clears_suspicion && steady {
            self.set_status(now, name, incarnation, Status::Alive);
        }
        if !self.direct_clears_suspicion && !self.vouched.iter().any(|n| n == name) {
            self.vouched.push(name.to_string());
        }
    }

    /// The members [`Members::vouched`] fed since the last call (kept only where the
    /// quorum tally, not a direct message, decides a suspect's status).
    pub(crate) fn take_vouched(&mut self) -> Vec<String> {
        std::mem::take(&mut self.vouched)
    }

    /// Store `name`'s latest health sample.
    pub fn set_health(&mut self, name: &str, health: Option<Health>) {
        if let Some(health) = health
            && let Some(record) = self.records.get_mut(name)
        {
            record.member.health = Some(health);
        }
    }

    /// A probe with sequence number `seq` was sent to `name` at `now`.
    /// Under pull, the previous probe's fate (answered or not) feeds the answer rate of a
    /// member that is up (`doubt.rs`).
    pub fn probe_sent(&mut self, now: Instant, name: &str, seq: u64) {
        let answers = self.doubt_rule() == Some(DoubtRule::Answers);
        if let Some(record) = self.records.get_mut(name) {
            // Only while it is up: a member held dead (or cut off) is polled less, and its
            // silence then says nothing of the link it will return on.
            if answers && record.member.status.is_up() {
                record.cold.doubt.polled(record.cold.probe.is_none());
            }
            record.cold.probe = Some((seq, now));
        }
    }

    /// The probe last sent to `name` and not yet answered: (sequence number, when).
    pub fn pending_probe(&self, name: &str) -> Option<(u64, Instant)> {
        self.records.get(name)?.cold.probe
    }

    /// `name` answered probe `seq`: returns and stores the round-trip time if it is the
    /// answer to the latest probe (under pull, clearing a suspicion when the probe before
    /// was answered too).
    pub fn probe_answered(&mut self, now: Instant, name: &str, seq: u64) -> Option<Duration> {
        let record = self.records.get_mut(name)?;
        let (sent_seq, sent_at) = record.cold.probe?;
        if sent_seq != seq {
            return None;
        }
        let rtt = now - sent_at;
        record.member.rtt = Some(rtt);
        record.cold.probe = None;
        // Pull: a suspect is cleared by an answer that follows another (two polls in a
        // row), so a member that answers one poll in five stays suspect instead of
        // flipping at every answer; a healthy one at 10 % loss is cleared a poll later.
        record.cold.doubt.answered();
        if record.cold.doubt.confirmed() {
            self.records.rouse(name); // released at the next judgement
            self.pull_deadline(Some(now));
        }
        let record = self.records.get_mut(name)?;
        let (incarnation, status) = (record.member.incarnation, record.member.status);
        let clears = status == Status::Suspect && record.cold.doubt.steady() && self.direct_clears_suspicion;
        if clears && self.judges_alone() {
            self.set_status(now, name, incarnation, Status::Alive);
        }
        Some(rtt)
    }

    /// Change which members this node judges (leader: the elected leader judges everyone,
    /// the others only the leader). Members no longer judged lose their detector and keep
    /// their status; newly judged members that are up get one that expects their first
    /// heartbeat within one interval of `now`, so a new judge starts from the view it holds
    /// and declares nobody dead before they could re-report.
    pub fn set_judged(&mut self, now: Instant, judged: Judged) {
        let grace = now + self.config.interval;
        let mut deadlines = Vec::new();
        for record in self.records.values_mut() {
            let name = &record.member.name;
            if *name == self.me || !judged.includes(name) {
                record.detector = None;
            } else if record.detector.is_none() && record.member.status.is_up() {
                let pace = pace(&self.config, &self.me, name, record.member.timing.as_ref());
                let detector = Detector::paced(&self.config, pace, grace);
                deadlines.push(detector.next_change(grace));
                record.detector = Some(detector);
            }
        }
        self.judged = judged;
        self.records.rouse_all();
        for at in deadlines {
            self.pull_deadline(at);
        }
    }

    /// This node was stopped (its clock jumped past its own timers): the silence it saw
    /// is its own, not its members'. Every detector restarts expecting its member's next
    /// heartbeat at `expected`, so nobody is judged on a gap this node slept through.
    pub fn rearm(&mut self, expected: Instant) {
        self.hearing.restart(expected);
        let mut deadlines = Vec::new();
        for record in self.records.values_mut() {
            if let Some(detector) = &mut record.detector {
                let pace = pace(
                    &self.config,
                    &self.me,
                    &record.member.name,
                    record.member.timing.as_ref(),
                );
                *detector = Detector::paced(&self.config, pace, expected);
                deadlines.push(detector.next_change(expected));
            }
        }
        self.records.rouse_all();
        for at in deadlines {
            self.pull_deadline(at);
        }
    }

    /// Apply every detector's verdict at `now`, and release the doubts that are due.
    /// Only the members due a look are read (see `table`); each is given its next
    /// wake-up, the detector's next possible change or its doubt's release.
    pub fn judge(&mut self, now: Instant) {
        self.judge_with(now, true);
    }

    /// Under a quorum (the tally sets statuses, not the detectors): only release the
    /// doubts that are due.
    pub(crate) fn release_doubts(&mut self, now: Instant) {
        self.judge_with(now, false);
    }

    fn judge_with(&mut self, now: Instant, detectors: bool) {
        let mut changes = Vec::new();
        let mut cleared = Vec::new();
        let interval = self.config.interval;
        for slot in self.records.due(now) {
            let (record, wake) = self.records.slot_mut(slot);
            *wake = NEVER;
            if record.member.doubted && record.member.status == Status::Alive {
                let release = record.cold.doubt.release_at(interval);
                if record.cold.doubt.confirmed() {
                    cleared.push(record.member.name.clone());
                } else if now < release {
                    *wake = release;
                } else if record.cold.doubt.answers_well() {
                    cleared.push(record.member.name.clone());
                } else {
                    *wake = now + interval; // pull: answering too few polls yet
                }
            }
            let Some(detector) = record.detector.as_ref().filter(|_| detectors) else {
                continue;
            };
            if !record.member.status.is_up() {
                continue;
            }
            let status = match detector.verdict(now) {
                Verdict::Alive => Status::Alive,
                Verdict::Suspect => Status::Suspect,
                Verdict::Dead => Status::Dead,
            };
            if status > record.member.status {
                changes.push((record.member.name.clone(), record.member.incarnation, status));
            }
            if let Some(at) = detector.next_change(now) {
                *wake = (*wake).min(at);
            }
        }
        self.next_deadline = self.records.earliest_wake();
        for name in cleared {
            // Clear of suspicion for the whole hold: shown alive again.
            if let Some(record) = self.records.get_mut(&name) {
                let shown = record.member.shown();
                record.member.doubted = false;
                record.member.held_down = false;
                self.record_transition(now, &name, Some(shown), false);
            }
        }
        for (name, incarnation, status) in changes {
            self.set_status(now, &name, incarnation, status);
        }
    }

    /// Adds a member; its detector (if it is judged here) counts silence from `expected`.
    fn insert(
        &mut self,
        now: Instant,
        expected: Instant,
        name: &str,
        addr: SocketAddr,
        incarnation: Incarnation,
        status: Status,
    ) {
        let member = Member {
            name: name.to_string(),
            addr,
            incarnation,
            status,
            since: now,
            last_heard: None,
            health: None,
            rtt: None,
            timing: None,
            doubted: false,
            held_down: false,
        };
        let detector = (name != self.me && status.is_up() && self.judged.includes(name))
            .then(|| Detector::new(&self.config, expected));
        if let Some(detector) = &detector {
            self.pull_deadline(detector.next_change(expected));
        }
        self.roster.invalidate();
        self.joined_at = now;
        if name != self.me && status.is_up() {
            self.up_others += 1;
        }
        self.records.insert(
            name,
            Record {
                member,
                detector,
                cold: Box::new(Cold {
                    probe: None,
                    counter: None,
                    history: VecDeque::new(),
                    penalty: (0.0, now),
                    damped: false,
                    doubt: Doubt::new(now),
                }),
            },
        );
        self.record_transition(now, name, None, false);
    }

    fn touch(&mut self, now: Instant, name: &str) {
        if let Some(record) = self.records.get_mut(name) {
            record.member.last_heard = Some(now);
        }
    }

    /// Whether a member was first added here (or this node started) within `span` of `now`.
    pub(crate) fn added_within(&self, now: Instant, span: Duration) -> bool {
        now < self.joined_at + span
    }

    /// Whether the cluster is settling at `now`: within [`SETTLE_INTERVALS`] of a member's
    /// joining (being first added here) or of this node's start.
    pub(crate) fn settling(&self, now: Instant) -> bool {
        self.added_within(now, self.config.interval * SETTLE_INTERVALS)
    }

    /// The mass-failure brake: whether one more death verdict now would exceed
    /// `brake_fraction` of the cluster within `brake_window`. Records the verdict if not.
    fn brake_holds(&mut self, now: Instant, name: &str) -> bool {
        let (window, fraction) = (self.config.brake_window, self.config.brake_fraction);
        self.brake.holds(now, name, window, fraction, self.records.len())
    }

    /// Members whose death verdict the mass-failure brake is holding back.
    pub fn held_by_brake(&self) -> impl Iterator<Item = &String> {
        self.brake.held()
    }

    /// The one place a known member's status changes.
    fn set_status(&mut self, now: Instant, name: &str, incarnation: Incarnation, status: Status) {
        let judged = name != self.me && self.judged.includes(name);
        let brake_on = status == Status::Dead && self.config.brake_fraction < 1.0 && name != self.me;
        let up = brake_on && self.records.get(name).is_some_and(|r| r.member.status.is_up());
        let status = if up && self.brake_holds(now, name) {
            Status::Suspect // held back: the member is shown suspect, and listed as held
        } else {
            status
        };
        if matches!(status, Status::Alive | Status::Left) {
            self.brake.release(name);
        }
        let (half_life, damp) = (self.config.flap_half_life, self.config.flap_damping);
        let rule = self.doubt_rule().filter(|_| name != self.me);
        let climate = Climate::of(self.settling(now), self.up_others, &mut self.refuters);
        let Some((record, wake)) = self.records.get_mut_and_wake(name) else {
            return;
        };
        debug_assert!(
            incarnation >= record.member.incarnation,
            "an incarnation never goes down"
        );
        let previous = record.member.status;
        let previous_since = record.member.since;
        let shown = record.member.shown();
        if damp
            && damping::held_back(
                &mut record.cold.penalty,
                &mut record.cold.damped,
                now,
                half_life,
                previous,
                status,
            )
        {
            return; // a flapping member's return is held back (its old incarnation kept)
        }
        record.member.incarnation = incarnation;
        if previous == status {
            return;
        }
        record.member.status = status;
        record.member.since = now;
        if name != self.me && previous.is_up() != status.is_up() {
            if status.is_up() {
                self.up_others += 1;
            } else {
                self.up_others -= 1;
            }
        }
        *wake = Instant::ZERO;
        let was = Was {
            status: previous,
            since: previous_since,
        };
        let release = rule.and_then(|rule| doubt(rule, record, now, was, self.config.interval, climate));
        let quiet = record.member.shown() == shown;
        if !(previous.is_up() && status.is_up()) {
            self.roster.invalidate();
        }
        if status == Status::Alive && !previous.is_up() {
            // Back from the dead at a new incarnation: judge it afresh.
            let pace = pace(&self.config, &self.me, name, record.member.timing.as_ref());
            record.detector = judged.then(|| Detector::paced(&self.config, pace, now));
        }
        if status == Status::Alive && judged {
            let deadline = record.detector.as_ref().and_then(|d| d.next_change(now));
            self.pull_deadline(deadline);
        }
        self.pull_deadline(release);
        self.record_transition(now, name, Some(if quiet { previous } else { shown }), quiet);
    }

    fn pull_deadline(&mut self, at: Option<Instant>) {
        if let Some(at) = at {
            self.next_deadline = Some(self.next_deadline.map_or(at, |n| n.min(at)));
        }
    }

    /// Records one change: `from` the status shown before (the protocol's, when `quiet`),
    /// to the protocol's status now.
    fn record_transition(&mut self, now: Instant, name: &str, from: Option<Status>, quiet: bool) {
        let member = &self.records.get(name).expect("recorded").member;
        let silence = (member.status == Status::Dead)
            .then(|| member.last_heard.map(|t| now - t))
            .flatten();
        let transition = Transition {
            name: member.name.clone(),
            addr: member.addr,
            incarnation: member.incarnation,
            from,
            to: member.status,
            at: now,
            silence,
            quiet,
        };
        let history = &mut self.records.get_mut(name).expect("recorded").cold.history;
        if history.len() == HISTORY_LEN && !quiet {
            history.pop_front();
        }
        if !quiet {
            // Grown one entry at a time: most members change once or twice in their life
            // (joined, alive), and every node holds a history for every member.
            if history.len() == history.capacity() {
                history.reserve_exact(1);
            }
            history.push_back(transition.clone());
        }
        self.transitions.push_back(transition);
    }

    /// `name`'s last transitions, oldest first.
    pub fn history(&self, name: &str) -> Vec<Transition> {
        self.records
            .get(name)
            .map(|r| r.cold.history.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Why `name` is held in doubt here at `now`, if it is (`doubt.rs`).
    pub fn doubt_evidence(&self, name: &str, now: Instant) -> Option<crate::why::DoubtEvidence> {
        let record = self.records.get(name).filter(|r| r.member.doubted)?;
        let release = record.cold.doubt.release_at(self.config.interval);
        Some(crate::why::DoubtEvidence {
            shown: record.member.shown(),
            held_down: record.member.held_down && !record.cold.doubt.awaiting_answers(),
            awaiting_answers: record.cold.doubt.awaiting_answers(),
            answer_rate: record.cold.doubt.answer_rate(),
            release_in_ms: crate::why::millis(release.saturating_since(now)),
        })
    }

    /// Whether flap damping holds `name`'s return back.
    pub fn is_damped(&self, name: &str) -> bool {
        self.records.get(name).is_some_and(|r| r.cold.damped)
    }

    /// Whether the mass-failure brake holds `name`'s death verdict back.
    pub fn is_held(&self, name: &str) -> bool {
        self.brake.is_held(name)
    }

    /// This node's own word about `name` for the reachability matrix (`reach.rs`):
    /// whether its detector heard the member within its window (a judged member never
    /// heard yet is not heard). Without a detector, `window` (ping, which probes rather
    /// than counts heartbeats) is how recent a direct message must be; `None` there, or
    /// for itself or a member that left: no word.
    pub fn hears(&self, name: &str, now: Instant, window: Option<Duration>) -> Option<bool> {
        if name == self.me {
            return None;
        }
        self.hears_record(self.records.get(name)?, now, window)
    }

    /// [`Members::hears`] for every other member not left, in name order, in one walk
    /// over the table (no lookup by name): the words a reachability row is built from.
    pub fn words(&self, now: Instant, window: Option<Duration>) -> impl Iterator<Item = (&Member, Option<bool>)> {
        let me = self.me();
        self.records
            .values()
            .filter(move |r| !std::ptr::eq(&r.member, me) && r.member.status != Status::Left)
            .map(move |r| (&r.member, self.hears_record(r, now, window)))
    }

    /// [`Members::hears`] for a record other than the local node's.
    fn hears_record(&self, record: &Record, now: Instant, window: Option<Duration>) -> Option<bool> {
        let name = record.member.name.as_str();
        if record.member.status == Status::Left {
            return None;
        }
        if let Some(detector) = &record.detector {
            return Some(detector.verdict(now) != Verdict::Dead);
        }
        if self.judged.includes(name) {
            return Some(false);
        }
        let window = window?;
        Some(record.member.last_heard.is_some_and(|t| now - t <= window))
    }

    /// Quorum-confirmed verdicts ([`crate::quorum`]): what `name`'s detector says at
    /// `now` and when that next gets worse, without applying it.
    pub fn detector_verdict(&self, name: &str, now: Instant) -> Option<(Verdict, Option<Instant>)> {
        let detector = self.records.get(name)?.detector.as_ref()?;
        Some((detector.verdict(now), detector.next_change(now)))
    }

    /// Quorum-confirmed verdicts ([`crate::quorum`]): the quorum's word about another
    /// member at the incarnation held, in either direction; never over `Left`.
    pub fn set_by_quorum(&mut self, now: Instant, name: &str, status: Status) {
        let Some(record) = self.records.get(name) else { return };
        if name == self.me || record.member.status == Status::Left {
            return;
        }
        let incarnation = record.member.incarnation;
        self.set_status(now, name, incarnation, status);
    }
}

/// The status a member just left, and since when it held it.
#[derive(Clone, Copy)]
struct Was {
    status: Status,
    since: Instant,
}

/// What ping's doubt reads of the cluster when a member's status changes: whether it
/// settles ([`SETTLE_INTERVALS`]), how many other members are up, and which refuted
/// lately (`doubt::Refuters`, which a refutation joins).
struct Climate<'a> {
    settling: bool,
    up: usize,
    refuters: &'a mut Refuters,
}

impl<'a> Climate<'a> {
    fn of(settling: bool, up: usize, refuters: &'a mut Refuters) -> Climate<'a> {
        Climate { settling, up, refuters }
    }
}

/// Doubt (`doubt.rs`): the protocol just moved `record`'s member from `was` to its
/// status, in `climate`. Returns when a doubted member is to be looked at for release.
fn doubt(
    rule: DoubtRule,
    record: &mut Record,
    now: Instant,
    was: Was,
    interval: Duration,
    climate: Climate<'_>,
) -> Option<Instant> {
    match rule {
        DoubtRule::Refutations => {
            let refuted = was.status == Status::Suspect && record.member.status == Status::Alive;
            let storm = refuted && climate.refuters.refuted(now, &record.member.name, interval, climate.up);
            doubt_refutations(record, now, was.status, interval, climate.settling || storm)
        }
        DoubtRule::Answers => doubt_answers(record, now, was, interval),
    }
}

/// A record's next look is its detector's `next` change, but never later than the wake a
/// doubted member already has (its release, set by `Members::judge`).
fn rewake(wake: &mut Instant, doubted: bool, next: Instant) {
    *wake = if doubted { (*wake).min(next) } else { next };
}

/// Pull: a member this node polls and suspects stays suspect at the new incarnation
/// its refutation (or news of it) brings, until it answers two polls in a row here
/// (`Doubt::steady`): a sick node's word alone does not clear it.
fn still_suspect(judges_alone: bool, record: &Record, status: Status) -> Status {
    let polled = judges_alone && record.detector.is_some();
    match status == Status::Alive && record.member.status == Status::Suspect && polled && !record.cold.doubt.steady() {
        true => Status::Suspect,
        false => status,
    }
}

/// Ping: a refutation of a suspicion may put the member in doubt (not when `uncounted`:
/// the cluster settles or refutes in a storm); a suspicion restarts the hold; a death or
/// departure ends it.
fn doubt_refutations(
    record: &mut Record,
    now: Instant,
    previous: Status,
    interval: Duration,
    uncounted: bool,
) -> Option<Instant> {
    match record.member.status {
        Status::Suspect => record.cold.doubt.suspected(now),
        Status::Alive if previous == Status::Suspect => {
            if record.cold.doubt.refuted(now, interval, uncounted) {
                record.member.doubted = true;
            }
            if record.member.doubted {
                return Some(record.cold.doubt.release_at(interval));
            }
        }
        Status::Alive if !previous.is_up() => {
            record.member.doubted = false;
            record.cold.doubt.came_back(now);
        }
        _ => {
            record.member.doubted = false;
            record.cold.doubt.suspected(now); // a death or departure: no suspicion outlives it
        }
    }
    None
}

/// Pull: a flip (a change from a status held less than [`DOUBT_HALF_LIFE`] intervals)
/// while the member answers poorly puts it in doubt, a repeated death too (held down).
/// A member silent for long (cut off, then healed) is not flipping: it returns at once.
/// The hold counts from the doubt's start, a death or a return, not from suspicions: a
/// member that answers well again (`Doubt::answers_well`) is released however often it
/// is suspected. A departure ends the doubt.
fn doubt_answers(record: &mut Record, now: Instant, was: Was, interval: Duration) -> Option<Instant> {
    let (doubt, member) = (&mut record.cold.doubt, &mut record.member);
    let (previous, doubted) = (was.status, member.doubted);
    match member.status {
        Status::Left => {
            member.doubted = false;
            member.held_down = false;
            return None;
        }
        Status::Dead => {
            if doubt.take_unconfirmed() {
                (member.doubted, member.held_down) = (false, false);
            }
            member.doubted |= doubt.died(now, interval);
            member.held_down |= member.doubted;
        }
        _ if previous == Status::Dead => {
            doubt.troubled(now);
            // Held down already (a repeated death): that hold's release rules stand.
            if !member.doubted && doubt.returned() {
                (member.doubted, member.held_down) = (true, true);
            }
        }
        _ => {}
    }
    let flip = now - was.since < interval * DOUBT_HALF_LIFE;
    member.doubted |= flip && doubt.answers_poorly();
    if member.doubted && !doubted {
        doubt.troubled(now);
    }
    member.doubted.then(|| doubt.release_at(interval))
}

impl Judged {
    fn includes(&self, name: &str) -> bool {
        match self {
            Judged::All => true,
            Judged::Only(names) => names.contains(name),
        }
    }
}

/// The reading of `record`'s detector at `now` and its effective timeout, if it has one.
fn reading(record: &Record, now: Instant) -> Option<(f64, Duration)> {
    let detector = record.detector.as_ref()?;
    Some((detector.level(now), detector.dead_after()))
}

fn entry_of(member: &Member) -> MemberEntry {
    MemberEntry {
        name: member.name.clone(),
        addr: member.addr,
        incarnation: member.incarnation,
        status: member.status,
        health: member.health.clone(),
        timing: member.timing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Preset, StrategyKind};

    fn at(millis: u64) -> Instant {
        Instant::from_micros(millis * 1000)
    }

    fn peer(name: &str, incarnation: Incarnation) -> Peer {
        Peer {
            name: name.into(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            incarnation,
        }
    }

    fn table() -> Members {
        let config = Config::preset(Preset::LanFast, StrategyKind::Push);
        let mut members = Members::new(&peer("me", 0), &config, Judged::All, at(0), 1);
        members.pop_transition();
        members
    }

    fn entry(name: &str, incarnation: Incarnation, status: Status) -> MemberEntry {
        MemberEntry {
            timing: None,
            name: name.into(),
            addr: "127.0.0.1:7946".parse().unwrap(),
            incarnation,
            status,
            health: None,
        }
    }

    fn drain(members: &mut Members) -> Vec<(String, Option<Status>, Status)> {
        std::iter::from_fn(|| members.pop_transition())
            .map(|t| (t.name, t.from, t.to))
            .collect()
    }

    #[test]
    fn a_new_sender_joins_alive_with_one_transition() {
        let mut m = table();
        assert_eq!(m.observe(at(1), &peer("a", 0)), Observed::Current);
        assert_eq!(m.observe(at(2), &peer("a", 0)), Observed::Current);
        assert_eq!(drain(&mut m), vec![("a".into(), None, Status::Alive)]);
    }

    #[test]
    fn a_history_holds_no_room_beyond_its_transitions() {
        let mut m = table();
        m.observe(at(0), &peer("a", 0));
        let capacity = |m: &Members| m.records.get("a").unwrap().cold.history.capacity();
        assert_eq!((m.history("a").len(), capacity(&m)), (1, 1));
        for t in 1..=10 {
            m.apply(at(t), &entry("a", t, Status::Alive));
            m.apply(at(t), &entry("a", t, Status::Suspect));
        }
        assert_eq!(m.history("a").len(), HISTORY_LEN);
        assert_eq!(capacity(&m), HISTORY_LEN);
    }

    #[test]
    fn silence_makes_a_member_suspect_then_dead_one_transition_each() {
        let mut m = table();
        m.observe(at(0), &peer("a", 0));
        drain(&mut m);
        m.judge(at(300));
        m.judge(at(400));
        m.judge(at(600));
        m.judge(at(700));
        assert_eq!(
            drain(&mut m),
            vec![
                ("a".into(), Some(Status::Alive), Status::Suspect),
                ("a".into(), Some(Status::Suspect), Status::Dead)
            ]
        );
    }

    fn pull_table() -> Members {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Pull);
        config.strategy = StrategyConfig::Pull {
            monitors: vec!["me".into()],
        };
        let mut m = Members::new(&peer("me", 0), &config, Judged::All, at(0), 1);
        m.observe(at(0), &peer("a", 0));
        drain(&mut m);
        m
    }

    #[test]
    fn pull_a_judge_takes_no_other_verdict_of_a_member_at_the_incarnation_it_holds() {
        let mut m = pull_table();
        m.apply(at(10), &entry("a", 0, Status::Dead));
        assert_eq!(m.get("a").unwrap().status, Status::Alive, "its own detector decides");
        m.apply(at(20), &entry("a", 1, Status::Alive));
        assert_eq!(m.get("a").unwrap().incarnation, 1, "a refutation is still taken");
        let mut push = table();
        push.observe(at(0), &peer("a", 0));
        push.apply(at(10), &entry("a", 0, Status::Dead));
        assert_eq!(push.get("a").unwrap().status, Status::Dead, "push takes it");
    }

    #[test]
    fn pull_tells_others_its_verdicts_not_its_suspicions() {
        let mut m = pull_table();
        m.judge(at(600));
        assert_eq!(m.get("a").unwrap().status, Status::Suspect);
        assert_eq!(m.entry("a").unwrap().status, Status::Alive);
        assert!(m.entries().iter().all(|e| e.status == Status::Alive));
        m.judge(at(2_000));
        assert_eq!(m.entry("a").unwrap().status, Status::Dead);
    }

    #[test]
    fn pull_a_suspect_is_cleared_only_by_an_answer_that_follows_another() {
        let mut m = pull_table();
        m.probe_sent(at(0), "a", 1);
        m.probe_sent(at(200), "a", 2); // the first poll went unanswered
        m.judge(at(400));
        assert_eq!(m.get("a").unwrap().status, Status::Alive, "one missed poll");
        m.probe_sent(at(400), "a", 3); // nor the second
        m.judge(at(600));
        assert_eq!(m.get("a").unwrap().status, Status::Suspect, "two missed polls");
        assert_eq!(m.observe(at(601), &peer("a", 0)), Observed::Current);
        m.probe_answered(at(601), "a", 3);
        assert_eq!(m.get("a").unwrap().status, Status::Suspect, "one answer after a miss");
        m.probe_sent(at(800), "a", 4);
        m.observe(at(801), &peer("a", 0));
        assert_eq!(
            m.get("a").unwrap().status,
            Status::Suspect,
            "another message is no answer"
        );
        m.probe_answered(at(802), "a", 4);
        assert_eq!(m.get("a").unwrap().status, Status::Alive, "a second answer in a row");
    }

    #[test]
    fn a_flapping_member_is_held_down_until_its_penalty_decays() {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Push);
        config.flap_damping = true;
        let mut m = Members::new(&peer("me", 0), &config, Judged::All, at(0), 1);
        let mut t = 0;
        for incarnation in 0..4 {
            m.observe(at(t), &peer("a", incarnation));
            t += 1_000;
            m.judge(at(t));
            assert_eq!(m.get("a").unwrap().status, Status::Dead);
        }
        // Four deaths a second apart put the penalty above 3: the next return is held back.
        m.observe(at(t), &peer("a", 4));
        assert_eq!(m.get("a").unwrap().status, Status::Dead);
        assert!(m.is_damped("a"));
        // One half-life (12 s at lan-fast) later the penalty is still above 1.5 (held);
        // after two it is below that reuse level and the member comes back.
        m.observe(at(t) + config.flap_half_life, &peer("a", 4));
        assert_eq!(m.get("a").unwrap().status, Status::Dead);
        m.observe(at(t) + config.flap_half_life * 2, &peer("a", 4));
        assert_eq!(m.get("a").unwrap().status, Status::Alive);
        assert!(!m.is_damped("a"));
    }

    #[test]
    fn the_mass_failure_brake_holds_back_death_verdicts_beyond_its_fraction() {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Push);
        config.brake_fraction = 0.5;
        let mut m = Members::new(&peer("me", 0), &config, Judged::All, at(0), 1);
        for name in ["a", "b", "c", "d", "e", "f", "g"] {
            m.observe(at(0), &peer(name, 0));
        }
        // 8 members: at most 4 may be declared dead within the window.
        m.judge(at(620));
        let dead = m.count(Status::Dead);
        assert_eq!(dead, 4);
        assert_eq!(m.held_by_brake().count(), 3);
        assert!(
            m.others()
                .filter(|o| o.status != Status::Dead)
                .all(|o| o.status == Status::Suspect)
        );
        // Once the window has passed, the held verdicts go through.
        m.judge(at(620) + config.brake_window);
        assert_eq!(m.count(Status::Dead), 7);
        assert_eq!(m.held_by_brake().count(), 0);
    }

    #[test]
    fn a_member_learned_second_hand_gets_one_more_interval_before_suspicion() {
        let mut m = table();
        m.apply(at(0), &entry("a", 0, Status::Alive));
        // Push: suspect half an interval after the second miss (520 ms), from 200 ms.
        m.judge(at(719));
        assert_eq!(m.get("a").unwrap().status, Status::Alive);
        m.judge(at(720));
        assert_eq!(m.get("a").unwrap().status, Status::Suspect);
    }

    #[test]
    fn reaped_tombstones_cannot_be_resurrected_by_stale_news() {
        let mut m = table();
        m.observe(at(0), &peer("a", 3));
        m.judge(at(620));
        assert_eq!(m.reap(at(700), Duration::from_secs(1)), 0, "too young to reap");
        assert_eq!(m.reap(at(1_620), Duration::from_secs(1)), 1);
        assert!(m.get("a").is_none());
        assert!(!m.apply(at(1_700), &entry("a", 3, Status::Alive)));
        assert!(m.get("a").is_none(), "stale alive news brought a reaped member back");
        assert!(
            m.apply(at(1_800), &entry("a", 4, Status::Alive)),
            "its own higher incarnation does"
        );
    }

    /// A ping table (`lan-fast`: 200 ms intervals) that knows `names` and the accusers `x`
    /// and `y`, alive, all added in its first few milliseconds (settled 2 s later).
    fn ping_table(names: &[&str]) -> Members {
        let config = Config::preset(Preset::LanFast, StrategyKind::Ping);
        let mut m = Members::new(&peer("me", 0), &config, Judged::All, at(0), 1);
        for (i, name) in names.iter().chain(["x", "y"].iter()).enumerate() {
            m.apply(at(i as u64), &entry(name, 0, Status::Alive));
        }
        m
    }

    /// `name`, alive at `incarnation`, suspected by `accuser` at `t` ms and refuted 50 ms
    /// later; whether it is then shown suspect (doubted).
    fn suspect_and_refute(m: &mut Members, t: u64, name: &str, incarnation: Incarnation, accuser: &str) -> bool {
        m.apply(at(t), &entry(name, incarnation, Status::Suspect));
        m.accused(at(t), name, incarnation, accuser);
        m.apply(at(t + 50), &entry(name, incarnation + 1, Status::Alive));
        m.get(name).unwrap().doubted
    }

    #[test]
    fn a_member_refuting_twice_in_a_storm_of_refutations_is_not_doubted() {
        // Calm: a second refutation within a half-life (2 s), other accuser: doubted.
        let mut calm = ping_table(&["a"]);
        assert!(!suspect_and_refute(&mut calm, 10_000, "a", 0, "x"));
        assert!(
            suspect_and_refute(&mut calm, 10_500, "a", 1, "y"),
            "a sick member is doubted"
        );
        // Three other members refuted within the half-life: a storm, no doubt.
        let mut storm = ping_table(&["a", "b", "c", "d"]);
        for (i, name) in ["b", "c", "d"].into_iter().enumerate() {
            assert!(!suspect_and_refute(&mut storm, 9_000 + 100 * i as u64, name, 0, "x"));
        }
        assert!(!suspect_and_refute(&mut storm, 10_000, "a", 0, "x"));
        assert!(
            !suspect_and_refute(&mut storm, 10_500, "a", 1, "y"),
            "doubted in a storm"
        );
        // Once the storm is a half-life old, the same member refuting twice is doubted.
        assert!(!suspect_and_refute(&mut storm, 13_000, "a", 2, "x"));
        assert!(
            suspect_and_refute(&mut storm, 13_500, "a", 3, "y"),
            "not doubted once calm"
        );
    }

    #[test]
    fn in_swim_only_a_refutation_clears_a_suspicion() {
        let mut m = table();
        m.set_direct_clears_suspicion(false);
        m.observe(at(0), &peer("a", 0));
        m.apply(at(1), &entry("a", 0, Status::Suspect));
        assert_eq!(m.observe(at(2), &peer("a", 0)), Observed::Suspected);
        assert_eq!(m.get("a").unwrap().status, Status::Suspect);
        assert_eq!(m.observe(at(3), &peer("a", 1)), Observed::Current);
        assert_eq!(m.get("a").unwrap().status, Status::Alive);
    }

    #[test]
    fn a_dead_member_is_not_revived_by_its_old_incarnation() {
        let mut m = table();
        m.observe(at(0), &peer("a", 3));
        m.judge(at(620));
        assert_eq!(m.get("a").unwrap().status, Status::Dead);
        assert_eq!(m.observe(at(700), &peer("a", 3)), Observed::Stale);
        assert_eq!(m.observe(at(700), &peer("a", 2)), Observed::Stale);
        assert_eq!(m.get("a").unwrap().status, Status::Dead);
    }

    #[test]
    fn a_higher_incarnation_brings_a_dead_member_back_and_rearms_its_detector() {
        let mut m = table();
        m.observe(at(0), &peer("a", 3));
        m.judge(at(620));
        drain(&mut m);
        assert_eq!(m.observe(at(5_000), &peer("a", 4)), Observed::Current);
        m.judge(at(5_100));
        assert_eq!(m.get("a").unwrap().status, Status::Alive);
        assert_eq!(drain(&mut m), vec![("a".into(), Some(Status::Dead), Status::Alive)]);
        assert_eq!(m.next_deadline(), Some(at(5_520)));
    }

    #[test]
    fn second_hand_news_follows_the_precedence_rule() {
        let mut m = table();
        m.apply(at(0), &entry("a", 2, Status::Alive));
        m.apply(at(1), &entry("a", 2, Status::Dead));
        m.apply(at(2), &entry("a", 2, Status::Alive));
        m.apply(at(3), &entry("a", 1, Status::Alive));
        assert_eq!(m.get("a").unwrap().status, Status::Dead);
        m.apply(at(4), &entry("a", 3, Status::Alive));
        assert_eq!(m.get("a").unwrap().status, Status::Alive);
        assert_eq!(drain(&mut m).len(), 3);
    }

    #[test]
    fn refuting_raises_the_incarnation_above_the_accusation() {
        let mut m = table();
        assert_eq!(m.refute(at(0), 0, Status::Alive), None);
        assert_eq!(m.refute(at(0), 5, Status::Dead), Some(6));
        assert_eq!(m.me().incarnation, 6);
        assert_eq!(m.me().status, Status::Alive);
        assert_eq!(
            m.refute(at(0), u64::MAX, Status::Dead),
            None,
            "an incarnation that cannot be raised is not refuted"
        );
    }

    #[test]
    fn a_leave_at_the_current_incarnation_marks_the_member_left() {
        let mut m = table();
        m.observe(at(0), &peer("a", 1));
        m.leave(at(1), &peer("a", 0));
        assert_eq!(m.get("a").unwrap().status, Status::Alive);
        m.leave(at(1), &peer("a", 1));
        assert_eq!(m.get("a").unwrap().status, Status::Left);
    }

    #[test]
    fn only_judged_members_get_detectors() {
        let config = Config::preset(Preset::LanFast, StrategyKind::Push);
        let judged = Judged::Only(["monitor".to_string()].into());
        let mut m = Members::new(&peer("me", 0), &config, judged, at(0), 1);
        m.observe(at(0), &peer("monitor", 0));
        m.observe(at(0), &peer("other", 0));
        m.judge(at(10_000));
        assert_eq!(m.get("monitor").unwrap().status, Status::Dead);
        assert_eq!(m.get("other").unwrap().status, Status::Alive);
    }

    #[test]
    fn the_leaders_view_withdraws_a_verdict_reached_alone_but_not_a_leave() {
        let config = Config::preset(Preset::LanFast, StrategyKind::Leader);
        let mut m = Members::new(&peer("me", 0), &config, Judged::Only(BTreeSet::new()), at(0), 1);
        m.apply(at(0), &entry("a", 2, Status::Dead));
        m.apply(at(0), &entry("b", 0, Status::Left));
        assert!(!m.adopt(at(1), &entry("a", 2, Status::Alive)));
        assert_eq!(m.get("a").unwrap().status, Status::Alive);
        m.adopt(at(2), &entry("a", 1, Status::Dead));
        assert_eq!(
            m.get("a").unwrap().status,
            Status::Alive,
            "an older incarnation never wins"
        );
        m.adopt(at(3), &entry("b", 0, Status::Alive));
        assert_eq!(m.get("b").unwrap().status, Status::Left);
        assert!(m.adopt(at(4), &entry("c", 0, Status::Alive)), "a new member");
    }

    #[test]
    fn a_new_judge_gives_every_member_one_interval_to_report_before_doubting() {
        let config = Config::preset(Preset::LanFast, StrategyKind::Leader);
        let mut m = Members::new(&peer("me", 0), &config, Judged::Only(BTreeSet::new()), at(0), 1);
        m.observe(at(0), &peer("a", 0));
        m.judge(at(10_000));
        assert_eq!(m.get("a").unwrap().status, Status::Alive, "not judged yet");
        m.set_judged(at(10_000), Judged::All);
        m.judge(at(10_399));
        assert_eq!(m.get("a").unwrap().status, Status::Alive);
        m.judge(at(10_820));
        assert_eq!(m.get("a").unwrap().status, Status::Dead);
        m.set_judged(at(10_820), Judged::Only(BTreeSet::new()));
        assert!(m.detector_reading("a", at(10_820)).is_none());
    }

    #[test]
    fn round_trips_are_measured_against_the_latest_probe_only() {
        let mut m = table();
        m.observe(at(0), &peer("a", 0));
        m.probe_sent(at(10), "a", 1);
        m.probe_sent(at(20), "a", 2);
        assert_eq!(m.probe_answered(at(25), "a", 1), None);
        assert_eq!(m.probe_answered(at(27), "a", 2), Some(Duration::from_millis(7)));
        assert_eq!(m.get("a").unwrap().rtt, Some(Duration::from_millis(7)));
    }
}

#[cfg(test)]
mod layout {
    use std::mem::{offset_of, size_of};

    use super::*;

    /// The record layout the hot path counts on (see [`Record`]).
    #[test]
    fn a_heartbeat_touches_two_cache_lines_of_its_member_s_record() {
        assert_eq!(std::mem::align_of::<Record>(), 64);
        // The cold parts stay out of line: a bucket of the table is 384 bytes.
        assert!(size_of::<Record>() <= 320, "{}", size_of::<Record>());
        assert!(size_of::<Option<Detector>>() <= 64, "{}", size_of::<Option<Detector>>());
        assert_eq!(offset_of!(Record, member), 64);
        for end in [
            offset_of!(Member, incarnation) + 8,
            offset_of!(Member, last_heard) + size_of::<Option<Instant>>(),
            offset_of!(Member, addr) + size_of::<SocketAddr>(),
            offset_of!(Member, status) + 1,
        ] {
            assert!(end <= 64, "a hot field of Member ends at byte {end}");
        }
    }
}
