//! The storage behind [`super::Members`]: records by name, found in constant time and
//! listed in name order.
//!
//! Records live in slots. A hash index finds a name's slot (every message looks its
//! sender up, so this is the hot path of a node and of the simulator), and a list of slots
//! sorted by name gives the deterministic order of every walk over the table. The index
//! maps a keyed hash of the name to the first slot with that hash (slots with the same
//! hash are chained), so a lookup compares integers, and one name to confirm. The index
//! is only ever looked up, never iterated, so its order cannot leak into behaviour. This
//! module knows nothing of statuses or rules.

use std::hash::{BuildHasherDefault, DefaultHasher, Hasher};

// Lookups only: the map is never iterated (see the module docs).
#[allow(clippy::disallowed_types)]
type Index = std::collections::HashMap<u64, usize, BuildHasherDefault<Prehashed>>;

/// The index's keys are SipHash values already: they are used as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
}

const NONE: usize = usize::MAX;

/// How many bytes of a name its key holds inline, so that most lookups confirm a match
/// without following a pointer.
const INLINE: usize = 24;

/// What finds a slot: kept apart from the records, so that a lookup reads one small,
/// dense array and touches the record only once found.
#[derive(Clone, Debug)]
struct Key {
    /// The name's first [`INLINE`] bytes, zero-padded, and its length.
    head: ([u8; INLINE], usize),
    name: Box<str>,
    hash: u64,
    /// The next slot whose name has the same hash, or [`NONE`].
    next: usize,
}

/// Records of type `R`, each under a unique name.
#[derive(Clone, Debug)]
pub(super) struct Table<R> {
    /// SipHash key, secret (from the node's seed), so that nobody can choose colliding names.
    key: u64,
    /// Which hash bits count: all of them, except in tests that force collisions.
    mask: u64,
    /// Slot `i`'s key is `keys[i]`, its record `records[i]`.
    keys: Vec<Key>,
    records: Vec<R>,
    index: Index,
    /// Slot numbers in name order.
    order: Vec<usize>,
}

impl<R> Table<R> {
    /// An empty table whose index is keyed with `key`.
    pub(super) fn new(key: u64) -> Table<R> {
        Table {
            key,
            mask: u64::MAX,
            keys: Vec::new(),
            records: Vec::new(),
            index: Index::default(),
            order: Vec::new(),
        }
    }

    fn hash(&self, name: &str) -> u64 {
        let mut hasher = DefaultHasher::new();
        hasher.write_u64(self.key);
        hasher.write(name.as_bytes());
        hasher.finish() & self.mask
    }

    fn find(&self, name: &str) -> Option<usize> {
        let mut slot = *self.index.get(&self.hash(name))?;
        let head = head_of(name);
        while slot != NONE {
            let held = &self.keys[slot];
            if held.head == head && (name.len() <= INLINE || &*held.name == name) {
                return Some(slot);
            }
            slot = held.next;
        }
        None
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
        let at = self.order.partition_point(|&s| &*self.keys[s].name < name);
        let key = Key {
            head: head_of(name),
            name: name.into(),
            hash: self.hash(name),
            next: NONE,
        };
        self.place(key, record);
        self.order.insert(at, self.records.len() - 1);
    }

    /// Appends a slot and indexes it (at the head of its hash's chain).
    fn place(&mut self, mut key: Key, record: R) {
        key.next = self.index.insert(key.hash, self.records.len()).unwrap_or(NONE);
        self.keys.push(key);
        self.records.push(record);
    }

    /// Removes every record `doomed` picks and returns them with their names, in name order.
    pub(super) fn remove_where(&mut self, mut doomed: impl FnMut(&R) -> bool) -> Vec<(Box<str>, R)> {
        if !self.records.iter().any(&mut doomed) {
            return Vec::new();
        }
        let keys = std::mem::take(&mut self.keys);
        let records = std::mem::take(&mut self.records);
        let mut slots: Vec<Option<(Key, R)>> = keys.into_iter().zip(records).map(Some).collect();
        let by_name: Vec<(Key, R)> = self.order.iter().filter_map(|&s| slots[s].take()).collect();
        let (removed, kept): (Vec<_>, Vec<_>) = by_name.into_iter().partition(|(_, r)| doomed(r));
        self.index.clear();
        self.order.clear();
        for (key, record) in kept {
            self.order.push(self.records.len());
            self.place(key, record);
        }
        removed.into_iter().map(|(k, r)| (k.name, r)).collect()
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
        // Every name hashes alike: all three share one chain.
        table.mask = 0;
        table.index.clear();
        let keys = std::mem::take(&mut table.keys);
        let records = std::mem::take(&mut table.records);
        for (mut key, record) in keys.into_iter().zip(records) {
            key.hash = 0;
            table.place(key, record);
        }
        assert_eq!(table.index.len(), 1);
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
