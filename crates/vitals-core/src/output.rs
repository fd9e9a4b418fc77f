//! What a node hands its host: the [`Output`] queue ([`Outbox`]), the [`Event`]s in it,
//! and the [`Stats`] counters the handlers bump. Shared by the node and the strategies
//! (which queue through `Ctx`), so neither depends on the other for it. Never encodes
//! bytes: the host encodes each envelope.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;

use crate::members::Transition;
use crate::message::{Envelope, Incarnation, Message, Peer};
use crate::timing::{Mismatch, Timing};

/// Something the host must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Send `envelope` to `to`.
    Send {
        /// Destination address.
        to: SocketAddr,
        /// What to send.
        envelope: Arc<Envelope>,
    },
    /// Send one `envelope` to every address in `to`, in order: a round's heartbeat or
    /// poll, or urgent news. A host whose encoding does not name the destination encodes
    /// it once.
    Broadcast {
        /// Destination addresses.
        to: Vec<SocketAddr>,
        /// What to send to each.
        envelope: Arc<Envelope>,
    },
    /// Something happened that the host may log, count or publish.
    Event(Event),
}

/// What a node reports to its host.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A member's status changed (exactly one event per change).
    Transition(Transition),
    /// Auto-tune changed this node's own timing (`adapt.rs`).
    Retimed {
        /// The timing before.
        from: crate::timing::Pace,
        /// The timing from now on.
        to: crate::timing::Pace,
        /// Why.
        reason: crate::adapt::Reason,
        /// The loss measured in the window that decided it.
        loss: f64,
    },
    /// This node learned that others hold it dead, left or superseded, and raised its
    /// incarnation to refute it.
    Refuted {
        /// The new incarnation.
        incarnation: Incarnation,
    },
    /// The node has heard back from a seed (or needs none): it is part of a cluster.
    Joined,
    /// Push with acknowledgements: no acknowledgement arrived for as long as it would take
    /// to declare a peer dead; this node is alive but cut off.
    Isolated,
    /// Acknowledgements arrive again after [`Event::Isolated`].
    Reconnected,
    /// A join was refused here: `name` belongs to a live member at `holder`, and the
    /// joiner at `from` was not added (this node's own name, when `holder` is this node).
    NameConflict {
        /// The contested name.
        name: String,
        /// Where the joiner sent from.
        from: SocketAddr,
        /// Where the live member with that name is.
        holder: SocketAddr,
    },
    /// This node's join was refused by `by` (nothing changed: the join goes on).
    JoinRefused {
        /// The refusing node's address.
        by: SocketAddr,
        /// Why.
        reason: crate::message::Refusal,
    },
    /// A dead or left member was forgotten at an operator's request (`force-leave`),
    /// here or at another node (`by`).
    Reaped {
        /// The member.
        name: String,
        /// The node that asked, if not this one.
        by: Option<String>,
    },
    /// A force-leave was refused (see [`crate::node::ForceLeaveError`]).
    ForceLeaveRefused(crate::node::ForceLeaveError),
    /// Leader strategy: the leader this node knows, or its term, changed (`None`: no
    /// leader is known in `term`, an election is under way).
    Leader {
        /// The leader of `term`, as this node knows it.
        leader: Option<String>,
        /// The node's current term.
        term: u64,
    },
    /// A member announced a timing this node cannot work with (`timing.rs`): reported
    /// once per member and cause (again only when its announcement changes).
    TimingMismatch {
        /// The member.
        name: String,
        /// Its address.
        addr: SocketAddr,
        /// What cannot work.
        cause: Mismatch,
        /// This node's timing.
        ours: Timing,
        /// The member's.
        theirs: Timing,
    },
    /// Leader strategy: this node does not stand for election, and why (fewer voters
    /// known than `bootstrap_expect`, or no seed has answered its join: alone it would
    /// lead a one-node cluster, a split brain). Reported when the reason first holds or
    /// changes; `None` once it may stand again.
    ElectionHeld {
        /// The reason, for an operator.
        reason: Option<String>,
    },
}

/// Counters of inputs the node dropped or acted on without a status change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    /// Messages from a sender speaking for a superseded, dead or left incarnation.
    pub stale_messages: u64,
    /// Messages this node's strategy or role does not use.
    pub ignored_messages: u64,
    /// Messages claiming to come from this node's own name.
    pub impostor_messages: u64,
    /// Times this node raised its incarnation to refute news of its death.
    pub refutations: u64,
    /// Updates refused by the membership table (implausible incarnation jumps, full table).
    pub refused_updates: u64,
    /// Times this node noticed that it had been stopped (its clock jumped past its own
    /// round by more than an interval) and re-armed its detectors instead of judging.
    pub pauses: u64,
    /// Messages from a name held by a live member at another address (a join among
    /// them is answered with a refusal).
    pub name_conflicts: u64,
    /// Ping: times fast confirmation paused here because a second member within 120
    /// intervals declared dead sooner than Lifeguard's shortest suspicion came back
    /// sooner than its longest (fast confirmation's verdicts were wrong: a machine too
    /// busy to schedule its agents in time).
    pub fast_confirm_pauses: u64,
}

/// The queue of outputs, and the counters the handlers bump.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Output>,
    /// The counters, read by `Node::stats`.
    pub(crate) stats: Stats,
    /// The node's own timing, attached to joins and member lists, and to everything
    /// sent while `announcing` (one round in [`crate::timing::ANNOUNCE_ROUNDS`]).
    pub(crate) timing: Option<Timing>,
    pub(crate) announcing: bool,
}

impl Outbox {
    /// An empty outbox for a node announcing `timing`.
    pub(crate) fn announcing(timing: Timing) -> Outbox {
        Outbox {
            timing: Some(timing),
            ..Outbox::default()
        }
    }

    pub(crate) fn send(&mut self, me: &Peer, to: SocketAddr, message: Message) {
        let envelope = Arc::new(Envelope {
            from: me.clone(),
            timing: self.timing_for(&message),
            message,
        });
        self.queue.push_back(Output::Send { to, envelope });
    }

    /// Queue one `message` for all of `targets` (one output, one envelope).
    pub(crate) fn broadcast(&mut self, me: &Peer, targets: Vec<SocketAddr>, message: Message) {
        if targets.is_empty() {
            return;
        }
        let envelope = Arc::new(Envelope {
            from: me.clone(),
            timing: self.timing_for(&message),
            message,
        });
        self.queue.push_back(Output::Broadcast { to: targets, envelope });
    }

    /// The timing an envelope carrying `message` announces (`timing.rs`).
    fn timing_for(&self, message: &Message) -> Option<Timing> {
        let membership = matches!(message, Message::Join { .. } | Message::Members { .. });
        self.timing.filter(|_| membership || self.announcing)
    }

    pub(crate) fn event(&mut self, event: Event) {
        self.queue.push_back(Output::Event(event));
    }

    pub(crate) fn refuted(&mut self) {
        self.stats.refutations += 1;
    }

    pub(crate) fn ignored(&mut self) {
        self.stats.ignored_messages += 1;
    }

    pub(crate) fn fast_confirm_paused(&mut self) {
        self.stats.fast_confirm_pauses += 1;
    }

    /// The oldest queued output.
    pub(crate) fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }
}
