//! The HTTP endpoints of services, checks and routing. Like every handler, they read the
//! published snapshot and the check board; they never touch the node.
//!
//! - `GET /v1/services`: the names of every service any member announces.
//! - `GET /v1/services/NAME`: every instance with its member status, check status, score.
//! - `GET /v1/route?service=NAME[&policy=weighted|least-loaded|round-robin]`: one target,
//!   or 503 with a JSON reason when no instance is healthy.
//! - `/v1/services/NAME` and `/v1/route` are blocking queries with `?index=N&wait=30s`
//!   (`blocking` submodule), and carry `X-Vitals-Index`.
//! - `GET /v1/checks`: this agent's checks, system thresholds and services.
//! - `PUT /v1/checks/NAME/pass|warn|fail`: a TTL check reports in (needs the bearer
//!   token; the body, at most 16 KiB, becomes the check's output).

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use vitals_core::CheckStatus;

use super::blocking::{Blocking, refuse, with_index};
use super::events::ConnectionMark;
use super::state::{ApiState, error};
use crate::api::{
    ApiError, CheckReported, ChecksAnswer, FrontedService, Instance, Route, RouteQuery, SystemVerdict, WatchQuery,
};
use crate::health::checks::{TtlReport, system_status};
use crate::routing::{self as route, Policy};

/// The names of every service any member announces.
#[utoipa::path(get, path = "/v1/services", tag = "services",
    responses((status = 200, description = "Service names, sorted", body = Vec<String>)))]
pub(crate) async fn services(State(state): State<ApiState>) -> impl IntoResponse {
    Json(state.snapshot.borrow().service_names())
}

/// Every instance of a service, with its member's status, its check status and score.
#[utoipa::path(get, path = "/v1/services/{name}", tag = "services",
    params(("name" = String, Path, description = "The service"), WatchQuery),
    responses(
        (status = 200, description = "The service's instances", body = Vec<Instance>,
            headers(("X-Vitals-Index" = u64, description = "The service's change index (blocking queries)"))),
        (status = 400, description = "A bad `index` or `wait`", body = ApiError),
        (status = 404, description = "No member announces the service", body = ApiError),
    ))]
pub(crate) async fn service(
    State(state): State<ApiState>,
    mark: Option<Extension<ConnectionMark>>,
    Path(name): Path<String>,
    query: Result<Query<WatchQuery>, QueryRejection>,
) -> Response {
    let blocking = match query
        .map_err(|r| r.body_text())
        .and_then(|Query(q)| Blocking::of(q.index.as_deref(), q.wait.as_deref()))
    {
        Ok(blocking) => blocking,
        Err(message) => return refuse(&message),
    };
    if let Err(refusal) = blocking.wait(&state, mark, |i| i.service(&name)).await {
        return *refusal;
    }
    let (instances, index) = {
        let snapshot = state.snapshot.borrow();
        (snapshot.instances(&name), snapshot.indexes.service(&name))
    };
    if instances.is_empty() {
        let refusal = error(StatusCode::NOT_FOUND, &format!("no member announces service `{name}`"));
        return with_index(refusal, index);
    }
    with_index(Json(instances).into_response(), index)
}

fn uniform() -> f64 {
    getrandom::u64().unwrap_or(0) as f64 / (u64::MAX as f64 + 1.0)
}

/// One instance to send the next request to.
#[utoipa::path(get, path = "/v1/route", tag = "services", params(RouteQuery),
    responses(
        (status = 200, description = "The instance picked and how", body = Route,
            headers(("X-Vitals-Index" = u64, description = "The service's change index (blocking queries)"))),
        (status = 400, description = "No `service`, an unknown policy, or a bad `index` or `wait`", body = ApiError),
        (status = 503, description = "No instance is healthy (the reason says why)", body = ApiError),
    ))]
pub(crate) async fn route(
    State(state): State<ApiState>,
    mark: Option<Extension<ConnectionMark>>,
    query: Result<Query<RouteQuery>, QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(query)) => query,
        Err(rejection) => return refuse(&rejection.body_text()),
    };
    let Some(service) = query.service.filter(|s| !s.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "missing `service`: GET /v1/route?service=NAME");
    };
    let policy = match query.policy.as_deref().map(str::parse::<Policy>).transpose() {
        Ok(policy) => policy.unwrap_or_default(),
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let blocking = match Blocking::of(query.index.as_deref(), query.wait.as_deref()) {
        Ok(blocking) => blocking,
        Err(message) => return refuse(&message),
    };
    if let Err(refusal) = blocking.wait(&state, mark, |i| i.service(&service)).await {
        return *refusal;
    }
    let (instances, index) = {
        let snapshot = state.snapshot.borrow();
        (snapshot.instances(&service), snapshot.indexes.service(&service))
    };
    let turn = state.turns.next(&service);
    let answer = match route::pick(&service, &instances, policy, state.panic_threshold, turn, uniform()) {
        Ok(route) => Json(route).into_response(),
        Err(no_route) => error(StatusCode::SERVICE_UNAVAILABLE, &no_route.reason),
    };
    with_index(answer, index)
}

/// This agent's checks, its system thresholds' verdict and the services it fronts.
#[utoipa::path(get, path = "/v1/checks", tag = "services",
    responses((status = 200, description = "Checks, system verdict, services", body = ChecksAnswer)))]
pub(crate) async fn checks(State(state): State<ApiState>) -> impl IntoResponse {
    let own = state.snapshot.borrow().own().and_then(|m| m.health.clone());
    let system = own.map(|h| system_status(&h, &state.thresholds));
    let checks: Vec<_> = state.checks.borrow().values().cloned().collect();
    let services = state
        .services
        .iter()
        .map(|s| FrontedService {
            name: s.name.clone(),
            addr: s.addr.to_string(),
            tags: s.tags.clone(),
            weight: s.weight,
        })
        .collect();
    Json(ChecksAnswer {
        checks,
        system: system.map(|(status, reasons)| SystemVerdict { status, reasons }),
        services,
    })
}

/// A TTL check reports in; the body (at most 256 characters kept) becomes its output.
#[utoipa::path(put, path = "/v1/checks/{name}/{action}", tag = "services",
    params(
        ("name" = String, Path, description = "A check of kind `ttl`"),
        ("action" = String, Path, description = "`pass`, `warn` or `fail`"),
    ),
    request_body(content = String, content_type = "text/plain", description = "Optional note: the check's output"),
    responses(
        (status = 200, description = "The status the check now holds", body = CheckReported),
        (status = 404, description = "Unknown action, or no TTL check of that name", body = ApiError),
        (status = 503, description = "The check is not running", body = ApiError),
    ),
    security(("bearer" = [])))]
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
    Json(CheckReported { check: name, status }).into_response()
}
