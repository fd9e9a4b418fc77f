//! Indirect probes (SWIM's ping-req) for the strategies in which one node judges a member
//! alone by its heartbeats: the leader (and a node without a leader, which judges
//! everyone itself), pull's monitors, and pull's members judging the monitors. Each round,
//! every member this node judges whose detector has counted nothing for more than one
//! interval (other messages from it, such as reachability rows, do not count) is probed
//! through `probes.indirect_probes` (k) random others; an answer relayed
//! by any of them counts as a heartbeat ([`Members::vouched`]). So one broken link
//! between a judge and a member never makes a death: a member is declared dead only when
//! neither the judge nor any of the k others it asks can reach it.
//!
//! Owns the requests in flight, as the judge and as an intermediary. Never sets a status
//! (it reports relayed answers to `Members`), never decides who is judged, and asks only
//! about a member the judge already doubts (silent for an interval), so a healthy cluster
//! sends nothing more.
//!
//! [`Members::vouched`]: crate::members::Members::vouched

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::message::{Message, Peer};
use crate::strategy::Ctx;

/// How many requests in flight are remembered, as judge and as intermediary each.
const KEPT: usize = 256;

#[derive(Clone, Debug, Default)]
pub(crate) struct Indirect {
    seq: u64,
    /// As the judge: (sequence number, target) of the requests sent, oldest first.
    asked: VecDeque<(u64, String)>,
    /// As an intermediary: (own probe's sequence number, requester's address, requester's
    /// sequence number, target), oldest first.
    relaying: VecDeque<(u64, SocketAddr, u64, String)>,
}

impl Indirect {
    /// This round's requests: every member judged here, up, and whose detector has counted
    /// no arrival for more than an interval is probed through k others.
    pub(crate) fn on_round(&mut self, ctx: &mut Ctx<'_>) {
        if !ctx.members.counts_relays() {
            return;
        }
        let (now, quiet) = (ctx.now, ctx.config.interval);
        // Silence as the detector counts it: other messages from the member (reachability
        // rows, refutations) must not stop the asking while its judged signal is lost.
        let doubted: Vec<String> = ctx
            .members
            .up_others()
            .filter(|m| ctx.members.detector_silence(&m.name, now).is_some_and(|s| s > quiet))
            .map(|m| m.name.clone())
            .collect();
        for target in doubted {
            self.ask(ctx, target);
        }
    }

    fn ask(&mut self, ctx: &mut Ctx<'_>, target: String) {
        let k = ctx.config.probes.indirect_probes;
        let helpers: Vec<SocketAddr> = ctx
            .random_up(k + 1)
            .into_iter()
            .filter(|(name, _)| *name != target)
            .take(k)
            .map(|(_, addr)| addr)
            .collect();
        if helpers.is_empty() {
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        remember(&mut self.asked, (seq, target.clone()));
        ctx.broadcast(helpers, Message::PingReq { seq, target });
    }

    /// An indirect-probe message; returns it back when it is none.
    pub(crate) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: SocketAddr,
        from: &Peer,
        message: Message,
    ) -> Option<Message> {
        match message {
            Message::PingReq { seq, target } => self.relay(ctx, src, seq, target),
            Message::Ping { seq, .. } => ctx.send(
                src,
                Message::PingAck {
                    seq,
                    gossip: Vec::new(),
                },
            ),
            Message::PingAck { seq, .. } => {
                let found = self.relaying.iter().position(|r| r.0 == seq && r.3 == from.name);
                if let Some((_, requester, theirs, _)) = found.and_then(|i| self.relaying.remove(i)) {
                    let incarnation = from.incarnation;
                    ctx.send(
                        requester,
                        Message::IndirectAck {
                            seq: theirs,
                            incarnation,
                        },
                    );
                }
            }
            Message::IndirectAck { seq, .. } => {
                let found = self.asked.iter().position(|(s, _)| *s == seq);
                if let Some((_, target)) = found.and_then(|i| self.asked.remove(i)) {
                    ctx.members.vouched(ctx.now, &target);
                }
            }
            other => return Some(other),
        }
        None
    }

    /// Probe `target` for the requester: only a member this node knows and holds up, at
    /// the address it knows (never an address a datagram names).
    fn relay(&mut self, ctx: &mut Ctx<'_>, requester: SocketAddr, theirs: u64, target: String) {
        let known = ctx
            .members
            .get(&target)
            .filter(|m| m.status.is_up() && m.name != ctx.me.name);
        let Some(addr) = known.map(|m| m.addr) else {
            return;
        };
        self.seq += 1;
        let seq = self.seq;
        remember(&mut self.relaying, (seq, requester, theirs, target));
        ctx.send(
            addr,
            Message::Ping {
                seq,
                gossip: Vec::new(),
            },
        );
    }
}

fn remember<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.len() == KEPT {
        queue.pop_front();
    }
    queue.push_back(item);
}
