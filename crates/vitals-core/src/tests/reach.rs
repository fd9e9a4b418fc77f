//! The reachability matrix on a whole cluster (virtual time, real encoded datagrams):
//! every node gathers every row, a crash reads as a node down and a one-way cut as one
//! broken link at every node, and a healthy cluster sends rows only rarely.

use std::time::Duration;

use super::cluster::Cluster;
use crate::config::{Config, Preset, Quorum, StrategyKind};
use crate::reach::REFRESH_ROUNDS;
use crate::reach::matrix::Class;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

fn push() -> Config {
    let mut config = Config::preset(Preset::LanFast, StrategyKind::Push);
    config.quorum = Some(Quorum::Majority);
    config
}

#[test]
fn a_crash_is_a_node_down_and_a_one_way_cut_a_link_down_at_every_node() {
    // Not gossip: its detectors hear a member's counter through anyone, so a broken link
    // is not seen there (only a member nobody relays).
    for strategy in [StrategyKind::Push, StrategyKind::Ping] {
        let config = if strategy == StrategyKind::Push {
            push()
        } else {
            Config::preset(Preset::LanFast, strategy)
        };
        let mut cluster = Cluster::converged(config, &NAMES, Duration::from_secs(10));
        cluster.run_for(Duration::from_secs(5));
        let now = cluster.local_now("c");
        let healthy = cluster.node("c").reachability(now);
        assert_eq!(healthy.unreachable_total, 0, "{strategy:?}: {healthy:?}");
        assert_eq!(healthy.observers.len(), NAMES.len(), "{strategy:?}: every row gathered");
        // a stops hearing b (b still hears a), and e crashes.
        cluster.deliver = Box::new(|from, to, _| !(from == "b" && to == "a"));
        cluster.crash("e");
        cluster.run_for(Duration::from_secs(40));
        for observer in ["b", "c", "d"] {
            let m = cluster.node(observer).reachability(cluster.local_now(observer));
            let pairs: Vec<(&str, &str, Class)> = m
                .unreachable
                .iter()
                .map(|u| (u.observer.as_str(), u.target.as_str(), u.class))
                .collect();
            assert_eq!(m.node_down, ["e"], "{strategy:?} at {observer}: {pairs:?}");
            assert!(
                pairs.contains(&("a", "b", Class::LinkDown)),
                "{strategy:?} at {observer}: {pairs:?}"
            );
            assert!(
                pairs.iter().all(|(_, t, c)| (*t == "e") == (*c == Class::NodeDown)),
                "{strategy:?} at {observer}: {pairs:?}"
            );
            assert!(m.sick_observers.is_empty());
        }
    }
}

#[test]
fn a_healthy_cluster_sends_each_row_to_each_member_about_once_per_refresh() {
    let mut cluster = Cluster::converged(push(), &NAMES, Duration::from_secs(10));
    cluster.run_for(Duration::from_secs(5));
    let before = cluster.sent_by_kind("reach");
    let rounds = 3 * REFRESH_ROUNDS;
    cluster.run_for(push().interval * rounds as u32);
    let sent = cluster.sent_by_kind("reach") - before;
    // Each node sends its row to its 4 others once per refresh: 5 × 4 × 3, give or take
    // a rotation's rounding.
    let expected = (NAMES.len() * (NAMES.len() - 1)) as u64 * 3;
    assert!(
        sent.abs_diff(expected) <= NAMES.len() as u64 * 2,
        "{sent} rows sent, about {expected} expected"
    );
}
