//! `GET /v1/events`: the agent's verdict changes as Server-Sent Events.
//!
//! Each message is `id: N`, `event: KIND` (`member`, `leader`, `check`, `service`) and
//! `data: {...}` (one [`Event`] as JSON). Two more names carry no id: `gap` (data
//! [`Gap`]: the events a resumption asked for that are no longer held) and `lagged` (data
//! [`Lagged`]: this subscriber read too slowly; the stream then closes and an
//! `EventSource` reconnects with `Last-Event-ID`).
//!
//! - Filters: `?kind=member,leader` (comma-separated or repeated), `?member=NAME`
//!   (repeatable: any), `?tag=KEY=VALUE` (repeatable: all); an unknown parameter, kind
//!   or malformed tag is a 400 naming the valid ones.
//! - Resumption: the `Last-Event-ID` header, or `?last_event_id=N` for clients that
//!   cannot send headers, replays the held events after N (the ring holds the last
//!   [`RING`](crate::daemon::events::RING)), announcing a `gap` first if some are gone.
//! - Auth: under `--api-auth all`, `Authorization: Bearer TOKEN` or `?token=TOKEN`
//!   (browsers' `EventSource` cannot send headers; only this endpoint reads the query
//!   token, and a token in a URL may end up in logs: prefer the header where possible).
//! - Bounds: at most [`MAX_STREAMS`](super::MAX_STREAMS) long-lived requests (streams
//!   and blocking queries) at once, outside the connection cap (503 beyond); a stream
//!   ends after [`STREAM_LIFETIME`] (clients reconnect and resume); a comment is sent
//!   every 15 s to keep proxies from closing an idle stream.
//!
//! The events are produced once, by the driver; each stream only filters.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::error::RecvError;

use super::state::{ApiState, error};
use crate::api::events::{Event, EventsQuery, Gap, KINDS, Lagged};

/// How long one event stream or blocking query may last.
pub(crate) const STREAM_LIFETIME: Duration = Duration::from_secs(600);

/// Counts the long-lived requests under way on one connection; the server keeps such a
/// connection open past its usual lifetime and outside the connection cap.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionMark(pub(crate) Arc<AtomicUsize>);

impl ConnectionMark {
    /// Whether a long-lived request is under way on the connection.
    pub(crate) fn is_long_lived(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// Held by a long-lived request: its permit, and its mark on its connection.
pub(crate) struct LongLived {
    _permit: OwnedSemaphorePermit,
    mark: Option<ConnectionMark>,
}

impl LongLived {
    /// A permit for one more long-lived request; `None` when [`too_many`] are under way.
    pub(crate) fn start(state: &ApiState, mark: Option<Extension<ConnectionMark>>) -> Option<LongLived> {
        let permit = Arc::clone(&state.streams).try_acquire_owned().ok()?;
        let mark = mark.map(|Extension(mark)| mark);
        if let Some(mark) = &mark {
            mark.0.fetch_add(1, Ordering::Relaxed);
        }
        Some(LongLived { _permit: permit, mark })
    }
}

/// The 503 that refuses a long-lived request beyond [`MAX_STREAMS`](super::MAX_STREAMS).
pub(crate) fn too_many() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "too many event streams and blocking queries open (at most {}): close some, or retry later",
            super::MAX_STREAMS
        ),
    )
}

impl Drop for LongLived {
    fn drop(&mut self) {
        if let Some(mark) = &self.mark {
            mark.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A parsed `GET /v1/events` query.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct EventFilter {
    kinds: Vec<&'static str>,
    members: Vec<String>,
    tags: Vec<(String, String)>,
    last_event_id: Option<u64>,
}

impl EventFilter {
    pub(crate) fn parse(params: &[(String, String)]) -> Result<EventFilter, String> {
        let mut filter = EventFilter::default();
        for (key, value) in params {
            match key.as_str() {
                "kind" => {
                    for word in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                        let kind = KINDS.into_iter().find(|k| *k == word).ok_or_else(|| {
                            format!("unknown kind `{word}`: use member, leader, check or service (comma-separated for several)")
                        })?;
                        filter.kinds.push(kind);
                    }
                }
                "member" => filter.members.push(value.clone()),
                "tag" => filter
                    .tags
                    .push(vitals_core::tags::parse(value).map_err(|e| format!("tag filter: {e}"))?),
                "last_event_id" => {
                    filter.last_event_id =
                        Some(value.parse().map_err(|_| {
                            format!("`last_event_id` must be an event id (a whole number), not `{value}`")
                        })?);
                }
                "token" => {}
                other => {
                    return Err(format!(
                        "unknown parameter `{other}`: use kind=member|leader|check|service, member=NAME, tag=KEY=VALUE, last_event_id=N"
                    ));
                }
            }
        }
        Ok(filter)
    }

    /// Whether a subscriber with this filter wants `event`.
    pub(crate) fn keeps(&self, event: &Event) -> bool {
        let change = &event.change;
        (self.kinds.is_empty() || self.kinds.contains(&change.kind()))
            && (self.members.is_empty() || change.member().is_some_and(|m| self.members.iter().any(|w| w == m)))
            && (self.tags.is_empty() || change.tags().is_some_and(|t| vitals_core::tags::matches(t, &self.tags)))
    }
}

/// The agent's verdict changes as Server-Sent Events (see the module's documentation).
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "`text/event-stream`: `event: member|leader|check|service` with `id:` and one `Event` as `data:`; `event: gap` (data `Gap`) and `event: lagged` (data `Lagged`) carry no id",
            content_type = "text/event-stream", body = Event),
        (status = 400, description = "An unknown parameter or kind, a malformed tag or event id", body = crate::api::ApiError),
        (status = 503, description = "Too many streams and blocking queries open", body = crate::api::ApiError),
    ))]
pub(super) async fn events(
    State(state): State<ApiState>,
    mark: Option<Extension<ConnectionMark>>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let params = match query {
        Ok(Query(params)) => params,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let mut filter = match EventFilter::parse(&params) {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    if let Some(header) = headers.get("last-event-id") {
        match header.to_str().ok().and_then(|v| v.trim().parse().ok()) {
            Some(id) => filter.last_event_id = Some(id),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "`Last-Event-ID` must be an event id (a whole number)",
                );
            }
        }
    }
    let Some(held) = LongLived::start(&state, mark) else {
        return too_many();
    };
    let subscription = state.events.subscribe(filter.last_event_id);
    let feed = Feed {
        gap: subscription.gap,
        backlog: subscription.backlog.into(),
        live: subscription.live,
        filter,
        last_id: None,
        done: false,
        ends: tokio::time::Instant::now() + STREAM_LIFETIME,
        _held: Some(held),
    };
    Sse::new(feed.into_stream())
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// One subscriber's stream: the gap, the backlog, then the live events, filtered.
pub(crate) struct Feed {
    gap: Option<Gap>,
    backlog: VecDeque<Arc<Event>>,
    live: tokio::sync::broadcast::Receiver<Arc<Event>>,
    filter: EventFilter,
    last_id: Option<u64>,
    done: bool,
    ends: tokio::time::Instant,
    _held: Option<LongLived>,
}

/// One message of the stream, before it is written as SSE.
#[derive(Debug, PartialEq)]
enum Message {
    Gap(Gap),
    Event(Arc<Event>),
    Lagged(Lagged),
}

impl Feed {
    fn into_stream(self) -> impl Stream<Item = Result<sse::Event, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut feed| async move {
            let message = match feed.next_message().await? {
                Message::Gap(gap) => json_message("gap", &gap),
                Message::Lagged(lagged) => json_message("lagged", &lagged),
                Message::Event(event) => json_message(event.change.kind(), &*event).id(event.id.to_string()),
            };
            Some((Ok(message), feed))
        })
    }

    async fn next_message(&mut self) -> Option<Message> {
        if self.done {
            return None;
        }
        if let Some(gap) = self.gap.take() {
            return Some(Message::Gap(gap));
        }
        while let Some(event) = self.backlog.pop_front() {
            if self.filter.keeps(&event) {
                return Some(self.deliver(event));
            }
        }
        loop {
            let received = tokio::select! {
                received = self.live.recv() => received,
                () = tokio::time::sleep_until(self.ends) => return None,
            };
            match received {
                Ok(event) if self.filter.keeps(&event) => return Some(self.deliver(event)),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    self.done = true;
                    let lagged = Lagged {
                        last_id: self.last_id,
                        missed,
                    };
                    return Some(Message::Lagged(lagged));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    fn deliver(&mut self, event: Arc<Event>) -> Message {
        self.last_id = Some(event.id);
        Message::Event(event)
    }
}

fn json_message(name: &str, data: &impl serde::Serialize) -> sse::Event {
    sse::Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::events::{Change, LeaderChange, MemberChange};

    fn member(name: &str, tags: &[(&str, &str)]) -> Event {
        Event {
            id: 1,
            time: String::new(),
            change: Change::Member(MemberChange {
                member: name.into(),
                addr: "127.0.0.1:1".into(),
                from: None,
                to: vitals_core::Status::Alive,
                incarnation: 0,
                accuser: None,
                reason: String::new(),
                tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            }),
        }
    }

    fn params(text: &[(&str, &str)]) -> Vec<(String, String)> {
        text.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn filters_by_kind_member_and_tag() {
        let leader = Event {
            id: 2,
            time: String::new(),
            change: Change::Leader(LeaderChange {
                leader: Some("a".into()),
                term: 1,
            }),
        };
        let f = EventFilter::parse(&params(&[("kind", "member"), ("tag", "role=db")])).unwrap();
        assert!(f.keeps(&member("a", &[("role", "db")])));
        assert!(!f.keeps(&member("a", &[("role", "web")])));
        assert!(!f.keeps(&leader));
        let f = EventFilter::parse(&params(&[("member", "a"), ("member", "b")])).unwrap();
        assert!(f.keeps(&leader) && f.keeps(&member("b", &[])) && !f.keeps(&member("c", &[])));
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_once_and_its_stream_ends() {
        let hub = crate::daemon::events::EventHub::new(1, 16, 2);
        let subscription = hub.subscribe(Some(0));
        let publish = |term| {
            let change = Change::Leader(LeaderChange { leader: None, term });
            hub.publish(change, std::time::SystemTime::now())
        };
        let first = publish(1);
        let mut feed = Feed {
            gap: subscription.gap,
            backlog: subscription.backlog.into(),
            live: subscription.live,
            filter: EventFilter::default(),
            last_id: None,
            done: false,
            ends: tokio::time::Instant::now() + STREAM_LIFETIME,
            _held: None,
        };
        assert_eq!(feed.next_message().await, Some(Message::Event(first)));
        for term in 2..=5 {
            publish(term);
        }
        let lagged = Lagged {
            last_id: Some(1),
            missed: 2,
        };
        assert_eq!(feed.next_message().await, Some(Message::Lagged(lagged)));
        assert_eq!(feed.next_message().await, None);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let bad = |p: &[(&str, &str)]| EventFilter::parse(&params(p)).unwrap_err();
        assert!(bad(&[("kind", "members")]).contains("use member, leader, check or service"));
        assert!(bad(&[("since", "1")]).contains("unknown parameter `since`"));
        assert!(bad(&[("last_event_id", "x")]).contains("whole number"));
        assert!(bad(&[("tag", "novalue")]).starts_with("tag filter"));
    }
}
