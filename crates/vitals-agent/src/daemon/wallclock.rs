//! Times for the HTTP API, as a reader wants them. Dates: the node's clock counts from the
//! agent's start (sans-IO `Instant`s), which means nothing to a reader; answers that
//! carry instants show them as RFC 3339 UTC dates instead. Durations: a derived value
//! such as a lease of `488571us` reads `488ms 571us`. Only formats; never reads the node.

use std::time::SystemTime;

use serde_json::Value;
use vitals_core::Instant;
use vitals_core::why::Why;

/// The wall-clock date of `at`, given that the node's clock read `now` at `wall_now`.
pub(crate) fn date(at: Instant, now: Instant, wall_now: SystemTime) -> String {
    let wall = wall_now.checked_sub(now - at).unwrap_or(wall_now);
    humantime::format_rfc3339_millis(wall).to_string()
}

/// `GET /v1/members/NAME/why` with each history entry's `at` as a date.
pub(crate) fn why_with_dates(why: &Why, now: Instant, wall_now: SystemTime) -> Value {
    let mut json = serde_json::to_value(why).unwrap_or(Value::Null);
    if let Some(history) = json.get_mut("history").and_then(Value::as_array_mut) {
        for (entry, transition) in history.iter_mut().zip(&why.history) {
            entry["at"] = Value::String(date(transition.at, now, wall_now));
        }
    }
    json
}

/// `value` with every duration written in microseconds alone (`488571us`, what the
/// protocol's exact format falls back to) rewritten unit by unit (`488ms 571us`), which
/// the config parser reads back.
pub(crate) fn readable_durations(mut value: Value) -> Value {
    match &mut value {
        Value::String(text) => {
            let micros = text.strip_suffix("us").and_then(|n| n.parse::<u64>().ok());
            if let Some(micros) = micros.filter(|m| *m >= 1_000) {
                *text = humantime::format_duration(std::time::Duration::from_micros(micros)).to_string();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| *v = readable_durations(v.take())),
        Value::Object(map) => map.values_mut().for_each(|v| *v = readable_durations(v.take())),
        _ => {}
    }
    value
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_instant_is_dated_back_from_now() {
        let wall_now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let now = Instant::from_micros(5_000_000);
        assert_eq!(
            date(Instant::from_micros(3_500_000), now, wall_now),
            "2027-01-15T07:59:58.500Z"
        );
    }

    #[test]
    fn microsecond_durations_are_written_unit_by_unit() {
        let value = serde_json::json!({"config": {"lease": "488571us", "interval": "200ms", "tiny": "7us"}});
        let value = readable_durations(value);
        assert_eq!(value["config"]["lease"], "488ms 571us");
        assert_eq!(value["config"]["interval"], "200ms");
        assert_eq!(value["config"]["tiny"], "7us");
        let back = crate::parse::parse_duration("488ms 571us");
        assert_eq!(back, Ok(Duration::from_micros(488_571)));
    }
}
