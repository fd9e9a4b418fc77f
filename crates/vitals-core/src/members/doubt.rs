//! Doubt: hysteresis for a member that keeps refuting suspicions (issue 13, item 5).
//!
//! A node that loses most of what is sent to it (80 % inbound loss) answers only some
//! probes: SWIM suspects it, it hears of the suspicion and refutes, and is suspected
//! again a moment later. Each round trip flips its status twice at every observer (600
//! times a minute at a 200 ms period). The protocol is right to go on suspecting and
//! clearing it (that is how a real death would still be found); what users and routing
//! see must not flap. So once a member has refuted twice within about
//! [`DOUBT_HALF_LIFE`] intervals, the observer keeps *showing* it `suspect` (the member
//! is `doubted`) while the protocol goes on underneath at its true status; it is shown
//! alive again only after [`DOUBT_HOLD`] intervals without a suspicion. Nothing of it
//! travels: entries on the wire carry the protocol's status, so the doubt never loops
//! back as news the member would have to refute. A refutation counts only if the
//! suspicion it ends was raised by another accuser than the last one counted: a healthy
//! member that one sick node keeps accusing (and every other observer hears) is never
//! doubted, while a sick member is suspected by one observer after another. While doubted, a member's suspicion
//! runs Lifeguard's longest timeout (`Ping::timeout`): the sick node is not removed, and
//! a doubted member that really crashed is still declared dead within ping's detection
//! bound. A healthy member is rarely doubted: at 10 % loss it refutes about once per 650
//! intervals.
//!
//! Owns only the rule and the per-member penalty (a count of refutations decaying by
//! half every [`DOUBT_HALF_LIFE`] intervals, like flap damping's); the status shown is
//! changed, or not, by `Members::set_status` and `Members::judge` alone.

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
}

impl Doubt {
    pub(super) fn new(now: Instant) -> Doubt {
        Doubt {
            penalty: 0.0,
            at: now,
            trouble: now,
            accuser: None,
            counted: None,
        }
    }

    /// `accuser` suspects the member (the first one known of a suspicion is kept).
    pub(super) fn accused(&mut self, accuser: &str) {
        if self.accuser.is_none() {
            self.accuser = Some(accuser.to_string());
        }
    }

    /// The member refuted a suspicion at `now`: whether it is to be doubted (the
    /// penalty reached [`DOUBT_AT`]). Counted only if the suspicion had a known accuser
    /// other than the last counted one's.
    pub(super) fn refuted(&mut self, now: Instant, interval: Duration) -> bool {
        self.trouble = now;
        let accuser = self.accuser.take();
        if accuser.is_none() || accuser == self.counted {
            return false;
        }
        self.counted = accuser;
        let half_life = (interval * DOUBT_HALF_LIFE).as_secs_f64().max(1e-9);
        let halvings = (now - self.at).as_secs_f64() / half_life;
        self.penalty = (self.penalty * 0.5f64.powf(halvings) + 1.0).min(DOUBT_CAP);
        self.at = now;
        self.penalty >= DOUBT_AT
    }

    /// The member was suspected at `now`.
    pub(super) fn suspected(&mut self, now: Instant) {
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
    fn a_second_refutation_within_a_half_life_puts_a_member_in_doubt_but_not_one_later() {
        let interval = Duration::from_millis(200);
        let mut doubt = Doubt::new(at(0));
        doubt.accused("a");
        assert!(!doubt.refuted(at(1_000), interval));
        doubt.accused("b");
        assert!(
            doubt.refuted(at(2_500), interval),
            "1.5 s later: within the 2 s half-life"
        );
        let mut calm = Doubt::new(at(0));
        for t in 1..=20 {
            calm.accused(["a", "b"][t as usize % 2]);
            assert!(
                !calm.refuted(at(t * 4_000), interval),
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
            assert!(!doubt.refuted(at(t * 100), interval));
            assert!(!doubt.refuted(at(t * 100 + 50), interval), "no accuser known");
        }
    }

    #[test]
    fn the_hold_counts_from_the_last_suspicion() {
        let interval = Duration::from_millis(200);
        let mut doubt = Doubt::new(at(0));
        doubt.accused("a");
        doubt.refuted(at(100), interval);
        assert_eq!(doubt.release_at(interval), at(100 + 12_000));
        doubt.suspected(at(5_000));
        assert_eq!(doubt.release_at(interval), at(5_000 + 12_000));
    }
}
