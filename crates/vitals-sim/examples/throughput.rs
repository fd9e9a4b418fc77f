//! The simulator's throughput benchmark: push, N = 100, 1 s interval, 1 % loss, one crash,
//! simulated for `--minutes M` (default 30) of virtual time. Prints simulated node-hours
//! per wall-clock minute and events per second: first for one simulation, then for
//! `--threads T` simulations of different seeds run at once (default: one per core), which
//! is how seed and parameter sweeps use the machine.
//!
//! ```sh
//! cargo run --release -p vitals-sim --example throughput -- --minutes 30
//! ```
//!
//! This is the one place in the crate that reads the wall clock: it measures the
//! simulator, it is not part of it.

use std::time::Duration;

use vitals_sim::{Report, Spec, simulate};

fn flag(args: &[String], name: &str) -> Option<u64> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn spec(minutes: u64, seed: u64) -> Spec {
    Spec {
        nodes: 100,
        duration: Duration::from_secs(minutes * 60),
        interval: Duration::from_secs(1),
        threshold: 3,
        loss: 0.01,
        crash: 1,
        seed,
        ..Spec::default()
    }
}

/// Runs one simulation per seed, all at once (one thread each); returns the reports and
/// the wall-clock seconds taken.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn run(minutes: u64, seeds: std::ops::Range<u64>) -> (Vec<Report>, f64) {
    let started = std::time::Instant::now();
    let reports = std::thread::scope(|scope| {
        let runs: Vec<_> = seeds
            .map(|seed| scope.spawn(move || simulate(&spec(minutes, seed)).expect("valid spec")))
            .collect();
        runs.into_iter().map(|r| r.join().expect("no panic")).collect()
    });
    (reports, started.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let minutes = flag(&args, "--minutes").unwrap_or(30);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = flag(&args, "--threads").unwrap_or(cores).max(1);
    println!("{}", spec(minutes, 7).command_line());
    let (one, wall) = run(minutes, 7..8);
    let report = &one[0];
    println!(
        "one simulation: {:.1} node-hours ({} events) in {wall:.2} s wall: {:.0} node-hours per wall-clock minute, {:.2e} events/s",
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
    if threads > 1 {
        let (many, wall) = run(minutes, 7..7 + threads);
        let node_hours: f64 = many.iter().map(|r| r.node_hours).sum();
        let events: u64 = many.iter().map(|r| r.events).sum();
        println!(
            "{threads} simulations at once (seeds 7..{}), one per core: {node_hours:.1} node-hours in {wall:.2} s wall: {:.0} node-hours per wall-clock minute, {:.2e} events/s; checks passed: {}",
            7 + threads,
            node_hours / wall * 60.0,
            events as f64 / wall,
            many.iter().all(Report::passed)
        );
    }
}
