//! The simulator's throughput benchmark: push, N = 100, 1 s interval, 1 % loss, one crash,
//! simulated for `--minutes M` (default 30) of virtual time. Prints simulated node-hours
//! per wall-clock minute and events per second.
//!
//! ```sh
//! cargo run --release -p vitals-sim --example throughput -- --minutes 30
//! ```
//!
//! This is the one place in the crate that reads the wall clock: it measures the
//! simulator, it is not part of it.

use std::time::Duration;

use vitals_sim::{Spec, simulate};

#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let minutes: u64 = args
        .iter()
        .position(|a| a == "--minutes")
        .and_then(|i| args.get(i + 1))
        .and_then(|m| m.parse().ok())
        .unwrap_or(30);
    let spec = Spec {
        nodes: 100,
        duration: Duration::from_secs(minutes * 60),
        interval: Duration::from_secs(1),
        threshold: 3,
        loss: 0.01,
        crash: 1,
        seed: 7,
        ..Spec::default()
    };
    let started = std::time::Instant::now();
    let report = simulate(&spec).expect("valid spec");
    let wall = started.elapsed().as_secs_f64();
    println!("{}", spec.command_line());
    println!(
        "simulated {:.1} node-hours ({} events) in {wall:.2} s wall: {:.0} node-hours per wall-clock minute, {:.2e} events/s",
        report.node_hours,
        report.events,
        report.node_hours / wall * 60.0,
        report.events as f64 / wall
    );
    println!(
        "{:.1} messages per node per second; checks passed: {}",
        report.messages_per_node_s,
        report.passed()
    );
    if !report.passed() {
        println!("{}", report.table());
    }
}
