//! The HTTP API (axum). Handlers read the latest published
//! [`Snapshot`](super::snapshot::Snapshot); they never lock or call the node.
//!
//! - `GET /v1/members`: every member with status, incarnation, tags, health, RTT;
//!   `?status=alive,suspect` and `?tag=KEY=VALUE` (repeatable) filter (`lifecycle`).
//! - `GET /v1/self`: this node and its effective configuration.
//! - `GET /v1/reachability`: who hears whom, each unreachable pair classified (`reach`).
//! - `GET /v1/leader`: leader strategy: the leader and term this node knows, the voters,
//!   its role, and whether it acts as leader now (holds its lease).
//! - `GET /healthz`: 200 while the agent runs (never needs a token: it is a probe).
//! - `GET /readyz`: 200 once joined, 503 (with a reason) before joining, after leaving,
//!   while the node's own checks are critical, and while `--quorum-size` cannot be
//!   reached with the members up (no verdict by quorum is possible).
//! - `GET /metrics`: Prometheus text exposition.
//! - `POST /v1/leave`: leave the cluster and stop (needs the bearer token).
//! - `POST /v1/join` (`{"addrs": ["HOST[:PORT]", ...]}`) and `POST /v1/force-leave/NAME`:
//!   see `lifecycle` (need the bearer token).
//! - services, routing and checks: see the `services` submodule.
//! - `GET /v1/prometheus/sd`: Prometheus's HTTP service discovery (`discovery` submodule).
//! - `GET /ui`: the live dashboard (`ui` submodule; the page needs no token, its API
//!   calls do).
//! - `GET /v1/events`: verdict changes as Server-Sent Events (`events` submodule).
//! - Blocking queries (`?index=N&wait=30s`, `X-Vitals-Index`) on `/v1/members`,
//!   `/v1/services/NAME` and `/v1/route`: see the `blocking` submodule.
//! - `GET /v1/openapi.json`: the OpenAPI description of all of the above (`openapi`
//!   submodule), generated from the shared types of [`crate::api`].
//!
//! Hardening: the bearer token is compared in constant time; without a configured token
//! mutating endpoints are disabled; bodies over 16 KiB get 413; at most
//! [`MAX_CONNECTIONS`] connections (a new one closes the oldest idle one, so idle
//! clients never starve `/healthz`), headers must arrive within 5 s, and a connection
//! lives at most 60 s. Long-lived requests (event streams, blocking queries) are counted
//! apart: at most [`MAX_STREAMS`] at once, their connections outside the cap and kept
//! open while they last (at most `events::STREAM_LIFETIME`). Every error is JSON.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tower::ServiceExt;

use self::events::ConnectionMark;

pub(crate) use self::state::{ApiState, error};
use super::config::ApiAuth;
use super::driver::Question;
use super::metrics::Metrics;
use crate::api::{Alive, ApiError, LeaderAnswer, Leaving, NoSuchEndpoint, Ready, SelfView};

pub(crate) mod blocking;
mod consul;
mod discovery;
pub(crate) mod events;
mod lifecycle;
mod links;
pub mod openapi;
mod reach;
mod services;
mod state;
mod ui;

/// Most HTTP connections open at once (a new one closes the oldest idle one).
pub const MAX_CONNECTIONS: usize = 64;
/// Most long-lived requests (event streams, blocking queries) under way at once.
pub const MAX_STREAMS: usize = 256;
/// Largest request body accepted.
pub const MAX_BODY: usize = 16 * 1024;

pub(crate) fn router(state: ApiState, auth: ApiAuth) -> Router {
    let reads = Router::new()
        .route("/v1/members", get(lifecycle::members))
        .route("/v1/self", get(self_view))
        .route("/metrics", get(metrics))
        .route("/v1/services", get(services::services))
        .route("/v1/services/{name}", get(services::service))
        .route("/v1/route", get(services::route))
        .route("/v1/checks", get(services::checks))
        .route("/v1/leader", get(leader))
        .route("/v1/members/{name}/why", get(why))
        .route("/v1/reachability", get(reach::reachability))
        .route("/v1/links", get(links::links))
        .route("/v1/tune", get(links::tune))
        .route("/v1/prometheus/sd", get(discovery::prometheus_sd))
        .route("/v1/openapi.json", get(openapi::serve))
        .route("/v1/events", get(events::events))
        .merge(consul::routes());
    let reads = match auth {
        ApiAuth::All => reads.route_layer(middleware::from_fn_with_state(state.clone(), require_token)),
        ApiAuth::Writes => reads,
    };
    let writes = Router::new()
        .route("/v1/leave", post(leave))
        .route("/v1/join", post(lifecycle::join))
        .route("/v1/force-leave/{name}", post(lifecycle::force_leave))
        .route("/v1/checks/{name}/{action}", put(services::report))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(reads)
        .merge(writes)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(ui::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return error(
            StatusCode::FORBIDDEN,
            "no API token is configured, so this endpoint is disabled: set --api-token-file",
        );
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| query_token(&request));
    match presented.as_deref() {
        None => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "missing bearer token: send `Authorization: Bearer TOKEN`",
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
        Some(candidate) if token.matches(candidate) => next.run(request).await,
        Some(_) => error(StatusCode::FORBIDDEN, "wrong bearer token"),
    }
}

/// `?token=` on `GET /v1/events`: browsers' `EventSource` cannot send headers. Read
/// nowhere else, so tokens stay out of the URLs (and logs) of every other request.
fn query_token(request: &Request) -> Option<String> {
    if request.method() != axum::http::Method::GET || request.uri().path() != "/v1/events" {
        return None;
    }
    let axum::extract::Query(params) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(request.uri()).ok()?;
    params.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v)
}

/// This node and its effective configuration.
#[utoipa::path(get, path = "/v1/self", tag = "members",
    responses((status = 200, description = "This node", body = SelfView)))]
async fn self_view(State(state): State<ApiState>) -> impl IntoResponse {
    let me = state.snapshot.borrow().me.clone();
    Json(crate::daemon::wallclock::readable_durations(
        serde_json::to_value(me).unwrap_or_default(),
    ))
}

/// Why a member has its status: accusers (of a suspicion, or a quorum's), probe evidence, detector reading, history.
#[utoipa::path(get, path = "/v1/members/{name}/why", tag = "members",
    params(("name" = String, Path, description = "The member")),
    responses(
        (status = 200, description = "The evidence, as this node holds it", body = vitals_core::why::Why),
        (status = 404, description = "No member of that name", body = ApiError),
    ))]
async fn why(State(state): State<ApiState>, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let Some((why, taken_at)) = state.ask(|reply| Question::Why(name.clone(), reply)).await else {
        return state::stopping();
    };
    match why {
        Some(why) => Json(crate::daemon::wallclock::why_with_dates(
            &why,
            taken_at,
            std::time::SystemTime::now(),
        ))
        .into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("no member named `{name}`")),
    }
}

/// The leader this node knows. `acting` and `lease_remaining_ms` are computed at request
/// time from the published lease end, so a node that was stopped and resumed never claims
/// a lease that has run out.
#[utoipa::path(get, path = "/v1/leader", tag = "members",
    responses(
        (status = 200, description = "The leader, term, voters and this node's role", body = LeaderAnswer),
        (status = 404, description = "This agent's strategy has no leader", body = ApiError),
    ))]
async fn leader(State(state): State<ApiState>) -> Response {
    let (view, strategy) = {
        let snapshot = state.snapshot.borrow();
        (snapshot.leader.clone(), snapshot.me.strategy)
    };
    let Some(view) = view else {
        let message = format!("this agent runs strategy {strategy:?}, which has no leader: use --strategy leader");
        return error(StatusCode::NOT_FOUND, &message.to_lowercase());
    };
    let now = vitals_core::Instant::from_duration(state.epoch.elapsed());
    let lease_ms = view
        .lease_until
        .filter(|until| *until > now)
        .map(|until| u64::try_from((until - now).as_millis()).unwrap_or(u64::MAX));
    Json(LeaderAnswer {
        leader: view.leader,
        term: view.term,
        voters: view.voters,
        role: view.role,
        acting: lease_ms.is_some(),
        quorum: view.quorum,
        lease_remaining_ms: lease_ms,
        held: view.held,
    })
    .into_response()
}

/// 200 while the agent runs (a liveness probe: never needs a token).
#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The agent runs", body = Alive)))]
async fn healthz() -> impl IntoResponse {
    Json(Alive { status: "ok".into() })
}

/// 200 once joined; 503 with the reason before joining, after leaving, while the node's
/// own checks are critical, or while `--quorum-size` is out of reach.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready, and why", body = ApiError),
    ))]
async fn readyz(State(state): State<ApiState>) -> Response {
    let me = state.snapshot.borrow().me.clone();
    if me.left {
        error(StatusCode::SERVICE_UNAVAILABLE, "the node has left the cluster")
    } else if let Some(reason) = &me.unreachable_quorum {
        error(StatusCode::SERVICE_UNAVAILABLE, reason)
    } else if !me.joined {
        let reason = me
            .join_problem
            .as_deref()
            .unwrap_or("no seed has answered the join yet");
        error(StatusCode::SERVICE_UNAVAILABLE, reason)
    } else if let Some(reason) = election_held(&state) {
        error(StatusCode::SERVICE_UNAVAILABLE, &reason)
    } else if state.snapshot.borrow().own().and_then(|m| m.check_status) == Some(vitals_core::CheckStatus::Critical) {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node's own checks are critical: see /v1/checks",
        )
    } else {
        Json(Ready { ready: true }).into_response()
    }
}

/// Leader strategy: why no leader is elected yet while this node holds back from standing
/// (`--bootstrap-expect` not reached), when no leader is known.
fn election_held(state: &ApiState) -> Option<String> {
    let snapshot = state.snapshot.borrow();
    let leader = snapshot.leader.as_ref()?;
    leader.leader.is_none().then(|| leader.held.clone()).flatten()
}

/// The state of a router that serves only `/metrics` (the proxy's).
#[derive(Clone)]
pub(crate) struct MetricsState(pub(crate) Arc<Registry>);

impl axum::extract::FromRef<ApiState> for MetricsState {
    fn from_ref(state: &ApiState) -> MetricsState {
        MetricsState(Arc::clone(&state.registry))
    }
}

/// `GET /metrics`: OpenMetrics when the scraper asks for it, else the classic text format.
#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "Prometheus metrics: OpenMetrics 1.0.0 when `Accept` asks for it, else text 0.0.4",
        content(
            (String = "text/plain; version=0.0.4; charset=utf-8"),
            (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        ))))]
pub(crate) async fn metrics(
    State(MetricsState(registry)): State<MetricsState>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let body = Metrics::encode(&registry);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if crate::daemon::exposition::wants_openmetrics(accept) {
        ([(header::CONTENT_TYPE, crate::daemon::exposition::OPENMETRICS)], body)
    } else {
        (
            [(header::CONTENT_TYPE, crate::daemon::exposition::CLASSIC)],
            crate::daemon::exposition::classic(&body),
        )
    }
}

/// Leave the cluster and stop the agent. An optional body is logged as the reason.
#[utoipa::path(post, path = "/v1/leave", tag = "members",
    request_body(content = String, content_type = "text/plain", description = "Optional reason, logged"),
    responses(
        (status = 202, description = "The agent leaves and stops", body = Leaving),
        (status = 413, description = "Body over 16 KiB", body = ApiError),
    ),
    security(("bearer" = [])))]
async fn leave(State(state): State<ApiState>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return error(
                rejection.status(),
                &format!("bad body: {}; at most {MAX_BODY} bytes", rejection.body_text()),
            );
        }
    };
    tracing::warn!(reason = %String::from_utf8_lossy(&body), "leave requested over HTTP");
    state.leave.notify_one();
    (StatusCode::ACCEPTED, Json(Leaving { leaving: true })).into_response()
}

async fn not_found() -> Response {
    let endpoints = [
        "/v1/members",
        "/v1/self",
        "/v1/leader",
        "/healthz",
        "/readyz",
        "/metrics",
        "POST /v1/leave",
        "POST /v1/join",
        "POST /v1/force-leave/NAME",
        "/v1/services",
        "/v1/services/NAME",
        "/v1/route?service=NAME",
        "/v1/checks",
        "PUT /v1/checks/NAME/pass|warn|fail",
        "/v1/prometheus/sd?service=NAME&passing",
        "/v1/openapi.json",
        "/v1/reachability",
        "/ui (the dashboard)",
        "/v1/events?kind=&member=&tag= (Server-Sent Events)",
    ];
    let answer = NoSuchEndpoint {
        error: "no such endpoint".into(),
        endpoints: endpoints.map(String::from).to_vec(),
    };
    (StatusCode::NOT_FOUND, Json(answer)).into_response()
}

/// The open connections, oldest first, each with whether it is serving a request now.
/// Full means [`MAX_CONNECTIONS`]: a new connection then closes the oldest idle one (or,
/// if every one is busy, the oldest), so idle or slow clients can hold connections but
/// never keep a probe from being answered.
/// A connection with a long-lived request under way (an event stream, a blocking
/// query) is not counted: those are bounded by [`MAX_STREAMS`] instead.
#[derive(Default)]
struct Connections(VecDeque<(AbortHandle, Arc<AtomicBool>, ConnectionMark)>);

impl Connections {
    /// Forgets the connections that ended and, when full, closes one to make room.
    fn make_room(&mut self) {
        self.0.retain(|(task, _, _)| !task.is_finished());
        let counted = || self.0.iter().filter(|(_, _, mark)| !mark.is_long_lived());
        if counted().count() < MAX_CONNECTIONS {
            return;
        }
        let victim = counted()
            .position(|(_, busy, _)| !busy.load(Ordering::Relaxed))
            .unwrap_or(0);
        let index = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, (_, _, mark))| !mark.is_long_lived())
            .nth(victim)
            .map(|(i, _)| i);
        if let Some((task, _, _)) = index.and_then(|i| self.0.remove(i)) {
            task.abort();
        }
    }
}

/// How long a connection lives, unless a long-lived request keeps it open.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// Runs `connection` for [`CONNECTION_LIFETIME`], or while a long-lived request is under
/// way on it (at most `events::STREAM_LIFETIME` and a minute more).
async fn run_connection(connection: impl Future<Output = impl Sized>, mark: ConnectionMark) {
    let started = tokio::time::Instant::now();
    let last = started + events::STREAM_LIFETIME + CONNECTION_LIFETIME;
    let mut until = started + CONNECTION_LIFETIME;
    tokio::pin!(connection);
    loop {
        if tokio::time::timeout_at(until, &mut connection).await.is_ok() {
            return;
        }
        if !mark.is_long_lived() || until >= last {
            return;
        }
        until = (tokio::time::Instant::now() + Duration::from_secs(1)).min(last);
    }
}

/// Serves `router` on `listener` with the connection cap and timeouts, until `stop`.
pub(crate) async fn serve(listener: TcpListener, router: Router, stop: Arc<Notify>) {
    let mut open = Connections::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.notified() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors, say: let connections end instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        open.make_room();
        let busy = Arc::new(AtomicBool::new(false));
        let mark = ConnectionMark::default();
        let (begins, ends, marks) = (Arc::clone(&busy), Arc::clone(&busy), mark.clone());
        let service = router
            .clone()
            .map_request(move |mut request: Request<hyper::body::Incoming>| {
                begins.store(true, Ordering::Relaxed);
                request.extensions_mut().insert(marks.clone());
                request
            })
            .map_response(move |response: Response| {
                ends.store(false, Ordering::Relaxed);
                response
            });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let running = mark.clone();
        let task = tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .max_buf_size(64 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            run_connection(connection, running).await;
        });
        open.0.push_back((task.abort_handle(), busy, mark));
    }
}
