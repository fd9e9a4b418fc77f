//! The roster: every other member's address and [`Reach`], in name order, from which a
//! round's recipients are chosen. Built when asked for and dropped whenever a member is
//! added or removed or changes address or reach, so that a round reads one short array
//! instead of every record. Never changes a status.

use std::net::SocketAddr;

use crate::members::Member;
use crate::message::Status;
use crate::time::Instant;

/// What a round's recipients are chosen by: one member's address and [`Reach`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The member's protocol address.
    pub addr: SocketAddr,
    /// Whether it is up, dead (since when) or gone.
    pub reach: Reach,
}

/// A member's status as far as reaching it goes: alive and suspect are alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Alive or suspect.
    Up,
    /// Declared dead at `since`.
    Dead {
        /// When it was declared dead.
        since: Instant,
    },
    /// Left on purpose.
    Left,
}

impl Reach {
    /// How `member` is reached.
    pub fn of(member: &Member) -> Reach {
        match member.status {
            Status::Alive | Status::Suspect => Reach::Up,
            Status::Dead => Reach::Dead { since: member.since },
            Status::Left => Reach::Left,
        }
    }
}

/// The cached list (`None` until asked for after a change), and how many changes it saw.
#[derive(Clone, Debug, Default)]
pub(super) struct Roster {
    list: Option<Vec<Contact>>,
    changes: u64,
}

impl Roster {
    /// A member was added or removed, or changed address or reach.
    pub(super) fn invalidate(&mut self) {
        self.list = None;
        self.changes += 1;
    }

    /// How many times [`Roster::invalidate`] was called: while it stands still, the
    /// members up (and every address) are those of the last look.
    pub(super) fn changes(&self) -> u64 {
        self.changes
    }

    /// The list, built from `others` (every other member, in name order) if dropped.
    pub(super) fn get_or_build<'m>(&mut self, others: impl Iterator<Item = &'m Member>) -> &[Contact] {
        self.list.get_or_insert_with(|| {
            others
                .map(|m| Contact {
                    addr: m.addr,
                    reach: Reach::of(m),
                })
                .collect()
        })
    }
}
