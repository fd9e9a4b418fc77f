//! `vitals agent`'s joining flags (how often and how long to try the seeds), kept apart
//! from `cli.rs` so the agent's other flags stay one screen.

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
}

impl JoinArgs {
    /// `raw` with these flags' settings.
    pub(crate) fn apply(&self, raw: RawConfig) -> RawConfig {
        RawConfig {
            retry_join_interval: self.retry_join_interval,
            retry_join_max: self.retry_join_max,
            ..raw
        }
    }
}
