//! The HTTP endpoints of services, checks and routing. Like every handler, they read the
//! published snapshot and the check board; they never touch the node.
//!
//! - `GET /v1/services`: the names of every service any member announces.
//! - `GET /v1/services/NAME`: every instance with its member status, check status, score.
//! - `GET /v1/route?service=NAME[&policy=weighted|least-loaded|round-robin]`: one target,
//!   or 503 with a JSON reason when no instance is healthy.
//! - `GET /v1/checks`: this agent's checks, system thresholds and services.
//! - `PUT /v1/checks/NAME/pass|warn|fail`: a TTL check reports in (needs the bearer
//!   token; the body, at most 16 KiB, becomes the check's output).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vitals_core::CheckStatus;

use super::state::{ApiState, error};
use crate::health::checks::{TtlReport, system_status};
use crate::routing::{self as route, Policy};

pub(crate) async fn services(State(state): State<ApiState>) -> impl IntoResponse {
    Json(state.snapshot.borrow().service_names())
}

pub(crate) async fn service(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let instances = state.snapshot.borrow().instances(&name);
    if instances.is_empty() {
        return error(StatusCode::NOT_FOUND, &format!("no member announces service `{name}`"));
    }
    Json(instances).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct RouteQuery {
    service: Option<String>,
    policy: Option<String>,
}

fn uniform() -> f64 {
    getrandom::u64().unwrap_or(0) as f64 / (u64::MAX as f64 + 1.0)
}

pub(crate) async fn route(State(state): State<ApiState>, Query(query): Query<RouteQuery>) -> Response {
    let Some(service) = query.service.filter(|s| !s.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "missing `service`: GET /v1/route?service=NAME");
    };
    let policy = match query.policy.as_deref().map(str::parse::<Policy>).transpose() {
        Ok(policy) => policy.unwrap_or_default(),
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let instances = state.snapshot.borrow().instances(&service);
    let turn = state.turns.next(&service);
    match route::pick(&service, &instances, policy, state.panic_threshold, turn, uniform()) {
        Ok(route) => Json(route).into_response(),
        Err(no_route) => error(StatusCode::SERVICE_UNAVAILABLE, &no_route.reason),
    }
}

pub(crate) async fn checks(State(state): State<ApiState>) -> impl IntoResponse {
    let own = state.snapshot.borrow().own().and_then(|m| m.health.clone());
    let system = own.map(|h| system_status(&h, &state.thresholds));
    let checks: Vec<_> = state.checks.borrow().values().cloned().collect();
    let services: Vec<_> = state
        .services
        .iter()
        .map(|s| json!({"name": s.name, "addr": s.addr, "tags": s.tags, "weight": s.weight}))
        .collect();
    Json(json!({
        "checks": checks,
        "system": system.map(|(status, reasons)| json!({"status": status, "reasons": reasons})),
        "services": services,
    }))
}

pub(crate) async fn report(
    State(state): State<ApiState>,
    Path((name, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let status = match action.as_str() {
        "pass" => CheckStatus::Passing,
        "warn" => CheckStatus::Warning,
        "fail" => CheckStatus::Critical,
        _ => return error(StatusCode::NOT_FOUND, "unknown action: use pass, warn or fail"),
    };
    let Some(inbox) = state.ttl.get(&name) else {
        return error(StatusCode::NOT_FOUND, &format!("no ttl check is named `{name}`"));
    };
    let note = String::from_utf8_lossy(&body).chars().take(256).collect::<String>();
    let note = if note.is_empty() {
        format!("reported {action}")
    } else {
        note
    };
    if inbox.send(TtlReport { status, note }).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the check is not running");
    }
    Json(json!({"check": name, "status": status})).into_response()
}
