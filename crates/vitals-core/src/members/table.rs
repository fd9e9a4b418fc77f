//! The storage behind [`super::Members`]: records by name, found in constant time and
//! listed in name order.
//!
//! Records live in slots. A hash index finds a name's slot (every message looks its
//! sender up, so this is the hot path of a node and of the simulator), and a list of slots
//! sorted by name gives the deterministic order of every walk over the table. Each index
//! entry holds the name's keyed hash and its first bytes, so a lookup reads one entry and
//! follows no pointer unless the name is long. The index is only ever looked up, never
//! iterated, so its order cannot leak into behaviour.
//!
//! Each record also has a wake-up instant, kept apart from the records so that finding
//! which records are due reads a few cache lines instead of every record: the owner
//! promises to look at a record again no later than its wake-up. This module knows
//! nothing of statuses or rules.

use std::cell::Cell;
use std::hash::BuildHasher;

use foldhash::quality::FixedState;
use hashbrown::HashTable;

use crate::time::Instant;

/// The wake-up of a record that needs no look.
pub(super) const NEVER: Instant = Instant::from_micros(u64::MAX);

/// How many bytes of a name the index holds inline, so that most lookups confirm a match
/// without following a pointer.
const INLINE: usize = 24;

/// One index entry: enough of a name to recognise it, and where its record is.
#[derive(Clone, Copy, Debug)]
struct Entry {
    hash: u64,
    /// The name's first [`INLINE`] bytes, zero-padded, and its length.
    head: ([u8; INLINE], usize),
    slot: usize,
}

/// Records of type `R`, each under a unique name.
#[derive(Clone, Debug)]
pub(super) struct Table<R> {
    /// The hasher (foldhash, as hashbrown's default), seeded with a secret from the node's
    /// seed so that nobody can choose colliding names.
    state: FixedState,
    /// The entry found last: a message's sender is looked up several times in a row, and
    /// this copy recognises it without reading any other memory.
    last: Cell<Option<Entry>>,
    /// Which hash bits count: all of them, except in tests that force collisions.
    mask: u64,
    /// Slot `i` holds the record `records[i]` under the name `names[i]`.
    names: Vec<Box<str>>,
    records: Vec<R>,
    /// `wakes[i]`: when record `i` is due a look (see the module docs).
    wakes: Vec<Instant>,
    /// Lookups only: never iterated (see the module docs).
    index: HashTable<Entry>,
    /// Slot numbers in name order.
    order: Vec<usize>,
}

impl<R> Table<R> {
    /// An empty table whose index is keyed with `key`.
    pub(super) fn new(key: u64) -> Table<R> {
        Table {
            state: FixedState::with_seed(key),
            last: Cell::new(None),
            mask: u64::MAX,
            names: Vec::new(),
            records: Vec::new(),
            wakes: Vec::new(),
            index: HashTable::new(),
            order: Vec::new(),
        }
    }

    fn hash(&self, name: &str) -> u64 {
        self.state.hash_one(name) & self.mask
    }

    fn find(&self, name: &str) -> Option<usize> {
        let head = head_of(name);
        let long = name.len() > INLINE;
        let named = |e: &Entry| e.head == head && (!long || &*self.names[e.slot] == name);
        if let Some(last) = self.last.get().filter(named) {
            return Some(last.slot);
        }
        let hash = self.hash(name);
        let entry = *self.index.find(hash, |e| e.hash == hash && named(e))?;
        self.last.set(Some(entry));
        Some(entry.slot)
    }

    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    pub(super) fn get(&self, name: &str) -> Option<&R> {
        self.find(name).map(|slot| &self.records[slot])
    }

    pub(super) fn get_mut(&mut self, name: &str) -> Option<&mut R> {
        self.find(name).map(|slot| &mut self.records[slot])
    }

    /// `name`'s record and its wake-up.
    pub(super) fn get_mut_and_wake(&mut self, name: &str) -> Option<(&mut R, &mut Instant)> {
        self.find(name)
            .map(|slot| (&mut self.records[slot], &mut self.wakes[slot]))
    }

    /// Makes every record due at once.
    pub(super) fn rouse_all(&mut self) {
        self.wakes.fill(Instant::ZERO);
    }

    /// The records due at `now`, in name order.
    pub(super) fn due(&self, now: Instant) -> Vec<usize> {
        let mut due: Vec<usize> = (0..self.wakes.len()).filter(|&slot| self.wakes[slot] <= now).collect();
        due.sort_unstable_by(|&a, &b| self.names[a].cmp(&self.names[b]));
        due
    }

    /// The record in `slot` (from [`Table::due`]) and its wake-up.
    pub(super) fn slot_mut(&mut self, slot: usize) -> (&mut R, &mut Instant) {
        (&mut self.records[slot], &mut self.wakes[slot])
    }

    /// The earliest wake-up, unless every record is at [`NEVER`].
    pub(super) fn earliest_wake(&self) -> Option<Instant> {
        self.wakes.iter().copied().min().filter(|&at| at != NEVER)
    }

    /// Adds or replaces the record under `name`; either way it is due at once.
    pub(super) fn insert(&mut self, name: &str, record: R) {
        if let Some((held, wake)) = self.get_mut_and_wake(name) {
            *held = record;
            *wake = Instant::ZERO;
            return;
        }
        let at = self.order.partition_point(|&s| &*self.names[s] < name);
        self.place(name.into(), record, Instant::ZERO);
        self.order.insert(at, self.records.len() - 1);
    }

    /// Appends a slot and indexes it.
    fn place(&mut self, name: Box<str>, record: R, wake: Instant) {
        let entry = Entry {
            hash: self.hash(&name),
            head: head_of(&name),
            slot: self.records.len(),
        };
        self.index.insert_unique(entry.hash, entry, |e| e.hash);
        self.names.push(name);
        self.records.push(record);
        self.wakes.push(wake);
    }

    /// Removes every record `doomed` picks and returns them with their names, in name order.
    pub(super) fn remove_where(&mut self, mut doomed: impl FnMut(&R) -> bool) -> Vec<(Box<str>, R)> {
        if !self.records.iter().any(&mut doomed) {
            return Vec::new();
        }
        let names = std::mem::take(&mut self.names);
        let records = std::mem::take(&mut self.records);
        let wakes = std::mem::take(&mut self.wakes);
        let mut slots: Vec<_> = names.into_iter().zip(records).zip(wakes).map(Some).collect();
        let by_name: Vec<_> = self.order.iter().filter_map(|&s| slots[s].take()).collect();
        let (removed, kept): (Vec<_>, Vec<_>) = by_name.into_iter().partition(|((_, r), _)| doomed(r));
        self.last.set(None);
        self.index.clear();
        self.order.clear();
        for ((name, record), wake) in kept {
            self.order.push(self.records.len());
            self.place(name, record, wake);
        }
        removed.into_iter().map(|(named, _)| named).collect()
    }

    /// Every record, in name order.
    pub(super) fn values(&self) -> impl Iterator<Item = &R> {
        self.order.iter().map(|&slot| &self.records[slot])
    }

    /// Every record in name order, from the first name after `after` to the end and then
    /// from the start up to `after`.
    pub(super) fn values_from(&self, after: &str) -> impl Iterator<Item = &R> {
        let at = self.order.partition_point(|&s| &*self.names[s] <= after);
        let (before, rest) = self.order.split_at(at);
        rest.iter().chain(before).map(|&slot| &self.records[slot])
    }

    /// Every record, mutably, in slot order (use only where order cannot matter).
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut R> {
        self.records.iter_mut()
    }
}

fn head_of(name: &str) -> ([u8; INLINE], usize) {
    let mut head = [0; INLINE];
    let n = name.len().min(INLINE);
    head[..n].copy_from_slice(&name.as_bytes()[..n]);
    (head, name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_found_by_name_and_listed_in_name_order() {
        let mut table = Table::new(7);
        for (name, value) in [("m", 1), ("c", 2), ("x", 3), ("a", 4)] {
            table.insert(name, value);
        }
        table.insert("c", 20);
        assert_eq!(table.get("c"), Some(&20));
        assert_eq!(table.get("q"), None);
        assert_eq!(table.values().copied().collect::<Vec<_>>(), [4, 20, 1, 3]);
        *table.get_mut("x").unwrap() = 30;
        let removed = table.remove_where(|&v| v < 5);
        let removed: Vec<_> = removed.iter().map(|(n, v)| (&**n, *v)).collect();
        assert_eq!(removed, [("a", 4), ("m", 1)]);
        assert_eq!(table.values().copied().collect::<Vec<_>>(), [20, 30]);
        assert_eq!((table.get("x"), table.get("a"), table.len()), (Some(&30), None, 2));
        table.insert("b", 5);
        assert_eq!(table.values().copied().collect::<Vec<_>>(), [5, 20, 30]);
    }

    #[test]
    fn a_walk_from_a_name_starts_after_it_and_wraps_around_once() {
        let mut table = Table::new(7);
        for (name, value) in [("m", 1), ("c", 2), ("x", 3), ("a", 4)] {
            table.insert(name, value);
        }
        let from = |after: &str| table.values_from(after).copied().collect::<Vec<_>>();
        assert_eq!(from("c"), [1, 3, 4, 2]);
        assert_eq!(from("d"), [1, 3, 4, 2]);
        assert_eq!(from(""), [4, 2, 1, 3]);
        assert_eq!(from("z"), [4, 2, 1, 3]);
    }

    #[test]
    fn names_whose_hashes_collide_are_told_apart() {
        let mut table = Table::new(7);
        for (name, value) in [("a", 1), ("b", 2), ("c", 3)] {
            table.insert(name, value);
        }
        // Every name hashes alike: all three share one hash.
        table.mask = 0;
        table.index.clear();
        let names = std::mem::take(&mut table.names);
        let records = std::mem::take(&mut table.records);
        table.wakes.clear();
        for (name, record) in names.into_iter().zip(records) {
            table.place(name, record, Instant::ZERO);
        }
        assert!(table.index.iter().all(|e| e.hash == 0));
        assert_eq!(
            [table.get("a"), table.get("b"), table.get("c")],
            [Some(&1), Some(&2), Some(&3)]
        );
        let removed = table.remove_where(|&v| v == 2);
        assert_eq!(removed.len(), 1);
        assert_eq!(
            [table.get("a"), table.get("b"), table.get("c")],
            [Some(&1), None, Some(&3)]
        );
    }
}
