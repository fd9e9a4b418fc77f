//! Node tags: `key=value` pairs an operator gives a node (`--tag role=db`), carried with
//! its membership inside its [`Health`] (so wherever a member's health travels — join
//! replies, heartbeats, views, rumors — its tags travel too) and filtered on by the API.
//!
//! Bounded: at most [`MAX_TAGS`] pairs, keys of at most [`MAX_TAG_KEY_LEN`] bytes
//! (letters, digits, `.`, `-`, `_`, `/`), values of at most [`MAX_TAG_VALUE_LEN`] bytes
//! (printable ASCII, no spaces), and [`MAX_TAGS_BYTES`] bytes of keys and values in all.
//! The agent refuses more at start-up; `wire` refuses a datagram that carries more.
//!
//! Wire compatibility: a [`Health`] without tags encodes exactly as before tags existed
//! (its last field, `checks`, is an `Option`: byte 0 or 1). With tags, that byte is 2 and
//! the tags follow the checks; an older node refuses such a datagram as malformed (counted
//! in `vitals_decode_errors_total`) and understands every other one.

use std::collections::BTreeMap;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::checks::Checks;
use crate::message::Health;

/// A node's tags, in key order.
pub type Tags = BTreeMap<String, String>;

/// Most tags one node carries.
pub const MAX_TAGS: usize = 16;
/// The longest tag key, in bytes.
pub const MAX_TAG_KEY_LEN: usize = 64;
/// The longest tag value, in bytes.
pub const MAX_TAG_VALUE_LEN: usize = 128;
/// Most bytes of keys and values one node's tags hold in all (so that a member entry
/// with every service and every tag still fits one page of a member list).
pub const MAX_TAGS_BYTES: usize = 384;

/// Why a tag or a set of tags is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// Not `key=value`.
    #[error("`{0}` is not KEY=VALUE (e.g. role=db)")]
    NotAPair(String),
    /// A bad key.
    #[error("tag key `{0}` must be 1 to {MAX_TAG_KEY_LEN} letters, digits, `.`, `-`, `_` or `/`")]
    BadKey(String),
    /// A bad value.
    #[error("the value of tag `{0}` must be at most {MAX_TAG_VALUE_LEN} printable ASCII characters without spaces")]
    BadValue(String),
    /// Too many tags.
    #[error("{0} tags: at most {MAX_TAGS} are allowed")]
    TooMany(usize),
    /// Too many bytes.
    #[error("the tags hold {0} bytes of keys and values: at most {MAX_TAGS_BYTES} are allowed")]
    TooLarge(usize),
}

/// Whether `key` may be a tag key.
pub fn is_valid_key(key: &str) -> bool {
    (1..=MAX_TAG_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
}

/// Whether `value` may be a tag value (empty is allowed).
pub fn is_valid_value(value: &str) -> bool {
    value.len() <= MAX_TAG_VALUE_LEN && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Parses one `key=value`.
pub fn parse(text: &str) -> Result<(String, String), TagError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| TagError::NotAPair(text.to_string()))?;
    if !is_valid_key(key) {
        return Err(TagError::BadKey(key.to_string()));
    }
    if !is_valid_value(value) {
        return Err(TagError::BadValue(key.to_string()));
    }
    Ok((key.to_string(), value.to_string()))
}

/// Checks every bound.
pub fn validate(tags: &Tags) -> Result<(), TagError> {
    for (key, value) in tags {
        if !is_valid_key(key) {
            return Err(TagError::BadKey(key.clone()));
        }
        if !is_valid_value(value) {
            return Err(TagError::BadValue(key.clone()));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(TagError::TooMany(tags.len()));
    }
    let bytes: usize = tags.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_TAGS_BYTES {
        return Err(TagError::TooLarge(bytes));
    }
    Ok(())
}

/// Whether `tags` holds every `key=value` of `wanted`.
pub fn matches(tags: &Tags, wanted: &[(String, String)]) -> bool {
    wanted.iter().all(|(k, v)| tags.get(k) == Some(v))
}

/// The end of a [`Health`] on the wire: byte-compatible with the `Option<Checks>` it
/// replaces (variants 0 and 1), plus a variant for a tagged node.
#[derive(Serialize)]
enum TailRef<'a> {
    None,
    Checks(&'a Checks),
    Tagged(Option<&'a Checks>, &'a Tags),
}

#[derive(Deserialize)]
enum Tail {
    None,
    Checks(Checks),
    Tagged(Option<Checks>, #[serde(deserialize_with = "bounded_tags")] Tags),
}

/// A [`Health`] as encoded on the wire.
#[derive(Serialize)]
struct WireRef<'a> {
    cpu_percent: f32,
    mem_available_bytes: u64,
    mem_total_bytes: u64,
    load1: f32,
    disk_free_bytes: u64,
    tail: TailRef<'a>,
}

#[derive(Deserialize)]
struct Wire {
    cpu_percent: f32,
    mem_available_bytes: u64,
    mem_total_bytes: u64,
    load1: f32,
    disk_free_bytes: u64,
    tail: Tail,
}

/// A [`Health`] as JSON shows it (tags omitted when there are none).
#[derive(Serialize)]
struct ReadableRef<'a> {
    cpu_percent: f32,
    mem_available_bytes: u64,
    mem_total_bytes: u64,
    load1: f32,
    disk_free_bytes: u64,
    checks: &'a Option<Checks>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: &'a Tags,
}

#[derive(Deserialize)]
struct Readable {
    cpu_percent: f32,
    mem_available_bytes: u64,
    mem_total_bytes: u64,
    load1: f32,
    disk_free_bytes: u64,
    checks: Option<Checks>,
    #[serde(default)]
    tags: Tags,
}

impl Serialize for Health {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return ReadableRef {
                cpu_percent: self.cpu_percent,
                mem_available_bytes: self.mem_available_bytes,
                mem_total_bytes: self.mem_total_bytes,
                load1: self.load1,
                disk_free_bytes: self.disk_free_bytes,
                checks: &self.checks,
                tags: &self.tags,
            }
            .serialize(serializer);
        }
        let tail = match (&self.checks, self.tags.is_empty()) {
            (None, true) => TailRef::None,
            (Some(checks), true) => TailRef::Checks(checks),
            (checks, false) => TailRef::Tagged(checks.as_ref(), &self.tags),
        };
        WireRef {
            cpu_percent: self.cpu_percent,
            mem_available_bytes: self.mem_available_bytes,
            mem_total_bytes: self.mem_total_bytes,
            load1: self.load1,
            disk_free_bytes: self.disk_free_bytes,
            tail,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Health {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Health, D::Error> {
        if deserializer.is_human_readable() {
            let r = Readable::deserialize(deserializer)?;
            return Ok(Health {
                cpu_percent: r.cpu_percent,
                mem_available_bytes: r.mem_available_bytes,
                mem_total_bytes: r.mem_total_bytes,
                load1: r.load1,
                disk_free_bytes: r.disk_free_bytes,
                checks: r.checks,
                tags: r.tags,
            });
        }
        let w = Wire::deserialize(deserializer)?;
        let (checks, tags) = match w.tail {
            Tail::None => (None, Tags::new()),
            Tail::Checks(checks) => (Some(checks), Tags::new()),
            Tail::Tagged(checks, tags) => (checks, tags),
        };
        Ok(Health {
            cpu_percent: w.cpu_percent,
            mem_available_bytes: w.mem_available_bytes,
            mem_total_bytes: w.mem_total_bytes,
            load1: w.load1,
            disk_free_bytes: w.disk_free_bytes,
            checks,
            tags,
        })
    }
}

/// Tags decoded without trusting their length prefix: at most [`MAX_TAGS`] pairs.
fn bounded_tags<'de, D: Deserializer<'de>>(d: D) -> Result<Tags, D::Error> {
    let pairs = crate::form::bounded_vec::<D, (String, String), MAX_TAGS>(d)?;
    Ok(pairs.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn tags_parse_and_are_bounded() {
        assert_eq!(parse("role=db"), Ok(("role".into(), "db".into())));
        assert_eq!(parse("k8s.io/zone=eu-1a"), Ok(("k8s.io/zone".into(), "eu-1a".into())));
        assert_eq!(parse("empty="), Ok(("empty".into(), String::new())));
        assert!(matches!(parse("role"), Err(TagError::NotAPair(_))));
        assert!(matches!(parse("=db"), Err(TagError::BadKey(_))));
        assert!(matches!(parse("role=a b"), Err(TagError::BadValue(_))));
        assert!(matches!(parse("ro le=db"), Err(TagError::BadKey(_))));
        let many: Tags = (0..=MAX_TAGS).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert_eq!(validate(&many), Err(TagError::TooMany(MAX_TAGS + 1)));
        let big: Tags = (0..5)
            .map(|i| (format!("k{i}"), "v".repeat(MAX_TAG_VALUE_LEN)))
            .collect();
        assert!(matches!(validate(&big), Err(TagError::TooLarge(_))));
        assert_eq!(validate(&tags(&[("role", "db")])), Ok(()));
    }

    #[test]
    fn a_filter_needs_every_pair() {
        let t = tags(&[("role", "db"), ("zone", "a")]);
        assert!(matches(&t, &[]));
        assert!(matches(&t, &[("role".into(), "db".into())]));
        assert!(!matches(
            &t,
            &[("role".into(), "db".into()), ("zone".into(), "b".into())]
        ));
    }

    /// The `Health` of a build without tags, field for field.
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct OldHealth {
        cpu_percent: f32,
        mem_available_bytes: u64,
        mem_total_bytes: u64,
        load1: f32,
        disk_free_bytes: u64,
        checks: Option<Checks>,
    }

    #[test]
    fn an_untagged_health_is_encoded_as_before_tags_existed() {
        for checks in [None, Some(Checks::default())] {
            let health = Health {
                cpu_percent: 1.5,
                mem_available_bytes: 7,
                mem_total_bytes: 9,
                load1: 0.5,
                disk_free_bytes: 3,
                checks: checks.clone(),
                tags: Tags::new(),
            };
            let old = OldHealth {
                cpu_percent: 1.5,
                mem_available_bytes: 7,
                mem_total_bytes: 9,
                load1: 0.5,
                disk_free_bytes: 3,
                checks,
            };
            let bytes = postcard::to_allocvec(&health).unwrap();
            assert_eq!(bytes, postcard::to_allocvec(&old).unwrap());
            assert_eq!(postcard::from_bytes::<Health>(&bytes).unwrap(), health);
        }
    }

    #[test]
    fn a_tagged_health_round_trips_and_an_old_node_refuses_it() {
        let health = Health {
            checks: Some(Checks::default()),
            tags: tags(&[("role", "db")]),
            ..Health::default()
        };
        let bytes = postcard::to_allocvec(&health).unwrap();
        assert_eq!(postcard::from_bytes::<Health>(&bytes).unwrap(), health);
        assert!(postcard::from_bytes::<OldHealth>(&bytes).is_err());
        let json = serde_json::to_value(&health).unwrap();
        assert_eq!(json["tags"]["role"], "db");
        assert_eq!(serde_json::from_value::<Health>(json).unwrap(), health);
        let untagged = serde_json::to_value(Health::default()).unwrap();
        assert!(untagged.get("tags").is_none());
    }
}
