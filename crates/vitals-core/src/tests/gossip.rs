//! Whole-cluster scenarios for the gossip strategy on virtual time, and the digest
//! budget at a cluster size no single datagram could list.

use std::net::SocketAddr;
use std::time::Duration;

use super::cluster::Cluster;
use crate::config::{Config, DetectorKind, GossipConfig, Preset, StrategyConfig, StrategyKind};
use crate::message::{Beat, Envelope, Message, Peer, Status};
use crate::node::{Event, Node, Output};
use crate::time::Instant;
use crate::wire;

const NAMES: [&str; 10] = ["g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9"];

fn lan_fast() -> Config {
    Config::preset(Preset::LanFast, StrategyKind::Gossip)
}

fn everyone_sees_everyone_alive(c: &Cluster, names: &[&str]) -> bool {
    c.all_alive(names)
}

fn converged(config: Config) -> Cluster {
    Cluster::converged(config, &NAMES, Duration::from_secs(10))
}

fn deaths(cluster: &Cluster, alive: &[&str]) -> Vec<(String, String)> {
    cluster.deaths(&NAMES, alive)
}

/// The gossip settings of a gossip configuration.
fn gossip(config: &Config) -> &GossipConfig {
    config.gossip().expect("a gossip configuration")
}

/// The documented bound: the detector's tolerance (timeout already allows for the
/// hops), one interval of phase, and one more for the last counter still in flight.
/// Tighter than the strategy's `detection_bound` (which `Config::detection_bound` gives
/// and the simulator checks for any cluster size and network), because these ten nodes
/// fit one digest, the timeout already allows `GOSSIP_HOP_ROUNDS` hops, and delivery is
/// instant here: a claim about this cluster, kept as it was.
fn bound(config: &Config) -> Duration {
    config.dead_after() + config.interval * 2
}

#[test]
fn a_gossip_cluster_detects_a_crash_everywhere_within_the_bound() {
    for detector in [DetectorKind::Missed, DetectorKind::Phi] {
        let mut config = lan_fast();
        config.detector = detector;
        let limit = bound(&config);
        let mut cluster = converged(config);
        cluster.run_for(Duration::from_millis(77));
        let crashed_at = cluster.now;
        cluster.crash("g7");
        let survivors: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "g7").collect();
        let all = cluster
            .run_until(Duration::from_secs(10), |c| {
                survivors.iter().all(|o| c.status(o, "g7") == Some(Status::Dead))
            })
            .expect("the crash was never detected by everyone");
        let took = all - crashed_at;
        assert!(took <= limit, "{detector:?}: {took:?} > {limit:?}");
        assert!(
            deaths(&cluster, &survivors).is_empty(),
            "{:?}",
            deaths(&cluster, &survivors)
        );
    }
}

#[test]
fn a_pause_shorter_than_the_detection_window_never_kills() {
    let mut cluster = converged(lan_fast());
    cluster.pause("g4", Duration::from_millis(500));
    cluster.run_for(Duration::from_secs(20));
    assert!(deaths(&cluster, &NAMES).is_empty(), "{:?}", deaths(&cluster, &NAMES));
    assert!(everyone_sees_everyone_alive(&cluster, &NAMES));
}

#[test]
fn twenty_quiet_minutes_on_a_perfect_network_produce_no_suspicion() {
    let mut cluster = converged(lan_fast());
    cluster.run_for(Duration::from_secs(1200));
    let doubts = cluster
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::Transition(t) if t.to != Status::Alive))
        .count();
    assert_eq!(doubts, 0);
}

#[test]
fn a_restarted_node_refutes_its_death_and_comes_back_everywhere() {
    let mut cluster = converged(lan_fast());
    cluster.crash("g5");
    cluster
        .run_until(Duration::from_secs(10), |c| {
            NAMES
                .iter()
                .filter(|o| **o != "g5")
                .all(|o| c.status(o, "g5") == Some(Status::Dead))
        })
        .expect("never detected");
    cluster.start("g5", 0);
    let back = cluster.run_until(Duration::from_secs(10), |c| everyone_sees_everyone_alive(c, &NAMES));
    assert!(back.is_some(), "the restarted node never came back everywhere");
    assert!(cluster.node("g5").me().incarnation > 0, "it came back without refuting");
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 1, (i / 250) as u8, (i % 250) as u8 + 1], 7946))
}

fn body_len(message: &Message) -> usize {
    wire::body_len(message)
}

/// A node that received one digest from each of 500 members (each reply checked to be
/// no larger than its digest); returns the node and the instant.
fn node_with_five_hundred_members(config: &Config) -> (Node, Instant) {
    let me = Peer {
        name: "observer".into(),
        addr: addr(999),
        incarnation: 0,
    };
    let mut node = Node::new(me, config.clone(), 7, Instant::ZERO);
    let mut now = Instant::ZERO;
    for i in 0..500 {
        now = now + Duration::from_micros(100);
        let name = format!("member-{i:03}");
        let from = Peer {
            name: name.clone(),
            addr: addr(i),
            incarnation: 0,
        };
        let own = Beat {
            name,
            addr: addr(i),
            incarnation: 0,
            status: Status::Alive,
            heartbeat: 1,
        };
        let message = Message::Digest {
            health: None,
            entries: vec![own],
        };
        let request = body_len(&message);
        node.handle_message(
            now,
            addr(i),
            Envelope {
                timing: None,
                from,
                message,
            },
        );
        while let Some(output) = node.poll_output() {
            if let Output::Send { envelope, .. } = output {
                let len = body_len(&envelope.message);
                assert!(
                    len <= request + wire::MAX_NAME_LEN + 16,
                    "a reply of {len} bytes to {request}"
                );
            }
        }
    }
    (node, now)
}

#[test]
fn digests_stay_under_the_budget_with_five_hundred_members() {
    let config = lan_fast();
    let (mut node, mut now) = node_with_five_hundred_members(&config);
    let (mut digests, mut replies, mut entries_sent) = (0, 0, 0);
    assert_eq!(node.members().count(Status::Alive), 501);
    // Three intervals: the members stay up (they fall silent, but not for long enough).
    for _ in 0..3 {
        now = now + config.interval;
        node.handle_tick(now);
        while let Some(output) = node.poll_output() {
            let Output::Send { envelope, .. } = output else {
                continue;
            };
            let len = body_len(&envelope.message);
            let mut bytes = Vec::new();
            wire::encode(&envelope, &mut bytes).expect("fits the datagram cap");
            match &envelope.message {
                Message::Digest { entries, .. } => {
                    digests += 1;
                    entries_sent += entries.len();
                    assert!(len <= gossip(&config).digest_budget, "digest of {len} bytes");
                    assert!(
                        bytes.len() <= wire::LIST_BUDGET + 200,
                        "datagram of {} bytes",
                        bytes.len()
                    );
                }
                Message::DigestReply { .. } => replies += 1,
                _ => {}
            }
        }
    }
    assert_eq!(
        digests,
        3 * gossip(&config).fanout,
        "one digest per neighbour per interval"
    );
    assert_eq!(replies, 0);
    let per_digest = entries_sent / digests;
    assert!((20..500).contains(&per_digest), "{per_digest} entries per digest");
}

#[test]
fn a_member_restarted_at_once_is_never_declared_dead() {
    // Killed and started again 0.1 s later, without any state: the new instance counts
    // from 0 at the incarnation its old one had, below the counter everyone holds.
    let mut cluster = converged(lan_fast());
    cluster.run_for(Duration::from_secs(5));
    cluster.events.clear();
    cluster.crash("g4");
    cluster.run_for(Duration::from_millis(100));
    cluster.start("g4", 0);
    cluster.run_for(Duration::from_secs(10));
    let deaths: Vec<_> = cluster
        .events
        .iter()
        .filter(|(_, _, event)| matches!(event, Event::Transition(t) if t.name == "g4" && t.to == Status::Dead))
        .collect();
    assert!(deaths.is_empty(), "{deaths:?}");
    assert!(everyone_sees_everyone_alive(&cluster, &NAMES));
}

/// Beyond one digest's worth of members (about 45 at the default budget) a member's
/// counter reaches a node only every few rounds, so a node that expected one rise per
/// member per round heard "fewer than half" and took itself for sick (Lifeguard: it then
/// refutes no suspicion of itself; at N = 1,000 in the simulator every refusal also cost
/// a scan of the member table, and one simulated minute did not end in 12 CPU-minutes).
/// Local health counts the digests and replies instead: in a healthy cluster of 150 with
/// the smallest digest (about 8 members each) no node hears poorly (before: every one),
/// and a node cut off from everything does.
#[test]
fn in_a_healthy_cluster_larger_than_a_digest_no_gossip_node_takes_itself_for_sick() {
    let names: Vec<String> = (0..150).map(|i| format!("g{i:03}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut config = lan_fast();
    config.detector = DetectorKind::Phi;
    config.strategy = StrategyConfig::Gossip(GossipConfig {
        digest_budget: 200,
        ..gossip(&config).clone()
    });
    let mut cluster = Cluster::converged(config.clone(), &names, Duration::from_secs(60));
    cluster.run_for(config.interval * 20);
    let now = cluster.now;
    let sick: Vec<&String> = cluster
        .nodes()
        .filter(|(_, node)| node.members().hears_poorly(now))
        .map(|(name, _)| name)
        .collect();
    assert!(sick.is_empty(), "{} of 150 hear poorly: {sick:?}", sick.len());
    cluster.deliver = Box::new(|_, to, _| to != "g042");
    cluster.run_for(config.interval * 8);
    assert!(cluster.node("g042").members().hears_poorly(cluster.now));
}
