//! What every HTTP handler of the agent reads ([`ApiState`]) and how each of them says
//! no ([`error`]). Shared by the node endpoints (`http`) and the services endpoints
//! (`http::services`), so it sits below both: neither imports the other's handlers.
//!
//! Owns no route and no handler; never touches the node (the state holds the published
//! snapshot, never the node itself; what no snapshot carries is asked of the driver).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, oneshot, watch};

use crate::daemon::config::Token;
use crate::daemon::driver::{Control, Question};
use crate::daemon::snapshot::Snapshot;
use crate::health::checks::{Board, TtlInbox};
use crate::health::services::{ServiceSpec, Thresholds};

/// What every handler can read.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub(crate) snapshot: watch::Receiver<Snapshot>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) token: Option<Token>,
    pub(crate) leave: Arc<Notify>,
    pub(crate) checks: watch::Receiver<Board>,
    pub(crate) ttl: TtlInbox,
    pub(crate) services: Arc<Vec<ServiceSpec>>,
    pub(crate) thresholds: Arc<Thresholds>,
    pub(crate) panic_threshold: f64,
    pub(crate) turns: Arc<Turns>,
    /// The driver's epoch: the node's clock is the time elapsed since.
    pub(crate) epoch: tokio::time::Instant,
    /// Commands for the driver (`POST /v1/join`, `POST /v1/force-leave/NAME`).
    pub(crate) controls: tokio::sync::mpsc::Sender<crate::daemon::driver::Control>,
    /// The event log (`GET /v1/events`).
    pub(crate) events: Arc<crate::daemon::events::EventHub>,
    /// Permits for long-lived requests (event streams, blocking queries): at most
    /// `MAX_STREAMS` at once, outside the connection cap.
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
    /// The blocking queries' indexes, as the driver publishes them.
    pub(crate) indexes: watch::Receiver<crate::daemon::blocking::Indexes>,
}

impl ApiState {
    /// Asks the node itself, through the driver, what no snapshot carries (see
    /// [`Question`]); `None` when the driver has stopped (the agent is shutting down).
    pub(crate) async fn ask<T>(&self, question: impl FnOnce(oneshot::Sender<T>) -> Question) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.controls.send(Control::Ask(question(reply))).await.ok()?;
        answer.await.ok()
    }
}

/// The answer when the driver is gone (the agent is stopping): 503.
pub(crate) fn stopping() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "the agent is stopping")
}

/// Round-robin counters, one per service.
#[derive(Debug, Default)]
pub(crate) struct Turns(Mutex<BTreeMap<String, u64>>);

impl Turns {
    pub(super) fn next(&self, service: &str) -> u64 {
        let mut turns = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let turn = turns.entry(service.to_string()).or_insert(0);
        *turn = turn.wrapping_add(1);
        *turn - 1
    }
}

/// A JSON error response: `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    let body = crate::api::ApiError {
        error: message.to_string(),
    };
    (status, Json(body)).into_response()
}
