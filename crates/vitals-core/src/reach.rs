//! The reachability matrix: who hears whom. Each node sums up its own word about every
//! other member (heard within its detector's window or not) in a compact [`Row`], sends
//! it to every member up only when it changes (and, rarely, as a refresh), and keeps the
//! rows the others send. [`matrix::Matrix`] puts them together and classifies every
//! unreachable pair (node down, link down, sick observer, partition).
//!
//! A row names only the exceptions: `others` says what the members it does not list are
//! (heard, not heard, or no word), so a healthy node's row names nobody, a node that
//! hears one member less names one, and a sick node lists the few it still hears. Rows
//! travel in [`crate::message::Message::Reach`], never piggybacked on a strategy's own
//! messages (their wire forms stay as they were). Data only: the node decides when to
//! send (`Node::share_reach`); nothing here changes a status.

pub mod matrix;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::form::{MAX_LIST_ENTRIES, bounded_vec};
use crate::time::Instant;

/// A node's row is sent again to every member up at least once per this many rounds
/// (or once per N rounds beyond N = 30 members: at most one refresh datagram per node
/// per round, so the rows' bytes per node do not grow with N), spread over the rounds
/// (one lost datagram is mended within it; a joiner gets every row at once). A change
/// goes to every member up at the next round.
pub const REFRESH_ROUNDS: u64 = 30;

/// Up to this many members up, a change of a row goes to every one at once; beyond, it
/// rides the refresh rotation (the matrix is a summary there anyway).
pub const BROADCAST_MAX: usize = 64;

/// The rounds over which every member up gets this node's row again, with `up` others.
pub fn refresh_period(up: usize) -> u64 {
    REFRESH_ROUNDS.max(up as u64)
}

/// A row not heard again within three refresh periods is dropped (its sender stopped).
pub fn row_ttl(interval: Duration, up: usize) -> Duration {
    interval * u32::try_from(3 * refresh_period(up)).unwrap_or(u32::MAX)
}
/// Most bytes of names one row carries (unheard names first); beyond it the row says it
/// has no word about the members it could not list.
pub const ROW_BUDGET: usize = 900;

/// One observer's word about every other member, as it travels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// What the members listed in neither `heard` nor `unheard` are: `Some(true)` heard,
    /// `Some(false)` not heard, `None` no word (this observer does not judge them, or
    /// the row was cut to its budget).
    pub others: Option<bool>,
    /// Members heard within the detector's window (only those `others` does not cover).
    #[serde(deserialize_with = "bounded_vec::<_, String, MAX_LIST_ENTRIES>")]
    pub heard: Vec<String>,
    /// Members not heard within it.
    #[serde(deserialize_with = "bounded_vec::<_, String, MAX_LIST_ENTRIES>")]
    pub unheard: Vec<String>,
    /// The median of the round-trip times this observer measured, in microseconds
    /// (`None` where its strategy measures none). Not part of a change: a row is not
    /// sent again because a round trip varied.
    pub median_rtt_us: Option<u32>,
}

impl Row {
    /// Builds the compact row from one observer's word about each member (name order):
    /// the majority word becomes `others` when every member known has a word, and the
    /// lists are cut at [`ROW_BUDGET`] bytes (unheard first).
    pub fn compact(words: &[(&str, bool)], known: usize, rtts: &mut [u32]) -> Row {
        let heard_count = words.iter().filter(|(_, heard)| *heard).count();
        let unheard_count = words.len() - heard_count;
        let mut others = (words.len() == known && known > 0).then_some(heard_count >= unheard_count);
        let mut budget = ROW_BUDGET;
        let mut pick = |want: bool| -> (Vec<String>, bool) {
            let mut names = Vec::new();
            if others == Some(want) {
                return (names, true);
            }
            for (name, _) in words.iter().filter(|(_, heard)| *heard == want) {
                if name.len() + 1 > budget {
                    return (names, false);
                }
                budget -= name.len() + 1;
                names.push((*name).to_owned());
            }
            (names, true)
        };
        let (unheard, all_unheard) = pick(false);
        let (heard, all_heard) = pick(true);
        if !(all_unheard && all_heard) {
            others = None;
        }
        Row {
            others,
            heard,
            unheard,
            median_rtt_us: median(rtts),
        }
    }

    /// This observer's word about `name` (`None`: no word).
    pub fn word(&self, name: &str) -> Option<bool> {
        if self.unheard.iter().any(|n| n == name) {
            Some(false)
        } else if self.heard.iter().any(|n| n == name) {
            Some(true)
        } else {
            self.others
        }
    }

    /// Whether `other` says something different (round trips aside).
    fn differs(&self, other: &Row) -> bool {
        (&self.others, &self.heard, &self.unheard) != (&other.others, &other.heard, &other.unheard)
    }

    /// Whether the row says nothing at all (a node that judges nobody sends none).
    pub fn is_empty(&self) -> bool {
        self.others.is_none() && self.heard.is_empty() && self.unheard.is_empty()
    }
}

fn median(values: &mut [u32]) -> Option<u32> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[values.len() / 2])
}

/// A row received from another member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The row (shared with the message it came in, see [`crate::message::Message::Reach`]).
    pub row: Arc<Row>,
    /// When it arrived.
    pub at: Instant,
}

/// Who a round's reachability datagram goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// The row changed: every member up.
    Everyone,
    /// A refresh: the next `count` members up in rotation, and any member up that was
    /// not up last round (a joiner learns this row at once).
    Some { count: usize, newcomers: Vec<String> },
}

/// The rows this node holds, and what it last sent of its own.
#[derive(Clone, Debug, Default)]
pub struct Reach {
    rows: BTreeMap<String, Received>,
    /// No row held arrived before this (`None`: none held): until it is older than the
    /// time to live, no row can have expired and the rows are not walked.
    oldest: Option<Instant>,
    sent: Option<Row>,
    /// Refresh credit: members up are added each round, [`REFRESH_ROUNDS`] spent per send.
    credit: u64,
    /// Where the refresh rotation goes on (an index into the members up, by name).
    cursor: usize,
    /// The members up last round, in name order.
    last_up: Vec<String>,
    /// The member table's roster change count when `last_up` was compared last
    /// (`Members::roster_changes`): while it stands still, so does the list.
    up_seen: Option<u64>,
    /// How many members the table had forgotten when this node last dropped the rows of
    /// members it no longer knows (`Members::forgotten`): the node looks again only when
    /// that count moves.
    pub(crate) forgotten: u64,
}

impl Reach {
    /// `from`'s row arrived.
    pub(crate) fn receive(&mut self, now: Instant, from: &str, row: Arc<Row>) {
        let received = Received { row, at: now };
        match self.rows.get_mut(from) {
            Some(held) => *held = received,
            None => drop(self.rows.insert(from.to_owned(), received)),
        }
        self.oldest = Some(self.oldest.map_or(now, |oldest| oldest.min(now)));
    }

    /// The rows held from others, by observer name.
    pub fn rows(&self) -> &BTreeMap<String, Received> {
        &self.rows
    }

    /// Drops the rows whose observer `keep` refuses (members no longer known).
    pub(crate) fn keep_only(&mut self, keep: impl Fn(&str) -> bool) {
        self.rows.retain(|name, _| keep(name));
    }

    /// This round: whom `row` (this node's own) goes to, given the members up (name
    /// order) and the roster change count they were read at; `None` when nobody needs it. Drops rows older than [`row_ttl`] (walking
    /// them only when the oldest may be).
    pub(crate) fn due(
        &mut self,
        row: &Row,
        up: &[&str],
        up_changes: u64,
        now: Instant,
        interval: Duration,
    ) -> Option<Due> {
        let ttl = row_ttl(interval, up.len());
        if self.oldest.is_some_and(|oldest| now - oldest > ttl) {
            self.rows.retain(|_, r| now - r.at <= ttl);
            self.oldest = self.rows.values().map(|r| r.at).min();
        }
        let newcomers = self.newcomers(up, up_changes);
        if row.is_empty() {
            return None;
        }
        if self.sent.as_ref().is_none_or(|sent| sent.differs(row)) {
            self.sent = Some(row.clone());
            if up.len() <= BROADCAST_MAX {
                self.credit = 0;
                return Some(Due::Everyone);
            }
            // Beyond it a change rides the rotation: N datagrams from each of N nodes at
            // every change would not stay constant per node.
        }
        self.credit += up.len() as u64;
        let period = refresh_period(up.len());
        let count = usize::try_from(self.credit / period).unwrap_or(usize::MAX);
        self.credit %= period;
        (count > 0 || !newcomers.is_empty()).then_some(Due::Some { count, newcomers })
    }

    /// The next `count` of `up` in rotation.
    pub(crate) fn rotation<'a>(&mut self, up: &[&'a str], count: usize) -> Vec<&'a str> {
        if up.is_empty() {
            return Vec::new();
        }
        let count = count.min(up.len());
        let start = self.cursor % up.len();
        self.cursor = (start + count) % up.len();
        up.iter().cycle().skip(start).take(count).copied().collect()
    }

    fn newcomers(&mut self, up: &[&str], up_changes: u64) -> Vec<String> {
        let unchanged = || self.last_up.iter().map(String::as_str).eq(up.iter().copied());
        if self.up_seen == Some(up_changes) {
            debug_assert!(unchanged(), "the roster moves whenever the members up do");
            return Vec::new();
        }
        self.up_seen = Some(up_changes);
        if unchanged() {
            return Vec::new();
        }
        let new: Vec<String> = up
            .iter()
            .filter(|name| self.last_up.binary_search_by(|held| held.as_str().cmp(name)).is_err())
            .map(|name| (*name).to_owned())
            .collect();
        self.last_up = up.iter().map(|name| (*name).to_owned()).collect();
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn a_healthy_row_names_nobody_and_a_sick_one_names_whom_it_hears() {
        let healthy = Row::compact(&[("a", true), ("b", true), ("c", true)], 3, &mut []);
        assert_eq!(healthy.others, Some(true));
        assert!(healthy.heard.is_empty() && healthy.unheard.is_empty());
        let one = Row::compact(&[("a", true), ("b", false), ("c", true)], 3, &mut [5, 1, 9]);
        assert_eq!(
            (one.others, one.unheard.as_slice()),
            (Some(true), &["b".to_owned()][..])
        );
        assert_eq!(one.median_rtt_us, Some(5));
        let sick = Row::compact(&[("a", false), ("b", false), ("c", true)], 3, &mut []);
        assert_eq!(
            (sick.others, sick.heard.as_slice()),
            (Some(false), &["c".to_owned()][..])
        );
        assert_eq!(
            (sick.word("a"), sick.word("c"), sick.word("zz")),
            (Some(false), Some(true), Some(false))
        );
    }

    #[test]
    fn a_partial_word_lists_both_sides_and_says_nothing_of_the_rest() {
        // A pull member judges only its monitor: nothing is said of the others.
        let row = Row::compact(&[("monitor", true)], 5, &mut []);
        assert_eq!(row.others, None);
        assert_eq!((row.word("monitor"), row.word("x")), (Some(true), None));
        assert!(Row::compact(&[], 5, &mut []).is_empty());
    }

    #[test]
    fn a_row_is_bounded_in_bytes_and_then_says_nothing_of_whom_it_could_not_list() {
        let names: Vec<String> = (0..400).map(|i| format!("member-with-a-long-name-{i:03}")).collect();
        // Half heard, half not: the minority cannot be listed within the budget.
        let words: Vec<(&str, bool)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i % 2 == 0))
            .collect();
        let row = Row::compact(&words, words.len(), &mut []);
        let bytes: usize = row.heard.iter().chain(&row.unheard).map(|n| n.len() + 1).sum();
        assert!(bytes <= ROW_BUDGET, "{bytes}");
        assert_eq!(row.others, None);
        assert!(!row.unheard.is_empty());
        let encoded = postcard::to_allocvec(&row).expect("encodes");
        assert!(encoded.len() <= ROW_BUDGET + 16, "{}", encoded.len());
        let unlisted = words
            .iter()
            .find(|(n, _)| !row.heard.iter().chain(&row.unheard).any(|l| l == n));
        assert_eq!(row.word(unlisted.expect("some are cut").0), None);
    }

    #[test]
    fn a_row_goes_to_everyone_on_change_and_otherwise_rotates_slowly() {
        let mut reach = Reach::default();
        let up = ["a", "b", "c"];
        let row = Row::compact(&[("a", true), ("b", true), ("c", true)], 3, &mut []);
        let interval = Duration::from_secs(1);
        assert_eq!(reach.due(&row, &up, 0, at(0), interval), Some(Due::Everyone));
        let mut sent = 0;
        for round in 1..=REFRESH_ROUNDS {
            match reach.due(&row, &up, 0, at(round * 1000), interval) {
                Some(Due::Some { count, newcomers }) => {
                    assert!(newcomers.is_empty());
                    sent += reach.rotation(&up, count).len();
                }
                None => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(sent, up.len(), "each member once per refresh period");
        // Beyond 30 members, at most one refresh datagram per round.
        let many: Vec<String> = (0..100).map(|i| format!("m{i:03}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let mut big = Reach::default();
        big.due(&row, &many, 0, at(0), interval);
        for round in 1..=100 {
            if let Some(Due::Some { count, .. }) = big.due(&row, &many, 0, at(round * 1000), interval) {
                assert!(count <= 1, "{count} in one round");
            }
        }
        let mut round_trip_varied = row.clone();
        round_trip_varied.median_rtt_us = Some(1234);
        assert_ne!(
            reach.due(&round_trip_varied, &up, 0, at(40_000), interval),
            Some(Due::Everyone)
        );
        let changed = Row::compact(&[("a", true), ("b", false), ("c", true)], 3, &mut []);
        assert_eq!(reach.due(&changed, &up, 0, at(41_000), interval), Some(Due::Everyone));
        let joined = ["a", "b", "c", "d"];
        assert_eq!(
            reach.due(&changed, &joined, 1, at(42_000), interval),
            Some(Due::Some {
                count: 0,
                newcomers: vec!["d".into()]
            })
        );
    }

    #[test]
    fn rows_expire_and_follow_the_member_table() {
        let mut reach = Reach::default();
        reach.receive(at(0), "a", Arc::default());
        reach.receive(at(0), "gone", Arc::default());
        let interval = Duration::from_secs(1);
        reach.keep_only(|name| name != "gone");
        reach.due(&Row::default(), &[], 0, at(1_000), interval);
        assert_eq!(reach.rows().keys().collect::<Vec<_>>(), ["a"]);
        reach.due(&Row::default(), &[], 0, at((3 * REFRESH_ROUNDS + 2) * 1000), interval);
        assert!(reach.rows().is_empty());
    }
}
