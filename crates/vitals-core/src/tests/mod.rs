//! The core's whole-cluster tests, kept apart from the protocol code (as quinn-proto
//! does): `cluster.rs` is the harness, an in-memory cluster on virtual time exchanging
//! real encoded datagrams; the other files are scenarios, one per strategy (`quorum.rs`
//! for quorum-confirmed verdicts, `scenarios.rs` for those every strategy shares).
//! Unit tests of one module stay beside that module.

mod cluster;
mod formation;
mod gossip;
mod leader;
mod ping;
mod quorum;
mod reach;
mod scenarios;
mod sick;
mod timing;
