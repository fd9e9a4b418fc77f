//! Mixed timing: nodes on different presets in one cluster. Each member announces its
//! timing (`timing.rs`) and every observer judges it by that timing, so a cluster whose
//! nodes run `web` (10 s), `lan-fast` (200 ms) and `background` (20 s) side by side never
//! sees a transition once formed.

use std::time::Duration;

use super::cluster::Cluster;
use crate::config::{Config, Preset, Quorum, StrategyConfig, StrategyKind};
use crate::node::Event;

/// The configuration of `preset` for `strategy` as the agent runs it (push confirms by a
/// majority quorum when `quorum`; pull's monitors are n0 and n1).
fn config(preset: Preset, strategy: StrategyKind, quorum: bool) -> Config {
    phi_config(preset, strategy, quorum, false)
}

/// [`config`], judging with the phi accrual detector when `phi`.
fn phi_config(preset: Preset, strategy: StrategyKind, quorum: bool, phi: bool) -> Config {
    let mut config = Config::preset(preset, strategy);
    if phi {
        config.detector = crate::config::DetectorKind::Phi;
    }
    if quorum {
        config.quorum = Some(Quorum::Majority);
    }
    if strategy == StrategyKind::Pull {
        config.strategy = StrategyConfig::Pull {
            monitors: vec!["n0".into(), "n1".into()],
        };
    }
    config
}

/// The transitions seen in two minutes after a cluster of `presets` (n0 first, the seed)
/// has formed, as "observer: member from → to" lines; panics if it does not form.
fn transitions_after_forming(strategy: StrategyKind, quorum: bool, presets: &[Preset]) -> Vec<String> {
    transitions_with(strategy, quorum, false, presets)
}

/// [`transitions_after_forming`], judging with phi when `phi`.
fn transitions_with(strategy: StrategyKind, quorum: bool, phi: bool, presets: &[Preset]) -> Vec<String> {
    let config = |preset, strategy, quorum| phi_config(preset, strategy, quorum, phi);
    let mut cluster = Cluster::seeded(
        config(presets[0], strategy, quorum),
        &["n0"],
        7,
        Some(Duration::from_millis(2)),
    );
    let names: Vec<String> = (0..presets.len()).map(|i| format!("n{i}")).collect();
    for (name, preset) in names.iter().zip(presets).skip(1) {
        cluster.run_for(Duration::from_millis(5));
        cluster.add_with(name, config(*preset, strategy, quorum));
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let formed = cluster.run_until(Duration::from_secs(5), |c| c.all_alive(&refs));
    assert!(
        formed.is_some(),
        "{strategy:?} (quorum {quorum}): {presets:?} did not form within 5 s"
    );
    let start = cluster.events.len();
    cluster.run_for(Duration::from_secs(120));
    cluster.events[start..]
        .iter()
        .filter_map(|(_, node, event)| match event {
            Event::Transition(t) => Some(format!("{node}: {} {:?} → {:?}", t.name, t.from, t.to)),
            _ => None,
        })
        .collect()
}

const MIXED: [Preset; 4] = [Preset::Web, Preset::LanFast, Preset::Background, Preset::LanFast];

#[test]
fn a_push_cluster_of_mixed_presets_never_flaps() {
    for quorum in [false, true] {
        let seen = transitions_after_forming(StrategyKind::Push, quorum, &MIXED);
        assert!(
            seen.is_empty(),
            "push (quorum {quorum}): {} transitions: {seen:#?}",
            seen.len()
        );
    }
}

/// Phi scales its floor and pause with the member's interval: mixed presets do not flap
/// under phi either (push and gossip, the strategies whose detectors follow the member).
#[test]
fn mixed_presets_never_flap_under_phi() {
    for strategy in [StrategyKind::Push, StrategyKind::Gossip] {
        let seen = transitions_with(strategy, false, true, &MIXED);
        assert!(
            seen.is_empty(),
            "{strategy:?} with phi: {} transitions: {seen:#?}",
            seen.len()
        );
    }
}

#[test]
fn a_gossip_cluster_of_mixed_presets_never_flaps() {
    let seen = transitions_after_forming(StrategyKind::Gossip, false, &MIXED);
    assert!(seen.is_empty(), "gossip: {} transitions: {seen:#?}", seen.len());
}

#[test]
fn a_pull_cluster_of_mixed_presets_never_flaps() {
    let seen = transitions_after_forming(StrategyKind::Pull, false, &MIXED);
    assert!(seen.is_empty(), "pull: {} transitions: {seen:#?}", seen.len());
}

#[test]
fn a_ping_cluster_of_mixed_presets_never_flaps() {
    let seen = transitions_after_forming(StrategyKind::Ping, false, &MIXED);
    assert!(seen.is_empty(), "ping: {} transitions: {seen:#?}", seen.len());
}

#[test]
fn a_leader_cluster_of_mixed_presets_never_flaps() {
    let seen = transitions_after_forming(StrategyKind::Leader, false, &MIXED);
    assert!(seen.is_empty(), "leader: {} transitions: {seen:#?}", seen.len());
}

/// The `TimingMismatch` events `observer` reported about `member`.
fn mismatches(cluster: &Cluster, observer: &str, member: &str) -> Vec<crate::timing::Mismatch> {
    cluster
        .events
        .iter()
        .filter_map(|(_, node, event)| match event {
            Event::TimingMismatch { name, cause, .. } if node == observer && name == member => Some(cause.clone()),
            _ => None,
        })
        .collect()
}

/// A node of another strategy is reported by each side once, not per datagram, however
/// long they run side by side.
#[test]
fn another_strategy_is_reported_once_per_member_on_both_sides() {
    use crate::timing::Mismatch;
    let mut cluster = Cluster::new(config(Preset::LanFast, StrategyKind::Push, false), &["n0"]);
    cluster.add_with("n1", config(Preset::LanFast, StrategyKind::Ping, false));
    cluster.run_for(Duration::from_secs(10));
    assert_eq!(mismatches(&cluster, "n0", "n1"), vec![Mismatch::Strategy]);
    assert_eq!(mismatches(&cluster, "n1", "n0"), vec![Mismatch::Strategy]);
}

/// Mixed presets under one strategy are no mismatch (except leader voters: elections
/// and leases assume one timing).
#[test]
fn mixed_presets_are_reported_only_between_leader_voters() {
    for strategy in [StrategyKind::Push, StrategyKind::Gossip, StrategyKind::Leader] {
        let mut cluster = Cluster::new(config(Preset::Web, strategy, false), &["n0"]);
        cluster.add_with("n1", config(Preset::LanFast, strategy, false));
        cluster.run_for(Duration::from_secs(30));
        let expected = match strategy {
            StrategyKind::Leader => vec![crate::timing::Mismatch::Election],
            _ => vec![],
        };
        assert_eq!(mismatches(&cluster, "n0", "n1"), expected, "{strategy:?}");
        assert_eq!(mismatches(&cluster, "n1", "n0"), expected, "{strategy:?}");
    }
}

/// Every member learns every other's timing: from the join exchange, and from the
/// announcements every few rounds for those it learned second-hand.
#[test]
fn every_member_holds_every_other_members_announced_timing() {
    let mut cluster = Cluster::new(config(Preset::Web, StrategyKind::Push, false), &["n0"]);
    for (name, preset) in [("n1", Preset::LanFast), ("n2", Preset::Background)] {
        cluster.add_with(name, config(preset, StrategyKind::Push, false));
    }
    cluster.run_for(Duration::from_secs(1));
    for observer in ["n0", "n1", "n2"] {
        let members = cluster.node(observer).members();
        let interval = |name: &str| members.get(name).and_then(|m| m.timing).map(|t| t.interval);
        assert_eq!(interval("n1"), Some(Duration::from_millis(200)), "{observer}");
        assert_eq!(interval("n2"), Some(Duration::from_secs(20)), "{observer}");
        assert_eq!(interval("n0"), Some(Duration::from_secs(10)), "{observer}");
    }
}
