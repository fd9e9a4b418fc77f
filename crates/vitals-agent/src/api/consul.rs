//! The shapes of the Consul-compatible subset (`daemon::http::consul`), with Consul's
//! field names, which its clients parse: Prometheus's `consul_sd_configs`, Traefik's
//! Consul catalog, consul-template, python-consul.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A member as `GET /v1/agent/members` lists it (Serf's view).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ConsulMember {
    /// The member's name.
    pub name: String,
    /// Its protocol IP address.
    pub addr: String,
    /// Its protocol port.
    pub port: u16,
    /// `dc` (always `dc1`) and `role` (always `node`).
    pub tags: BTreeMap<String, String>,
    /// Serf's status code: 1 alive (or suspect), 3 left, 4 failed.
    pub status: u8,
    /// Serf's protocol range: fixed values (1), which Consul's clients expect.
    pub protocol_min: u8,
    /// Fixed (5).
    pub protocol_max: u8,
    /// Fixed (2).
    pub protocol_cur: u8,
    /// Fixed (2).
    pub delegate_min: u8,
    /// Fixed (5).
    pub delegate_max: u8,
    /// Fixed (4).
    pub delegate_cur: u8,
}

/// `GET /v1/agent/self`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AgentSelf {
    /// The agent's configuration, as much of it as Consul's clients read.
    pub config: AgentConfig,
    /// This agent as a member (`null` before it knows itself).
    pub member: Option<ConsulMember>,
    /// Always empty.
    pub meta: BTreeMap<String, String>,
}

/// `Config` of `GET /v1/agent/self`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AgentConfig {
    /// Always `dc1`, Consul's default.
    pub datacenter: String,
    /// The agent's name.
    pub node_name: String,
    /// Always empty.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Always `false`: every agent is a client in Consul's terms.
    pub server: bool,
    /// The commit the agent was built from.
    pub revision: String,
    /// The agent's version.
    pub version: String,
}

/// One entry of `GET /v1/health/service/NAME`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HealthEntry {
    /// The member that runs the instance.
    pub node: ConsulNode,
    /// The instance.
    pub service: ConsulService,
    /// `serfHealth` (the member's liveness) and `service:NAME` (the service's checks).
    pub checks: Vec<ConsulCheck>,
}

/// A node of a health entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ConsulNode {
    /// Always empty.
    #[serde(rename = "ID")]
    pub id: String,
    /// The member's name.
    pub node: String,
    /// The member's IP address.
    pub address: String,
    /// Always `dc1`.
    pub datacenter: String,
    /// `lan` and `wan`, both the member's IP address.
    pub tagged_addresses: BTreeMap<String, String>,
    /// Always empty.
    pub meta: BTreeMap<String, String>,
    /// Always 0.
    pub create_index: u64,
    /// Always 0.
    pub modify_index: u64,
}

/// A service instance of a health entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ConsulService {
    /// The service's name.
    #[serde(rename = "ID")]
    pub id: String,
    /// The service's name.
    pub service: String,
    /// Always empty.
    pub tags: Vec<String>,
    /// Always empty.
    pub meta: BTreeMap<String, String>,
    /// The instance's IP address.
    pub address: String,
    /// The instance's port.
    pub port: u16,
    /// `Passing` is the instance's weight, `Warning` 1.
    pub weights: BTreeMap<String, u16>,
    /// Always `false`.
    pub enable_tag_override: bool,
    /// Always 0.
    pub create_index: u64,
    /// Always 0.
    pub modify_index: u64,
}

/// A check of a health entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ConsulCheck {
    /// The member's name.
    pub node: String,
    /// `serfHealth` or `service:NAME`.
    #[serde(rename = "CheckID")]
    pub check_id: String,
    /// A readable name.
    pub name: String,
    /// `passing`, `warning` or `critical`.
    pub status: String,
    /// Always empty.
    pub notes: String,
    /// Always empty.
    pub output: String,
    /// The service's name (empty for `serfHealth`).
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    /// The service's name (empty for `serfHealth`).
    pub service_name: String,
    /// Always empty.
    pub service_tags: Vec<String>,
    /// Always empty.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Always 0.
    pub create_index: u64,
    /// Always 0.
    pub modify_index: u64,
}
