//! The event queue: items come out in (time, sequence number) order, the sequence number
//! being the order in which they were pushed. Owns nothing but the items.
//!
//! A calendar queue (R. Brown, CACM 1988): time is cut into buckets of [`WIDTH_US`]
//! microseconds; the [`RING`] buckets ahead of the current one are unsorted vectors, and
//! a bucket is sorted only when time reaches it. Items further ahead wait in a binary
//! heap. A simulated datagram is delivered a millisecond or so after it is sent, so
//! nearly every push is an append to a short vector and nearly every pop takes the last
//! item of a sorted one: a binary heap of all items was an eighth of the simulator's
//! instructions. Empty stretches of time are skipped in one step.
//!
//! It must never pop an item out of order: `tests` compares it with a binary heap on
//! random workloads.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use vitals_core::Instant;

/// Microseconds per bucket (a power of two).
pub(crate) const WIDTH_US: u64 = 64;
/// Buckets in the ring: with [`WIDTH_US`], a horizon of 16 ms, past the latencies of a
/// LAN (timers a round ahead wait in the heap). Each bucket's vector is used again once per
/// turn of the ring; at 262 ms a turn (4,096 buckets) it had left the cache by then, and
/// this ring made the simulator faster (docs/SCALE.md, "Simulator speed").
pub(crate) const RING: u64 = 256;

/// An item's place in the order: its time in microseconds, then its sequence number.
type Key = (u64, u64);

/// Items in (time, sequence) order; see the module docs.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    /// The bucket being drained, sorted so that its first item is last.
    current: Vec<(Key, T)>,
    /// The number of the bucket being drained (time / [`WIDTH_US`]).
    bucket: u64,
    /// Buckets `bucket + 1 .. bucket + RING`, each at index `number % RING`, unsorted.
    ring: Vec<Vec<(Key, T)>>,
    /// How many items the ring holds.
    in_ring: usize,
    /// Items beyond the ring.
    far: BinaryHeap<Far<T>>,
    seq: u64,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        Queue {
            current: Vec::new(),
            bucket: 0,
            ring: (0..RING).map(|_| Vec::new()).collect(),
            in_ring: 0,
            far: BinaryHeap::new(),
            seq: 0,
        }
    }

    /// Queues `item` for time `at`, after every item already queued for the same time.
    pub(crate) fn push(&mut self, at: Instant, item: T) {
        self.seq += 1;
        let key = (at.as_micros(), self.seq);
        let bucket = key.0 / WIDTH_US;
        if bucket <= self.bucket {
            // The current bucket (or, never in the engine, an earlier time): keep it sorted.
            let at = self.current.partition_point(|(k, _)| *k > key);
            self.current.insert(at, (key, item));
        } else if bucket - self.bucket < RING {
            self.ring[(bucket % RING) as usize].push((key, item));
            self.in_ring += 1;
        } else {
            self.far.push(Far(key, item));
        }
    }

    /// The earliest item, if it is due at or before `until`; it stays queued otherwise.
    pub(crate) fn pop_until(&mut self, until: Instant) -> Option<(Instant, T)> {
        while self.current.is_empty() {
            if !self.advance() {
                return None;
            }
        }
        let ((micros, _), _) = self.current.last()?;
        if *micros > until.as_micros() {
            return None;
        }
        let ((micros, _), item) = self.current.pop()?;
        Some((Instant::from_micros(micros), item))
    }

    /// Moves to the next bucket that holds items (the far heap's first when the ring is
    /// empty) and sorts it into `current`. False when nothing is queued.
    fn advance(&mut self) -> bool {
        let far_bucket = |far: &BinaryHeap<Far<T>>| far.peek().map(|Far(key, _)| key.0 / WIDTH_US);
        if self.in_ring == 0 {
            let Some(next) = far_bucket(&self.far) else {
                return false;
            };
            self.bucket = next;
        } else {
            self.bucket += 1;
            while self.ring[(self.bucket % RING) as usize].is_empty() && far_bucket(&self.far) != Some(self.bucket) {
                self.bucket += 1;
            }
        }
        std::mem::swap(&mut self.current, &mut self.ring[(self.bucket % RING) as usize]);
        self.in_ring -= self.current.len();
        while far_bucket(&self.far) == Some(self.bucket) {
            let Some(Far(key, item)) = self.far.pop() else { break };
            self.current.push((key, item));
        }
        // Keys are unique, so an unstable sort is deterministic.
        self.current.sort_unstable_by(|(a, _), (b, _)| b.cmp(a));
        true
    }
}

/// An item beyond the ring, ordered so that the heap's maximum is the earliest.
#[derive(Debug)]
struct Far<T>(Key, T);

impl<T> PartialEq for Far<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<T> Eq for Far<T> {}
impl<T> PartialOrd for Far<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Far<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.cmp(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;

    use vitals_core::Rng;

    use super::*;

    /// Random pushes (near, in the current bucket, at the same instant, beyond the ring,
    /// after long silences) and pops: the queue must agree with a binary heap ordered by
    /// (time, push order) item for item.
    #[test]
    fn items_come_out_in_time_then_push_order_like_a_binary_heap() {
        for seed in 0..20 {
            let mut rng = Rng::seeded(seed);
            let mut queue = Queue::new();
            let mut reference = BinaryHeap::new();
            let (mut now, mut pushed, mut popped) = (0u64, 0u64, 0usize);
            for _ in 0..20_000 {
                if rng.below(100) < 55 {
                    let ahead = match rng.below(10) {
                        0 => 0,
                        1 => rng.below(WIDTH_US),
                        2 => RING * WIDTH_US + rng.below(10 * RING * WIDTH_US),
                        3 => rng.below(3) * RING * WIDTH_US,
                        _ => rng.below(2_000),
                    };
                    pushed += 1;
                    queue.push(Instant::from_micros(now + ahead), pushed);
                    reference.push(Reverse((now + ahead, pushed)));
                } else {
                    let until = now + rng.below(3_000);
                    let expected = reference.peek().filter(|Reverse((t, _))| *t <= until).copied();
                    let got = queue.pop_until(Instant::from_micros(until));
                    assert_eq!(
                        got.map(|(t, i)| (t.as_micros(), i)),
                        expected.map(|Reverse(e)| e),
                        "seed {seed}"
                    );
                    if let Some(Reverse((t, _))) = expected {
                        reference.pop();
                        now = t;
                        popped += 1;
                    }
                }
            }
            while let Some(Reverse((t, i))) = reference.pop() {
                assert_eq!(
                    queue.pop_until(Instant::from_micros(u64::MAX)),
                    Some((Instant::from_micros(t), i))
                );
            }
            assert_eq!(queue.pop_until(Instant::from_micros(u64::MAX)), None);
            assert!(popped > 5_000, "seed {seed}: the workload pops ({popped})");
        }
    }
}
