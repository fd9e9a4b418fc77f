//! The protocol's vocabulary: who a peer is, what a member's status is, and every message
//! nodes exchange. Messages are plain values; only [`crate::wire`] turns them into bytes.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// A node's incarnation: raised only by the node itself, to refute news of its death.
pub type Incarnation = u64;

/// The sender of a message, as it describes itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// The node's unique name in the cluster.
    pub name: String,
    /// Where the node listens for protocol messages.
    #[serde(with = "crate::form::addr")]
    pub addr: SocketAddr,
    /// The node's current incarnation.
    pub incarnation: Incarnation,
}

/// A member's liveness, as one node believes it.
///
/// At the same incarnation a later status overrides an earlier one in this order:
/// `Alive` < `Suspect` < `Dead` < `Left`. Only a higher incarnation (which only the member
/// itself can produce) brings a `Dead` or `Left` member back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    /// Heard from recently enough.
    Alive,
    /// Late: the detector has started to doubt it, but it is not yet declared dead.
    Suspect,
    /// Declared failed.
    Dead,
    /// Announced its own departure.
    Left,
}

impl Status {
    /// The status's lowercase name, as the API and metrics show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Alive => "alive",
            Status::Suspect => "suspect",
            Status::Dead => "dead",
            Status::Left => "left",
        }
    }

    /// Whether the member may be sent work.
    pub fn is_up(self) -> bool {
        matches!(self, Status::Alive | Status::Suspect)
    }
}

/// A compact summary of a node's resources, sampled by the host and carried in heartbeats,
/// with the node's check results when it runs checks, and its tags. Its serde forms are
/// in [`crate::tags`] (an untagged health encodes as it did before tags existed).
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// CPU use over the last sample period, 0–100 (all cores together).
    pub cpu_percent: f32,
    /// Memory available to new work.
    pub mem_available_bytes: u64,
    /// Total memory.
    pub mem_total_bytes: u64,
    /// One-minute load average.
    pub load1: f32,
    /// Free space on the disk that holds the agent's working directory.
    pub disk_free_bytes: u64,
    /// The node's check results and services, if it runs checks or fronts services.
    pub checks: Option<crate::checks::Checks>,
    /// The node's tags (`--tag key=value`), carried with its membership.
    pub tags: crate::tags::Tags,
}

/// One member as a node describes it to others (join replies, monitor views).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberEntry {
    /// The member's name.
    pub name: String,
    /// The member's protocol address.
    #[serde(with = "crate::form::addr")]
    pub addr: SocketAddr,
    /// The incarnation the status is about.
    pub incarnation: Incarnation,
    /// The status the describing node holds.
    pub status: Status,
    /// The member's last known health, if any.
    pub health: Option<Health>,
    /// The timing the member announced, if the describing node knows it (in join
    /// replies; `None` in views and rumors, to keep them small).
    pub timing: Option<crate::timing::Timing>,
}

/// Every message of every strategy. Appended to only: the wire format is versioned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// "I am here": asks the receiver to add the sender and reply with one page of its
    /// member list. Padded so that the reply is never larger than the request (no
    /// amplification).
    Join {
        /// Which page of the member list to send back (0 first).
        page: u32,
        /// Zeros: [`crate::form::LIST_BUDGET`] of them.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, u8, { crate::form::MAX_DATAGRAM }>")]
        padding: Vec<u8>,
    },
    /// Part of the sender's member list (a join reply, or a correction of the receiver).
    Members {
        /// The entries of this page.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, MemberEntry, { crate::form::MAX_LIST_ENTRIES }>")]
        entries: Vec<MemberEntry>,
        /// In a join reply: the next page to ask for, if the list goes on.
        next_page: Option<u32>,
    },
    /// Push: "I am alive", sent every interval to every member.
    Heartbeat {
        /// Sequence number, echoed by the acknowledgement.
        seq: u64,
        /// The sender's latest health sample.
        health: Option<Health>,
        /// Whether the sender wants an [`Message::Ack`].
        ack: bool,
    },
    /// Push with acknowledgement: the reply to a heartbeat.
    Ack {
        /// The acknowledged heartbeat's sequence number.
        seq: u64,
    },
    /// Pull: a monitor's "are you alive?", carrying (part of) the monitor's view.
    Poll {
        /// Sequence number, echoed by the reply.
        seq: u64,
        /// A slice of the monitor's member table (rotated when it does not fit).
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, MemberEntry, { crate::form::MAX_LIST_ENTRIES }>")]
        view: Vec<MemberEntry>,
    },
    /// Pull: the answer to a poll.
    PollReply {
        /// The poll's sequence number.
        seq: u64,
        /// The replier's latest health sample.
        health: Option<Health>,
    },
    /// The sender is leaving the cluster on purpose.
    Leave,
    /// Ping strategy: a direct probe, with piggybacked news.
    Ping {
        /// Sequence number, echoed by the ack.
        seq: u64,
        /// News (membership changes) the sender spreads.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, Rumor, { crate::form::MAX_LIST_ENTRIES }>")]
        gossip: Vec<Rumor>,
    },
    /// Ping strategy: the answer to a probe.
    PingAck {
        /// The probe's sequence number.
        seq: u64,
        /// News the sender spreads.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, Rumor, { crate::form::MAX_LIST_ENTRIES }>")]
        gossip: Vec<Rumor>,
    },
    /// Ping strategy: "please probe `target` for me" (SWIM's ping-req). Only a member
    /// the receiver itself knows is probed, at the address the receiver knows.
    PingReq {
        /// The requester's probe sequence number.
        seq: u64,
        /// The member to probe, by name.
        target: String,
    },
    /// Ping strategy: the target answered an indirect probe.
    IndirectAck {
        /// The requester's probe sequence number.
        seq: u64,
        /// The target's incarnation, as its answer gave it: a requester that holds the
        /// target suspect at an older one learns of the refutation from the answer, even
        /// when the refutation itself never reached it.
        incarnation: Incarnation,
    },
    /// Ping strategy (Lifeguard): the target did not answer an indirect probe in time,
    /// but the intermediary is alive and did its part.
    Nack {
        /// The requester's probe sequence number.
        seq: u64,
    },
    /// Leader: the leader's heartbeat, sent to every member each interval. Carries (a
    /// slice of) the leader's view while the leader holds its lease.
    LeaderHeartbeat {
        /// The leader's term.
        term: u64,
        /// Sequence number, echoed by the members' reports (the leader's lease and
        /// check-quorum count acknowledged rounds).
        seq: u64,
        /// A slice of the leader's member table (rotated when it does not fit); empty
        /// while the leader holds no lease.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, MemberEntry, { crate::form::MAX_LIST_ENTRIES }>")]
        view: Vec<MemberEntry>,
    },
    /// Leader: a member's heartbeat to the leader, every interval (also the answer a
    /// member gives a leader of an older term, so that it steps down).
    LeaderReport {
        /// The sender's current term.
        term: u64,
        /// The latest leader heartbeat sequence number received in that term (0: none).
        echo: u64,
        /// The sender's latest health sample.
        health: Option<Health>,
    },
    /// Leader: a (pre-)candidate asks for a vote (Raft §5.2; pre-vote: thesis §9.6).
    VoteRequest {
        /// The term the candidate stands in (for a pre-vote: the term it would stand in).
        term: u64,
        /// A pre-vote: the receiver changes no state.
        pre: bool,
        /// With default voters: how many voters the candidate knows (a voter that knows
        /// more refuses; see `strategy/election.rs`).
        known: u32,
    },
    /// Leader: the answer to a [`Message::VoteRequest`].
    VoteReply {
        /// The requested term when granted, else the replier's current term.
        term: u64,
        /// Whether this answers a pre-vote.
        pre: bool,
        /// Whether the vote is granted.
        granted: bool,
    },
    /// Gossip strategy: a bounded, rotating digest of the sender's heartbeat counters,
    /// sent every interval to `fanout` random members (scuttlebutt push).
    Digest {
        /// The sender's latest health sample.
        health: Option<Health>,
        /// The sender's own counter first, then a window of what it knows (see
        /// `strategy/gossip.rs`); never more than the digest budget.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, Beat, { crate::form::MAX_LIST_ENTRIES }>")]
        entries: Vec<Beat>,
    },
    /// Gossip strategy: the answer to a digest (scuttlebutt pull): the replier's own
    /// counter and the counters it holds newer than the digest did, never larger than
    /// the digest it answers.
    DigestReply {
        /// The replier's latest health sample.
        health: Option<Health>,
        /// The replier's own counter first, then what the digest's sender lacks.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, Beat, { crate::form::MAX_LIST_ENTRIES }>")]
        entries: Vec<Beat>,
    },
    /// Quorum-confirmed verdicts (push, pull, gossip; see `quorum.rs`): the sender's own
    /// detector's word about members, sent each round while it has any to give (an
    /// accusation it holds, or a change of its word less than a window old). Appended in
    /// version 1, so every other message is encoded as before; only nodes that run with
    /// `--quorum` send it.
    Opinions {
        /// At most [`crate::quorum::OPINION_BUDGET`] bytes of them.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, Opinion, { crate::form::MAX_LIST_ENTRIES }>")]
        opinions: Vec<Opinion>,
    },
    /// Ping strategy (appended after `Opinions`, so older variants keep their wire tags):
    /// urgent news (a suspicion and its accusers), sent straight to the members rather
    /// than piggybacked, so that others can confirm it at once. No reply.
    News {
        /// The news.
        #[serde(deserialize_with = "crate::form::bounded_vec::<_, Rumor, { crate::form::MAX_LIST_ENTRIES }>")]
        gossip: Vec<Rumor>,
    },
    /// (Appended after `News`.) The answer to a join this node will not take: the joiner
    /// is not added, and nothing else changes on either side (see `node/lifecycle.rs`).
    Refused {
        /// Why.
        reason: Refusal,
    },
    /// (Appended after `Refused`.) An operator removed a dead member (`vitals
    /// force-leave`): every receiver that does not hear it forgets it at once, keeping its
    /// incarnation so that only the member itself, at a higher one, can return.
    Reap {
        /// The member.
        name: String,
        /// The incarnation the sender held it dead (or left) at.
        incarnation: Incarnation,
    },
    /// (Appended after `Reap`.) The sender's row of the reachability matrix: whom it
    /// hears (see `reach.rs`), sent when it changes and rarely otherwise. No reply.
    Reach {
        /// The row, shared: every recipient of one datagram (and a host that recognises
        /// a row it already holds) keeps the same copy. Encoded as the row itself.
        row: std::sync::Arc<crate::reach::Row>,
    },
}

/// Why a node refused a join ([`Message::Refused`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The joiner's name belongs to a live member at another address.
    NameTaken {
        /// Where the live member with that name is.
        #[serde(with = "crate::form::addr")]
        holder: SocketAddr,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NameTaken { holder } => write!(
                f,
                "the name is taken by a live member at {holder} (give this node another --name, or stop \
                 the other one: a restart on a new address is accepted once the old one is declared dead)"
            ),
        }
    }
}

/// One observer's own word about one member (quorum-confirmed verdicts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opinion {
    /// The member.
    pub name: String,
    /// The incarnation the word is about.
    pub incarnation: Incarnation,
    /// `Some(true)`: the sender hears the member (a vouch); `Some(false)`: its detector
    /// declares the member dead (an accusation); `None`: no word yet.
    pub heard: Option<bool>,
    /// A question: the sender holds the member unconfirmed and asks every receiver for
    /// its word about it (answered for as long as the question keeps coming).
    pub ask: bool,
}

/// One member's line in a gossip digest: who it is, where, at which incarnation, how
/// the sender holds it, and the highest heartbeat counter the sender has seen from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Beat {
    /// The member's name.
    pub name: String,
    /// The member's protocol address.
    #[serde(with = "crate::form::addr")]
    pub addr: SocketAddr,
    /// The incarnation the counter belongs to.
    pub incarnation: Incarnation,
    /// The status the sender holds. Receivers never adopt `Dead` from it for a third
    /// party (each node judges counters itself); the member itself refutes it.
    pub status: Status,
    /// The member's heartbeat counter (raised by the member every interval).
    pub heartbeat: u64,
}

/// Most accusers one rumor names.
pub const MAX_ACCUSERS: usize = 16;

/// A piece of membership news spread by the ping strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rumor {
    /// The member and the status the news is about.
    pub entry: MemberEntry,
    /// For a suspicion: every member known to have accused it (failed its own probe);
    /// receivers merge the sets, and confirmations count distinct accusers.
    #[serde(deserialize_with = "crate::form::bounded_vec::<_, String, { crate::message::MAX_ACCUSERS }>")]
    pub accusers: Vec<String>,
    /// For a suspicion: how long ago, in milliseconds, the sender's suspicion began, so
    /// that every node's timer runs out at about the same moment however late the news
    /// reached it (no clock is shared: only an age travels).
    pub age_ms: u32,
}

impl Message {
    /// A short name for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::Members { .. } => "members",
            Message::Heartbeat { .. } => "heartbeat",
            Message::Ack { .. } => "ack",
            Message::Poll { .. } => "poll",
            Message::PollReply { .. } => "poll_reply",
            Message::Leave => "leave",
            Message::Ping { .. } => "ping",
            Message::PingAck { .. } => "ping_ack",
            Message::PingReq { .. } => "ping_req",
            Message::IndirectAck { .. } => "indirect_ack",
            Message::Nack { .. } => "nack",
            Message::News { .. } => "news",
            Message::LeaderHeartbeat { .. } => "leader_heartbeat",
            Message::LeaderReport { .. } => "leader_report",
            Message::VoteRequest { .. } => "vote_request",
            Message::VoteReply { .. } => "vote_reply",
            Message::Digest { .. } => "digest",
            Message::DigestReply { .. } => "digest_reply",
            Message::Opinions { .. } => "opinions",
            Message::Refused { .. } => "refused",
            Message::Reap { .. } => "reap",
            Message::Reach { .. } => "reach",
        }
    }

    /// Whether the message is a liveness signal (a heartbeat in the broad sense).
    pub fn is_heartbeat(&self) -> bool {
        matches!(
            self,
            Message::Heartbeat { .. }
                | Message::Poll { .. }
                | Message::PollReply { .. }
                | Message::Ping { .. }
                | Message::PingAck { .. }
                | Message::LeaderHeartbeat { .. }
                | Message::LeaderReport { .. }
                | Message::Digest { .. }
                | Message::DigestReply { .. }
        )
    }
}

impl Message {
    /// An introduction: an empty page of the member list. The receiver takes the sender
    /// in (a direct message) and learns nothing else, so a joiner reaches every member
    /// its seed listed at once, not one round later (10 s with `web`). Encoded as any
    /// `Members` page: older nodes take it the same way.
    pub fn introduction() -> Message {
        Message::Members {
            entries: Vec::new(),
            next_page: None,
        }
    }

    /// A join request for `page`, padded against amplification.
    pub fn join(page: u32) -> Message {
        Message::Join {
            page,
            padding: vec![0; crate::form::LIST_BUDGET],
        }
    }
}

/// A message with its sender, as it travels on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Who sent it.
    pub from: Peer,
    /// What it says.
    pub message: Message,
    /// The sender's timing (`timing.rs`): with joins, member lists and every few
    /// rounds; `None` otherwise (one byte).
    pub timing: Option<crate::timing::Timing>,
}
