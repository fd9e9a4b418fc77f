//! The graveyard: the last incarnation of each reaped (forgotten) dead or left member, so
//! that stale news cannot bring it back; only the member itself, at a higher incarnation,
//! can return. Bounded: at most [`MAX_GRAVEYARD`] names, the oldest forgotten first.
//! Never changes a status.

use std::collections::{BTreeMap, VecDeque};

use crate::message::Incarnation;

/// Most reaped members remembered (oldest forgotten first).
pub const MAX_GRAVEYARD: usize = 4096;

#[derive(Clone, Debug, Default)]
pub(super) struct Graveyard {
    incarnations: BTreeMap<String, Incarnation>,
    /// Burial order, oldest first.
    order: VecDeque<String>,
}

impl Graveyard {
    /// Remember that `name` was reaped at `incarnation`.
    pub(super) fn bury(&mut self, name: &str, incarnation: Incarnation) {
        if self.incarnations.len() >= MAX_GRAVEYARD
            && let Some(oldest) = self.order.pop_front()
        {
            self.incarnations.remove(&oldest);
        }
        self.incarnations.insert(name.to_string(), incarnation);
        self.order.push_back(name.to_string());
        debug_assert!(self.incarnations.len() <= MAX_GRAVEYARD, "the graveyard stays bounded");
    }

    /// Whether news of `name` at `incarnation` is about a reaped member (stale).
    pub(super) fn outdates(&self, name: &str, incarnation: Incarnation) -> bool {
        self.incarnations.get(name).is_some_and(|&buried| incarnation <= buried)
    }
}
