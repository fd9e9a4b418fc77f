//! One broken link (A↔B only, every datagram between them lost, the rest of the network
//! clean) must never remove A or B: each still reaches everyone else. Ping's indirect
//! probes route around the link; with `--quorum` push, pull and gossip need a majority
//! of observers, and only one observer of each end is cut off. Plain push is the control:
//! A's own detector declares B dead, so the test can see the difference.

use std::time::Duration;

use vitals_core::StrategyKind;
use vitals_sim::{Report, Spec, simulate};

fn broken_link(strategy: StrategyKind, quorum: bool) -> Report {
    let spec = Spec {
        strategy,
        quorum,
        nodes: 10,
        monitors: if strategy == StrategyKind::Pull { 3 } else { 1 },
        duration: Duration::from_secs(3600),
        link_loss: vec![(0, 1, 1.0), (1, 0, 1.0)],
        seed: 3,
        ..Spec::default()
    };
    let report = simulate(&spec).unwrap_or_else(|e| panic!("bad spec {spec:?}: {e}"));
    println!(
        "[measure] {}: {} false positives in {:.1} node-hours",
        spec.command_line(),
        report.false_positives,
        report.node_hours
    );
    report
}

#[test]
fn one_broken_link_never_removes_either_end_with_ping_or_a_quorum() {
    let cases = [
        (StrategyKind::Ping, false),
        (StrategyKind::Ping, true),
        (StrategyKind::Push, true),
        (StrategyKind::Gossip, true),
    ];
    for (strategy, quorum) in cases {
        let report = broken_link(strategy, quorum);
        assert_eq!(report.false_positives, 0, "{}", report.table());
    }
    let control = broken_link(StrategyKind::Push, false);
    assert!(
        control.false_positives > 0,
        "plain push must declare the far end of its broken link dead: {}",
        control.table()
    );
}
