//! Whole-cluster scenarios on virtual time: several nodes, real encoded datagrams, an
//! in-memory network (see `cluster.rs`).

use std::time::Duration;

use super::cluster::Cluster;
use crate::config::{Config, DetectorKind, Preset, StrategyConfig, StrategyKind};
use crate::message::{Message, Status};
use crate::node::{Command, Event};

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

fn lan_fast(strategy: StrategyKind) -> Config {
    Config::preset(Preset::LanFast, strategy)
}

fn pull_config() -> Config {
    let mut config = lan_fast(StrategyKind::Pull);
    config.strategy = StrategyConfig::Pull {
        monitors: vec!["a".into()],
    };
    config
}

fn all_see(cluster: &Cluster, observers: &[&str], member: &str, status: Status) -> bool {
    observers.iter().all(|o| cluster.status(o, member) == Some(status))
}

fn converged(config: Config) -> Cluster {
    let mut cluster = Cluster::new(config, &NAMES);
    let joined = cluster.run_until(Duration::from_secs(5), |c| {
        NAMES
            .iter()
            .all(|o| NAMES.iter().all(|m| c.status(o, m) == Some(Status::Alive)))
    });
    assert!(joined.is_some(), "the cluster never converged");
    cluster.run_for(Duration::from_secs(2));
    cluster
}

/// Crashes `victim` at a random-looking phase and returns the time until every survivor
/// holds it dead.
fn time_to_detect(cluster: &mut Cluster, victim: &str, observers: &[&str]) -> Duration {
    let crashed_at = cluster.now;
    cluster.crash(victim);
    let detected = cluster
        .run_until(Duration::from_secs(10), |c| all_see(c, observers, victim, Status::Dead))
        .expect("the crash was never detected");
    detected - crashed_at
}

#[test]
fn a_push_cluster_detects_a_crash_within_threshold_intervals_plus_one() {
    for detector in [DetectorKind::Missed, DetectorKind::Phi] {
        for ack in [false, true] {
            let mut config = lan_fast(StrategyKind::Push);
            config.detector = detector;
            config.strategy = StrategyConfig::Push { ack };
            let bound = config.interval * config.threshold + config.interval;
            let mut cluster = converged(config);
            cluster.run_for(Duration::from_millis(77));
            let took = time_to_detect(&mut cluster, "c", &["a", "b", "d", "e"]);
            assert!(took <= bound, "{detector:?} ack={ack}: {took:?} > {bound:?}");
            assert!(
                took >= Duration::from_millis(400),
                "{detector:?} ack={ack}: detected after only {took:?}"
            );
        }
    }
}

#[test]
fn a_pull_monitor_detects_a_crash_and_members_learn_it_within_one_more_interval() {
    let config = pull_config();
    let bound = config.interval * config.threshold + config.interval;
    let mut cluster = converged(config.clone());
    let took_monitor = time_to_detect(&mut cluster, "d", &["a"]);
    assert!(took_monitor <= bound, "{took_monitor:?}");
    let learned = cluster.run_until(Duration::from_secs(5), |c| {
        all_see(c, &["b", "c", "e"], "d", Status::Dead)
    });
    assert!(learned.is_some());
    assert!(cluster.now - learned.unwrap() <= config.interval);
}

#[test]
fn pull_members_judge_the_monitor_itself() {
    let mut cluster = converged(pull_config());
    let took = time_to_detect(&mut cluster, "a", &["b", "c", "d", "e"]);
    assert!(took <= Duration::from_millis(800), "{took:?}");
}

#[test]
fn one_dropped_heartbeat_never_produces_dead() {
    for detector in [DetectorKind::Missed, DetectorKind::Phi] {
        let mut config = lan_fast(StrategyKind::Push);
        config.detector = detector;
        let mut cluster = converged(config);
        // Drop every other heartbeat from c: at most one in a row is ever lost.
        cluster.deliver = Box::new(|from, _, message| match message {
            Message::Heartbeat { seq, .. } if from == "c" => seq % 2 == 0,
            _ => true,
        });
        cluster.run_for(Duration::from_secs(60));
        for observer in ["a", "b", "d", "e"] {
            let died = cluster.transitions(observer, "c").iter().any(|t| t.to == Status::Dead);
            assert!(
                !died,
                "{detector:?}: {observer} declared c dead after single losses: {:?}",
                cluster.transitions(observer, "c")
            );
        }
    }
}

#[test]
fn a_restarted_node_refutes_its_death_and_is_alive_again() {
    for config in [lan_fast(StrategyKind::Push), pull_config()] {
        let mut cluster = converged(config);
        time_to_detect(&mut cluster, "e", &["a"]);
        cluster.run_for(Duration::from_secs(1));
        cluster.start("e", 0); // a fresh process knows nothing of its past incarnations
        let back = cluster.run_until(Duration::from_secs(3), |c| {
            all_see(c, &["a", "b", "c", "d"], "e", Status::Alive)
        });
        assert!(back.is_some(), "the restarted node never came back");
        let incarnation = cluster.node("a").members().get("e").unwrap().incarnation;
        assert!(incarnation >= 1, "it came back at incarnation {incarnation}");
        assert!(
            cluster
                .events
                .iter()
                .any(|(_, n, e)| n == "e" && matches!(e, Event::Refuted { .. }))
        );
    }
}

#[test]
fn a_leaving_node_is_marked_left_not_dead() {
    for config in [lan_fast(StrategyKind::Push), pull_config()] {
        let mut cluster = converged(config);
        cluster.command("b", Command::Leave);
        cluster.crash("b");
        cluster.run_for(Duration::from_secs(3));
        assert!(all_see(&cluster, &["a", "c", "d", "e"], "b", Status::Left));
        assert!(!cluster.transitions("c", "b").iter().any(|t| t.to == Status::Dead));
    }
}

#[test]
fn acknowledged_heartbeats_measure_round_trips() {
    let mut config = lan_fast(StrategyKind::Push);
    config.strategy = StrategyConfig::Push { ack: true };
    let cluster = converged(config);
    let rtt = cluster.node("a").members().get("b").unwrap().rtt;
    assert_eq!(rtt, Some(Duration::from_millis(2)), "latency is 1 ms each way");
}

#[test]
fn the_link_table_measures_a_lossy_link_and_acknowledged_round_trips() {
    let mut config = lan_fast(StrategyKind::Push);
    config.strategy = StrategyConfig::Push { ack: true };
    let mut cluster = converged(config);
    // One heartbeat in five from c is lost on its way to a; the rest of the cluster
    // hears every one.
    cluster.deliver = Box::new(|from, to, message| match message {
        Message::Heartbeat { seq, .. } if from == "c" && to == "a" => seq % 5 != 0,
        _ => true,
    });
    cluster.run_for(Duration::from_secs(30));
    let now = cluster.local_now("a");
    let links = cluster.node("a").links(now);
    let names: Vec<&str> = links.iter().map(|l| l.peer.as_str()).collect();
    assert_eq!(names, ["b", "c", "d", "e"]);
    for link in &links {
        let expected = if link.peer == "c" { 0.2 } else { 0.0 };
        assert!((link.loss - expected).abs() < 0.02, "{}: loss {}", link.peer, link.loss);
        let rtt = link.rtt.expect("acknowledged heartbeats measure round trips");
        assert_eq!(
            rtt.p50,
            Duration::from_millis(2),
            "{}: latency is 1 ms each way",
            link.peer
        );
        assert_eq!(link.delay.unwrap().p50, Duration::from_millis(1));
        assert!(link.interarrival.is_some());
    }
}

#[test]
fn a_node_whose_outbound_path_breaks_learns_it_is_cut_off() {
    let mut config = lan_fast(StrategyKind::Push);
    config.strategy = StrategyConfig::Push { ack: true };
    let mut cluster = converged(config);
    cluster.deliver = Box::new(|from, _, _| from != "c");
    cluster.run_for(Duration::from_secs(2));
    assert!(cluster.node("c").is_isolated());
    assert!(all_see(&cluster, &["a", "b"], "c", Status::Dead));
    assert_eq!(
        cluster.status("c", "a"),
        Some(Status::Alive),
        "c still hears the others"
    );
    cluster.deliver = Box::new(|_, _, _| true);
    cluster.run_for(Duration::from_secs(2));
    assert!(!cluster.node("c").is_isolated());
    assert!(
        all_see(&cluster, &["a", "b", "d", "e"], "c", Status::Alive),
        "c refuted and came back"
    );
}

#[test]
fn a_healed_partition_reunites_both_sides() {
    let mut cluster = converged(lan_fast(StrategyKind::Push));
    let side = |n: &str| ["a", "b"].contains(&n);
    cluster.deliver = Box::new(move |from, to, _| side(from) == side(to));
    cluster.run_for(Duration::from_secs(3));
    assert!(all_see(&cluster, &["a", "b"], "d", Status::Dead));
    cluster.deliver = Box::new(|_, _, _| true);
    let healed = cluster.run_until(Duration::from_secs(5), |c| {
        NAMES
            .iter()
            .all(|o| NAMES.iter().all(|m| c.status(o, m) == Some(Status::Alive)))
    });
    assert!(healed.is_some(), "the two sides never found each other again");
}

#[test]
fn the_same_seed_replays_the_same_events() {
    let run = || {
        let mut cluster = converged(lan_fast(StrategyKind::Push));
        time_to_detect(&mut cluster, "b", &["a"]);
        format!("{:?}", cluster.events)
    };
    assert_eq!(run(), run());
}

#[test]
fn a_joiner_that_misses_part_of_the_member_list_still_learns_everyone() {
    let names: Vec<String> = (0..60).map(|i| format!("node-with-a-long-name-{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut cluster = Cluster::new(lan_fast(StrategyKind::Push), &names[..59]);
    cluster.run_for(Duration::from_secs(3));
    // The newcomer's first request for the second page of the member list is lost.
    cluster.lose_first_page_request("node-with-a-long-name-59", 1);
    cluster.add("node-with-a-long-name-59");
    let everyone = cluster.run_until(Duration::from_secs(30), |c| {
        names
            .iter()
            .all(|m| c.status("node-with-a-long-name-59", m) == Some(Status::Alive))
    });
    assert!(
        everyone.is_some(),
        "the newcomer never learned the members past the first page"
    );
}

#[test]
fn a_resumed_node_re_arms_its_detectors_instead_of_accusing_everyone() {
    for strategy in [StrategyKind::Push, StrategyKind::Gossip, StrategyKind::Ping] {
        for stopped in [Duration::from_secs(2), Duration::from_secs(15)] {
            let mut cluster = converged(lan_fast(strategy));
            cluster.events.clear();
            // SIGSTOP then SIGCONT: the overdue timer fires before the socket buffer is read.
            cluster.pause_timer_first("c", stopped);
            cluster.run_for(stopped + Duration::from_secs(3));
            let accusations: Vec<_> = cluster
                .events
                .iter()
                .filter(|(_, node, event)| {
                    node == "c" && matches!(event, Event::Transition(t) if t.to != Status::Alive)
                })
                .collect();
            assert!(
                accusations.is_empty(),
                "{strategy:?}, stopped {stopped:?}: {accusations:?}"
            );
            assert_eq!(cluster.node("c").stats().pauses, 1, "{strategy:?}");
        }
    }
}

/// Issue 13, item 4: pull with several monitors, and a member whose datagrams to one
/// monitor are all lost. Every other member hears it, so nobody may declare it dead: the
/// monitor asks others to probe it before its silence makes a death.
#[test]
fn pull_a_broken_link_to_one_monitor_removes_nobody() {
    let mut config = lan_fast(StrategyKind::Pull);
    config.strategy = StrategyConfig::Pull {
        monitors: vec!["a".into(), "b".into(), "c".into()],
    };
    for (cut_from, cut_to) in [("e", "a"), ("a", "e")] {
        let mut cluster = converged(config.clone());
        cluster.deliver = Box::new(move |from, to, _| !(from == cut_from && to == cut_to));
        cluster.run_for(Duration::from_secs(60));
        let deaths = cluster.deaths(&NAMES, &NAMES);
        assert!(deaths.is_empty(), "{cut_from} -> {cut_to} cut: deaths {deaths:?}");
    }
}

/// Every strategy, each with a configuration that runs on its own.
fn every_strategy() -> Vec<Config> {
    let leader = lan_fast(StrategyKind::Leader);
    vec![
        lan_fast(StrategyKind::Push),
        pull_config(),
        lan_fast(StrategyKind::Ping),
        lan_fast(StrategyKind::Gossip),
        leader,
    ]
}

fn events_at<'a>(cluster: &'a Cluster, node: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    cluster
        .events
        .iter()
        .filter(move |(_, n, _)| n == node)
        .map(|(_, _, e)| e)
}

#[test]
fn a_newcomer_with_a_live_members_name_is_refused_and_the_member_keeps_its_incarnation() {
    for config in every_strategy() {
        let strategy = config.kind();
        let mut cluster = converged(config);
        let addr = cluster.addr("b");
        cluster.start_as("rival", "b");
        cluster.run_for(Duration::from_secs(5));
        assert!(!cluster.node("rival").is_joined(), "{strategy:?}");
        assert_eq!(cluster.node("b").me().incarnation, 0, "{strategy:?}: b had to refute");
        for observer in NAMES {
            let held = cluster.node(observer).members().get("b").unwrap();
            assert_eq!(
                (held.addr, held.incarnation, held.status),
                (addr, 0, Status::Alive),
                "{strategy:?} at {observer}"
            );
        }
        let refused = events_at(&cluster, "rival")
            .any(|e| matches!(e, Event::JoinRefused { reason: crate::message::Refusal::NameTaken { holder }, .. } if *holder == addr));
        assert!(refused, "{strategy:?}: the newcomer was not told");
        let conflict = events_at(&cluster, "a")
            .any(|e| matches!(e, Event::NameConflict { name, holder, .. } if name == "b" && *holder == addr));
        assert!(conflict, "{strategy:?}: the seed did not say");
    }
}

#[test]
fn a_node_restarted_on_a_new_address_is_taken_once_the_old_one_is_dead() {
    for config in every_strategy() {
        let strategy = config.kind();
        let mut cluster = converged(config);
        cluster.crash("b");
        cluster.start_as("b-again", "b");
        let new_addr = cluster.addr("b-again");
        let others = ["a", "c", "d", "e"];
        let back = cluster.run_until(Duration::from_secs(30), |c| {
            others.iter().all(|o| {
                c.node(o)
                    .members()
                    .get("b")
                    .is_some_and(|m| m.addr == new_addr && m.status == Status::Alive)
            })
        });
        assert!(back.is_some(), "{strategy:?}: the restarted node was never taken");
        assert!(cluster.node("b-again").is_joined());
    }
}

#[test]
fn force_leave_reaps_a_dead_member_everywhere_and_refuses_a_live_one() {
    for config in every_strategy() {
        let strategy = config.kind();
        let mut cluster = converged(config);
        cluster.command("a", Command::ForceLeave("b".into()));
        let refused = events_at(&cluster, "a").any(|e| matches!(e, Event::ForceLeaveRefused(_)));
        assert!(refused, "{strategy:?}: a live member was force-left");
        assert_eq!(cluster.status("c", "b"), Some(Status::Alive));
        cluster.crash("e");
        let survivors = ["a", "b", "c", "d"];
        let dead = cluster.run_until(Duration::from_secs(30), |c| all_see(c, &survivors, "e", Status::Dead));
        assert!(dead.is_some(), "{strategy:?}: e never held dead");
        cluster.command("a", Command::ForceLeave("e".into()));
        cluster.run_for(Duration::from_millis(100));
        for observer in survivors {
            assert_eq!(
                cluster.status(observer, "e"),
                None,
                "{strategy:?}: {observer} still lists e"
            );
        }
        cluster.run_for(Duration::from_secs(5));
        for observer in survivors {
            assert_eq!(
                cluster.status(observer, "e"),
                None,
                "{strategy:?}: e came back at {observer}"
            );
        }
    }
}

/// A member refutes a suspicion it read in a poll's view, in the same step in which it
/// answered that poll: the reply names the old incarnation, the refutation the new one,
/// and the refutation may arrive first. The late reply is a sign of life all the same
/// (`Observed::Overtaken`): before, it was dropped as stale, the monitor's detector kept
/// the arrival before it, and at 10 % loss pull declared a member dead every few seconds
/// of simulated time (`vitals sim --strategy pull --nodes 7 --interval 200ms --loss 0.1`:
/// 6,088 false positives in 7 node-hours, 731 with this fix alone).
#[test]
fn a_poll_reply_overtaken_by_the_members_own_refutation_still_feeds_the_monitor() {
    let config = pull_config();
    let me = crate::message::Peer {
        name: "a".into(),
        addr: super::cluster::addr_of(0),
        incarnation: 0,
    };
    let mut monitor = crate::node::Node::new(me, config.clone(), 1, crate::time::Instant::ZERO);
    let at = |ms: u64| crate::time::Instant::from_micros(ms * 1000);
    let from = |incarnation| crate::message::Peer {
        name: "e".into(),
        addr: super::cluster::addr_of(4),
        incarnation,
    };
    let deliver = |node: &mut crate::node::Node, ms, incarnation, message| {
        let envelope = crate::message::Envelope {
            timing: None,
            from: from(incarnation),
            message,
        };
        node.handle_message(at(ms), super::cluster::addr_of(4), envelope);
        while node.poll_output().is_some() {}
    };
    let reply = || Message::PollReply { seq: 1, health: None };
    deliver(&mut monitor, 0, 0, reply());
    deliver(&mut monitor, 200, 1, Message::join(0));
    deliver(&mut monitor, 201, 0, reply());
    // The detector counts the late reply: dead 620 ms after it, not after the first.
    let silence = monitor.members().detector_silence("e", at(201));
    assert_eq!(silence, Some(Duration::ZERO), "the overtaken reply was not counted");
    monitor.handle_tick(at(700));
    assert_ne!(monitor.members().get("e").map(|m| m.status), Some(Status::Dead));
    assert_eq!(monitor.members().get("e").map(|m| m.incarnation), Some(1));
}

/// Pull's monitor asks others about a member whose replies it stops receiving even
/// while other datagrams from that member (reachability rows, refutations, relayed
/// answers for others) still arrive: those prove the member sends, not that the judged
/// signal gets through, and before they stopped the asking, so one lost reply path made
/// a death. Here only the member's poll replies to the monitor are lost.
#[test]
fn pull_a_member_whose_replies_alone_are_lost_is_vouched_for_by_the_others() {
    let mut cluster = converged(pull_config());
    cluster.deliver = Box::new(|from, to, m| !(from == "e" && to == "a" && matches!(m, Message::PollReply { .. })));
    cluster.run_for(Duration::from_secs(60));
    let deaths = cluster.deaths(&NAMES, &NAMES);
    assert!(deaths.is_empty(), "deaths {deaths:?}");
    assert!(cluster.sent_by_kind("ping_req") > 0, "the monitor never asked anyone");
}
