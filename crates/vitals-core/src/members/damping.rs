//! Flap damping: a member that keeps dying and returning has its return held back until
//! its penalty (one per death, halving every `flap_half_life`) decays. Owns only the rule;
//! the penalty lives in the member's record (`Record::penalty`, `Record::damped`), and
//! the status is changed, or not, by `Members::set_status` alone.

use std::time::Duration;

use crate::message::Status;
use crate::time::Instant;

/// Flap damping: a penalty at or above this holds a member's return back...
pub const FLAP_SUPPRESS: f64 = 3.0;
/// ... until it decays below this.
pub const FLAP_REUSE: f64 = 1.5;

/// The rule, applied to one transition (`previous` to `status`) of a member whose record
/// holds `penalty` (with when it was last updated) and `damped`: a death adds 1 to the
/// decayed penalty; a return from the dead is held back (returns true) while the penalty
/// is too high.
pub(super) fn held_back(
    penalty: &mut (f64, Instant),
    damped: &mut bool,
    now: Instant,
    half_life: Duration,
    previous: Status,
    status: Status,
) -> bool {
    let (value, at) = *penalty;
    let halvings = (now - at).as_secs_f64() / half_life.as_secs_f64().max(1e-9);
    let mut value = value * 0.5f64.powf(halvings);
    if status == Status::Dead && previous.is_up() {
        value += 1.0;
    }
    *penalty = (value, now);
    let returning = previous == Status::Dead && status == Status::Alive;
    if returning && (value >= FLAP_SUPPRESS || (*damped && value >= FLAP_REUSE)) {
        *damped = true;
        return true;
    }
    if returning {
        *damped = false;
    }
    false
}
