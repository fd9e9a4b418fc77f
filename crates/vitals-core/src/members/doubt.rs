//! Doubt: hysteresis for a member that keeps coming back from trouble (issue 13, item 5).
//!
//! A node that loses most of what is sent to it (80 % inbound loss) answers only some
//! probes: it is suspected, it refutes (or answers), and is suspected again a moment
//! later. Each round trip flips its status twice at every observer. The protocol is
//! right to go on suspecting and clearing it (that is how a real death would still be
//! found); what users and routing see must not flap. So a member that keeps coming back
//! is *doubted*: the observer shows it `suspect` while the protocol goes on underneath
//! at its true status, and shows it as it is again only after [`DOUBT_HOLD`] intervals
//! without trouble. Nothing of it travels: entries on the wire carry the protocol's
//! status, so the doubt never loops back as news the member would have to refute.
//!
//! What puts a member in doubt depends on how the strategy judges ([`DoubtRule`]):
//! - **Ping** ([`DoubtRule::Refutations`]): a second refutation within about
//!   [`DOUBT_HALF_LIFE`] intervals. A refutation counts only if the suspicion it ends was
//!   raised by another accuser than the last one counted: a healthy member that one sick
//!   node keeps accusing (and every other observer hears) is never doubted, while a sick
//!   member is suspected by one observer after another. Nor do refutations count while
//!   many members refute at once ([`Refuters`]: a storm, such as a cluster forming on a
//!   busy machine, is not a sick member). Nor do suspicions from a
//!   partition that heals count: an accuser back from the dead here less than a
//!   half-life ago speaks from a stale view (`Members::accused`), and a
//!   suspicion that outlived its timeout without the accusers a death needs (a
//!   minority's, under a quorum) is a cut-off member's, not a sick one's
//!   ([`Doubt::outlived`]). While doubted, a member's
//!   suspicion runs Lifeguard's longest timeout (`Ping::timeout`): the sick node is not
//!   removed, and a doubted member that really crashed is still declared dead within
//!   ping's detection bound. A healthy member at 10 % loss refutes about once per 650
//!   intervals.
//! - **Pull** ([`DoubtRule::Answers`]): counting clearings cannot tell a sick member from
//!   a healthy one at 10 % loss (both clear a suspicion about once a second: one misses a
//!   fifth of the polls, the other answers a fifth), but the share of polls answered
//!   can. A monitor keeps each member's answer rate (an average over about 16 polls) and
//!   doubts a member whose rate is below [`ANSWERS_DOUBTED`] at its next flip (a change
//!   from a status held less than [`DOUBT_HALF_LIFE`] intervals); it is released only
//!   once the rate is back above [`ANSWERS_CLEAR`], the hold counted from the doubt's
//!   start (suspicions do not restart it). A suspicion of a member this node polls is
//!   cleared only by two answered polls in a row ([`Doubt::steady`]), not by the
//!   member's own word (a refutation at a new incarnation leaves it suspect), and a
//!   member that comes back from the dead before answering two polls in a row is shown
//!   dead until it does ([`Doubt::returned`]): a restarted or healed member answers
//!   within two intervals, a sick node's refutation is its word alone. And at
//!   every observer, a member declared dead again within about [`DEATH_HALF_LIFE`]
//!   intervals is doubted and *held down*: shown dead, even when it refutes its death,
//!   until it has stayed up for the hold. A sick node that refutes its
//!   death every few seconds and is declared dead again is one dead member to users, not
//!   a flapping one; a member that dies once (a crash, a partition that heals) returns
//!   at once.
//!
//! Owns only the rules and the per-member record (penalties decaying by half every
//! half-life, like flap damping's, the answer rate and the last two polls' fate); the status shown is changed,
//! or not, by `Members::set_status` and `Members::judge` alone.

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Instant;

/// A refutation that brings the penalty to this (a second one within a half-life) puts
/// the member in doubt.
pub const DOUBT_AT: f64 = 1.5;

/// The penalty halves every this many intervals (2 s at `lan-fast`). A healthy member
/// at 10 % loss refutes about once per 650 intervals, so two within one half-life are
/// rare; a member at 80 % inbound loss refutes several times per interval.
pub const DOUBT_HALF_LIFE: u32 = 10;
/// A doubted member is shown alive again after this many intervals without a suspicion
/// or refutation (12 s at `lan-fast`).
pub const DOUBT_HOLD: u32 = 60;
/// The penalty never exceeds this: a member that recovers is forgiven within a few
/// half-lives after its hold ends.
const DOUBT_CAP: f64 = 8.0;

/// Pull: the weight of one poll in a member's answer rate (an average over about 16
/// polls). At 10 % loss a healthy member answers 81 % of polls, and the average drifts
/// below [`ANSWERS_DOUBTED`] about once in 3 million polls; a member that answers a
/// fifth of them falls below it within about 22 (a model of the average over random
/// losses; the simulator's tests check both ends).
const ANSWER_WEIGHT: f64 = 1.0 / 16.0;
/// Pull: a member that answers fewer than this share of the polls is doubted ...
pub const ANSWERS_DOUBTED: f64 = 0.4;
/// ... and released only once it answers at least this share again.
pub const ANSWERS_CLEAR: f64 = 0.75;
/// Pull: the death penalty halves every this many intervals (1 minute at `lan-fast`):
/// a second death within about that long puts the member in doubt, held down.
pub const DEATH_HALF_LIFE: u32 = 300;

/// Ping: a refutation does not count toward doubt while at least this many other members
/// (or [`STORM_SHARE`] of those up, if more) refuted a suspicion here within
/// [`DOUBT_HALF_LIFE`] intervals: a storm ([`Refuters`]).
const STORM_REFUTERS: usize = 3;
/// See [`STORM_REFUTERS`]: 5 % of the members up. A healthy cluster at 10 % loss has
/// about one member refuting per 650 intervals each, so at N = 500 about 8 refute within
/// a half-life, under the 25 this asks for; 500 agents forming on two cores had about 100.
const STORM_SHARE: f64 = 0.05;
/// Refutations remembered for [`Refuters`]; older ones are dropped first.
const REFUTERS_KEPT: usize = 256;

/// Ping: the members that refuted a suspicion here lately, to tell a storm from a sick
/// member. A sick member is suspected and refutes again and again while the others stay
/// clear; in a storm many members are suspected and refute at once (a cluster forming
/// on a busy machine: 500 agents on two cores, where refutations were counted toward
/// doubt once the cluster no longer settled, held four healthy members in doubt at 19
/// observers for a minute). A refutation during a storm does not count toward doubt, as
/// while the cluster settles.
#[derive(Clone, Debug, Default)]
pub(super) struct Refuters {
    recent: VecDeque<(Instant, String)>,
}

impl Refuters {
    /// `name` refuted a suspicion at `now`: whether a storm was on, enough members other
    /// than `name` having refuted within a half-life before, with `up` members up. Then it
    /// is remembered.
    pub(super) fn refuted(&mut self, now: Instant, name: &str, interval: Duration, up: usize) -> bool {
        let window = interval * DOUBT_HALF_LIFE;
        while self.recent.front().is_some_and(|(at, _)| now - *at > window) {
            self.recent.pop_front();
        }
        let needed = STORM_REFUTERS.max((up as f64 * STORM_SHARE).ceil() as usize);
        let mut others: Vec<&str> = self
            .recent
            .iter()
            .map(|(_, n)| n.as_str())
            .filter(|n| *n != name)
            .collect();
        others.sort_unstable();
        others.dedup();
        let storm = others.len() >= needed;
        if self.recent.len() == REFUTERS_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back((now, name.to_owned()));
        storm
    }
}

/// What puts a member in doubt, by how the strategy judges (see the module's doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DoubtRule {
    /// Ping: repeated refutations of suspicions by different accusers.
    Refutations,
    /// Pull: a poor answer rate at a monitor, or a repeated death at any observer.
    Answers,
}

/// One member's record of refutations, as one observer saw them.
#[derive(Clone, Debug)]
pub(super) struct Doubt {
    penalty: f64,
    /// When the penalty was last updated.
    at: Instant,
    /// The last suspicion or refutation: the hold counts from here.
    trouble: Instant,
    /// An accuser of the current suspicion, when one is known.
    accuser: Option<String>,
    /// The accuser of the last suspicion whose refutation counted.
    counted: Option<String>,
    /// Pull: the share of polls the member answered (an average over about 16).
    answers: f64,
    /// Pull: whether the last poll whose fate is known was answered.
    answered_last: bool,
    /// Pull: whether this node polls the member (a monitor), so that its answers alone
    /// clear a suspicion of it.
    polled_here: bool,
    /// Pull: whether the member answered its last two polls (no miss since).
    two_in_a_row: bool,
    /// Pull: one per death, halving every [`DEATH_HALF_LIFE`] intervals, and when it was
    /// last updated.
    deaths: (f64, Instant),
    /// Pull, at a monitor: the member came back from the dead before answering two polls
    /// in a row here, so it is held down until it does ([`Doubt::confirmed`]).
    unconfirmed: bool,
    /// Ping: the current suspicion outlived its timeout (a minority's, under a quorum),
    /// so its refutation does not count ([`Doubt::outlived`]).
    outlived: bool,
    /// Ping: when the member last came back from the dead here (a partition healed);
    /// `None` if never.
    back: Option<Instant>,
}

impl Doubt {
    pub(super) fn new(now: Instant) -> Doubt {
        Doubt {
            penalty: 0.0,
            at: now,
            trouble: now,
            accuser: None,
            counted: None,
            answers: 1.0,
            answered_last: true,
            polled_here: false,
            two_in_a_row: true,
            deaths: (0.0, now),
            unconfirmed: false,
            outlived: false,
            back: None,
        }
    }

    /// Pull: a poll to the member was answered (`hit`) or went unanswered.
    pub(super) fn polled(&mut self, hit: bool) {
        self.answered_last = hit;
        self.polled_here = true;
        self.two_in_a_row &= hit;
        let sample = if hit { 1.0 } else { 0.0 };
        self.answers += ANSWER_WEIGHT * (sample - self.answers);
    }

    /// Pull: the latest poll was answered (its fate is counted at the next poll).
    pub(super) fn answered(&mut self) {
        self.two_in_a_row = self.answered_last;
    }

    /// Pull: whether an answer may clear a suspicion of the member: it answered its last
    /// two polls, or this node does not poll it.
    pub(super) fn steady(&self) -> bool {
        !self.polled_here || self.two_in_a_row
    }

    /// Pull: whether the member answers too few polls (to be doubted at its next change).
    pub(super) fn answers_poorly(&self) -> bool {
        self.answers < ANSWERS_DOUBTED
    }

    /// Pull: the member's answer rate, if this node polls it.
    pub(super) fn answer_rate(&self) -> Option<f64> {
        self.polled_here.then_some(self.answers)
    }

    /// Pull: whether a doubted member answers enough polls to be released.
    pub(super) fn answers_well(&self) -> bool {
        self.answers >= ANSWERS_CLEAR
    }

    /// Pull: the member was declared dead at `now`: whether it died again within about
    /// [`DEATH_HALF_LIFE`] intervals (to be doubted, held down).
    pub(super) fn died(&mut self, now: Instant, interval: Duration) -> bool {
        self.trouble = now;
        let half_life = (interval * DEATH_HALF_LIFE).as_secs_f64().max(1e-9);
        let (penalty, at) = self.deaths;
        let penalty = (penalty * 0.5f64.powf((now - at).as_secs_f64() / half_life) + 1.0).min(DOUBT_CAP);
        self.deaths = (penalty, now);
        penalty >= DOUBT_AT
    }

    /// Pull: the member came back from the dead (it refuted its death, or restarted):
    /// whether a monitor is to hold it down until it answers two polls in a row, because
    /// its last polls here went unanswered. A sick node's refutation is its word alone;
    /// a restarted or healed member answers the next two polls and is shown alive then.
    pub(super) fn returned(&mut self) -> bool {
        self.unconfirmed = !self.steady();
        self.unconfirmed
    }

    /// Pull: the member died again while held down for an unconfirmed return: whether it
    /// was (that hold ends, and the death's own rule decides).
    pub(super) fn take_unconfirmed(&mut self) -> bool {
        std::mem::take(&mut self.unconfirmed)
    }

    /// Pull: whether the member is held down for an unconfirmed return.
    pub(super) fn awaiting_answers(&self) -> bool {
        self.unconfirmed
    }

    /// Pull: whether a member held down for an unconfirmed return has since answered two
    /// polls in a row (to be released at once).
    pub(super) fn confirmed(&self) -> bool {
        self.unconfirmed && self.two_in_a_row
    }

    /// Ping: the current suspicion outlived its timeout without the accusers a death
    /// needs (a minority under a quorum, cut off by a partition): its refutation, when
    /// the partition heals, is not a sick member's, and does not count toward doubt.
    pub(super) fn outlived(&mut self) {
        self.outlived = true;
    }

    /// Ping: a new suspicion of the member began at `now` (or, at a death, none is
    /// left): the hold restarts, and nothing is yet known of how long it will last.
    pub(super) fn suspected(&mut self, now: Instant) {
        self.trouble = now;
        self.outlived = false;
    }

    /// Ping: the member came back from the dead at `now`.
    pub(super) fn came_back(&mut self, now: Instant) {
        self.back = Some(now);
    }

    /// Ping: whether the member came back from the dead less than `window` before `now`
    /// (its accusations then come from a stale view).
    pub(super) fn back_within(&self, now: Instant, window: Duration) -> bool {
        self.back.is_some_and(|at| now - at < window)
    }

    /// `accuser` suspects the member (the first one known of a suspicion is kept).
    pub(super) fn accused(&mut self, accuser: &str) {
        if self.accuser.is_none() {
            self.accuser = Some(accuser.to_string());
        }
    }

    /// The member refuted a suspicion at `now`: whether it is to be doubted (the
    /// penalty reached [`DOUBT_AT`]). Counted only if the suspicion had a known accuser
    /// other than the last counted one's, and not when `uncounted` (the cluster settles,
    /// `members::SETTLE_INTERVALS`, or refutes in a storm, [`Refuters`]).
    pub(super) fn refuted(&mut self, now: Instant, interval: Duration, uncounted: bool) -> bool {
        self.trouble = now;
        let accuser = self.accuser.take();
        if std::mem::take(&mut self.outlived) || uncounted || accuser.is_none() || accuser == self.counted {
            return false;
        }
        self.counted = accuser;
        let half_life = (interval * DOUBT_HALF_LIFE).as_secs_f64().max(1e-9);
        let halvings = (now - self.at).as_secs_f64() / half_life;
        self.penalty = (self.penalty * 0.5f64.powf(halvings) + 1.0).min(DOUBT_CAP);
        self.at = now;
        self.penalty >= DOUBT_AT
    }

    /// The member was suspected (ping), or doubted, or returned from the dead (pull) at
    /// `now`: the hold restarts.
    pub(super) fn troubled(&mut self, now: Instant) {
        self.trouble = now;
    }

    /// When a doubted member that stays clear of suspicion is shown alive again.
    pub(super) fn release_at(&self, interval: Duration) -> Instant {
        self.trouble + interval * DOUBT_HOLD
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn refutations_while_the_cluster_settles_never_put_a_member_in_doubt() {
        let interval = Duration::from_millis(200);
        let mut doubt = Doubt::new(at(0));
        for (t, accuser) in [(100, "a"), (300, "b"), (500, "c")] {
            doubt.accused(accuser);
            assert!(!doubt.refuted(at(t), interval, true), "{accuser} at {t} ms");
        }
        // Settled: counted from here, a second refutation within a half-life doubts.
        doubt.accused("d");
        assert!(!doubt.refuted(at(700), interval, false));
        doubt.accused("e");
        assert!(doubt.refuted(at(900), interval, false));
    }

    #[test]
    fn a_second_refutation_within_a_half_life_puts_a_member_in_doubt_but_not_one_later() {
        let interval = Duration::from_millis(200);
        let mut doubt = Doubt::new(at(0));
        doubt.accused("a");
        assert!(!doubt.refuted(at(1_000), interval, false));
        doubt.accused("b");
        assert!(
            doubt.refuted(at(2_500), interval, false),
            "1.5 s later: within the 2 s half-life"
        );
        let mut calm = Doubt::new(at(0));
        for t in 1..=20 {
            calm.accused(["a", "b"][t as usize % 2]);
            assert!(
                !calm.refuted(at(t * 4_000), interval, false),
                "every 4 s: two half-lives apart"
            );
        }
    }

    #[test]
    fn one_accuser_alone_never_puts_a_member_in_doubt_however_often() {
        let interval = Duration::from_millis(200);
        let mut doubt = Doubt::new(at(0));
        for t in 1..=20 {
            doubt.accused("sick");
            assert!(!doubt.refuted(at(t * 100), interval, false));
            assert!(!doubt.refuted(at(t * 100 + 50), interval, false), "no accuser known");
        }
    }

    #[test]
    fn a_member_answering_a_fifth_of_the_polls_answers_poorly_within_30_and_is_released_after_14_in_a_row() {
        let mut doubt = Doubt::new(at(0));
        let mut polls = 0;
        while !doubt.answers_poorly() {
            doubt.polled(polls % 5 == 0);
            polls += 1;
        }
        assert!(polls <= 30, "{polls} polls");
        for _ in 0..10 {
            doubt.polled(true);
        }
        assert!(
            !doubt.answers_poorly() && !doubt.answers_well(),
            "between the two: still doubted"
        );
        let mut more = 0;
        while !doubt.answers_well() {
            doubt.polled(true);
            more += 1;
        }
        assert!(10 + more <= 14, "{} answers in a row", 10 + more);
    }

    #[test]
    fn one_death_is_forgiven_a_second_within_a_minute_is_not() {
        let interval = Duration::from_millis(200);
        let mut doubt = Doubt::new(at(0));
        assert!(!doubt.died(at(1_000), interval));
        assert!(doubt.died(at(50_000), interval), "49 s later");
        let mut rare = Doubt::new(at(0));
        assert!(!rare.died(at(1_000), interval));
        assert!(!rare.died(at(121_000), interval), "two minutes later");
    }

    #[test]
    fn a_suspicion_that_outlived_its_timeout_does_not_count_and_a_new_one_clears_the_mark() {
        let interval = Duration::from_millis(200);
        let mut doubt = Doubt::new(at(0));
        doubt.suspected(at(0));
        doubt.accused("a");
        doubt.outlived();
        assert!(!doubt.refuted(at(30_000), interval, false), "a partition's suspicion");
        doubt.suspected(at(30_100));
        doubt.accused("b");
        assert!(!doubt.refuted(at(30_200), interval, false), "the first that counts");
        doubt.suspected(at(30_300));
        doubt.accused("c");
        assert!(doubt.refuted(at(30_400), interval, false), "the second: doubted");
        let mut dead = Doubt::new(at(0));
        dead.accused("a");
        dead.outlived();
        dead.suspected(at(1_000)); // a death, then a new suspicion: the mark is gone
        dead.accused("a");
        assert!(!dead.refuted(at(1_100), interval, false));
        dead.accused("b");
        assert!(dead.refuted(at(1_200), interval, false));
    }

    #[test]
    fn a_pull_return_before_two_answers_in_a_row_waits_for_them() {
        let mut doubt = Doubt::new(at(0));
        doubt.polled(false);
        doubt.polled(false);
        assert!(doubt.returned(), "its last polls went unanswered here");
        assert!(!doubt.confirmed());
        doubt.answered(); // the poll out now is answered
        assert!(!doubt.confirmed(), "one answer");
        doubt.polled(true); // the next poll goes out, the last one answered
        doubt.answered();
        assert!(doubt.confirmed(), "two in a row");
        assert!(doubt.take_unconfirmed());
        let mut steady = Doubt::new(at(0));
        steady.polled(true);
        steady.answered();
        assert!(!steady.returned(), "answering all along: back at once");
    }

    #[test]
    fn the_hold_counts_from_the_last_suspicion() {
        let interval = Duration::from_millis(200);
        let mut doubt = Doubt::new(at(0));
        doubt.accused("a");
        doubt.refuted(at(100), interval, false);
        assert_eq!(doubt.release_at(interval), at(100 + 12_000));
        doubt.troubled(at(5_000));
        assert_eq!(doubt.release_at(interval), at(5_000 + 12_000));
    }
}
