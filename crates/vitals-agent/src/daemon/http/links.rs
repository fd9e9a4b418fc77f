//! `GET /v1/links`: what this agent measures of each peer it hears directly (loss,
//! delays, jitter, inter-arrival times; `vitals_core::links`), and `GET /v1/tune`: the
//! Chen–Toueg–Aguilera recommendation computed from the worst of them
//! (`daemon::tuning`). Both read the published snapshot only (links read at most once a
//! second).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vitals_core::StrategyKind;

use super::state::{ApiState, error};
use crate::api::ApiError;
use crate::api::links::{LinkView, TuneAnswer, TuneQuery};
use crate::daemon::tuning;

/// Every peer this agent heard directly within the last 60 s, sorted by name: datagrams
/// received, loss (from gaps in the round numbers of push heartbeats, pull polls and
/// leader heartbeats; 0 under ping and gossip), round trips (acknowledged rounds) and
/// the one-way estimate (half), jitter and inter-arrival times.
#[utoipa::path(get, path = "/v1/links", tag = "members",
    responses((status = 200, description = "The measured links, by peer name", body = [LinkView])))]
pub(super) async fn links(State(state): State<ApiState>) -> impl IntoResponse {
    let links = std::sync::Arc::clone(&state.snapshot.borrow().links);
    Json(links.as_ref().clone())
}

/// Interval, threshold and timeout for a detection-time and false-positive target,
/// from Chen, Toueg & Aguilera's NFD-S procedure run on the measured worst link (the
/// highest loss, then the highest delay). 400 with the fix when the query is wrong, 409
/// when no link is measured yet or the target cannot be met at the measured loss.
#[utoipa::path(get, path = "/v1/tune", tag = "members", params(TuneQuery),
    responses(
        (status = 200, description = "The recommendation", body = TuneAnswer),
        (status = 400, description = "A bad query", body = ApiError),
        (status = 409, description = "Nothing measured yet, or the target cannot be met", body = ApiError),
    ))]
pub(super) async fn tune(State(state): State<ApiState>, query: Result<Query<TuneQuery>, QueryRejection>) -> Response {
    let parsed = query.map_err(|r| r.body_text()).and_then(|Query(q)| {
        let detect_within = crate::parse::parse_duration(&q.detect_within)
            .map_err(|e| format!("detect-within: {e} (write e.g. detect-within=5s)"))?;
        let recurrence = vitals_sim::tune::parse_rate(&q.mistakes).map_err(|e| format!("mistakes: {e}"))?;
        Ok((detect_within, recurrence))
    });
    let (detect_within, recurrence) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let (links, pull) = {
        let snapshot = state.snapshot.borrow();
        (
            std::sync::Arc::clone(&snapshot.links),
            snapshot.me.strategy == StrategyKind::Pull,
        )
    };
    match tuning::recommend(&links, detect_within, recurrence, pull) {
        Ok(recommendation) => Json(recommendation.answer()).into_response(),
        Err(message) => error(StatusCode::CONFLICT, &message),
    }
}
