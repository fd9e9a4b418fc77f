//! The `vitals` binary's integration tests: real agent processes on loopback, killed with
//! real signals, observed through their real HTTP APIs. One test binary (matklad's
//! "Delete Cargo Integration Tests").

// A test binary exports nothing: `pub` here only means "shared between the modules".
#![allow(unreachable_pub)]

mod agents;
mod backends;
mod cli;
mod consul;
mod dashboard;
mod discovery;
mod events;
mod failover;
mod health;
mod hooks;
mod http;
mod joining;
mod leader;
mod lifecycle;
mod links;
mod quorum;
mod security;
mod sim;
mod support;
mod systemd;
mod timing;
mod watches;
