//! Reading another node's member list page after page: a seed's as this node starts, an
//! anti-entropy partner's, a seed's of `vitals join` on a running agent. A join's reply
//! carries one page and the number of the next; the reader asks for it. Owns which lists
//! are read (while starting, the first seed's only) and the page a read waits for, asked
//! again each round while it does not come (a lost request or reply would otherwise end
//! the list there). Data only: `Node` sends what it says.

use std::net::SocketAddr;

/// A node reads its first seed's list for at most this many rounds ([`Paging::starting`]):
/// then it reads every list sent to it, and what they list is news.
pub(super) const START_ROUNDS: u64 = 30;
/// A read that gets no page for this many rounds is given up (the sender is gone); the
/// next exchange repairs what it missed.
pub(super) const READ_ROUNDS: u64 = 5;

/// The list being read: from whom, the page last asked, and the round it was asked in.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Reading {
    from: SocketAddr,
    asked: u32,
    round: u64,
}

/// Which member lists this node reads, and the one it waits a page of.
#[derive(Clone, Debug)]
pub(super) struct Paging {
    /// Starting: until the first seed's last page (or [`START_ROUNDS`]), only the first
    /// seed that answered (once one has) is read.
    starting: Option<Option<SocketAddr>>,
    reading: Option<Reading>,
}

impl Paging {
    pub(super) fn new() -> Paging {
        Paging {
            starting: Some(None),
            reading: None,
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

    /// `src` sent a page whose next is `page`: whether to ask for it. While starting, a
    /// node reads the first seed that answers only: each seed would otherwise send its
    /// whole list to every joiner (500 agents starting at once, each joining through the
    /// same three, kept those three too busy to answer probes). A page asked already
    /// (a reply sent twice, a request asked again) is not asked twice.
    pub(super) fn next(&mut self, src: SocketAddr, page: u32, round: u64) -> bool {
        if self.reading.is_some_and(|r| r.from == src && page <= r.asked) {
            return false;
        }
        if self.starting(round)
            && let Some(first) = &mut self.starting
            && *first.get_or_insert(src) != src
        {
            return false;
        }
        self.reading = Some(Reading {
            from: src,
            asked: page,
            round,
        });
        true
    }

    /// `src` sent the last page of its list.
    pub(super) fn last(&mut self, src: SocketAddr) {
        if self.reading.is_some_and(|r| r.from == src) {
            self.reading = None;
        }
        if self.starting == Some(Some(src)) {
            self.starting = None;
        }
    }

    /// At round `round`: the page to ask again, and of whom, when the read waits for one
    /// asked in an earlier round; a read that waited [`READ_ROUNDS`] is given up.
    pub(super) fn again(&mut self, round: u64) -> Option<(SocketAddr, u32)> {
        let reading = self.reading?;
        if round >= reading.round + READ_ROUNDS {
            self.reading = None;
            return None;
        }
        (round > reading.round).then_some((reading.from, reading.asked))
    }
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
        assert!(paging.next(addr(1), 1, 0), "the first to answer");
        assert!(!paging.next(addr(2), 1, 0), "another seed's first page is merged only");
        assert!(!paging.next(addr(1), 1, 0), "the same reply twice");
        assert!(paging.next(addr(1), 2, 0));
        paging.last(addr(1));
        assert!(!paging.starting(1), "the first seed's last page: started");
        assert!(paging.next(addr(2), 1, 1), "then every list is read");
    }

    #[test]
    fn a_page_that_does_not_come_is_asked_again_each_round_then_given_up() {
        let mut paging = Paging::new();
        paging.started();
        assert!(paging.next(addr(3), 4, 10));
        assert_eq!(paging.again(10), None, "asked this round");
        assert_eq!(paging.again(11), Some((addr(3), 4)));
        assert!(paging.next(addr(3), 5, 12), "page 4 came: 5 is asked");
        assert_eq!(paging.again(13), Some((addr(3), 5)));
        assert_eq!(paging.again(12 + READ_ROUNDS), None, "given up");
        assert_eq!(paging.again(13 + READ_ROUNDS), None);
        paging.last(addr(3));
        assert_eq!(paging.again(20), None);
    }

    #[test]
    fn a_starting_node_reads_any_list_after_its_start_rounds() {
        let mut paging = Paging::new();
        assert!(paging.next(addr(1), 1, 0));
        assert!(!paging.next(addr(2), 1, START_ROUNDS - 1));
        assert!(
            paging.next(addr(2), 1, START_ROUNDS),
            "the first seed's last page was lost"
        );
    }
}
