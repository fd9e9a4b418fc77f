//! Reading another node's member list page after page: a seed's as this node starts, an
//! anti-entropy partner's, a seed's of `vitals join` on a running agent. A join's reply
//! carries one page and the number of the next; the reader asks for it. Owns which lists
//! are read (while starting, of the seeds' lists the first to answer only) and the page
//! each read waits for, asked again each round while it does not come (a lost request or
//! reply would otherwise end the list there), and which list without a next page ends
//! a read ([`may_end_a_list`]). Data only: `Node` sends what it says.

use std::net::SocketAddr;

use crate::message::MemberEntry;

/// A node reads its first seed's list for at most this many rounds ([`Paging::starting`]):
/// then it reads every list sent to it, and what they list is news.
pub(super) const START_ROUNDS: u64 = 30;
/// A read that gets no page for this many rounds is given up (the sender is gone); the
/// next exchange repairs what it missed.
pub(super) const READ_ROUNDS: u64 = 5;
/// Lists read at once: a starting node's seed's, its first exchange partner's, and a
/// partner that chose it meanwhile. A reader of more drops its oldest read.
const MAX_READS: usize = 3;

/// A list being read: from whom, the page last asked, and the round it was asked in.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Reading {
    from: SocketAddr,
    asked: u32,
    round: u64,
}

/// Which member lists this node reads, and the pages it waits for.
#[derive(Clone, Debug)]
pub(super) struct Paging {
    /// Starting: until the first seed's last page (or [`START_ROUNDS`]), only the first
    /// seed that answered (once one has) is read of the seeds' lists.
    starting: Option<Option<SocketAddr>>,
    reads: Vec<Reading>,
}

impl Paging {
    pub(super) fn new() -> Paging {
        Paging {
            starting: Some(None),
            reads: Vec::new(),
        }
    }

    /// Whether this node is still reading its first seed's list at its round `round`.
    pub(super) fn starting(&self, round: u64) -> bool {
        self.starting.is_some() && round < START_ROUNDS
    }

    /// This node is a member already (`vitals join` on a running agent): every seed's
    /// list is read.
    pub(super) fn started(&mut self) {
        self.starting = None;
    }

    /// `src` (one of this node's seeds when `seed`) sent a page whose next is `page`:
    /// whether to ask for it. While starting, a node reads the first seed that answers
    /// only: each seed would otherwise send its whole list to every joiner (500 agents
    /// starting at once, each joining through the same three, kept those three too busy
    /// to answer probes). Any other list is read meanwhile: the node's first exchange,
    /// at round 10, often comes before the last of its seed's 24 pages at N = 500. A page
    /// asked already (a reply sent twice, a request asked again) is not asked twice.
    pub(super) fn next(&mut self, src: SocketAddr, seed: bool, page: u32, round: u64) -> bool {
        let read = self.reads.iter().position(|r| r.from == src);
        if read.is_some_and(|i| page <= self.reads[i].asked) {
            return false;
        }
        if seed
            && self.starting(round)
            && let Some(first) = &mut self.starting
            && *first.get_or_insert(src) != src
        {
            return false;
        }
        let reading = Reading {
            from: src,
            asked: page,
            round,
        };
        match read {
            Some(i) => self.reads[i] = reading,
            None => {
                if self.reads.len() == MAX_READS {
                    self.reads.remove(0);
                }
                self.reads.push(reading);
            }
        }
        true
    }

    /// `src` sent the last page of its list.
    pub(super) fn last(&mut self, src: SocketAddr) {
        self.reads.retain(|r| r.from != src);
        if self.starting == Some(Some(src)) {
            self.starting = None;
        }
    }

    /// At round `round`: the pages to ask again, and of whom, for the reads that wait for
    /// one asked in an earlier round; a read that waited [`READ_ROUNDS`] is given up.
    pub(super) fn again(&mut self, round: u64) -> Vec<(SocketAddr, u32)> {
        self.reads.retain(|r| round < r.round + READ_ROUNDS);
        self.reads
            .iter()
            .filter(|r| round > r.round)
            .map(|r| (r.from, r.asked))
            .collect()
    }
}

/// Whether a member list without a next page, from `sender` to `reader`, may be the last
/// page of a list: not when it names no one but the two of them. A node sends its own
/// entry alone (to refute, to tell its checks) or the reader's (to correct it, to tell a
/// suspect) at any time, with no next page: taken for a last page, such a message ended
/// a read half way, and the next page, if lost, was never asked again (at N = 500 a
/// starting node that had read 7 of its seed's 24 pages knew one member only 30 s later,
/// when they met). A list whose last page names only those two is read to its end all
/// the same: that page is asked again until [`READ_ROUNDS`] give the read up.
pub(super) fn may_end_a_list(entries: &[MemberEntry], sender: &str, reader: &str) -> bool {
    entries.iter().any(|e| e.name != sender && e.name != reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 7946))
    }

    #[test]
    fn a_starting_node_reads_the_first_seed_that_answers_page_after_page() {
        let mut paging = Paging::new();
        assert!(paging.next(addr(1), true, 1, 0), "the first to answer");
        assert!(
            !paging.next(addr(2), true, 1, 0),
            "another seed's first page is merged only"
        );
        assert!(!paging.next(addr(1), true, 1, 0), "the same reply twice");
        assert!(paging.next(addr(1), true, 2, 0));
        paging.last(addr(1));
        assert!(!paging.starting(1), "the first seed's last page: started");
        assert!(paging.next(addr(2), true, 1, 1), "then every list is read");
    }

    #[test]
    fn a_page_that_does_not_come_is_asked_again_each_round_then_given_up() {
        let mut paging = Paging::new();
        paging.started();
        assert!(paging.next(addr(3), false, 4, 10));
        assert_eq!(paging.again(10), vec![], "asked this round");
        assert_eq!(paging.again(11), vec![(addr(3), 4)]);
        assert!(paging.next(addr(3), false, 5, 12), "page 4 came: 5 is asked");
        assert_eq!(paging.again(13), vec![(addr(3), 5)]);
        assert_eq!(paging.again(12 + READ_ROUNDS), vec![], "given up");
        assert_eq!(paging.again(13 + READ_ROUNDS), vec![]);
        paging.last(addr(3));
        assert_eq!(paging.again(20), vec![]);
    }

    #[test]
    fn a_starting_node_reads_any_list_after_its_start_rounds() {
        let mut paging = Paging::new();
        assert!(paging.next(addr(1), true, 1, 0));
        assert!(!paging.next(addr(2), true, 1, START_ROUNDS - 1));
        assert!(
            paging.next(addr(2), true, 1, START_ROUNDS),
            "the first seed's last page was lost"
        );
    }

    #[test]
    fn a_starting_node_reads_an_exchange_partners_list_beside_its_seeds() {
        let mut paging = Paging::new();
        assert!(paging.next(addr(1), true, 1, 0));
        assert!(paging.next(addr(1), true, 2, 1));
        assert!(!paging.next(addr(2), true, 1, 1), "another seed's list");
        assert!(paging.next(addr(7), false, 1, 10), "the first exchange's partner");
        assert!(paging.next(addr(1), true, 3, 10), "the seed's read goes on");
        assert!(paging.starting(10));
        assert_eq!(paging.again(11), vec![(addr(1), 3), (addr(7), 1)]);
        paging.last(addr(7));
        assert_eq!(paging.again(12), vec![(addr(1), 3)]);
    }

    #[test]
    fn a_reader_of_too_many_lists_drops_its_oldest_read() {
        let mut paging = Paging::new();
        paging.started();
        for (i, from) in (3..3 + MAX_READS as u8 + 1).enumerate() {
            assert!(paging.next(addr(from), false, 1, i as u64));
        }
        let asked: Vec<SocketAddr> = paging.again(MAX_READS as u64 + 1).into_iter().map(|(a, _)| a).collect();
        assert_eq!(asked.len(), MAX_READS);
        assert!(!asked.contains(&addr(3)), "the oldest read was dropped");
    }

    fn entry(name: &str) -> MemberEntry {
        MemberEntry {
            name: name.into(),
            addr: addr(9),
            incarnation: 3,
            status: crate::message::Status::Alive,
            health: None,
            timing: None,
        }
    }

    #[test]
    fn only_a_list_naming_others_than_sender_and_reader_may_end_a_read() {
        assert!(!may_end_a_list(&[], "seed", "me"), "an introduction");
        assert!(!may_end_a_list(&[entry("seed")], "seed", "me"), "a refutation, checks");
        assert!(!may_end_a_list(&[entry("me")], "seed", "me"), "a correction");
        assert!(!may_end_a_list(&[entry("seed"), entry("me")], "seed", "me"));
        assert!(
            may_end_a_list(&[entry("seed"), entry("m7")], "seed", "me"),
            "a last page"
        );
        assert!(may_end_a_list(&[entry("m9")], "seed", "me"), "a last page of one");
    }
}
