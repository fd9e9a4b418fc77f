//! What a node's health checks concluded, as a value: the node's overall check status
//! and the status of every service it fronts. The host runs the checks and hands the
//! summary in with [`crate::Command::SetHealth`] (inside [`crate::Health`]); heartbeats of
//! every strategy carry it, so every member learns every other member's services.
//!
//! This module holds data only: it never runs a check, and its lists are bounded on
//! decode ([`MAX_SERVICES`]) so that a member entry always fits one datagram.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Most services one node may announce (checked while decoding).
pub const MAX_SERVICES: usize = 8;
/// The longest service name, in bytes.
pub const MAX_SERVICE_NAME_LEN: usize = 32;

/// The outcome of checks, Consul's three states. Ordered from best to worst, so the
/// status of several checks is their maximum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CheckStatus {
    /// Everything checked is fine.
    #[default]
    Passing,
    /// Degraded: still routable, at a lower score.
    Warning,
    /// Failing: never routed to (outside panic mode).
    Critical,
}

impl CheckStatus {
    /// The status's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        }
    }
}

/// One service a node fronts, as its heartbeats announce it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceEntry {
    /// The service's name (at most [`MAX_SERVICE_NAME_LEN`] bytes).
    pub name: String,
    /// Where clients reach this instance.
    #[serde(with = "crate::form::addr")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "10.0.0.1:8080"))]
    pub addr: SocketAddr,
    /// Relative routing weight (1 = normal).
    pub weight: u16,
    /// The worst status of the service's own checks.
    pub status: CheckStatus,
}

/// A node's check results, carried in its [`crate::Health`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Checks {
    /// The node's own status: its node-level checks and system thresholds, worst of all.
    pub status: CheckStatus,
    /// The services the node fronts.
    #[serde(deserialize_with = "crate::form::bounded_vec::<_, ServiceEntry, MAX_SERVICES>")]
    pub services: Vec<ServiceEntry>,
}

impl Checks {
    /// The service called `name`, if the node fronts it.
    pub fn service(&self, name: &str) -> Option<&ServiceEntry> {
        self.services.iter().find(|s| s.name == name)
    }
}
