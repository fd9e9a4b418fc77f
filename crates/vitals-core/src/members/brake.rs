//! The mass-failure brake: death verdicts beyond `brake_fraction` of the cluster within
//! `brake_window` are held back (the member stays `suspect`, listed as held), so that a
//! partition of this node, or a burst of loss, cannot make it declare most of the
//! cluster dead at once. Owns only the window of recent verdicts and the held names;
//! never changes a status (`Members::set_status` asks it).
//!
//! The limit rounds down: with `fraction` 0.5 and 7 members, 3 deaths per window, never
//! 4 (57 %). In a cluster too small for the fraction to make one member
//! (`fraction × size < 1`, e.g. 0.3 of 3), one death per window still goes through:
//! a brake that let none would leave every crash there undetected for good.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use crate::time::Instant;

#[derive(Clone, Debug, Default)]
pub(super) struct Brake {
    /// When the recent death verdicts were reached (the brake's window).
    recent_deaths: VecDeque<Instant>,
    /// Members whose death verdict the brake holds back.
    held: BTreeSet<String>,
}

impl Brake {
    /// Whether one more death verdict (about `name`) at `now` would exceed `fraction` of
    /// `size` members within `window` (see [`limit`]). Records the verdict if not; lists
    /// `name` as held if so.
    pub(super) fn holds(&mut self, now: Instant, name: &str, window: Duration, fraction: f64, size: usize) -> bool {
        while self.recent_deaths.front().is_some_and(|&t| now - t >= window) {
            self.recent_deaths.pop_front();
        }
        let limit = limit(fraction, size);
        if self.recent_deaths.len() >= limit {
            self.held.insert(name.to_string());
            return true;
        }
        self.held.remove(name);
        self.recent_deaths.push_back(now);
        debug_assert!(
            self.recent_deaths.len() <= limit,
            "the brake never lets more deaths through than its limit"
        );
        false
    }

    /// `name` is alive again or left: its death is no longer held back.
    pub(super) fn release(&mut self, name: &str) {
        if !self.held.is_empty() {
            self.held.remove(name);
        }
    }

    /// The members whose death verdict is held back, in name order.
    pub(super) fn held(&self) -> impl Iterator<Item = &String> {
        self.held.iter()
    }

    /// Whether `name`'s death verdict is held back.
    pub(super) fn is_held(&self, name: &str) -> bool {
        self.held.contains(name)
    }
}

/// How many death verdicts per window `fraction` of `size` members allows: rounded down,
/// so never more than the fraction, but at least one (see the module docs).
pub(super) fn limit(fraction: f64, size: usize) -> usize {
    ((fraction * size as f64).floor() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    /// Lets deaths through one by one at `now` until the brake holds one; returns how many.
    fn deaths_let_through(fraction: f64, size: usize) -> usize {
        let mut brake = Brake::default();
        let window = Duration::from_secs(6);
        (0..size)
            .take_while(|i| !brake.holds(at(100), &format!("m{i}"), window, fraction, size))
            .count()
    }

    #[test]
    fn the_brake_never_lets_more_than_its_fraction_through() {
        // Half of 7 is 3.5: 3 deaths, never 4 (57 %).
        assert_eq!(deaths_let_through(0.5, 7), 3);
        assert_eq!(deaths_let_through(0.5, 8), 4);
        assert_eq!(deaths_let_through(0.34, 3), 1);
        for size in 1..=64 {
            for fraction in [0.1, 0.25, 0.3, 0.5, 0.66, 0.9, 1.0] {
                let through = deaths_let_through(fraction, size);
                let within = through as f64 <= fraction * size as f64;
                assert!(within || through == 1, "{through} of {size} with {fraction}");
            }
        }
    }

    #[test]
    fn a_cluster_too_small_for_the_fraction_still_sees_one_death_per_window() {
        assert_eq!(deaths_let_through(0.3, 3), 1);
        assert_eq!(deaths_let_through(0.1, 5), 1);
    }

    #[test]
    fn held_verdicts_go_through_once_the_window_has_passed() {
        let mut brake = Brake::default();
        let window = Duration::from_secs(6);
        assert!(!brake.holds(at(0), "a", window, 0.5, 3));
        assert!(brake.holds(at(1), "b", window, 0.5, 3));
        assert!(brake.is_held("b"));
        assert!(!brake.holds(at(6000), "b", window, 0.5, 3));
        assert!(!brake.is_held("b"));
    }
}
