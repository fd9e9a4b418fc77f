//! Ten per cent uniform loss over 1,000 simulated node-hours: ping, with and without a
//! quorum, never declares a live member dead. Each direct probe fails about one time in
//! five at this loss, and a suspicion about one probe in a hundred; the indirect probes,
//! refutations and (with the quorum) the need for a majority of accusers must absorb all
//! of it.

use std::time::Duration;

use vitals_core::StrategyKind;
use vitals_sim::{Spec, simulate};

fn lossy(quorum: bool) -> Spec {
    Spec {
        strategy: StrategyKind::Ping,
        quorum,
        nodes: 20,
        duration: Duration::from_secs(50 * 3600),
        loss: 0.10,
        seed: 1,
        ..Spec::default()
    }
}

#[test]
fn ping_with_and_without_a_quorum_declares_no_live_member_dead_at_ten_percent_loss_over_1000_node_hours() {
    let specs = [lossy(false), lossy(true)];
    let reports: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = specs.iter().map(|spec| scope.spawn(move || simulate(spec))).collect();
        runs.into_iter().map(|run| run.join().expect("no panic")).collect()
    });
    for (spec, report) in specs.iter().zip(reports) {
        let report = report.unwrap_or_else(|e| panic!("bad spec: {e}"));
        println!(
            "[measure] {}: {} false positives, {} refutations in {:.0} node-hours",
            spec.command_line(),
            report.false_positives,
            report.refutations,
            report.node_hours
        );
        assert!(report.node_hours >= 1000.0 - 1e-6, "{}", report.node_hours);
        assert!(
            report.refutations > 0,
            "the loss never caused a suspicion: the test tests nothing"
        );
        assert_eq!(report.false_positives, 0, "{}", report.table());
    }
}
