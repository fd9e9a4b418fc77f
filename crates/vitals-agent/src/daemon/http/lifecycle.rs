//! Membership endpoints: the filtered member list, and the operator's join and
//! force-leave (`vitals members`, `vitals join`, `vitals force-leave`).
//!
//! - `GET /v1/members?status=alive,suspect&tag=role=db`: `status` takes one or more of
//!   alive, suspect, dead, left (comma-separated or repeated: any of them); each `tag`
//!   is `KEY=VALUE` and every one must match. An unknown parameter or status is a 400
//!   that names the valid ones (a filter is never silently ignored).
//! - `POST /v1/join` with `{"addrs": ["HOST[:PORT]", ...]}`: resolves them and sends a
//!   join to each; 200 with the members found there once one answers, 504 with the
//!   reason when none does within [`JOIN_WAIT`].
//! - `POST /v1/force-leave/NAME`: forgets a dead or left member here and at every member
//!   up (`vitals_core::Node::force_leave`); 409 for a member that is up or this node,
//!   404 for an unknown one.
//!
//! Like every handler, these read the published snapshot and reach the node only through
//! the driver's control channel.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use vitals_core::{Command, Status};

use super::blocking::{Blocking, with_index};
use super::events::ConnectionMark;
use super::state::stopping;
use super::{ApiState, error};
use crate::api::{ApiError, JoinRequest, Joined, MemberView, MembersQuery, Reaped, WatchQuery};
use crate::daemon::driver::Control;
use crate::daemon::join::Seed;

/// How long `POST /v1/join` waits for an answer.
pub(super) const JOIN_WAIT: Duration = Duration::from_secs(5);
/// How long `POST /v1/force-leave` waits for the member to be forgotten here.
const REAP_WAIT: Duration = Duration::from_secs(2);

const STATUSES: [Status; 4] = [Status::Alive, Status::Suspect, Status::Dead, Status::Left];

/// A parsed `GET /v1/members` filter.
#[derive(Debug, Default, PartialEq)]
struct Filter {
    statuses: Vec<Status>,
    tags: Vec<(String, String)>,
}

impl Filter {
    fn parse(params: &[(String, String)]) -> Result<Filter, String> {
        let mut filter = Filter::default();
        for (key, value) in params {
            match key.as_str() {
                "status" => {
                    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                        let status = STATUSES.into_iter().find(|s| s.as_str() == word).ok_or_else(|| {
                            format!("unknown status `{word}`: use alive, suspect, dead or left (comma-separated for any of several)")
                        })?;
                        filter.statuses.push(status);
                    }
                }
                "tag" => filter
                    .tags
                    .push(vitals_core::tags::parse(value).map_err(|e| format!("tag filter: {e}"))?),
                other => {
                    return Err(format!(
                        "unknown parameter `{other}`: filter with status=alive|suspect|dead|left and tag=KEY=VALUE; \
                         block with index=N&wait=DURATION"
                    ));
                }
            }
        }
        Ok(filter)
    }

    fn keeps(&self, member: &MemberView) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&member.status))
            && vitals_core::tags::matches(&member.tags, &self.tags)
    }
}

/// Every member with its status, incarnation, tags, health and round-trip time, filtered.
#[utoipa::path(get, path = "/v1/members", tag = "members", params(MembersQuery, WatchQuery),
    responses(
        (status = 200, description = "The members that pass the filters, this node included", body = Vec<MemberView>,
            headers(("X-Vitals-Index" = u64, description = "The member list's change index (blocking queries)"))),
        (status = 400, description = "An unknown status, parameter or malformed tag", body = ApiError),
    ))]
pub(super) async fn members(
    State(state): State<ApiState>,
    mark: Option<Extension<ConnectionMark>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let mut params = match query {
        Ok(Query(params)) => params,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let blocking = match Blocking::take(&mut params) {
        Ok(blocking) => blocking,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let filter = match Filter::parse(&params) {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    if let Err(refusal) = blocking.wait(&state, mark, |i| i.members).await {
        return *refusal;
    }
    let (members, index) = {
        let snapshot = state.snapshot.borrow();
        let members: Vec<MemberView> = snapshot.members.iter().filter(|m| filter.keeps(m)).cloned().collect();
        (members, snapshot.indexes.members)
    };
    with_index(Json(members).into_response(), index)
}

/// Join (more of) a cluster through these seeds; answers once one of them is heard.
#[utoipa::path(post, path = "/v1/join", tag = "members", request_body = JoinRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Members found at the seeds' addresses", body = Joined),
        (status = 400, description = "No address, or one that does not parse or resolve", body = ApiError),
        (status = 504, description = "No seed answered within 5 s; the reason", body = ApiError),
    ))]
pub(super) async fn join(State(state): State<ApiState>, body: Result<Json<JoinRequest>, JsonRejection>) -> Response {
    let request = match body {
        Ok(Json(request)) if !request.addrs.is_empty() => request,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "give at least one address: {\"addrs\": [\"HOST[:PORT]\"]}",
            );
        }
        Err(rejection) => {
            let message = format!("{}: send {{\"addrs\": [\"HOST[:PORT]\", ...]}}", rejection.body_text());
            return error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for text in &request.addrs {
        let seed = match Seed::parse(text) {
            Ok(seed) => seed,
            Err(message) => return error(StatusCode::BAD_REQUEST, &message),
        };
        match seed.resolve().await {
            Ok(found) => addrs.extend(found),
            Err(message) => return error(StatusCode::BAD_REQUEST, &message),
        }
    }
    if state
        .controls
        .send(Control::Node(Command::Join(addrs.clone())))
        .await
        .is_err()
    {
        return stopping();
    }
    let mut snapshot = state.snapshot.clone();
    let answered = |members: &[MemberView]| -> Vec<String> {
        members
            .iter()
            .filter(|m| !m.is_self && m.status.is_up() && addrs.contains(&m.addr))
            .map(|m| m.name.clone())
            .collect()
    };
    let waited = tokio::time::timeout(JOIN_WAIT, snapshot.wait_for(|s| !answered(&s.members).is_empty())).await;
    let joined = answered(&state.snapshot.borrow().members);
    if waited.is_ok() && !joined.is_empty() {
        return Json(Joined { joined }).into_response();
    }
    let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let why = state.snapshot.borrow().me.join_problem.clone().unwrap_or_else(|| {
        format!(
            "no answer from {} within {JOIN_WAIT:?}: is an agent running there, with the same keyring and --cluster label? (the agent logs what it refuses)",
            shown.join(", ")
        )
    });
    error(StatusCode::GATEWAY_TIMEOUT, &why)
}

/// Forget a dead (or left) member cluster-wide at once.
#[utoipa::path(post, path = "/v1/force-leave/{name}", tag = "members",
    params(("name" = String, Path, description = "The member's name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Forgotten everywhere this node reaches", body = Reaped),
        (status = 404, description = "No member of that name", body = ApiError),
        (status = 409, description = "The member is up, is this node, or came back", body = ApiError),
    ))]
pub(super) async fn force_leave(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let held = state
        .snapshot
        .borrow()
        .members
        .iter()
        .find(|m| m.name == name)
        .map(|m| (m.status, m.is_self));
    match held {
        None => return error(StatusCode::NOT_FOUND, &format!("no member named `{name}`")),
        Some((_, true)) => {
            return error(
                StatusCode::CONFLICT,
                &format!("`{name}` is this node: use `vitals leave`"),
            );
        }
        Some((status, false)) if status.is_up() => {
            let message = format!(
                "`{name}` is {}: force-leave removes only dead members (to take a live node out, run `vitals leave` on it)",
                status.as_str()
            );
            return error(StatusCode::CONFLICT, &message);
        }
        Some(_) => {}
    }
    if state
        .controls
        .send(Control::Node(Command::ForceLeave(name.clone())))
        .await
        .is_err()
    {
        return stopping();
    }
    let mut snapshot = state.snapshot.clone();
    let gone = tokio::time::timeout(
        REAP_WAIT,
        snapshot.wait_for(|s| s.members.iter().all(|m| m.name != name)),
    )
    .await;
    match gone {
        Ok(Ok(_)) => Json(Reaped { reaped: name }).into_response(),
        _ => error(
            StatusCode::CONFLICT,
            &format!("`{name}` is still listed: it came back or was heard again (see the agent's log)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn filters_parse_and_refuse_what_they_do_not_know() {
        let filter = Filter::parse(&params(&[("status", "alive,suspect"), ("tag", "role=db")])).unwrap();
        assert_eq!(filter.statuses, [Status::Alive, Status::Suspect]);
        assert_eq!(filter.tags, [("role".to_string(), "db".to_string())]);
        let unknown = Filter::parse(&params(&[("status", "up")])).unwrap_err();
        assert!(
            unknown.contains("unknown status `up`: use alive, suspect, dead or left"),
            "{unknown}"
        );
        let param = Filter::parse(&params(&[("state", "alive")])).unwrap_err();
        assert!(param.contains("unknown parameter `state`"), "{param}");
        assert!(Filter::parse(&params(&[("tag", "role")])).is_err());
    }
}
