//! The event stream's shapes (`GET /v1/events`, the event handlers, the webhooks and the
//! embedding API's subscription all carry the same [`Event`]).
//!
//! An event is one verdict changing, told once: a member's status, the leader, a check's
//! or a service instance's status. Each has an id (monotonic for the agent's life and
//! above every id of its earlier lives: the first one is the agent's start time in
//! microseconds since the Unix epoch) and an RFC 3339 time. Only data: no IO.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vitals_core::{CheckStatus, Status};

/// One verdict change, as streamed by `GET /v1/events` (the SSE `data:` line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Monotonic id (also the SSE `id:`); resume after it with `Last-Event-ID`.
    pub id: u64,
    /// When the agent saw the change (RFC 3339, UTC, milliseconds).
    #[schema(example = "2026-12-03T15:30:00.123Z")]
    pub time: String,
    /// What changed (`kind` is also the SSE `event:` name).
    #[serde(flatten)]
    pub change: Change,
}

/// What changed, by kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Change {
    /// A member's status changed (as this agent holds it).
    Member(MemberChange),
    /// The leader this agent knows changed (strategy `leader`).
    Leader(LeaderChange),
    /// A check's status changed: one of this agent's own checks by name, or another
    /// member's node-level check status (`name` is then `node`).
    Check(CheckChange),
    /// A service instance's status changed (it appeared: `from` is null; it went away:
    /// `to` is null).
    Service(CheckChange),
}

/// `kind: member`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberChange {
    /// The member's name.
    pub member: String,
    /// Its protocol address.
    pub addr: String,
    /// The previous status (`null`: it was not known).
    pub from: Option<Status>,
    /// The new status.
    pub to: Status,
    /// The incarnation the new status is about.
    pub incarnation: u64,
    /// Who accused it, when someone did (a suspicion's or a quorum's first accuser).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub accuser: Option<String>,
    /// Why, in one line.
    pub reason: String,
    /// The member's tags, as its health last carried them.
    #[serde(default)]
    pub tags: vitals_core::tags::Tags,
}

/// `kind: leader`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaderChange {
    /// The leader now known (`null` during an election).
    pub leader: Option<String>,
    /// The term.
    pub term: u64,
}

/// `kind: check` and `kind: service`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckChange {
    /// The check's name (`kind: service`: the service's name; `kind: check` about another
    /// member: `node`).
    pub name: String,
    /// The service the check or instance belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub service: Option<String>,
    /// The previous status (`null`: none known).
    pub from: Option<CheckStatus>,
    /// The new status (`null`: gone).
    pub to: Option<CheckStatus>,
    /// The member whose check or instance it is.
    pub member: String,
    /// That member's tags.
    #[serde(default)]
    pub tags: vitals_core::tags::Tags,
}

/// The SSE `event: gap` message's data: events `from..=to` are no longer held (they fell
/// out of the ring, or the agent restarted); `to` is `null` when the id asked for is
/// not one of this agent's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Gap {
    /// The first id missed.
    pub from: u64,
    /// The last id missed.
    pub to: Option<u64>,
}

/// The SSE `event: lagged` message's data: this subscriber read too slowly and its
/// buffer overflowed; the stream closes after it (an `EventSource` reconnects with
/// `Last-Event-ID` and is replayed what the ring still holds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Lagged {
    /// The id of the last event delivered to this subscriber (`null`: none).
    pub last_id: Option<u64>,
    /// How many events were skipped.
    pub missed: u64,
}

/// The query of `GET /v1/events` (every parameter optional; an unknown one is a 400).
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only these kinds, comma-separated or repeated: `member`, `leader`, `check`,
    /// `service`.
    pub kind: Option<String>,
    /// Only events about this member (repeatable: any of them). A leader event is about
    /// the leader it names.
    pub member: Option<String>,
    /// Only events about members with this tag, `KEY=VALUE` (repeatable: all must
    /// match). Leader events carry no tags, so a tag filter drops them.
    pub tag: Option<String>,
    /// Resume after this id (for clients that cannot send the `Last-Event-ID` header).
    pub last_event_id: Option<u64>,
    /// The API token, for browsers' `EventSource`, which cannot send headers (only read
    /// here, only when `--api-auth all`).
    pub token: Option<String>,
}

impl Change {
    /// The kind's name (`member`, `leader`, `check`, `service`), as the SSE `event:`.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Member(_) => "member",
            Change::Leader(_) => "leader",
            Change::Check(_) => "check",
            Change::Service(_) => "service",
        }
    }

    /// The member the change is about (the leader's name for a leader change).
    pub fn member(&self) -> Option<&str> {
        match self {
            Change::Member(m) => Some(&m.member),
            Change::Leader(l) => l.leader.as_deref(),
            Change::Check(c) | Change::Service(c) => Some(&c.member),
        }
    }

    /// The tags of the member it is about (`None` for a leader change).
    pub fn tags(&self) -> Option<&vitals_core::tags::Tags> {
        match self {
            Change::Member(m) => Some(&m.tags),
            Change::Leader(_) => None,
            Change::Check(c) | Change::Service(c) => Some(&c.tags),
        }
    }
}

/// The kinds an event can have, in the order the docs list them.
pub const KINDS: [&str; 4] = ["member", "leader", "check", "service"];
