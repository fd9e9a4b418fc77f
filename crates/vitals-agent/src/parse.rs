//! What every part that reads settings shares: [`SettingsError`], the refusal that names
//! the key as it is written, and the text form of an optional duration (`"200ms"`,
//! `"2s"`) in TOML files. Used by the daemon's [`config`](crate::daemon::config) and the
//! health [`services`](crate::health::services), so it sits below both.
//!
//! Owns no setting and no default: it never reads a file, an environment variable or a
//! flag, and never knows which section a key belongs to.

/// A setting that was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file the settings name (config, keyring, token) could not be read.
    #[error("cannot read the {what} {path}: {source}")]
    Read {
        /// Which file, as the operator knows it (`config file`, `keyring file (--keyring)`).
        what: &'static str,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML for these settings.
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's one-line explanation.
        message: String,
    },
    /// A setting has a bad value.
    #[error("invalid `{key}`: {message}")]
    Invalid {
        /// The setting's key (the flag is `--key`).
        key: std::borrow::Cow<'static, str>,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// `Option<Duration>` as a human-readable string. A bare number is refused with a hint
/// to write its unit (TOML `interval = 10` means nothing: seconds? milliseconds?).
pub(crate) mod opt_duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use vitals_core::config::serde_duration::format_duration;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_any(DurationText).map(Some)
    }

    struct DurationText;

    fn no_unit<E: de::Error>(number: impl fmt::Display) -> E {
        E::custom(format!(
            "a duration needs a unit: write \"{number}s\" (or \"{number}ms\", \"{number}m\", \"1m30s\")"
        ))
    }

    impl Visitor<'_> for DurationText {
        type Value = Duration;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"10s\", \"200ms\" or \"1m30s\"")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            super::parse_duration(text).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
            Err(no_unit(n))
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
            Err(no_unit(n))
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Duration, E> {
            Err(no_unit(n))
        }
    }
}

/// Parses a duration: `200ms`, `10s`, `1m30s`, `1h 5m` (humantime), or a decimal such
/// as `1.5s`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    humantime::parse_duration(text).or_else(|_| vitals_core::config::serde_duration::parse_duration(text))
}
