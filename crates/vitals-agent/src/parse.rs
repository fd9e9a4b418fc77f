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
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
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

/// `Option<Duration>` as a human-readable string.
pub(crate) mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};
    use vitals_core::config::serde_duration::{format_duration, parse_duration};

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(Some).map_err(serde::de::Error::custom)
    }
}
