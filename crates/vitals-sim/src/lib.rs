//! # vitals-sim: the deterministic simulator
//!
//! Drives N real [`vitals_core::Node`]s on virtual time through a modelled network
//! (latency distributions, loss, duplication, reordering, partitions) and injected faults
//! (crash, crash-and-restart, pause, slow node), checks accuracy, completeness and
//! convergence on every run, and reports the QoS of the failure detector in Chen, Toueg
//! and Aguilera's terms. [`tune`] holds their configuration procedure.
//!
//! **Invariants.** Depends only on `vitals-core` (and serde for the report). Never reads
//! a clock, never uses a global RNG, never iterates a randomly ordered map: the same
//! [`Spec`] (seed included) gives a byte-identical [`Report`]. Every failure carries its
//! seed and the exact command that replays it.
//!
//! ## Map
//! - [`scenario`]: [`Spec`] (the command line's parameters) → [`Scenario`] (absolute plan).
//! - [`net`]: latency, loss, duplication, reordering, partitions.
//! - `engine`: the nodes, driven by `queue` (a calendar queue of events). `ledger`: what
//!   happened.
//! - [`check`]: the checkers. [`report`]: the QoS report. [`tune`]: Chen's procedure.
//!
//! ```
//! use std::time::Duration;
//! use vitals_sim::{Spec, simulate};
//!
//! let spec = Spec { nodes: 5, duration: Duration::from_secs(60), crash: 1, seed: 7, ..Spec::default() };
//! let report = simulate(&spec).unwrap();
//! assert!(report.passed(), "{}", report.table());
//! assert_eq!(report.crashes, 1);
//! ```

pub mod check;
mod engine;
mod ledger;
pub mod net;
mod queue;
pub mod report;
pub mod scenario;
pub mod tune;

pub use engine::{Sim, addr_of};
pub use ledger::HEADER_BYTES;
pub use net::{Latency, NetModel, Partition};
pub use report::{Report, Summary};
pub use scenario::{Fault, FaultKind, PartitionSpec, Scenario, Spec};

/// Runs `scenario` to its end and reports, calling `progress` with the fraction done.
pub fn run(scenario: Scenario, progress: &mut dyn FnMut(f64)) -> Report {
    let mut sim = Sim::new(scenario);
    sim.run(progress);
    let checks = check::all(&sim);
    Report::of(&sim, checks)
}

/// Expands `spec` and runs it without progress reports.
pub fn simulate(spec: &Spec) -> Result<Report, String> {
    Ok(run(spec.scenario()?, &mut |_| {}))
}

/// The message that goes with a failed run: every failed check, the seed, and the exact
/// command that replays it.
pub fn failure_message(spec: &Spec, report: &Report) -> String {
    let mut message = String::new();
    for check in report.checks.iter().filter(|c| c.failed()) {
        message.push_str(&format!("check {} failed: {}\n", check.name, check.detail));
    }
    message.push_str(&format!("seed={}; replay: {}", spec.seed, spec.command_line()));
    message
}
