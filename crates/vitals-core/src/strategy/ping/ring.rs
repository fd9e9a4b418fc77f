//! Ping's watch ring: the members up, placed on a ring by a hash of their names, each
//! node watching the next one along it. A node gives every other probe period of its
//! round-robin to the member it watches, so every member is probed at least once every
//! two of its watcher's periods, whatever the round-robins do. Without it the first
//! probe of a crashed member waits as long as chance says: with each of N members
//! probing one member per period (in a shuffled round-robin or at random), a given
//! member goes unprobed through a period about 1/e of the time, and through three one
//! time in 20 (a kill at N = 500 waited 4.0 s for its first probe). In a cluster of 40
//! (`tests/ping.rs`), of 6,000 instants the first probe of a member came three periods
//! or more after 772 without the ring, after none with it. The probes per period do
//! not change, nor, on average, how often each member is probed; the round-robin's
//! cycle takes twice as many periods.
//!
//! The place on the ring is a fixed function of the name, the same on every node and
//! in every version, so that nodes agree on who watches whom when they agree on who
//! is up (while they do not, as while a cluster forms, a member may be watched twice
//! or not at all for a while: the round-robin still reaches it). It is a hash, not the
//! names' order, so that a member's watcher is not its neighbour by name (`web-01`,
//! `web-02`: likely in the same rack, and down with it).
//!
//! Data and a pure choice: this module never sends, and draws no random numbers.

use crate::members::{Member, Members};
use crate::message::Status;

/// Who this node watches, and whose turn the next probe period is.
#[derive(Clone, Debug, Default)]
pub(super) struct Ring {
    /// The member watched, as found when the members up were last as counted.
    watched: Option<(u64, Option<String>)>,
    /// Whether the last period taken from the round-robin was the ring's.
    took_last: bool,
}

impl Ring {
    /// Whether this period goes to the watched member: every other one.
    pub(super) fn take_turn(&mut self) -> bool {
        self.took_last = !self.took_last;
        self.took_last
    }

    /// The member `me` watches: the first member up after it on the ring, if it is alive
    /// (a suspect is probed as the strategy's rechecks say: a suspect no quorum can
    /// declare dead must not take every other period for good).
    pub(super) fn watched<'m>(&mut self, members: &'m Members, me: &str) -> Option<&'m Member> {
        let changes = members.roster_changes();
        if self.watched.as_ref().is_none_or(|(at, _)| *at != changes) {
            let next = successor(members.up_others().map(|m| m.name.as_str()), me);
            self.watched = Some((changes, next.map(str::to_string)));
        }
        let name = self.watched.as_ref()?.1.as_deref()?;
        members.get(name).filter(|m| m.status == Status::Alive)
    }
}

/// The name after `me` on the ring among `names` (ties, two names in one place, by name).
pub(super) fn successor<'a>(names: impl Iterator<Item = &'a str>, me: &str) -> Option<&'a str> {
    let mine = place(me);
    names.min_by_key(|name| (place(name).wrapping_sub(mine).wrapping_sub(1), *name))
}

/// A name's place on the ring: FNV-1a over its bytes, then SplitMix64's finaliser so
/// that names differing in their last character land far apart. Fixed: changing it
/// changes who watches whom between versions.
fn place(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("web-{i:03}")).collect()
    }

    #[test]
    fn each_member_is_watched_by_exactly_one_other() {
        let names = names(200);
        let mut watched: Vec<&str> = names
            .iter()
            .map(|me| {
                let others = names.iter().map(String::as_str).filter(|n| n != me);
                successor(others, me).expect("someone to watch")
            })
            .collect();
        watched.sort_unstable();
        let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
        all.sort_unstable();
        assert_eq!(watched, all, "the watch is a permutation: everyone watched once");
    }

    #[test]
    fn neighbours_by_name_do_not_watch_each_other() {
        let names = names(200);
        let by_name = names.windows(2).filter(|pair| {
            let others = names.iter().map(String::as_str).filter(|n| *n != pair[0]);
            successor(others, &pair[0]) == Some(pair[1].as_str())
        });
        // A random permutation makes about one such pair; the names' order, all 199.
        assert!(by_name.count() <= 5);
    }

    #[test]
    fn the_place_on_the_ring_is_the_same_in_every_version() {
        // The watch only works if every node computes the same places. The values are
        // FNV-1a and SplitMix64's finaliser computed apart (in Python).
        assert_eq!(place(""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(place("web-001"), 0x1459_9852_e26b_9970);
    }

    #[test]
    fn turns_alternate() {
        let mut ring = Ring::default();
        let turns: Vec<bool> = (0..4).map(|_| ring.take_turn()).collect();
        assert_eq!(turns, [true, false, true, false]);
    }
}
