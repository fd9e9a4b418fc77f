//! A sick node's word (issue 13, item 5), under ping: node 6 of 7 loses 80 % of what
//! is sent to it for the whole run. It answers only some probes, so SWIM keeps
//! suspecting it and it keeps refuting (five times a second). Observers hold such a
//! member in doubt (`members/doubt.rs` in the core): shown `suspect` until it stays
//! clear of suspicion, not flapped 600 times a minute, and never removed; a healthy
//! member that crashes meanwhile is still found within the detection bound, and within
//! two periods of the time it takes without the sick node.

use std::time::Duration;

use vitals_core::StrategyKind;
use vitals_sim::{Report, Spec, simulate};

const SICK: usize = 6;

fn spec(sick: bool, crash: usize, seed: u64) -> Spec {
    Spec {
        strategy: StrategyKind::Ping,
        nodes: 7,
        duration: Duration::from_secs(120),
        interval: Duration::from_millis(200),
        threshold: 3,
        link_loss: if sick {
            (0..SICK).map(|from| (from, SICK, 0.8)).collect()
        } else {
            Vec::new()
        },
        crash,
        seed,
        ..Spec::default()
    }
}

fn run(spec: &Spec) -> Report {
    let report = simulate(spec).unwrap_or_else(|e| panic!("bad spec {spec:?}: {e}"));
    println!(
        "[measure] {}: node {SICK}: {} status changes at one observer ({:.1} per minute); {} false positives; a crash detected first in {:.3} s, by each observer in {:.3} s at the median, {:.3} s at most",
        spec.command_line(),
        report.status_changes_max[SICK],
        report.status_changes_per_minute(SICK),
        report.false_positives,
        report.detection_first.max,
        report.detection_each.p50,
        report.detection_each.max
    );
    report
}

/// Over 20 seeds (with and without a healthy crash beside it), the sick node changes
/// status at most 2 times a minute on average at the observer that saw most changes,
/// and at most 3 times a minute in any run: 3 changes (suspect, refuted, suspect) before
/// the second counted refutation puts it in doubt, more when its first suspicions were
/// all raised by one accuser that the observer does not count twice (5 and 6 changes in
/// 2 minutes on 2 seeds of 20). Nobody is removed. Before doubt: 600 a minute.
#[test]
fn a_node_under_80_percent_inbound_loss_is_not_flapped() {
    let mut changes = Vec::new();
    for crash in [0, 1] {
        for seed in 1..=20 {
            let report = run(&spec(true, crash, seed));
            assert_eq!(report.false_positives, 0, "{}", report.table());
            assert_eq!(report.healthy_member_deaths, 0, "{}", report.table());
            changes.push(report.status_changes_per_minute(SICK));
        }
    }
    let mean = changes.iter().sum::<f64>() / changes.len() as f64;
    let most = changes.iter().copied().fold(0.0, f64::max);
    println!("[measure] sick node's status changes per minute over 40 runs: mean {mean:.2}, at most {most:.1}");
    assert!(mean <= 2.0, "mean {mean:.2} per minute: {changes:?}");
    assert!(most <= 3.0, "at most {most:.1} per minute: {changes:?}");
}

/// Seeds whose one crash hits a healthy node (their victims: 1, 1, 5, 5, 0).
const CRASH_SEEDS: [u64; 5] = [2, 3, 4, 5, 6];

#[test]
fn beside_a_sick_node_a_healthy_crash_is_still_found_in_time() {
    let (mut sick_first, mut clean_first) = (0.0, 0.0);
    for seed in CRASH_SEEDS {
        let sick = spec(true, 1, seed);
        let victim = sick.scenario().expect("valid").faults[0].node;
        assert_ne!(victim, SICK, "seed {seed}: the crash must hit a healthy node");
        let report = run(&sick);
        assert_eq!(report.false_positives, 0, "{}", report.table());
        assert_eq!((report.crashes, report.undetected), (1, 0), "{}", report.table());
        assert!(!report.checks[1].failed(), "completeness: {}", report.table());
        sick_first += report.detection_first.max / CRASH_SEEDS.len() as f64;
        clean_first += run(&spec(false, 1, seed)).detection_first.max / CRASH_SEEDS.len() as f64;
    }
    println!(
        "[measure] first detection of a healthy crash, mean of {} seeds: {sick_first:.3} s beside the sick node, {clean_first:.3} s without it",
        CRASH_SEEDS.len()
    );
    // Before doubt the sick node, never doubted, was every observer's indirect prober
    // and raised their awareness: 1.089 s on these seeds.
    let slack = 2.0 * Duration::from_millis(200).as_secs_f64();
    assert!(
        sick_first <= clean_first + slack,
        "a healthy crash is found later beside the sick node: {sick_first:.3} s against {clean_first:.3} s"
    );
}
