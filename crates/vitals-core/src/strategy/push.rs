//! Push: every node sends a heartbeat to every other node each interval and judges every
//! other node with its own detector. With `ack`, every heartbeat is acknowledged: round
//! trips are measured, and a node whose heartbeats go unacknowledged for as long as it
//! would take to declare a peer dead learns that it is cut off (alive, but unheard).

use std::net::SocketAddr;

use crate::config::Config;
use crate::message::{MemberEntry, Message, Peer};
use crate::output::Event;
use crate::strategy::Ctx;
use crate::time::Instant;

#[derive(Clone, Debug)]
pub(crate) struct Push {
    seq: u64,
    ack: bool,
    /// Since when acknowledgements have been awaited without one arriving.
    awaiting_ack_since: Instant,
    isolated: bool,
}

impl Push {
    pub(crate) fn new(ack: bool, now: Instant) -> Push {
        Push {
            seq: 0,
            ack,
            awaiting_ack_since: now,
            isolated: false,
        }
    }

    pub(crate) fn on_round(&mut self, ctx: &mut Ctx<'_>) {
        self.seq += 1;
        let message = Message::Heartbeat {
            seq: self.seq,
            health: ctx.health.clone(),
            ack: self.ack,
        };
        ctx.broadcast_round(message, self.ack.then_some(self.seq));
    }

    pub(crate) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: SocketAddr,
        from: &Peer,
        message: Message,
    ) -> Vec<MemberEntry> {
        match message {
            Message::Heartbeat { seq, health, ack } => {
                ctx.members.arrival(ctx.now, &from.name);
                ctx.members.set_health(&from.name, health);
                if ack {
                    ctx.send(src, Message::Ack { seq });
                }
            }
            Message::Ack { seq } => self.on_ack(ctx, from, seq),
            _ => ctx.out.ignored(),
        }
        Vec::new()
    }

    fn on_ack(&mut self, ctx: &mut Ctx<'_>, from: &Peer, seq: u64) {
        ctx.members.probe_answered(ctx.now, &from.name, seq);
        self.awaiting_ack_since = ctx.now;
        if self.isolated {
            self.isolated = false;
            ctx.event(Event::Reconnected);
        }
    }

    pub(crate) fn after_judge(&mut self, ctx: &mut Ctx<'_>) {
        if !self.ack {
            return;
        }
        let anyone_up = ctx.members.up_others().next().is_some();
        if !anyone_up {
            self.awaiting_ack_since = ctx.now;
            return;
        }
        if !self.isolated && ctx.now >= self.awaiting_ack_since + ctx.config.dead_after() {
            self.isolated = true;
            ctx.event(Event::Isolated);
        }
    }

    pub(crate) fn next_deadline(&self, config: &Config) -> Option<Instant> {
        (self.ack && !self.isolated).then(|| self.awaiting_ack_since + config.dead_after())
    }

    pub(crate) fn isolated(&self) -> bool {
        self.isolated
    }
}
