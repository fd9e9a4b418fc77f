//! The simulator's integration tests: determinism, the checkers on every strategy under
//! every fault, a seed sweep sized by `VITALS_SIM_SEEDS`, and the reproduced figures.
//! Every failure prints the seed and the `vitals sim` command that replays it.

mod adapt;
mod broken_link;
mod lifeguard;
mod loss;
mod sick_node;

use std::time::Duration;

use vitals_core::{DetectorKind, StrategyKind};
use vitals_sim::{Latency, PartitionSpec, Report, Spec, failure_message, simulate};

fn run(spec: &Spec) -> Report {
    let report = simulate(spec).unwrap_or_else(|e| panic!("bad spec {spec:?}: {e}"));
    assert!(
        report.passed(),
        "{}\n{}",
        report.table(),
        failure_message(spec, &report)
    );
    report
}

/// Every strategy that exists, with each detector and push's acknowledgements.
fn strategies() -> Vec<(StrategyKind, DetectorKind, bool)> {
    vec![
        (StrategyKind::Push, DetectorKind::Missed, false),
        (StrategyKind::Push, DetectorKind::Missed, true),
        (StrategyKind::Push, DetectorKind::Phi, false),
        (StrategyKind::Pull, DetectorKind::Missed, false),
        (StrategyKind::Pull, DetectorKind::Phi, false),
        (StrategyKind::Gossip, DetectorKind::Missed, false),
        (StrategyKind::Gossip, DetectorKind::Phi, false),
        (StrategyKind::Ping, DetectorKind::Missed, false),
        (StrategyKind::Leader, DetectorKind::Missed, false),
    ]
}

fn faulty(strategy: StrategyKind, detector: DetectorKind, ack: bool, seed: u64) -> Spec {
    Spec {
        strategy,
        detector,
        ack,
        nodes: 12,
        duration: Duration::from_secs(300),
        crash: 2,
        restart: 2,
        pause: 1,
        slow: 1,
        partition: Some(PartitionSpec {
            at: Duration::from_secs(60),
            duration: Duration::from_secs(20),
            one_way: seed % 2 == 1,
        }),
        seed,
        ..Spec::default()
    }
}

#[test]
fn the_same_seed_gives_a_byte_identical_report() {
    let spec = Spec {
        loss: 0.02,
        ..faulty(StrategyKind::Push, DetectorKind::Missed, true, 11)
    };
    let first = serde_json::to_string(&simulate(&spec).unwrap()).unwrap();
    let second = serde_json::to_string(&simulate(&spec).unwrap()).unwrap();
    assert_eq!(first, second, "replay: {}", spec.command_line());
    let other = serde_json::to_string(&simulate(&Spec { seed: 12, ..spec }).unwrap()).unwrap();
    assert_ne!(first, other, "another seed must give another run");
}

#[test]
fn every_strategy_passes_the_checkers_under_crashes_restarts_pauses_slow_nodes_and_partitions() {
    for (strategy, detector, ack) in strategies() {
        let report = run(&faulty(strategy, detector, ack, 5));
        let verdicts: Vec<&str> = report.checks.iter().map(|c| c.verdict.as_str()).collect();
        assert_eq!(verdicts, ["passed"; 3], "{strategy:?} {detector:?}: {}", report.table());
        assert_eq!(report.false_positives, 0);
        assert_eq!(report.crashes, 4);
        assert_eq!(report.undetected, 0, "{}", report.table());
    }
}

/// [`faulty`] on a network that loses, duplicates and reorders datagrams.
fn lossy(strategy: StrategyKind, detector: DetectorKind, ack: bool, seed: u64) -> Spec {
    Spec {
        loss: 0.05,
        duplicate: 0.01,
        reorder: 0.01,
        latency: Latency::Exponential(Duration::from_millis(5)),
        ..faulty(strategy, detector, ack, seed)
    }
}

/// `VITALS_SIM_SEEDS`, or `default`.
fn seed_count(default: u64) -> u64 {
    std::env::var("VITALS_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn a_lossy_duplicating_reordering_network_still_passes_completeness_and_convergence() {
    for (strategy, detector, ack) in strategies() {
        let spec = lossy(strategy, detector, ack, 6);
        let report = run(&spec);
        assert_eq!(
            report.checks[0].verdict, "skipped",
            "accuracy is not required with loss"
        );
        assert!(report.messages_per_node_s > 0.0);
    }
}

#[test]
fn a_seed_sweep_passes_every_checker() {
    let seeds = seed_count(8);
    let all = strategies();
    for seed in 0..seeds {
        let (strategy, detector, ack) = all[(seed % all.len() as u64) as usize];
        let spec = Spec {
            nodes: 6 + (seed % 7) as usize,
            loss: [0.0, 0.01, 0.05][(seed % 3) as usize],
            duration: Duration::from_secs(180),
            partition: None,
            crash: 1,
            restart: 1,
            ..faulty(strategy, detector, ack, 1000 + seed)
        };
        run(&spec);
    }
}

/// The leader strategy (elections, check-quorum, views published by the leader) under
/// both scenarios above, `VITALS_SIM_SEEDS` seeds each (default 2: CI stays short).
#[test]
fn the_leader_strategy_passes_both_fault_scenarios_across_a_seed_sweep() {
    for seed in 0..seed_count(2) {
        let report = run(&faulty(StrategyKind::Leader, DetectorKind::Missed, false, seed));
        assert_eq!(report.false_positives, 0, "{}", report.table());
        run(&lossy(StrategyKind::Leader, DetectorKind::Missed, false, seed));
    }
}

/// Pools the per-observer detection times of several seeds.
fn mean_detection(interval: Duration, threshold: u32, delay: Duration) -> (f64, usize) {
    let (mut total, mut count) = (0.0, 0);
    for seed in 0..12 {
        let spec = Spec {
            nodes: 10,
            interval,
            threshold,
            latency: Latency::Constant(delay),
            duration: interval * 400,
            crash: 8,
            seed,
            ..Spec::default()
        };
        let report = run(&spec);
        total += report.detection_each.mean * report.detection_each.count as f64;
        count += report.detection_each.count;
    }
    (total / count as f64, count)
}

/// A crash at a uniformly random phase is detected `dead_after` after the last heartbeat,
/// half an interval after the crash on average: timeout plus `threshold − 1.5` intervals
/// plus the delay, i.e. `threshold − 0.4` intervals plus the delay with the default
/// timeout (the interval plus a tenth).
#[test]
fn push_detects_a_crash_after_threshold_minus_0_4_intervals_plus_the_delay_on_average() {
    for (interval, threshold) in [(Duration::from_secs(1), 3), (Duration::from_millis(500), 5)] {
        let delay = Duration::from_millis(10);
        let (measured, samples) = mean_detection(interval, threshold, delay);
        let timeout = vitals_core::config::arrival_timeout(interval).as_secs_f64();
        let formula = timeout + (f64::from(threshold) - 1.5) * interval.as_secs_f64() + delay.as_secs_f64();
        let error = (measured - formula).abs() / formula;
        println!(
            "interval {interval:?} threshold {threshold}: measured {measured:.4} s over {samples} detections, formula {formula:.4} s, error {:.2} %",
            error * 100.0
        );
        assert!(error < 0.05, "measured {measured} s, formula {formula} s");
    }
}

#[test]
fn a_failed_check_names_the_seed_and_the_replay_command() {
    let spec = Spec {
        seed: 42,
        crash: 1,
        ..Spec::default()
    };
    let report = simulate(&spec).unwrap();
    let message = failure_message(&spec, &report);
    assert!(
        message.contains("seed=42; replay: vitals sim --strategy push --nodes 10"),
        "{message}"
    );
    assert!(message.ends_with("--crash 1 --seed 42"), "{message}");
}

/// Bytes per node per second of a gossip cluster of `nodes` (30 s measured, no faults).
/// At N = 1,000 a member's counter reaches a node only every few rounds (the digest
/// rotates), so the timeout is raised as `Config::with_timing` documents.
fn gossip_bytes(nodes: usize) -> Report {
    let spec = Spec {
        strategy: StrategyKind::Gossip,
        detector: DetectorKind::Missed,
        timeout: Some(Duration::from_secs(20)),
        nodes,
        duration: Duration::from_secs(30),
        seed: 3,
        ..Spec::default()
    };
    simulate(&spec).unwrap_or_else(|e| panic!("bad spec {spec:?}: {e}"))
}

#[test]
fn gossip_bytes_per_node_per_second_at_a_thousand_nodes_stay_within_a_fifth_of_a_hundred() {
    let small = gossip_bytes(100);
    let large = gossip_bytes(1000);
    let ratio = large.bytes_per_node_s / small.bytes_per_node_s;
    println!(
        "[measure] gossip: {:.0} B/node/s at N=100, {:.0} B/node/s at N=1000, ratio {ratio:.3}; false positives {} and {}",
        small.bytes_per_node_s, large.bytes_per_node_s, small.false_positives, large.false_positives
    );
    assert!(ratio <= 1.2, "ratio {ratio}");
    let budget = 2.0 * 3.0 * (1200.0 + 28.0 + 64.0);
    assert!(large.bytes_per_node_s <= budget, "{} B/node/s", large.bytes_per_node_s);
}
