//! The HTTP API (axum). Handlers read the latest published [`Snapshot`]; they never lock
//! or call the node.
//!
//! - `GET /v1/members`: every member with status, incarnation, health, RTT.
//! - `GET /v1/self`: this node and its effective configuration.
//! - `GET /healthz`: 200 while the agent runs.
//! - `GET /readyz`: 200 once joined, 503 (with a reason) before and after leaving.
//! - `GET /metrics`: Prometheus text exposition.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

/// What every handler can read.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) snapshot: watch::Receiver<Snapshot>,
    pub(crate) registry: Arc<Registry>,
}

pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/members", get(members))
        .route("/v1/self", get(self_view))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn members(State(state): State<ApiState>) -> impl IntoResponse {
    Json(state.snapshot.borrow().members.clone())
}

async fn self_view(State(state): State<ApiState>) -> impl IntoResponse {
    Json(state.snapshot.borrow().me.clone())
}

async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<ApiState>) -> impl IntoResponse {
    let me = state.snapshot.borrow().me.clone();
    if me.left {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "the node has left the cluster"})),
        )
    } else if !me.joined {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "no seed has answered the join yet"})),
        )
    } else {
        (StatusCode::OK, Json(json!({"ready": true})))
    }
}

async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    let body = Metrics::encode(&state.registry);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

async fn not_found() -> impl IntoResponse {
    let endpoints = ["/v1/members", "/v1/self", "/healthz", "/readyz", "/metrics"];
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no such endpoint", "endpoints": endpoints})),
    )
}
