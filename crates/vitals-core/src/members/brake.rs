//! The mass-failure brake: death verdicts beyond `brake_fraction` of the cluster within
//! `brake_window` are held back (the member stays `suspect`, listed as held), so that a
//! partition of this node, or a burst of loss, cannot make it declare most of the
//! cluster dead at once. Owns only the window of recent verdicts and the held names;
//! never changes a status (`Members::set_status` asks it).

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
    /// `size` members within `window`. Records the verdict if not; lists `name` as held if
    /// so.
    pub(super) fn holds(&mut self, now: Instant, name: &str, window: Duration, fraction: f64, size: usize) -> bool {
        while self.recent_deaths.front().is_some_and(|&t| now - t >= window) {
            self.recent_deaths.pop_front();
        }
        let limit = (fraction * size as f64).ceil().max(1.0) as usize;
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
