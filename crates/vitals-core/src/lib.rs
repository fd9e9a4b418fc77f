//! # vitals-core: the sans-IO failure-detection protocol
//!
//! A fully deterministic implementation of Vitals' heartbeat protocols. It contains no
//! networking code, reads no clock and uses no global random generator: time is a value
//! ([`Instant`]) passed into every input, randomness comes from a seeded [`Rng`], and
//! everything the node wants done comes out of a queue ([`Node::poll_output`]). The real
//! agent (`vitals-agent`) and the simulator drive this same code.
//!
//! ## Map
//! - [`node`]: [`Node`], the state machine: `handle_*` in, `poll_*` out.
//! - [`members`]: the membership table, the only place a status changes (with its
//!   brake, flap damping, graveyard and roster under `members/`).
//! - `verdicts`: who turns evidence into statuses, the detectors or a [`quorum`] tally.
//! - [`detector`]: missed-heartbeat and phi accrual detectors, pure functions of time.
//! - `strategy`: push, pull, ping (SWIM), gossip and leader, one module each, and all
//!   that others ask about a strategy; `strategy/election.rs` is Raft's leader election
//!   (without a log) that the leader strategy runs. [`bounds`]: the detection and
//!   convergence bounds each strategy is held to.
//! - [`message`] and [`wire`]: the vocabulary and its versioned encoding ([`form`]: the
//!   serde forms and limits both use); [`seal`]: authenticated encryption and replay
//!   protection.
//! - [`config`]: settings, presets and validation.
//! - [`checks`]: check results as values (carried in [`Health`]); [`score`]: the health
//!   score, one pure formula every node applies.
//! - `tests/` (tests only): the in-memory cluster harness and whole-cluster scenarios,
//!   one file per strategy.
//!
//! ## Driving a node
//!
//! ```
//! use vitals_core::{Command, Config, Instant, Node, Output, Peer, Preset, StrategyKind};
//!
//! let config = Config::preset(Preset::LanFast, StrategyKind::Push);
//! let me = Peer { name: "a".into(), addr: "127.0.0.1:7946".parse().unwrap(), incarnation: 0 };
//! let mut node = Node::new(me, config, 42, Instant::ZERO);
//! node.handle_command(Instant::ZERO, Command::Join(vec!["127.0.0.2:7946".parse().unwrap()]));
//! let mut sent = 0;
//! while let Some(output) = node.poll_output() {
//!     match output {
//!         Output::Send { to, envelope } => sent += 1, // encode with wire::encode, send to `to`
//!         Output::Broadcast { to, envelope } => sent += to.len(), // the same, to each
//!         Output::Event(event) => println!("{event:?}"),
//!     }
//! }
//! assert_eq!(sent, 1); // the join
//! // The host sleeps until node.poll_timeout(), then calls node.handle_tick(now), and
//! // calls node.handle_message(now, src, wire::decode(datagram)?) for every datagram.
//! ```
#![deny(missing_docs)]

pub mod adapt;
pub mod bounds;
pub mod checks;
pub mod config;
pub mod detector;
pub mod form;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod links;
pub mod members;
pub mod message;
pub mod node;
mod output;
pub mod quorum;
pub mod reach;
mod rng;
pub mod score;
pub mod seal;
mod strategy;
pub mod tags;
pub mod time;
pub mod timing;
mod verdicts;
pub mod why;
pub mod wire;

#[cfg(test)]
mod tests;

pub use checks::{CheckStatus, Checks, ServiceEntry};
pub use config::{
    Config, ConfigError, DetectorKind, GossipConfig, LeaderConfig, PhiConfig, Preset, ProbeConfig, Quorum, RoleError,
    Roles, StrategyConfig, StrategyKind, SwimConfig, UnreachableQuorum,
};
pub use members::{Member, Transition};
pub use message::{Envelope, Health, Incarnation, MemberEntry, Message, Peer, Status};
pub use node::{Command, Event, Node, Output, Stats};
pub use rng::Rng;
pub use strategy::{Leadership, Role};
pub use time::Instant;
