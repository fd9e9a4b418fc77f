//! `vitals agent`'s joining flags (how often and how long to try the seeds, where the
//! members snapshot lives), kept apart
//! from `cli.rs` so the agent's other flags stay one screen.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use vitals_agent::RawConfig;
use vitals_agent::daemon::config::parse_duration;

/// How the agent retries its join.
#[derive(Debug, Args)]
pub(crate) struct JoinArgs {
    /// Wait after the first failed join attempt; it doubles after each, up to 30s [default: 1s].
    #[arg(help_heading = "Node", long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) retry_join_interval: Option<Duration>,
    /// Exit (status 1) after this many failed join attempts [default: retry forever].
    #[arg(help_heading = "Node", long, value_name = "N")]
    pub(crate) retry_join_max: Option<u32>,
    /// Directory for the agent's state: the members snapshot (members.json) it rejoins through after a restart.
    #[arg(help_heading = "Node", long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The members snapshot file (overrides --data-dir) [default: none].
    #[arg(help_heading = "Node", long, value_name = "FILE")]
    pub(crate) snapshot: Option<PathBuf>,
    /// A tag carried with this node's membership, KEY=VALUE (repeatable; at most 16, 384 bytes in all).
    #[arg(help_heading = "Node", long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub(crate) tags: Vec<(String, String)>,
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    vitals_core::tags::parse(text).map_err(|e| e.to_string())
}

impl JoinArgs {
    /// `raw` with these flags' settings.
    pub(crate) fn apply(&self, raw: RawConfig) -> RawConfig {
        RawConfig {
            retry_join_interval: self.retry_join_interval,
            retry_join_max: self.retry_join_max,
            data_dir: self.data_dir.clone(),
            snapshot: self.snapshot.clone(),
            tags: (!self.tags.is_empty()).then(|| self.tags.iter().cloned().collect()),
            ..raw
        }
    }
}
