//! `GET /v1/reachability`: who hears whom, as this agent holds it (the rows every member
//! sends, `vitals_core::reach`), with every unreachable pair classified. Asked of the
//! driver for each request: the matrix costs O(members × members), too much to rebuild in
//! every snapshot.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::state::stopping;
use crate::api::Reachability;
use crate::daemon::driver::Question;

/// The reachability matrix: every member's word about every other (heard within its
/// detector's window or not, with this node's own round trips), each unreachable pair
/// classified as `node_down` (nobody hears it), `link_down` (most hear it, this observer
/// does not), `sick_observer` (it hears almost nobody) or `partition`. Up to 64 members
/// every cell is given (`full`); beyond, only per-observer counts and at most 256 pairs.
#[utoipa::path(get, path = "/v1/reachability", tag = "members",
    responses((status = 200, description = "Who hears whom", body = Reachability)))]
pub(super) async fn reachability(State(state): State<ApiState>) -> Response {
    match state.ask(Question::Reachability).await {
        Some(matrix) => Json(matrix).into_response(),
        None => stopping(),
    }
}
