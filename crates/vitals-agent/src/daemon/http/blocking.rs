//! Blocking queries on `/v1/members`, `/v1/services/NAME` and `/v1/route?service=NAME`
//! (Consul's convention; the indexes are described in `daemon::blocking`).
//!
//! Every answer carries `X-Vitals-Index`. With `?index=N`, the request waits until the
//! index differs from N (a change, or the agent restarted), or `wait` (default
//! [`DEFAULT_WAIT`], at most [`MAX_WAIT`]) has passed, and then answers as usual. `index=0`
//! or no `index` answers at once. A bad `index` or `wait` is a 400 saying what is
//! accepted. A waiting request is a long-lived one (`events::LongLived`): bounded in
//! number, outside the connection cap.

use std::time::Duration;

use axum::Extension;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;

use super::events::{ConnectionMark, LongLived, too_many};
use super::state::{ApiState, error};
use crate::daemon::blocking::Indexes;

/// How long a blocking query waits when `wait` is not given (Consul's default).
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// The longest `wait` accepted.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(600);
/// The response header that carries the index.
pub(crate) const INDEX_HEADER: &str = "x-vitals-index";

/// A blocking query's `index` and `wait`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Blocking {
    index: Option<u64>,
    wait: Option<Duration>,
}

impl Blocking {
    /// Takes `index` and `wait` out of `params`, refusing values that do not parse.
    pub(crate) fn take(params: &mut Vec<(String, String)>) -> Result<Blocking, String> {
        let mut blocking = Blocking::default();
        for (key, value) in std::mem::take(params) {
            match key.as_str() {
                "index" => blocking.index = Some(parse_index(&value)?),
                "wait" => blocking.wait = Some(parse_wait(&value)?),
                _ => params.push((key, value)),
            }
        }
        Ok(blocking)
    }

    /// Parses the two from optional texts (for handlers with a typed query).
    pub(crate) fn of(index: Option<&str>, wait: Option<&str>) -> Result<Blocking, String> {
        Ok(Blocking {
            index: index.map(parse_index).transpose()?,
            wait: wait.map(parse_wait).transpose()?,
        })
    }

    /// Waits, if asked to, until `index_of` the current indexes differs from the index
    /// given, or the wait is over. `Err` is the 503 refusing it when too many requests
    /// already wait.
    pub(crate) async fn wait(
        &self,
        state: &ApiState,
        mark: Option<Extension<ConnectionMark>>,
        index_of: impl Fn(&Indexes) -> u64,
    ) -> Result<(), Box<Response>> {
        let Some(asked) = self.index.filter(|i| *i > 0) else {
            return Ok(());
        };
        let mut indexes = state.indexes.clone();
        if index_of(&indexes.borrow_and_update()) != asked {
            return Ok(());
        }
        let Some(_held) = LongLived::start(state, mark) else {
            return Err(Box::new(too_many()));
        };
        let until = tokio::time::Instant::now() + self.wait.unwrap_or(DEFAULT_WAIT);
        loop {
            match tokio::time::timeout_at(until, indexes.changed()).await {
                Ok(Ok(())) if index_of(&indexes.borrow_and_update()) == asked => {}
                _ => return Ok(()),
            }
        }
    }
}

fn parse_index(value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("`index` must be a whole number (the X-Vitals-Index of a previous answer), not `{value}`"))
}

fn parse_wait(value: &str) -> Result<Duration, String> {
    let wait = crate::parse::parse_duration(value)
        .map_err(|_| format!("`wait` must be a duration like 30s or 5m, not `{value}`"))?;
    if wait > MAX_WAIT {
        return Err(format!("`wait` is at most 10m, not `{value}`"));
    }
    Ok(wait)
}

/// `response` with `X-Vitals-Index: index`.
pub(crate) fn with_index(mut response: Response, index: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&index.to_string()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(INDEX_HEADER), value);
    }
    response
}

/// A 400 for a bad `index` or `wait`.
pub(crate) fn refuse(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_wait_are_taken_out_and_checked() {
        let mut params = vec![
            ("status".to_string(), "alive".to_string()),
            ("index".to_string(), "7".to_string()),
            ("wait".to_string(), "30s".to_string()),
        ];
        let blocking = Blocking::take(&mut params).unwrap();
        assert_eq!(
            blocking,
            Blocking {
                index: Some(7),
                wait: Some(Duration::from_secs(30))
            }
        );
        assert_eq!(params, [("status".to_string(), "alive".to_string())]);
        assert!(Blocking::of(Some("-1"), None).unwrap_err().contains("whole number"));
        assert!(Blocking::of(None, Some("soon")).unwrap_err().contains("like 30s"));
        assert!(Blocking::of(None, Some("11m")).unwrap_err().contains("at most 10m"));
    }
}
