//! Pull: the configured monitors poll every member each interval ("are you alive?") and
//! judge them by their replies; members judge only the monitors (by their polls) and
//! learn every other verdict from the view each poll carries. Before a silent member (or
//! monitor) is declared dead, others are asked to probe it (`indirect.rs`), so one broken
//! link to one monitor removes nobody.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::bounds::{Cluster, Relay};
use crate::config::Config;
use crate::message::{MemberEntry, Message, Peer};
use crate::strategy::Ctx;
use crate::strategy::indirect::Indirect;
use crate::wire;

#[derive(Clone, Debug)]
pub(crate) struct Pull {
    seq: u64,
    monitors: BTreeSet<String>,
    monitoring: bool,
    /// Indirect probes of the members this node judges.
    indirect: Indirect,
}

impl Pull {
    pub(crate) fn new(monitors: &[String], me: &Peer) -> Pull {
        let monitors: BTreeSet<String> = monitors.iter().cloned().collect();
        let monitoring = monitors.contains(&me.name);
        Pull {
            seq: 0,
            monitors,
            monitoring,
            indirect: Indirect::default(),
        }
    }

    pub(crate) fn on_round(&mut self, ctx: &mut Ctx<'_>) {
        self.indirect.on_round(ctx);
        if !self.monitoring {
            return;
        }
        self.seq += 1;
        let views = wire::chunk_entries(ctx.members.view_entries());
        let view = &views[(ctx.round % views.len() as u64) as usize];
        let message = Message::Poll {
            seq: self.seq,
            view: view.clone(),
        };
        ctx.broadcast_round(message, Some(self.seq));
    }

    pub(crate) fn on_message(
        &mut self,
        ctx: &mut Ctx<'_>,
        src: SocketAddr,
        from: &Peer,
        message: Message,
    ) -> Vec<MemberEntry> {
        match message {
            Message::Poll { seq, view } => {
                ctx.send(
                    src,
                    Message::PollReply {
                        seq,
                        health: ctx.health.clone(),
                    },
                );
                if !self.monitoring {
                    // Monitors judge each other by replies; members judge monitors by polls.
                    ctx.members.arrival(ctx.now, &from.name);
                }
                view
            }
            Message::PollReply { seq, health } if self.monitoring => {
                ctx.members.arrival(ctx.now, &from.name);
                ctx.members.set_health(&from.name, health);
                ctx.members.probe_answered(ctx.now, &from.name, seq);
                Vec::new()
            }
            other => {
                if self.indirect.on_message(ctx, src, from, other).is_some() {
                    ctx.out.ignored();
                }
                Vec::new()
            }
        }
    }

    /// Newly learned monitors must learn of this node at once, or they would not poll it:
    /// each gets a join. Returns the other names (introduced as in every strategy).
    pub(crate) fn introduce(&mut self, ctx: &mut Ctx<'_>, names: &[String]) -> Vec<String> {
        let me = ctx.me.name.clone();
        let (monitors, rest): (Vec<&String>, Vec<&String>) = names.iter().partition(|n| self.monitors.contains(*n));
        for name in monitors.into_iter().filter(|n| **n != me) {
            if let Some(addr) = ctx.members.get(name).map(|m| m.addr) {
                ctx.send(addr, Message::join(0));
            }
        }
        rest.into_iter().cloned().collect()
    }

    /// The judged set for this node: monitors judge everyone, members only the monitors.
    pub(crate) fn judged(monitors: &[String], me: &Peer) -> crate::members::Judged {
        if monitors.contains(&me.name) {
            crate::members::Judged::All
        } else {
            crate::members::Judged::Only(monitors.iter().cloned().collect())
        }
    }
}

/// A member learns a monitor's verdict from the monitor's next poll: one interval, one
/// more for each lost poll (`relay.lost_rounds`), and one delivery.
pub(crate) fn relay_bound(config: &Config, cluster: &Cluster, relay: &Relay) -> Duration {
    config.interval * (1 + relay.lost_rounds) + cluster.delay
}
