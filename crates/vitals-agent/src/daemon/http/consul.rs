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
use serde_json::{Value, json};
use vitals_core::{CheckStatus, Status};

use super::state::ApiState;
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
fn consul(snapshot: &Snapshot, body: Value) -> Response {
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

fn member(m: &MemberView) -> Value {
    json!({
        "Name": m.name,
        "Addr": m.addr.ip().to_string(),
        "Port": m.addr.port(),
        "Tags": {"dc": DATACENTER, "role": "node"},
        "Status": serf_status(m.status),
        "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
        "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4,
    })
}

async fn agent_self(State(state): State<ApiState>) -> Response {
    let snapshot = state.snapshot.borrow().clone();
    let me = snapshot.own().map(member).unwrap_or(Value::Null);
    let body = json!({
        "Config": {
            "Datacenter": DATACENTER,
            "NodeName": snapshot.me.name,
            "NodeID": "",
            "Server": false,
            "Revision": crate::build::COMMIT,
            "Version": crate::build::VERSION,
        },
        "Member": me,
        "Meta": {},
    });
    consul(&snapshot, body)
}

async fn agent_members(State(state): State<ApiState>) -> Response {
    let snapshot = state.snapshot.borrow().clone();
    let members: Vec<Value> = snapshot.members.iter().map(member).collect();
    consul(&snapshot, Value::Array(members))
}

async fn catalog_services(State(state): State<ApiState>) -> Response {
    let snapshot = state.snapshot.borrow().clone();
    let services: BTreeMap<String, Vec<String>> = snapshot
        .service_names()
        .into_iter()
        .map(|name| (name, Vec::new()))
        .collect();
    consul(&snapshot, json!(services))
}

/// A member's liveness as Consul's `serfHealth` check status.
fn liveness(status: Status) -> &'static str {
    match status {
        Status::Alive => "passing",
        Status::Suspect => "warning",
        Status::Dead | Status::Left => "critical",
    }
}

fn check(node: &str, id: &str, name: &str, status: &str, service: &str) -> Value {
    json!({
        "Node": node, "CheckID": id, "Name": name, "Status": status,
        "Notes": "", "Output": "", "ServiceID": service, "ServiceName": service,
        "ServiceTags": [], "Type": "", "CreateIndex": 0, "ModifyIndex": 0,
    })
}

/// One `/v1/health/service/NAME` entry: the node, the service, and both checks; and
/// whether every check passes.
fn entry(name: &str, m: &MemberView, instance: &Instance) -> (Value, bool) {
    let alive = liveness(m.status);
    let service = instance.status.as_str();
    let passing = alive == "passing" && instance.status == CheckStatus::Passing;
    let ip = m.addr.ip().to_string();
    let value = json!({
        "Node": {
            "ID": "", "Node": m.name, "Address": ip, "Datacenter": DATACENTER,
            "TaggedAddresses": {"lan": ip, "wan": ip}, "Meta": {}, "CreateIndex": 0, "ModifyIndex": 0,
        },
        "Service": {
            "ID": name, "Service": name, "Tags": [], "Meta": {},
            "Address": instance.addr.ip().to_string(), "Port": instance.addr.port(),
            "Weights": {"Passing": instance.weight, "Warning": 1},
            "EnableTagOverride": false, "CreateIndex": 0, "ModifyIndex": 0,
        },
        "Checks": [
            check(&m.name, "serfHealth", "Serf Health Status", alive, ""),
            check(&m.name, &format!("service:{name}"), &format!("Service '{name}' check"), service, name),
        ],
    });
    (value, passing)
}

async fn health_service(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let only_passing = query
        .get("passing")
        .is_some_and(|v| !matches!(v.as_str(), "false" | "0"));
    let snapshot = state.snapshot.borrow().clone();
    let entries: Vec<Value> = snapshot
        .instances(&name)
        .iter()
        .filter_map(|i| Some((snapshot.members.iter().find(|m| m.name == i.name)?, i)))
        .filter(|(m, _)| m.status != Status::Left)
        .map(|(m, i)| entry(&name, m, i))
        .filter(|(_, passing)| *passing || !only_passing)
        .map(|(value, _)| value)
        .collect();
    consul(&snapshot, Value::Array(entries))
}
