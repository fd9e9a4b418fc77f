//! Issue 13, item 5: a sick node (80 % of the datagrams sent to it lost) under every
//! strategy's default and quorum configuration, 7 nodes on virtual time, replayed from
//! seeds. The sick node must not take healthy members down with it (no third-party
//! deaths), and must not be flapped up and down by the others: it hears fewer than half
//! of the heartbeats (or probe answers) it expects, so it stops refuting their verdicts
//! about itself (`members/hearing.rs`) and stays in one state until it hears again.

use std::time::Duration;

use super::cluster::Cluster;
use crate::config::{Config, Preset, Quorum, StrategyConfig, StrategyKind};
use crate::members::ANSWERS_CLEAR;
use crate::message::Status;
use crate::node::Event;
use crate::rng::Rng;

const NAMES: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];
const SICK: &str = "g";

fn config(strategy: StrategyKind, quorum: bool) -> Config {
    let mut config = Config::preset(Preset::LanFast, strategy);
    if strategy == StrategyKind::Pull {
        config.strategy = StrategyConfig::Pull {
            monitors: vec!["a".into(), "b".into(), "c".into()],
        };
    }
    // Push confirms deaths with a majority by default (the agent's default).
    if quorum || strategy == StrategyKind::Push {
        config.quorum = Some(Quorum::Majority);
    }
    config
}

/// A cluster that formed, then ran `secs` of 80 % loss towards the sick node; and the
/// index of its first event under loss.
fn sick_cluster(config: Config, seed: u64, secs: u64) -> (Cluster, usize) {
    let mut cluster = Cluster::seeded(config, &NAMES, seed, None);
    let formed = cluster.run_until(Duration::from_secs(10), |c| c.all_alive(&NAMES));
    assert!(formed.is_some(), "seed {seed}: the cluster never converged");
    cluster.run_for(Duration::from_secs(2));
    cluster.settle();
    let start = cluster.events.len();
    let mut rng = Rng::seeded(seed ^ 0x51c);
    cluster.deliver = Box::new(move |_, to, _| to != SICK || rng.below(100) >= 80);
    cluster.run_for(Duration::from_secs(secs));
    (cluster, start)
}

/// Runs `secs` of 80 % loss towards the sick node after the cluster formed: (status
/// changes of the sick node per observer per minute, deaths of healthy members at
/// healthy observers).
fn sick_run(config: Config, seed: u64, secs: u64) -> (f64, usize) {
    let (cluster, start) = sick_cluster(config, seed, secs);
    let changes = cluster.events[start..]
        .iter()
        .filter(|(_, observer, event)| {
            observer != SICK && matches!(event, Event::Transition(t) if t.name == SICK && t.from.is_some())
        })
        .count();
    let healthy: Vec<&str> = NAMES.iter().copied().filter(|n| *n != SICK).collect();
    let third = cluster.deaths(&healthy, &healthy).len();
    let rate = changes as f64 / (NAMES.len() - 1) as f64 / (secs as f64 / 60.0);
    (rate, third)
}

/// The worst rate over seeds 1-3 of `secs` of loss, checking third parties on every run.
fn worst_rate(strategy: StrategyKind, quorum: bool, secs: u64) -> f64 {
    let mut worst = 0.0f64;
    for seed in 1..=3 {
        let (rate, third) = sick_run(config(strategy, quorum), seed, secs);
        assert_eq!(
            third, 0,
            "{strategy:?} quorum {quorum} seed {seed}: healthy members removed"
        );
        eprintln!("[measure] {strategy:?} quorum {quorum} seed {seed}: {rate:.2} changes per observer per minute");
        worst = worst.max(rate);
    }
    worst
}

/// Gossip without a quorum: the sick node, holding everyone dead, once sent its
/// heartbeat to nobody and was declared dead by all (9.5 changes per observer per
/// minute over 20 s on seed 2); it now gossips to the recently dead (`gossip.rs`).
#[test]
fn a_sick_node_is_kept_in_one_state_under_push_gossip_quorum_and_leader() {
    for (strategy, quorum) in [
        (StrategyKind::Push, false),
        (StrategyKind::Gossip, false),
        (StrategyKind::Gossip, true),
        (StrategyKind::Leader, false),
    ] {
        let rate = worst_rate(strategy, quorum, 60);
        assert!(
            rate <= 2.0,
            "{strategy:?} quorum {quorum}: {rate:.1} changes per observer per minute"
        );
    }
}

/// Ping: observers hold a member that keeps refuting in doubt (`members/doubt.rs`),
/// shown `suspect` after its first two or three suspicions (3 changes per observer,
/// which the 120 s of loss spreads to 1.5 per minute); before, 600 per minute.
#[test]
fn a_sick_node_is_held_in_doubt_under_ping() {
    for quorum in [false, true] {
        let worst = worst_rate(StrategyKind::Ping, quorum, 120);
        assert!(
            worst <= 2.0,
            "ping quorum {quorum}: {worst:.1} changes per observer per minute"
        );
    }
}

/// Pull: a monitor doubts a member that answers fewer than 4 polls in 10 at its next
/// flip, and every observer holds down a member declared dead twice within a minute
/// (`members/doubt.rs`); a suspect is cleared only by two answers in a row, and what
/// nodes tell each other is verdicts, not suspicions. Before: 35-52 (pull) and 21-29
/// (pull+quorum) changes per observer per minute over these runs; then 2.0-2.5, the
/// flips of the first seconds, before a monitor has the polls to tell sickness from
/// bad luck. Now a monitor takes neither the sick node's refutation of a suspicion nor
/// of its death as hearing it (it must answer two polls in a row), nor vouches for it
/// under a quorum: 1.25 (pull) and 1.17-1.25 (pull+quorum), its first death and second
/// at the members, alive -> suspect -> dead at the monitors.
#[test]
fn a_sick_node_is_held_in_doubt_under_pull() {
    for quorum in [false, true] {
        let worst = worst_rate(StrategyKind::Pull, quorum, 120);
        assert!(
            worst <= 2.0,
            "pull quorum {quorum}: {worst:.1} changes per observer per minute"
        );
    }
}

/// `why` tells a doubted member's shown status from its protocol status: at a monitor,
/// the sick node is shown suspect or dead (held down), with its answer rate; a healthy
/// member carries no doubt.
#[test]
fn why_says_a_sick_member_is_held_in_doubt_and_why() {
    let (cluster, _) = sick_cluster(config(StrategyKind::Pull, false), 1, 60);
    let why = cluster.node("a").why(SICK, cluster.now).expect("known");
    let doubt = why.doubt.expect("the monitor holds the sick node in doubt");
    assert_ne!(doubt.shown, Status::Alive);
    assert_eq!(doubt.shown, cluster.node("a").members().get(SICK).unwrap().shown());
    assert!(doubt.answer_rate.is_some_and(|r| r < ANSWERS_CLEAR), "{doubt:?}");
    let healthy = cluster.node("a").why("b", cluster.now).expect("known");
    assert_eq!(healthy.doubt, None);
}

/// Runs `secs` of `loss` % loss on every datagram after the cluster formed; calls
/// `check` with the cluster each simulated second.
fn lossy_run(config: Config, seed: u64, secs: u64, loss: u64, mut check: impl FnMut(&Cluster)) -> Cluster {
    let mut cluster = Cluster::seeded(config, &NAMES, seed, None);
    let formed = cluster.run_until(Duration::from_secs(10), |c| c.all_alive(&NAMES));
    assert!(formed.is_some(), "seed {seed}: the cluster never converged");
    cluster.run_for(Duration::from_secs(2));
    let mut rng = Rng::seeded(seed ^ 0x1055);
    cluster.deliver = Box::new(move |_, _, _| rng.below(100) >= loss);
    for _ in 0..secs {
        cluster.run_for(Duration::from_secs(1));
        check(&cluster);
    }
    cluster
}

/// Pull at 10 % loss: a fifth of the polls go unanswered, yet no healthy member is ever
/// doubted (its answer rate stays far above the doubt's), and a member that only learns
/// the monitors' verdicts never shows another member suspect (their views carry no
/// suspicion: before, every lost reply made every member show it suspect, and made it
/// refute), and the monitors suspect at the second lost round trip and clear on two
/// answers in a row: 1.4-3.5 status changes per observer per minute, 1,186-1,194 before
/// (pull+quorum: 1.4-2.9, 238-246 before).
#[test]
fn pull_at_ten_percent_loss_doubts_no_healthy_member_and_spreads_no_suspicion() {
    let monitors = ["a", "b", "c"];
    for (quorum, seed) in [false, true].into_iter().flat_map(|q| (1..=3).map(move |s| (q, s))) {
        let start = std::cell::Cell::new(None);
        let cluster = lossy_run(config(StrategyKind::Pull, quorum), seed, 120, 10, |c| {
            start.set(start.get().or(Some(c.events.len())));
            for (observer, node) in c.nodes() {
                let doubted: Vec<&str> = node
                    .members()
                    .iter()
                    .filter(|m| m.doubted)
                    .map(|m| m.name.as_str())
                    .collect();
                assert!(
                    doubted.is_empty(),
                    "quorum {quorum} seed {seed}: {observer} doubts {doubted:?}"
                );
            }
        });
        let suspected = cluster.events[start.get().unwrap_or(0)..]
            .iter()
            .filter(|(_, observer, event)| {
                let member_about_member =
                    |name: &str| !monitors.contains(&observer.as_str()) && !monitors.contains(&name);
                matches!(event, Event::Transition(t) if t.to == Status::Suspect && member_about_member(&t.name))
            });
        let suspected: Vec<_> = suspected.collect();
        assert!(
            suspected.is_empty(),
            "quorum {quorum} seed {seed}: a member showed another member suspect: {suspected:?}"
        );
        let changes = cluster.events[start.get().unwrap_or(0)..]
            .iter()
            .filter(|(_, _, event)| matches!(event, Event::Transition(t) if t.from.is_some()))
            .count();
        let rate = changes as f64 / NAMES.len() as f64 / (119.0 / 60.0);
        eprintln!("[measure] pull quorum {quorum}, 10 % loss, seed {seed}: {rate:.1} changes per observer per minute");
        assert!(
            rate <= 6.0,
            "quorum {quorum} seed {seed}: {rate:.1} changes per observer per minute"
        );
    }
}

/// A node cut off by a partition hears nobody on the other side, so it holds back its
/// refutations while cut off; once the partition heals it hears again and refutes, and
/// both sides agree that everyone is alive (pull under a quorum: the members judge by
/// the monitors' word only, and still count the monitors' polls). Everyone is *shown*
/// alive too: under ping with a quorum, the minority's stale suspicions and a fresh one
/// right after the heal once put a healthy member in doubt for the 12 s hold (seed 1;
/// the fault suite's partition case took 12.25 s to agree).
#[test]
fn after_a_partition_heals_the_cut_off_side_refutes_and_everyone_agrees() {
    for (strategy, quorum, seed) in [
        (StrategyKind::Push, false, 1),
        (StrategyKind::Pull, true, 1),
        (StrategyKind::Pull, false, 1),
        (StrategyKind::Ping, false, 1),
        (StrategyKind::Ping, true, 1),
        (StrategyKind::Ping, true, 2),
        (StrategyKind::Ping, true, 3),
        (StrategyKind::Ping, true, 4),
        (StrategyKind::Ping, true, 5),
        (StrategyKind::Ping, true, 6),
    ] {
        let mut cluster = Cluster::seeded(config(strategy, quorum), &NAMES, seed, None);
        let formed = cluster.run_until(Duration::from_secs(10), |c| c.all_alive(&NAMES));
        assert!(formed.is_some());
        cluster.run_for(Duration::from_secs(2));
        let left = |n: &str| ["a", "b", "c", "d"].contains(&n);
        cluster.deliver = Box::new(move |from, to, _| left(from) == left(to));
        cluster.run_for(Duration::from_secs(30));
        cluster.deliver = Box::new(|_, _, _| true);
        let healed = cluster.now;
        let agreed = cluster.run_until(Duration::from_secs(30), |c| c.all_alive(&NAMES));
        let took = agreed.map(|t| t - healed);
        assert!(
            took.is_some_and(|t| t <= Duration::from_secs(5)),
            "{strategy:?} quorum {quorum}: agreed after {took:?}"
        );
        cluster.run_for(Duration::from_secs(5) - took.unwrap_or_default());
        let mut shown = true;
        cluster.run_checked(Duration::from_secs(15), |c| shown &= c.all_shown_alive(&NAMES));
        assert!(
            shown,
            "{strategy:?} quorum {quorum} seed {seed}: a member shown down after the heal (in doubt)"
        );
    }
}

/// A sick node that recovers is shown alive again by every observer: once the doubt's
/// hold (60 intervals, 12 s here) has passed and it answers well, under every strategy
/// that doubts (ping, pull) and with or without a quorum.
#[test]
fn a_sick_node_that_recovers_is_shown_alive_again_everywhere() {
    for (strategy, quorum) in [
        (StrategyKind::Pull, false),
        (StrategyKind::Pull, true),
        (StrategyKind::Ping, false),
        (StrategyKind::Ping, true),
    ] {
        let (mut cluster, _) = sick_cluster(config(strategy, quorum), 1, 30);
        let doubted = NAMES
            .iter()
            .any(|o| cluster.node(o).members().get(SICK).is_some_and(|m| m.doubted));
        assert!(
            doubted,
            "{strategy:?} quorum {quorum}: nobody held the sick node in doubt"
        );
        cluster.deliver = Box::new(|_, _, _| true);
        let healed = cluster.now;
        let agreed = cluster.run_until(Duration::from_secs(60), |c| c.all_shown_alive(&NAMES));
        let took = agreed.map(|t| t - healed);
        eprintln!("[measure] {strategy:?} quorum {quorum}: shown alive everywhere {took:?} after the loss ended");
        assert!(
            took.is_some_and(|t| t <= Duration::from_secs(20)),
            "{strategy:?} quorum {quorum}: shown alive everywhere after {took:?}"
        );
    }
}
