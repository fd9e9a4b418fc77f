//! A read-only subset of Consul's HTTP API, in the shapes Consul's own clients parse, so
//! that tools built for Consul use Vitals as their service catalog: Prometheus's
//! `consul_sd_configs`, Traefik's Consul catalog provider, consul-template.
//!
//! - `GET /v1/agent/self`: this agent (`Config.Datacenter` is `dc1`, Consul's default).
//! - `GET /v1/agent/members`: every member, with Serf's status codes.
//! - `GET /v1/catalog/services`: every service any member announces, with no tags.
//! - `GET /v1/health/service/NAME[?passing]`: every instance with a `serfHealth` check
//!   (the member: alive is passing, suspect warning, dead critical) and the service's
//!   check; `?passing` keeps the instances whose checks all pass. Members that left are
//!   gone, as Consul deregisters nodes that leave.
//!
//! Every answer carries `X-Consul-Index` (the snapshot's time, so it rises whenever the
//! view may have changed), `X-Consul-KnownLeader` and `X-Consul-LastContact`, which
//! Consul's Go client requires. Blocking queries (`?index=`) answer at once. Read-only:
//! it never touches the node.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use vitals_core::{CheckStatus, Status};

use super::state::ApiState;
use crate::api::consul::{AgentConfig, AgentSelf, ConsulCheck, ConsulMember, ConsulNode, ConsulService, HealthEntry};
use crate::daemon::snapshot::{MemberView, Snapshot};
use crate::routing::Instance;

/// The datacenter every answer names (Consul's default, which tools assume).
pub(super) const DATACENTER: &str = "dc1";

/// The Consul-compatible routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/agent/self", get(agent_self))
        .route("/v1/agent/members", get(agent_members))
        .route("/v1/catalog/services", get(catalog_services))
        .route("/v1/health/service/{name}", get(health_service))
}

/// `body` with the headers Consul's clients read.
fn consul(snapshot: &Snapshot, body: impl Serialize) -> Response {
    let index = snapshot.taken_at.as_micros().max(1).to_string();
    let headers = [
        (HeaderName::from_static("x-consul-index"), HeaderValue::from_str(&index)),
        (
            HeaderName::from_static("x-consul-knownleader"),
            Ok(HeaderValue::from_static("true")),
        ),
        (
            HeaderName::from_static("x-consul-lastcontact"),
            Ok(HeaderValue::from_static("0")),
        ),
    ];
    let headers = headers.map(|(name, value)| (name, value.unwrap_or(HeaderValue::from_static("1"))));
    (headers, Json(body)).into_response()
}

/// Serf's member status codes: 1 alive, 3 left, 4 failed (a suspect is still alive).
fn serf_status(status: Status) -> u8 {
    match status {
        Status::Alive | Status::Suspect => 1,
        Status::Left => 3,
        Status::Dead => 4,
    }
}

fn member(m: &MemberView) -> ConsulMember {
    ConsulMember {
        name: m.name.clone(),
        addr: m.addr.ip().to_string(),
        port: m.addr.port(),
        tags: BTreeMap::from([("dc".into(), DATACENTER.into()), ("role".into(), "node".into())]),
        status: serf_status(m.status),
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

/// This agent, as Consul describes an agent.
#[utoipa::path(get, path = "/v1/agent/self", tag = "consul",
    responses((status = 200, description = "This agent, in Consul's shape", body = AgentSelf)))]
pub(super) async fn agent_self(State(state): State<ApiState>) -> Response {
    let snapshot = state.snapshot.borrow().clone();
    let body = AgentSelf {
        config: AgentConfig {
            datacenter: DATACENTER.into(),
            node_name: snapshot.me.name.clone(),
            node_id: String::new(),
            server: false,
            revision: crate::build::COMMIT.into(),
            version: crate::build::VERSION.into(),
        },
        member: snapshot.own().map(member),
        meta: BTreeMap::new(),
    };
    consul(&snapshot, body)
}

/// Every member, with Serf's status codes.
#[utoipa::path(get, path = "/v1/agent/members", tag = "consul",
    responses((status = 200, description = "Every member, in Serf's shape", body = Vec<ConsulMember>)))]
pub(super) async fn agent_members(State(state): State<ApiState>) -> Response {
    let snapshot = state.snapshot.borrow().clone();
    let members: Vec<ConsulMember> = snapshot.members.iter().map(member).collect();
    consul(&snapshot, members)
}

/// Every service any member announces, each with no tags.
#[utoipa::path(get, path = "/v1/catalog/services", tag = "consul",
    responses((status = 200, description = "Service name to its tags (always none)", body = BTreeMap<String, Vec<String>>)))]
pub(super) async fn catalog_services(State(state): State<ApiState>) -> Response {
    let snapshot = state.snapshot.borrow().clone();
    let services: BTreeMap<String, Vec<String>> = snapshot
        .service_names()
        .into_iter()
        .map(|name| (name, Vec::new()))
        .collect();
    consul(&snapshot, services)
}

/// A member's liveness as Consul's `serfHealth` check status.
fn liveness(status: Status) -> &'static str {
    match status {
        Status::Alive => "passing",
        Status::Suspect => "warning",
        Status::Dead | Status::Left => "critical",
    }
}

fn check(node: &str, id: &str, name: &str, status: &str, service: &str) -> ConsulCheck {
    ConsulCheck {
        node: node.into(),
        check_id: id.into(),
        name: name.into(),
        status: status.into(),
        notes: String::new(),
        output: String::new(),
        service_id: service.into(),
        service_name: service.into(),
        service_tags: Vec::new(),
        kind: String::new(),
        create_index: 0,
        modify_index: 0,
    }
}

/// One `/v1/health/service/NAME` entry: the node, the service, and both checks; and
/// whether every check passes.
fn entry(name: &str, m: &MemberView, instance: &Instance) -> (HealthEntry, bool) {
    let alive = liveness(m.status);
    let service = instance.status.as_str();
    let passing = alive == "passing" && instance.status == CheckStatus::Passing;
    let ip = m.addr.ip().to_string();
    let entry = HealthEntry {
        node: ConsulNode {
            id: String::new(),
            node: m.name.clone(),
            address: ip.clone(),
            datacenter: DATACENTER.into(),
            tagged_addresses: BTreeMap::from([("lan".into(), ip.clone()), ("wan".into(), ip)]),
            meta: BTreeMap::new(),
            create_index: 0,
            modify_index: 0,
        },
        service: ConsulService {
            id: name.into(),
            service: name.into(),
            tags: Vec::new(),
            meta: BTreeMap::new(),
            address: instance.addr.ip().to_string(),
            port: instance.addr.port(),
            weights: BTreeMap::from([("Passing".into(), instance.weight), ("Warning".into(), 1)]),
            enable_tag_override: false,
            create_index: 0,
            modify_index: 0,
        },
        checks: vec![
            check(&m.name, "serfHealth", "Serf Health Status", alive, ""),
            check(
                &m.name,
                &format!("service:{name}"),
                &format!("Service '{name}' check"),
                service,
                name,
            ),
        ],
    };
    (entry, passing)
}

/// Every instance of a service with its checks; `?passing` keeps those whose checks all pass.
#[utoipa::path(get, path = "/v1/health/service/{name}", tag = "consul",
    params(
        ("name" = String, Path, description = "The service"),
        ("passing" = Option<String>, Query, description = "Present (and not `false` or `0`): only instances whose checks all pass"),
    ),
    responses((status = 200, description = "The service's instances (none: an empty list)", body = Vec<HealthEntry>)))]
pub(super) async fn health_service(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let only_passing = query
        .get("passing")
        .is_some_and(|v| !matches!(v.as_str(), "false" | "0"));
    let snapshot = state.snapshot.borrow().clone();
    let entries: Vec<HealthEntry> = snapshot
        .instances(&name)
        .iter()
        .filter_map(|i| Some((snapshot.members.iter().find(|m| m.name == i.name)?, i)))
        .filter(|(m, _)| m.status != Status::Left)
        .map(|(m, i)| entry(&name, m, i))
        .filter(|(_, passing)| *passing || !only_passing)
        .map(|(entry, _)| entry)
        .collect();
    consul(&snapshot, entries)
}
