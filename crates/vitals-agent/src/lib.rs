//! # vitals-agent: the Vitals daemon
//!
//! Drives one [`vitals_core::Node`] with real time and real sockets: heartbeats over UDP
//! (sealed with the cluster keyring when one is configured), an HTTP API (axum),
//! Prometheus metrics, and health samples from `sysinfo`. It is the only crate that
//! knows about tokio, sockets, HTTP, signals and Prometheus; the protocol itself lives in
//! `vitals-core`, and this crate must never decide a member's status.
//!
//! Three jobs, one folder each:
//!
//! - [`daemon`]: the agent itself. One task (the driver) owns the node; the HTTP API,
//!   gRPC health and metrics read a snapshot it publishes; settings and keyring.
//! - [`health`]: the services an agent fronts and the checks it runs. Checks run in their
//!   own tasks and reach the node only as a value (`Command::SetHealth`), through the
//!   driver.
//! - [`routing`]: which instance of a service gets the next request, and the failover
//!   TCP proxy (`vitals proxy`) built on it.
//!
//! [`embed`] runs the same agent inside another program's tokio runtime (members, routes,
//! an event `Stream`, its own health and tags, leave), for services that embed Vitals.
//!
//! [`parse`] sits below all three: the error that refuses a setting and the text form
//! of durations, shared by the daemon's settings and the health services. [`api`] holds
//! the request and response types of the HTTP API, shared with the `vitals` CLI and
//! described by the OpenAPI document the agent serves (`/v1/openapi.json`).

pub mod api;
pub mod daemon;
pub mod embed;
pub mod health;
pub mod parse;
pub mod routing;

/// What this agent was built from.
pub mod build {
    /// The release, from Cargo.toml.
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// The commit (`git rev-parse --short=12 HEAD` at build time, or `VITALS_COMMIT`, or
    /// `unknown` outside a git checkout).
    pub const COMMIT: &str = env!("VITALS_COMMIT");
}

pub use daemon::config::{RawConfig, Settings};
pub use daemon::{AgentError, keygen, load_keyring, run};
pub use parse::SettingsError;
