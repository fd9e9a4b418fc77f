//! The request and response shapes of the agent's HTTP API, shared by the agent's
//! handlers (`daemon::http`) and the `vitals` CLI's client, and described in the OpenAPI
//! document the agent serves at `GET /v1/openapi.json` (generated from these types with
//! utoipa; see [`crate::daemon::http::openapi`]).
//!
//! The views the node publishes ([`MemberView`], [`SelfView`], [`Instance`], [`Route`],
//! [`CheckView`]) are served as they are and re-exported here; the answers built by the
//! handlers themselves are defined here. Only data: no handler, no IO.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vitals_core::{CheckStatus, Role};

pub use crate::daemon::snapshot::{DetectorView, MemberView, SelfView};
pub use crate::health::checks::CheckView;
pub use crate::routing::{Instance, Policy, Route};
pub use vitals_core::reach::matrix::{Class, Matrix as Reachability, MatrixRow, ObserverSummary, Unreachable};

pub mod consul;
pub mod events;
pub mod links;

/// Every refusal: `{"error": "..."}`, with a sentence saying what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiError {
    /// What went wrong and how to fix it.
    pub error: String,
}

/// The answer to a path the agent does not serve: the endpoints it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NoSuchEndpoint {
    /// Always `no such endpoint`.
    pub error: String,
    /// The endpoints, as `METHOD /path` (GET when no method is given).
    pub endpoints: Vec<String>,
}

/// `GET /healthz`: the agent runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Alive {
    /// Always `ok`.
    pub status: String,
}

/// `GET /readyz` when ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ready {
    /// Always `true` (not ready answers 503 with an [`ApiError`]).
    pub ready: bool,
}

/// `POST /v1/leave`: accepted; the agent leaves and stops.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Leaving {
    /// Always `true`.
    pub leaving: bool,
}

/// `GET /v1/leader`: the leader this node knows (strategy `leader` only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LeaderAnswer {
    /// The leader of `term` as this node knows it (`null` during an election).
    pub leader: Option<String>,
    /// The node's current term.
    pub term: u64,
    /// The voters, in name order.
    pub voters: Vec<String>,
    /// This node's role.
    pub role: Role,
    /// Whether this node acts as leader now (it leads and holds its lease).
    pub acting: bool,
    /// Whether a leader elected by a majority is known (`false`: every node judges
    /// every member with its own detectors until there is one).
    pub quorum: bool,
    /// Milliseconds left on this node's lease, while it holds one.
    pub lease_remaining_ms: Option<u64>,
    /// Why this node does not stand for election now (`--bootstrap-expect` not reached,
    /// or no seed has answered its join), if it does not.
    pub held: Option<String>,
}

/// `GET /v1/checks`: this agent's checks, its system thresholds' verdict and its services.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ChecksAnswer {
    /// Every check with its latest result.
    pub checks: Vec<CheckView>,
    /// The system thresholds' verdict (`null` before the first health sample).
    pub system: Option<SystemVerdict>,
    /// The services this agent fronts, as configured.
    pub services: Vec<FrontedService>,
}

/// The verdict of the system thresholds (CPU, memory, disk, load).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SystemVerdict {
    /// The worst threshold's status.
    pub status: CheckStatus,
    /// One sentence per threshold crossed.
    pub reasons: Vec<String>,
}

/// A service this agent fronts, as configured (`--service`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FrontedService {
    /// The service's name.
    pub name: String,
    /// Where clients reach it.
    #[schema(example = "10.0.0.1:8080")]
    pub addr: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Relative routing weight (1 = normal).
    pub weight: u16,
}

/// `PUT /v1/checks/NAME/ACTION`: the status a TTL check now holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckReported {
    /// The check's name.
    pub check: String,
    /// The status reported.
    pub status: CheckStatus,
}

/// The query of `GET /v1/route`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteQuery {
    /// The service to route to (required).
    pub service: Option<String>,
    /// `weighted` (default), `least-loaded` or `round-robin`.
    pub policy: Option<String>,
    /// Blocking query: wait until the service's change index differs from this one.
    pub index: Option<String>,
    /// Blocking query: how long to wait at most (default 5m, at most 10m).
    pub wait: Option<String>,
}

/// A blocking query's parameters (`/v1/members`, `/v1/services/NAME`, `/v1/route`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatchQuery {
    /// Wait until the change index differs from this one (the `X-Vitals-Index` of a
    /// previous answer); `0` or absent answers at once.
    pub index: Option<String>,
    /// How long to wait at most, like `30s` or `5m` (default 5m, at most 10m).
    pub wait: Option<String>,
}

/// The query of `GET /v1/prometheus/sd`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SdQuery {
    /// Only this service's instances (default: every service's).
    pub service: Option<String>,
    /// Present (`?passing`, or any value but `false` and `0`): only the instances whose
    /// member is alive and whose checks pass, like Consul's `?passing`.
    pub passing: Option<String>,
}

impl SdQuery {
    /// Whether `?passing` asks for passing instances only.
    pub fn only_passing(&self) -> bool {
        self.passing.as_deref().is_some_and(|v| !matches!(v, "false" | "0"))
    }
}

/// One group of Prometheus's HTTP service discovery (`http_sd_configs`): one instance of
/// a service, with `__meta_vitals_*` labels for relabelling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SdTargetGroup {
    /// The instance's `HOST:PORT`.
    pub targets: Vec<String>,
    /// `__meta_vitals_member`, `__meta_vitals_service`, `__meta_vitals_member_status`
    /// (alive, suspect, dead) and `__meta_vitals_check_status` (passing, warning, critical).
    pub labels: BTreeMap<String, String>,
}

/// `POST /v1/join`'s body: seeds to join (more of) a cluster through.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// Seeds, `HOST[:PORT]` (default port 7946); names are resolved now.
    pub addrs: Vec<String>,
}

/// `POST /v1/join`: the members that answered from the seeds' addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Joined {
    /// Names of the members found at the seeds' addresses.
    pub joined: Vec<String>,
}

/// `POST /v1/force-leave/NAME`: the dead member is forgotten cluster-wide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Reaped {
    /// The member's name.
    pub reaped: String,
}

/// `GET /v1/members`'s filters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MembersQuery {
    /// Only members in these statuses, comma-separated: `alive`, `suspect`, `dead`, `left`.
    pub status: Option<String>,
    /// Only members with this tag, `KEY=VALUE` (repeatable: all must match).
    pub tag: Option<String>,
}
