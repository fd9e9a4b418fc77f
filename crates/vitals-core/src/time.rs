//! Time as a value. [`Instant`] counts microseconds since an arbitrary epoch chosen by the
//! host (the agent's start, or 0 in a simulation). The core never reads a clock: every
//! input carries `now`.

use std::ops::{Add, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time, in microseconds since the host's epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Instant(u64);

impl Instant {
    /// The host's epoch.
    pub const ZERO: Instant = Instant(0);

    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant(micros)
    }

    /// The instant `duration` after the epoch (saturating at `u64::MAX` microseconds).
    pub fn from_duration(duration: Duration) -> Instant {
        Instant(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time since the epoch.
    pub const fn since_epoch(self) -> Duration {
        Duration::from_micros(self.0)
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        let micros = u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(micros))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_since(rhs)
    }
}

impl std::fmt::Display for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "t={:.3}s", self.0 as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_and_subtracting_durations_round_trips() {
        let t = Instant::from_micros(1_000);
        let later = t + Duration::from_millis(2);
        assert_eq!(later.as_micros(), 3_000);
        assert_eq!(later - t, Duration::from_millis(2));
    }

    #[test]
    fn an_earlier_minus_a_later_instant_is_zero() {
        assert_eq!(Instant::ZERO - Instant::from_micros(5), Duration::ZERO);
    }
}
