//! The storage behind [`super::Members`]: records by name, found in constant time and
//! listed in name order.
//!
//! Records live in the buckets of a hash table (`hashbrown::HashTable`), each beside its
//! name's keyed hash and first bytes: every message looks its sender up, so this is the
//! hot path of a node and of the simulator, and a lookup reads the table's control bytes
//! and then the one bucket that holds both the name to confirm and the record (whose
//! lines are then read in parallel), instead of an index entry first and the record
//! after it. A list of bucket numbers sorted by name gives the deterministic order of
//! every walk over the table; a bucket's number changes only when the table grows, and
//! then the list is rebuilt. The hash table is only ever looked up, never iterated where
//! order could matter, so its order cannot leak into behaviour.
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

/// The wake-up of a record that needs no look (and of an empty bucket).
pub(super) const NEVER: Instant = Instant::from_micros(u64::MAX);

/// How many bytes of a name a bucket holds inline, so that most lookups confirm a match
/// without following a pointer.
const INLINE: usize = 24;

/// A name's first [`INLINE`] bytes, zero-padded, and its length.
type Head = ([u8; INLINE], usize);

/// One bucket: the name as the lookup confirms it (first cache line), then the record.
#[derive(Clone, Debug)]
#[repr(C)]
struct Slot<R> {
    hash: u64,
    head: Head,
    name: Box<str>,
    record: R,
}

/// Records of type `R`, each under a unique name.
#[derive(Clone, Debug)]
pub(super) struct Table<R> {
    /// The hasher (foldhash, as hashbrown's default), seeded with a secret from the node's
    /// seed so that nobody can choose colliding names.
    state: FixedState,
    /// The bucket found last and its name's head: a message's sender is looked up
    /// several times in a row, and this copy recognises it without reading any memory.
    last: Cell<Option<(Head, usize)>>,
    /// Which hash bits count: all of them, except in tests that force collisions.
    mask: u64,
    /// Lookups by bucket number only, never iterated where order matters (see the
    /// module docs).
    slots: HashTable<Slot<R>>,
    /// `wakes[b]`: when the record in bucket `b` is due a look ([`NEVER`] if empty).
    wakes: Vec<Instant>,
    /// Bucket numbers in name order.
    order: Vec<usize>,
}

impl<R> Table<R> {
    /// An empty table whose index is keyed with `key`.
    pub(super) fn new(key: u64) -> Table<R> {
        Table {
            state: FixedState::with_seed(key),
            last: Cell::new(None),
            mask: u64::MAX,
            slots: HashTable::new(),
            wakes: Vec::new(),
            order: Vec::new(),
        }
    }

    fn hash(&self, name: &str) -> u64 {
        self.state.hash_one(name) & self.mask
    }

    /// The bucket holding `name`.
    fn find(&self, name: &str) -> Option<usize> {
        let long = name.len() > INLINE;
        let named = |s: &Slot<R>| is_head_of(&s.head, name) && (!long || *s.name == *name);
        if let Some((held, bucket)) = self.last.get()
            && is_head_of(&held, name)
            && (!long || self.slot(bucket).is_some_and(named))
        {
            return Some(bucket);
        }
        let hash = self.hash(name);
        let bucket = self.slots.find_bucket_index(hash, |s| s.hash == hash && named(s))?;
        self.last.set(self.slot(bucket).map(|s| (s.head, bucket)));
        Some(bucket)
    }

    fn slot(&self, bucket: usize) -> Option<&Slot<R>> {
        self.slots.get_bucket(bucket)
    }

    fn name(&self, bucket: usize) -> &str {
        self.slot(bucket).map_or("", |s| &s.name)
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn get(&self, name: &str) -> Option<&R> {
        let bucket = self.find(name)?;
        self.slot(bucket).map(|s| &s.record)
    }

    pub(super) fn get_mut(&mut self, name: &str) -> Option<&mut R> {
        let bucket = self.find(name)?;
        self.slots.get_bucket_mut(bucket).map(|s| &mut s.record)
    }

    /// `name`'s record and its wake-up.
    pub(super) fn get_mut_and_wake(&mut self, name: &str) -> Option<(&mut R, &mut Instant)> {
        let bucket = self.find(name)?;
        let slot = self.slots.get_bucket_mut(bucket)?;
        Some((&mut slot.record, &mut self.wakes[bucket]))
    }

    /// Makes `name`'s record due at once.
    pub(super) fn rouse(&mut self, name: &str) {
        if let Some((_, wake)) = self.get_mut_and_wake(name) {
            *wake = Instant::ZERO;
        }
    }

    /// Makes every record due at once.
    pub(super) fn rouse_all(&mut self) {
        for &bucket in &self.order {
            self.wakes[bucket] = Instant::ZERO;
        }
    }

    /// The records due at `now` (their bucket numbers), in name order.
    pub(super) fn due(&self, now: Instant) -> Vec<usize> {
        let mut due: Vec<usize> = (0..self.wakes.len()).filter(|&b| self.wakes[b] <= now).collect();
        due.sort_unstable_by(|&a, &b| self.name(a).cmp(self.name(b)));
        due
    }

    /// The record in `bucket` (from [`Table::due`]) and its wake-up.
    pub(super) fn slot_mut(&mut self, bucket: usize) -> (&mut R, &mut Instant) {
        let slot = self.slots.get_bucket_mut(bucket).expect("a bucket from `due`");
        (&mut slot.record, &mut self.wakes[bucket])
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
        let bucket = self.place(name.into(), record, Instant::ZERO);
        let at = self.order.partition_point(|&b| self.name(b) < name);
        self.order.insert(at, bucket);
    }

    /// Indexes a record (growing the table first if it is full) and returns its bucket;
    /// the caller puts the bucket in `order`.
    fn place(&mut self, name: Box<str>, record: R, wake: Instant) -> usize {
        if self.slots.len() == self.slots.capacity() {
            self.grow();
        }
        let slot = Slot {
            hash: self.hash(&name),
            head: head_of(&name),
            name,
            record,
        };
        let buckets = self.slots.num_buckets();
        let bucket = self.slots.insert_unique(slot.hash, slot, |s| s.hash).bucket_index();
        debug_assert_eq!(self.slots.num_buckets(), buckets, "grown beforehand");
        self.wakes[bucket] = wake;
        bucket
    }

    /// Doubles the hash table. Every record moves to a new bucket: `order` and `wakes` are
    /// rebuilt, in the same name order.
    fn grow(&mut self) {
        let wakes_by_name: Vec<Instant> = self.order.iter().map(|&b| self.wakes[b]).collect();
        let more = self.slots.len().max(4);
        self.slots.reserve(more, |s| s.hash);
        self.last.set(None);
        let mut order: Vec<usize> = (0..self.slots.num_buckets())
            .filter(|&b| self.slot(b).is_some())
            .collect();
        order.sort_unstable_by(|&a, &b| self.name(a).cmp(self.name(b)));
        self.wakes = vec![NEVER; self.slots.num_buckets()];
        for (&bucket, wake) in order.iter().zip(wakes_by_name) {
            self.wakes[bucket] = wake;
        }
        self.order = order;
    }

    /// Removes every record `doomed` picks and returns them with their names, in name order.
    pub(super) fn remove_where(&mut self, mut doomed: impl FnMut(&R) -> bool) -> Vec<(Box<str>, R)> {
        if !self.slots.iter().any(|s| doomed(&s.record)) {
            return Vec::new();
        }
        let order = std::mem::take(&mut self.order);
        let mut by_name: Vec<(Slot<R>, Instant)> = Vec::with_capacity(order.len());
        for bucket in order {
            let wake = self.wakes[bucket];
            if let Ok(entry) = self.slots.get_bucket_entry(bucket) {
                by_name.push((entry.remove().0, wake));
            }
        }
        self.last.set(None);
        // Empty now, but the removals left tombstones that `clear` sweeps away.
        self.slots.clear();
        self.wakes.fill(NEVER);
        let (removed, kept): (Vec<_>, Vec<_>) = by_name.into_iter().partition(|(s, _)| doomed(&s.record));
        for (slot, wake) in kept {
            let bucket = self.place(slot.name, slot.record, wake);
            self.order.push(bucket);
        }
        removed.into_iter().map(|(s, _)| (s.name, s.record)).collect()
    }

    /// Every record, in name order.
    pub(super) fn values(&self) -> impl Iterator<Item = &R> {
        self.order.iter().filter_map(|&b| self.slot(b)).map(|s| &s.record)
    }

    /// Every record in name order, from the first name after `after` to the end and then
    /// from the start up to `after`.
    pub(super) fn values_from(&self, after: &str) -> impl Iterator<Item = &R> {
        let at = self.order.partition_point(|&b| self.name(b) <= after);
        let (before, rest) = self.order.split_at(at);
        rest.iter()
            .chain(before)
            .filter_map(|&b| self.slot(b))
            .map(|s| &s.record)
    }

    /// Every record, mutably, in bucket order (use only where order cannot matter).
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut R> {
        self.slots.iter_mut().map(|s| &mut s.record)
    }
}

/// Whether `head` is [`head_of`] `name`, compared in place and byte by byte: a lookup
/// builds no head (a short name copied into a zeroed array and read back whole stalled
/// every lookup on the store it had just made), and calls no `memcmp`, whose wide loads
/// of the copy of `Table::last` just taken waited on the same kind of store (the call
/// was about 13 % of the simulator's samples).
fn is_head_of(head: &Head, name: &str) -> bool {
    head.1 == name.len() && head.0.iter().zip(name.as_bytes()).all(|(a, b)| a == b)
}

fn head_of(name: &str) -> Head {
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
    fn growing_keeps_the_name_order_and_every_wake_up() {
        let mut table = Table::new(7);
        let names: Vec<String> = (0..200).map(|i| format!("m{:03}", (i * 37) % 200)).collect();
        for (i, name) in names.iter().enumerate() {
            table.insert(name, i);
            let (_, wake) = table.get_mut_and_wake(name).unwrap();
            *wake = Instant::from_micros(1_000 + i as u64);
        }
        let mut expected: Vec<(&String, usize)> = names.iter().zip(0..).collect();
        expected.sort();
        let values: Vec<usize> = table.values().copied().collect();
        assert_eq!(values, expected.iter().map(|(_, v)| *v).collect::<Vec<_>>());
        assert!(expected.iter().all(|(name, v)| table.get(name) == Some(v)));
        // Every wake-up survived the growths: the first ten inserted are due at 1,009.
        let due: Vec<usize> = table
            .due(Instant::from_micros(1_009))
            .into_iter()
            .map(|b| *table.slot_mut(b).0)
            .collect();
        let mut first_ten: Vec<usize> = (0..10).collect();
        first_ten.sort_by_key(|&i| &names[i]);
        assert_eq!(due, first_ten);
        assert_eq!(table.earliest_wake(), Some(Instant::from_micros(1_000)));
    }

    #[test]
    fn names_whose_hashes_collide_are_told_apart() {
        let mut table = Table::new(7);
        for (name, value) in [("a", 1), ("b", 2), ("c", 3)] {
            table.insert(name, value);
        }
        // Every name hashes alike: all three share one hash.
        table.mask = 0;
        for (name, record) in table.remove_where(|_| true) {
            table.insert(&name, record);
        }
        assert!(table.slots.iter().all(|s| s.hash == 0));
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
