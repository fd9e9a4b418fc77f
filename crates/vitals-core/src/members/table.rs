//! The storage behind [`super::Members`]: records by name, found in constant time and
//! listed in name order.
//!
//! Records live in slots. A hash index finds a name's slot (every message looks its
//! sender up, so this is the hot path of a node and of the simulator), and a list of slots
//! sorted by name gives the deterministic order of every walk over the table. Each index
//! entry holds the name's keyed hash and its first bytes, so a lookup reads one entry and
//! follows no pointer unless the name is long. The index is only ever looked up, never
//! iterated, so its order cannot leak into behaviour. This module knows nothing of
//! statuses or rules.

use std::cell::Cell;
use std::hash::BuildHasher;

use foldhash::quality::FixedState;
use hashbrown::HashTable;

/// How many bytes of a name the index holds inline, so that most lookups confirm a match
/// without following a pointer.
const INLINE: usize = 24;

/// One index entry: enough of a name to recognise it, and where its record is.
#[derive(Clone, Debug)]
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
    /// The slot found last: a message's sender is looked up several times in a row.
    last: Cell<usize>,
    /// Which hash bits count: all of them, except in tests that force collisions.
    mask: u64,
    /// Slot `i` holds the record `records[i]` under the name `names[i]`.
    names: Vec<Box<str>>,
    records: Vec<R>,
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
            last: Cell::new(0),
            mask: u64::MAX,
            names: Vec::new(),
            records: Vec::new(),
            index: HashTable::new(),
            order: Vec::new(),
        }
    }

    fn hash(&self, name: &str) -> u64 {
        self.state.hash_one(name) & self.mask
    }

    fn find(&self, name: &str) -> Option<usize> {
        let last = self.last.get();
        if self.names.get(last).is_some_and(|held| **held == *name) {
            return Some(last);
        }
        let (hash, head) = (self.hash(name), head_of(name));
        let long = name.len() > INLINE;
        let matches = |e: &Entry| e.hash == hash && e.head == head && (!long || &*self.names[e.slot] == name);
        let slot = self.index.find(hash, matches)?.slot;
        self.last.set(slot);
        Some(slot)
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

    /// Adds or replaces the record under `name`.
    pub(super) fn insert(&mut self, name: &str, record: R) {
        if let Some(held) = self.get_mut(name) {
            *held = record;
            return;
        }
        let at = self.order.partition_point(|&s| &*self.names[s] < name);
        self.place(name.into(), record);
        self.order.insert(at, self.records.len() - 1);
    }

    /// Appends a slot and indexes it.
    fn place(&mut self, name: Box<str>, record: R) {
        let entry = Entry {
            hash: self.hash(&name),
            head: head_of(&name),
            slot: self.records.len(),
        };
        self.index.insert_unique(entry.hash, entry, |e| e.hash);
        self.names.push(name);
        self.records.push(record);
    }

    /// Removes every record `doomed` picks and returns them with their names, in name order.
    pub(super) fn remove_where(&mut self, mut doomed: impl FnMut(&R) -> bool) -> Vec<(Box<str>, R)> {
        if !self.records.iter().any(&mut doomed) {
            return Vec::new();
        }
        let names = std::mem::take(&mut self.names);
        let records = std::mem::take(&mut self.records);
        let mut slots: Vec<Option<(Box<str>, R)>> = names.into_iter().zip(records).map(Some).collect();
        let by_name: Vec<(Box<str>, R)> = self.order.iter().filter_map(|&s| slots[s].take()).collect();
        let (removed, kept): (Vec<_>, Vec<_>) = by_name.into_iter().partition(|(_, r)| doomed(r));
        self.index.clear();
        self.order.clear();
        for (name, record) in kept {
            self.order.push(self.records.len());
            self.place(name, record);
        }
        removed
    }

    /// Every record, in name order.
    pub(super) fn values(&self) -> impl Iterator<Item = &R> {
        self.order.iter().map(|&slot| &self.records[slot])
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
        for (name, record) in names.into_iter().zip(records) {
            table.place(name, record);
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
