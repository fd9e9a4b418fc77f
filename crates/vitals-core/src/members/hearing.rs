//! Local health (Lifeguard's principle, applied to this node's own word): how much of
//! what this node expects to hear it actually hears. Every heartbeat (or poll) that feeds
//! one of its detectors is counted; over the last [`HEARING_ROUNDS`] intervals it
//! expected one from each member it judges that is up. A node that hears fewer than half
//! of them is *sick*: its inbound path loses most datagrams (Rapid's 80 % loss), so its
//! own view of others is not to be trusted, and neither is its refutation of others'
//! verdicts about itself (see `Members::refute`): it would only be declared dead again
//! within a detector's timeout, and every such round trip flips its status at every
//! other member. It refutes once it hears again (every strategy but ping, see
//! `Members::lifeguard`). Gossip counts messages instead of arrivals: a member's counter
//! reaches a node once a round only while one digest holds the whole cluster (about 45
//! members), so beyond that every node heard "fewer than half" of what it expected, took
//! itself for sick and refuted nothing; there each digest sent expects a reply and about
//! one digest from another member. Owns only the count; never reads a clock (the caller
//! passes `now`).

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Instant;

/// The window local health is measured over, in intervals: long enough that 80 % loss
/// is told apart from a few lost heartbeats (at 10 % loss, fewer than half of 10 ×
/// members arrivals is beyond chance), short enough that a node that hears again (a
/// healed partition) refutes within a second or two.
pub const HEARING_ROUNDS: u32 = 10;

/// Most messages [`Hearing::expect`] and [`Hearing::heard`] keep: two windows' worth at
/// gossip's largest fanout (16), a digest and a reply to each of 16 members a round.
const MESSAGES_CAP: usize = 2 * HEARING_ROUNDS as usize * 2 * 16;

/// Arrivals feeding this node's detectors within the last window.
#[derive(Clone, Debug, Default)]
pub(super) struct Hearing {
    arrivals: VecDeque<Instant>,
    /// Answers expected beyond the periodic signals (ping's probes): one entry each.
    asked: VecDeque<Instant>,
    /// Counting starts here (the node's start, or its last resume from a pause).
    since: Instant,
}

impl Hearing {
    pub(super) fn new(now: Instant) -> Hearing {
        Hearing {
            arrivals: VecDeque::new(),
            asked: VecDeque::new(),
            since: now,
        }
    }

    /// A heartbeat (or poll) from a judged member arrived at `now`.
    pub(super) fn arrival(&mut self, now: Instant, interval: Duration, judged_up: usize) {
        self.forget(now, interval);
        // Bounded: at most two windows' worth of arrivals from every judged member.
        if self.arrivals.len() < (2 * HEARING_ROUNDS as usize).saturating_mul(judged_up.max(1)) {
            self.arrivals.push_back(now);
        }
    }

    /// A probe ended that expected `expected` answers and got `heard` (ping).
    pub(super) fn answers(&mut self, now: Instant, interval: Duration, expected: u32, heard: u32) {
        self.forget(now, interval);
        let cap = 4 * HEARING_ROUNDS as usize * 8;
        for _ in 0..expected.min(8) {
            if self.asked.len() < cap {
                self.asked.push_back(now);
            }
        }
        for _ in 0..heard.min(expected).min(8) {
            if self.arrivals.len() < cap.max(self.arrivals.len()) {
                self.arrivals.push_back(now);
            }
        }
    }

    /// `count` messages are expected within about an interval of `now` (gossip: a reply
    /// to each digest sent to a member up, and about as many digests from others).
    pub(super) fn expect(&mut self, now: Instant, interval: Duration, count: usize) {
        self.forget(now, interval);
        for _ in 0..count {
            if self.asked.len() < MESSAGES_CAP {
                self.asked.push_back(now);
            }
        }
    }

    /// One of the messages [`Hearing::expect`] counted on arrived.
    pub(super) fn heard(&mut self, now: Instant, interval: Duration) {
        self.forget(now, interval);
        if self.arrivals.len() < MESSAGES_CAP {
            self.arrivals.push_back(now);
        }
    }

    /// The node was paused: what it did not hear while stopped says nothing of its path.
    pub(super) fn restart(&mut self, now: Instant) {
        self.arrivals.clear();
        self.asked.clear();
        self.since = now;
    }

    /// Whether this node hears fewer than half of the heartbeats it expects from the
    /// `judged_up` members it judges, over the last window (at least two intervals'
    /// worth must have been expected).
    pub(super) fn is_poor(&self, now: Instant, interval: Duration, judged_up: usize) -> bool {
        let window = interval * HEARING_ROUNDS;
        let span = (now - self.since).min(window);
        let rounds = (span.as_micros() / interval.as_micros().max(1)) as usize;
        let from = now.as_micros().saturating_sub(window.as_micros() as u64);
        let asked = self.asked.iter().filter(|t| t.as_micros() >= from).count();
        let expected = rounds.saturating_mul(judged_up) + asked;
        if rounds < 2 || expected < 2 {
            return false;
        }
        let heard = self.arrivals.iter().filter(|t| t.as_micros() >= from).count();
        heard * 2 < expected
    }

    fn forget(&mut self, now: Instant, interval: Duration) {
        let window = (interval * HEARING_ROUNDS).as_micros() as u64;
        let from = now.as_micros().saturating_sub(window);
        while self.arrivals.front().is_some_and(|t| t.as_micros() < from) {
            self.arrivals.pop_front();
        }
        while self.asked.front().is_some_and(|t| t.as_micros() < from) {
            self.asked.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn a_node_that_hears_a_fifth_of_its_heartbeats_is_poor_and_recovers_when_it_hears_again() {
        let interval = Duration::from_millis(200);
        let mut h = Hearing::new(at(0));
        for round in 1..=20u64 {
            for member in 0..6u64 {
                if (round * 6 + member) % 5 == 0 {
                    h.arrival(at(round * 200 + member), interval, 6);
                }
            }
        }
        assert!(h.is_poor(at(4_010), interval, 6));
        for round in 21..=30u64 {
            for member in 0..6u64 {
                h.arrival(at(round * 200 + member), interval, 6);
            }
        }
        assert!(!h.is_poor(at(6_010), interval, 6));
    }

    #[test]
    fn a_node_that_hears_nine_tenths_is_not_poor_nor_one_that_just_started() {
        let interval = Duration::from_millis(200);
        let mut h = Hearing::new(at(0));
        assert!(!h.is_poor(at(300), interval, 6));
        for round in 1..=20u64 {
            for member in 0..6u64 {
                if (round * 6 + member) % 10 != 0 {
                    h.arrival(at(round * 200 + member), interval, 6);
                }
            }
        }
        assert!(!h.is_poor(at(4_010), interval, 6));
        h.restart(at(4_010));
        assert!(!h.is_poor(at(4_100), interval, 6));
    }
}
