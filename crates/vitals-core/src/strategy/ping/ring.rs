//! Ping's watch ring: the members up, placed on a ring by a hash of their names, each
//! node watching the next one along it. Every interval a node sends a heartbeat to the
//! member that watches it, and a watcher that has heard nothing from the member it
//! watches for [`SILENCE`] intervals probes it next (before the round-robin). Without
//! it the first probe of a crashed member waits as long as chance says: with each of N
//! members probing one member per period (in a shuffled round-robin or at random), a
//! given member goes unprobed through a period about 1/e of the time, and through three
//! one time in 20 (a kill at N = 500 waited 4.9 s for its first verdict). With it a
//! crash is probed within `SILENCE + 1` intervals and suspected one period later.
//!
//! A heartbeat is one small datagram per node per interval, and it changes nothing while
//! it arrives: the round-robin's probes go where they went, so a member in trouble is
//! probed and accused by as many members as before. (A first ring, which gave its
//! watcher every other probe period, halved every other member's probes of it, and a
//! sick member was then accused by its watcher alone for longer: observers doubted it
//! later, `members/doubt.rs` counting only refutations of different accusers.) The
//! heartbeat is `Message::Heartbeat` numbered by round, so the watcher's link
//! measurements (`links.rs`) see that link's loss.
//!
//! The place on the ring is a fixed function of the name, the same on every node and
//! in every version, so that nodes agree on who watches whom when they agree on who
//! is up. While they do not, as while a cluster forms, a member may be watched by a
//! node it does not send to, which would then probe it every other interval: the watch
//! waits until the cluster settles (no join for a while, `Members::settling`). It is a
//! hash, not the names' order, so that a member's watcher is not its neighbour by name
//! (`web-01`, `web-02`: likely in the same rack, and down with it).
//!
//! Data and a pure choice: this module never sends, and draws no random numbers.

use std::time::Duration;

use crate::members::{Member, Members};
use crate::message::Status;
use crate::time::Instant;

/// A watched member silent here for longer than this many intervals is probed next: one
/// heartbeat lost in two, or a late one, costs a probe turn, not a byte.
pub(super) const SILENCE: f64 = 1.5;

/// Who this node watches and who watches it, as found when the members up were last as
/// counted (`Members::roster_changes`).
#[derive(Clone, Debug, Default)]
pub(super) struct Ring {
    found_at: Option<u64>,
    watched: Option<String>,
    watcher: Option<String>,
}

impl Ring {
    fn refresh(&mut self, members: &Members, me: &str) {
        let changes = members.roster_changes();
        if self.found_at != Some(changes) {
            let up = || members.up_others().map(|m| m.name.as_str());
            self.watched = successor(up(), me).map(str::to_string);
            self.watcher = predecessor(up(), me).map(str::to_string);
            self.found_at = Some(changes);
        }
    }

    /// The member that watches `me`, to send heartbeats to.
    pub(super) fn watcher<'m>(&mut self, members: &'m Members, me: &str) -> Option<&'m Member> {
        self.refresh(members, me);
        members.get(self.watcher.as_deref()?)
    }

    /// The member `me` watches, if it is alive and nothing came from it directly within
    /// `silence` before `now` (a suspect is probed as the strategy's rechecks say).
    pub(super) fn silent<'m>(
        &mut self,
        members: &'m Members,
        me: &str,
        now: Instant,
        silence: Duration,
    ) -> Option<&'m Member> {
        self.refresh(members, me);
        members
            .get(self.watched.as_deref()?)
            .filter(|m| m.status == Status::Alive && m.last_heard.is_none_or(|at| now - at > silence))
    }
}

/// The name after `me` on the ring among `names`: the member `me` watches (ties, two
/// names in one place, by name).
pub(super) fn successor<'a>(names: impl Iterator<Item = &'a str>, me: &str) -> Option<&'a str> {
    let mine = place(me);
    names.min_by_key(|name| (place(name).wrapping_sub(mine).wrapping_sub(1), *name))
}

/// The name before `me` on the ring among `names`: the member that watches `me`.
pub(super) fn predecessor<'a>(names: impl Iterator<Item = &'a str>, me: &str) -> Option<&'a str> {
    let mine = place(me);
    names.min_by_key(|name| (mine.wrapping_sub(place(name)).wrapping_sub(1), *name))
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
    fn a_member_sends_its_heartbeats_to_the_member_that_watches_it() {
        let names = names(200);
        for me in &names {
            let others = || names.iter().map(String::as_str).filter(|n| n != me);
            let watcher = predecessor(others(), me).expect("a watcher");
            let seen_from_watcher = names.iter().map(String::as_str).filter(|n| *n != watcher);
            assert_eq!(successor(seen_from_watcher, watcher), Some(me.as_str()));
        }
    }
}
