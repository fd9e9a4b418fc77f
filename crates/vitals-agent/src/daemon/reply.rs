//! The anti-amplification rule: while a datagram is handled, nothing sent back to its
//! source may be larger than it was (give or take [`REPLY_SLACK`]), so that a forged
//! source address cannot turn this agent into an amplifier.
//!
//! One exception, the member list's next page: a join request is padded to a full page
//! (so that the answer is never larger than the request), and is therefore always
//! larger than the page that asks for it. It may follow a page only from an address this
//! agent itself asked for the list within [`ASKED_FOR`] (a join, a sync): a forged page
//! from anywhere else still gets nothing. Owns the budget of the datagram in hand and the
//! recent askings; never sends or decodes anything.

use std::net::SocketAddr;
use std::time::Duration;

use vitals_core::{Instant, Message};

/// How much larger than its request a reply may be: the two nodes' names may differ by up
/// to `wire::MAX_NAME_LEN` bytes, and varint-encoded numbers by a few more.
pub(crate) const REPLY_SLACK: usize = vitals_core::wire::MAX_NAME_LEN + 16;

/// How long after asking an address for the member list its pages may be followed.
const ASKED_FOR: Duration = Duration::from_secs(30);

/// Most addresses remembered as asked (joins go to a few seeds, syncs to one member).
const MAX_ASKED: usize = 32;

#[derive(Debug, Default)]
pub(crate) struct ReplyBudget {
    /// While a datagram is handled: its source and size.
    current: Option<(SocketAddr, usize)>,
    /// The addresses asked for the member list, and when last.
    asked: Vec<(SocketAddr, Instant)>,
}

impl ReplyBudget {
    /// A datagram of `len` bytes from `src` is about to be handled.
    pub(crate) fn receiving(&mut self, src: SocketAddr, len: usize) {
        self.current = Some((src, len));
    }

    /// The datagram in hand has been handled: sends are no longer replies.
    pub(crate) fn handled(&mut self) {
        self.current = None;
    }

    /// Whether `message`, `len` bytes encoded, may go to `to` now. Records the join
    /// requests that go out, whose pages may then be followed.
    pub(crate) fn allows(&mut self, now: Instant, to: SocketAddr, message: &Message, len: usize) -> bool {
        let is_join = matches!(message, Message::Join { .. });
        let within = match self.current {
            Some((src, budget)) if src == to => len <= budget + REPLY_SLACK || (is_join && self.was_asked(now, to)),
            _ => true,
        };
        if within && is_join {
            self.asked(now, to);
        }
        within
    }

    fn was_asked(&self, now: Instant, addr: SocketAddr) -> bool {
        self.asked.iter().any(|&(a, at)| a == addr && now - at < ASKED_FOR)
    }

    fn asked(&mut self, now: Instant, addr: SocketAddr) {
        self.asked.retain(|&(a, at)| a != addr && now - at < ASKED_FOR);
        if self.asked.len() == MAX_ASKED {
            self.asked.remove(0);
        }
        self.asked.push((addr, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, last], 7946))
    }

    fn page() -> Message {
        Message::introduction()
    }

    #[test]
    fn a_reply_larger_than_its_request_is_refused_and_other_sends_are_not_replies() {
        let mut budget = ReplyBudget::default();
        let now = Instant::ZERO;
        budget.receiving(addr(1), 100);
        assert!(budget.allows(now, addr(1), &page(), 100 + REPLY_SLACK));
        assert!(!budget.allows(now, addr(1), &page(), 101 + REPLY_SLACK));
        assert!(
            budget.allows(now, addr(2), &page(), 5000),
            "not a reply: another address"
        );
        budget.handled();
        assert!(
            budget.allows(now, addr(1), &page(), 5000),
            "not a reply: nothing in hand"
        );
    }

    #[test]
    fn the_next_page_is_asked_only_of_an_address_this_agent_asked_for_the_list() {
        let mut budget = ReplyBudget::default();
        let t0 = Instant::ZERO;
        let join = Message::join(1);
        // A forged page "from" a stranger gets no padded request back.
        budget.receiving(addr(9), 200);
        assert!(!budget.allows(t0, addr(9), &join, 1249));
        budget.handled();
        // The agent asked the seed (not a reply): its pages may be followed.
        assert!(budget.allows(t0, addr(1), &Message::join(0), 1249));
        let later = t0 + Duration::from_secs(1);
        budget.receiving(addr(1), 1120);
        assert!(budget.allows(later, addr(1), &join, 1249));
        budget.handled();
        // Long after the asking, a page no longer earns a larger request.
        let much_later = later + ASKED_FOR + Duration::from_secs(1);
        budget.receiving(addr(1), 1120);
        assert!(!budget.allows(much_later, addr(1), &join, 1249));
    }
}
