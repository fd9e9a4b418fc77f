//! Mixed timing with real agents on `127.90.x.y`: agents on the `web` (10 s),
//! `lan-fast` (200 ms) and `background` (20 s) presets in one cluster run a minute without
//! a single transition once formed, each judging the others by the timing they announce;
//! and an agent of another strategy is a WARN naming both sides, logged once and counted
//! in `vitals_timing_mismatches_total`.

use std::time::Duration;

use crate::support::{Cluster, get_json, metric, wait_until};

/// Every transition agent `i` has counted (to suspect, dead, alive and left).
fn transitions(cluster: &Cluster, i: usize) -> f64 {
    ["alive", "suspect", "dead", "left"]
        .iter()
        .map(|s| metric(&cluster.http(i), &format!("vitals_transitions_total{{status=\"{s}\"}}")))
        .sum()
}

/// Agents on three presets (the agent's default strategy, push with a majority quorum)
/// form, then hold each other alive for 60 s: no status changes on any agent, read both
/// from every agent's `/v1/members` (polled throughout) and from its transition counters.
#[test]
fn agents_on_web_lan_fast_and_background_run_a_minute_without_a_transition() {
    let presets = ["web", "lan-fast", "background"];
    let cluster = Cluster::start_each("127.90.1", 3, |i| vec!["--preset".into(), presets[i - 1].into()]);
    let formed = wait_until(Duration::from_secs(15), || cluster.everyone_alive(3));
    assert!(formed.is_some(), "the mixed cluster never formed");
    // Each judges each by the timing it announced: dead after timeout + 2 intervals of
    // the member's preset (31 s for web, 620 ms for lan-fast, 62 s for background).
    for (observer, member, dead_after_ms) in [
        (2, 1, 31_000.0),
        (2, 3, 62_000.0),
        (1, 2, 620.0),
        (3, 2, 620.0),
        (1, 3, 62_000.0),
    ] {
        let members = get_json(&cluster.http(observer), "/v1/members").unwrap();
        let row = members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == Cluster::name(member))
            .unwrap()
            .clone();
        assert_eq!(
            row["detector"]["timeout_ms"].as_f64(),
            Some(dead_after_ms),
            "node-{observer} judging node-{member}: {row}"
        );
    }
    let counted: Vec<f64> = (1..=3).map(|i| transitions(&cluster, i)).collect();
    // Fails at the first member seen other than alive by any agent.
    let broke = wait_until(Duration::from_secs(60), || !cluster.everyone_alive(3));
    assert!(
        broke.is_none(),
        "a member left `alive` after {broke:?}:\n{}\n{}\n{}",
        cluster.log(1),
        cluster.log(2),
        cluster.log(3)
    );
    let after: Vec<f64> = (1..=3).map(|i| transitions(&cluster, i)).collect();
    assert_eq!(counted, after, "transitions were counted during the minute");
    for i in 1..=3 {
        let log = cluster.log(i);
        let warned = log.lines().any(|l| l.contains("WARN") && !l.contains("NO KEYRING"));
        assert!(!warned, "node-{i} warned:\n{log}");
    }
}

/// A `ping` agent joining a `push` seed: each side logs one WARN naming the member, both
/// timings and the fix, counted once in `vitals_timing_mismatches_total{cause="strategy"}`
/// however many datagrams follow.
#[test]
fn an_agent_of_another_strategy_is_one_warn_naming_both_sides() {
    let cluster = Cluster::start_each("127.90.2", 2, |i| {
        let strategy = if i == 1 { "push" } else { "ping" };
        ["--preset", "lan-fast", "--strategy", strategy]
            .map(String::from)
            .to_vec()
    });
    let series = "vitals_timing_mismatches_total{cause=\"strategy\"}";
    let told = wait_until(Duration::from_secs(10), || {
        metric(&cluster.http(1), series) >= 1.0 && metric(&cluster.http(2), series) >= 1.0
    });
    assert!(
        told.is_some(),
        "no mismatch counted:\n{}\n{}",
        cluster.log(1),
        cluster.log(2)
    );
    // Let dozens more datagrams arrive: still one WARN, one count.
    let received = |i| metric(&cluster.http(i), "vitals_received_bytes_total");
    let before = received(1);
    let more = wait_until(Duration::from_secs(20), || received(1) >= before + 3000.0);
    assert!(more.is_some(), "node-1 stopped hearing node-2:\n{}", cluster.log(1));
    let expected = [
        (
            1,
            "member node-2 at 127.90.2.3:7946 cannot work with this node: it runs ping every 200ms, timeout 220ms, threshold 3, this node push every 200ms, timeout 220ms, threshold 3; run every node of a cluster with the same --strategy",
        ),
        (
            2,
            "member node-1 at 127.90.2.2:7946 cannot work with this node: it runs push every 200ms, timeout 220ms, threshold 3, this node ping every 200ms, timeout 220ms, threshold 3; run every node of a cluster with the same --strategy",
        ),
    ];
    for (i, line) in expected {
        let log = cluster.log(i);
        let warns: Vec<&str> = log.lines().filter(|l| l.contains("WARN") && l.contains(line)).collect();
        assert_eq!(warns.len(), 1, "node-{i}: expected one WARN with {line:?} in:\n{log}");
        assert_eq!(metric(&cluster.http(i), series), 1.0, "node-{i}");
    }
}
