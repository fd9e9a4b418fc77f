//! Unit-test support for the strategies: one node's state (configuration, member table,
//! outbox, generator) from which a [`Ctx`] is lent, so a strategy's own rules are tested
//! without a cluster. Tests only.

use std::net::SocketAddr;

use crate::config::Config;
use crate::members::{Judged, Members};
use crate::message::{Envelope, MemberEntry, Message, Peer, Status};
use crate::output::{Outbox, Output};
use crate::rng::Rng;
use crate::strategy::Ctx;
use crate::time::Instant;

/// One node, named "me", that knows `others` alive at incarnation 0.
pub(crate) struct Fixture {
    pub(crate) config: Config,
    pub(crate) me: Peer,
    pub(crate) members: Members,
    pub(crate) out: Outbox,
    pub(crate) rng: Rng,
}

/// The address of the `i`-th member of a fixture (the node itself is 0).
pub(crate) fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 7946))
}

impl Fixture {
    pub(crate) fn new(config: Config, others: &[String]) -> Fixture {
        let me = Peer {
            name: "me".into(),
            addr: addr(0),
            incarnation: 0,
        };
        let mut members = Members::new(&me, &config, Judged::All, Instant::ZERO, 1);
        for (i, name) in others.iter().enumerate() {
            members.apply(Instant::ZERO, &entry(name, i + 1, Status::Alive));
        }
        Fixture {
            config,
            me,
            members,
            out: Outbox::default(),
            rng: Rng::seeded(7),
        }
    }

    /// What a strategy may touch at `now`, in round 1 (due at `now`).
    pub(crate) fn ctx(&mut self, now: Instant) -> Ctx<'_> {
        Ctx {
            now,
            round: 1,
            round_at: now,
            config: &self.config,
            me: &mut self.me,
            health: None,
            members: &mut self.members,
            out: &mut self.out,
            rng: &mut self.rng,
        }
    }

    /// Every message queued since the last call, with its recipients.
    pub(crate) fn sent(&mut self) -> Vec<(Vec<SocketAddr>, Envelope)> {
        let mut sent = Vec::new();
        while let Some(output) = self.out.pop() {
            match output {
                Output::Send { to, envelope } => sent.push((vec![to], (*envelope).clone())),
                Output::Broadcast { to, envelope } => sent.push((to, (*envelope).clone())),
                Output::Event(_) => {}
            }
        }
        sent
    }
}

/// `count` member names, `m000`, `m001`, ...
pub(crate) fn names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("m{i:03}")).collect()
}

/// The entry for the `i`-th member of a fixture.
pub(crate) fn entry(name: &str, i: usize, status: Status) -> MemberEntry {
    MemberEntry {
        timing: None,
        name: name.into(),
        addr: addr(i),
        incarnation: 0,
        status,
        health: None,
    }
}

/// The messages of `sent`, without their recipients.
pub(crate) fn messages(sent: Vec<(Vec<SocketAddr>, Envelope)>) -> Vec<Message> {
    sent.into_iter().map(|(_, envelope)| envelope.message).collect()
}
