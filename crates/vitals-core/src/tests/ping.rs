//! Whole-cluster scenarios for the ping strategy (SWIM + Lifeguard) on virtual time.

use std::time::Duration;

use super::cluster::Cluster;
use crate::config::{Config, Preset, StrategyKind};
use crate::message::{MemberEntry, Message, Status};
use crate::node::Event;
use crate::rng::Rng;
use crate::time::Instant;

const NAMES: [&str; 10] = ["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"];

fn lan() -> Config {
    Config::preset(Preset::Lan, StrategyKind::Ping)
}

fn converged(config: Config, names: &[&str]) -> Cluster {
    Cluster::converged(config, names, Duration::from_secs(30))
}

fn false_deaths(cluster: &Cluster, names: &[&str], alive: &[&str]) -> Vec<(String, String)> {
    cluster.deaths(names, alive)
}

fn everyone_sees_everyone_alive(c: &Cluster, names: &[&str]) -> bool {
    c.all_alive(names)
}

#[test]
fn a_ping_cluster_detects_a_crash_everywhere_and_spreads_the_news() {
    let mut cluster = converged(lan(), &NAMES);
    let crashed_at = cluster.now;
    cluster.crash("n7");
    let survivors: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "n7").collect();
    let all = cluster
        .run_until(Duration::from_secs(30), |c| {
            survivors.iter().all(|o| c.status(o, "n7") == Some(Status::Dead))
        })
        .expect("the crash was never detected by everyone");
    let took = all - crashed_at;
    // First probe within a few periods, suspicion of 1.5 s once confirmed (up to 9 s alone).
    assert!(took <= Duration::from_secs(6), "{took:?}");
    assert!(false_deaths(&cluster, &NAMES, &survivors).is_empty());
}

#[test]
fn a_suspect_that_hears_of_it_refutes_and_stays_alive() {
    let mut cluster = converged(lan(), &NAMES);
    // n3 drops every probe ack for one and a half periods: someone suspects it.
    let start = cluster.now;
    cluster.deliver = Box::new(move |from, _, m| !(from == "n3" && matches!(m, Message::PingAck { .. })));
    cluster
        .run_until(Duration::from_secs(10), |c| {
            NAMES.iter().any(|o| c.status(o, "n3") == Some(Status::Suspect))
        })
        .expect("never suspected");
    cluster.deliver = Box::new(|_, _, _| true);
    cluster.run_for(Duration::from_secs(10));
    assert!(everyone_sees_everyone_alive(&cluster, &NAMES), "n3 did not refute");
    assert!(
        cluster
            .events
            .iter()
            .any(|(t, n, e)| n == "n3" && *t >= start && matches!(e, Event::Refuted { .. }))
    );
    assert!(false_deaths(&cluster, &NAMES, &NAMES).is_empty());
}

/// Whether `m` tells its receiver that `member` is alive (a refutation, first- or second-hand).
fn says_alive(m: &Message, member: &str) -> bool {
    let up = |e: &MemberEntry| e.name == member && e.status == Status::Alive;
    match m {
        Message::Members { entries, .. } => entries.iter().any(up),
        Message::Ping { gossip, .. } | Message::PingAck { gossip, .. } | Message::News { gossip } => {
            gossip.iter().any(|r| up(&r.entry))
        }
        _ => false,
    }
}

#[test]
fn an_observer_that_missed_the_refutation_learns_it_from_the_suspects_answer_to_its_probe() {
    let mut cluster = converged(lan(), &NAMES);
    // n3 drops its probe acks until n9 suspects it. Throughout, n9 never hears from n3
    // directly and never gets the news that n3 refuted (lost, and its gossip spent): only
    // n3's answers to n9's indirect probes, relayed by the others, reach n9.
    let missed = |from: &str, to: &str, m: &Message| to == "n9" && (from == "n3" || says_alive(m, "n3"));
    cluster.deliver =
        Box::new(move |from, to, m| !(from == "n3" && matches!(m, Message::PingAck { .. }) || missed(from, to, m)));
    cluster
        .run_until(Duration::from_secs(10), |c| {
            c.status("n9", "n3") == Some(Status::Suspect)
        })
        .expect("n9 never suspected n3");
    cluster.deliver = Box::new(move |from, to, m| !missed(from, to, m));
    cluster.run_for(Duration::from_secs(30));
    let at_n9: Vec<Status> = cluster.transitions("n9", "n3").iter().map(|t| t.to).collect();
    assert!(!at_n9.contains(&Status::Dead), "n9 declared n3 dead: {at_n9:?}");
    assert_eq!(cluster.status("n9", "n3"), Some(Status::Alive), "{at_n9:?}");
    assert!(false_deaths(&cluster, &NAMES, &NAMES).is_empty());
}

#[test]
fn a_suspect_whose_probe_failed_is_probed_again_the_next_period() {
    let mut cluster = converged(lan(), &NAMES);
    // n9 cannot reach n3, directly or through others, and never hears that n3 refuted;
    // everyone else hears n3 fine. n9 alone suspects n3, and keeps suspecting it.
    cluster.deliver = Box::new(|from, to, m| {
        let asks_for_n3 = matches!(m, Message::PingReq { target, .. } if target == "n3");
        let cut = (from, to) == ("n9", "n3") || (from, to) == ("n3", "n9");
        !(cut || from == "n9" && asks_for_n3 || to == "n9" && says_alive(m, "n3"))
    });
    cluster
        .run_until(Duration::from_secs(10), |c| {
            c.status("n9", "n3") == Some(Status::Suspect)
        })
        .expect("n9 never suspected n3");
    cluster.record_sends();
    let probes_by_n9 = |c: &Cluster| -> Vec<std::net::SocketAddr> {
        let sends = c.recorded_sends().iter();
        sends
            .filter(|(_, from, kind, _)| from == "n9" && *kind == "ping")
            .map(|s| s.3)
            .collect()
    };
    cluster.run_until(Duration::from_secs(20), |c| probes_by_n9(c).len() >= 4);
    // Round-robin would come back to n3 only after the 8 others; the suspect is probed
    // again within two periods, but never twice in a row: the round-robin goes on in
    // between, so that suspects cannot starve it.
    let n3 = cluster.addr("n3");
    let probes = probes_by_n9(&cluster);
    assert!(
        probes[..2].contains(&n3),
        "n9's next probes after suspecting n3: {probes:?}"
    );
    assert!(
        probes.windows(2).all(|w| w != [n3, n3]),
        "n3 probed twice in a row: {probes:?}"
    );
}

/// `n4` of a converged cluster paused for `pause`, from each of ten instants a twentieth
/// of a period apart (where the probes of it fall in its pause decides its fate): the
/// false deaths of each.
fn false_deaths_of_a_pause(config: &Config, pause: Duration) -> Vec<Vec<(String, String)>> {
    let step = config.interval / 20;
    (0..10)
        .map(|k| {
            let mut cluster = converged(config.clone(), &NAMES);
            cluster.run_for(step * k);
            cluster.pause("n4", pause);
            cluster.run_for(Duration::from_secs(20));
            assert!(everyone_sees_everyone_alive(&cluster, &NAMES));
            false_deaths(&cluster, &NAMES, &NAMES)
        })
        .collect()
}

#[test]
fn a_pause_shorter_than_the_suspicion_window_never_kills() {
    // Without fast confirmation, Lifeguard's shortest suspicion is 4 × log10(10) periods:
    // 2 s at the lan preset's 500 ms.
    let mut config = lan();
    config.swim_mut().expect("ping").fast_confirm = false;
    let deaths = false_deaths_of_a_pause(&config, Duration::from_millis(1_800));
    assert!(deaths.iter().all(Vec::is_empty), "{deaths:?}");
}

#[test]
fn with_fast_confirmation_a_pause_shorter_than_two_periods_never_kills() {
    // Fast confirmation declares dead a member that answers neither the probe that
    // made it a suspect nor the probes of the suspicion's confirmation, sent a period
    // later: a pause of two periods or more (its documented price).
    let deaths = false_deaths_of_a_pause(&lan(), Duration::from_millis(900));
    assert!(deaths.iter().all(Vec::is_empty), "{deaths:?}");
    let longer = false_deaths_of_a_pause(&lan(), Duration::from_millis(1_200));
    assert!(
        longer.iter().any(|d| !d.is_empty()),
        "a pause of 2.4 periods never killed"
    );
}

#[test]
fn one_broken_link_never_removes_either_end() {
    let mut cluster = converged(lan(), &NAMES);
    cluster.deliver = Box::new(|from, to, _| !matches!((from, to), ("n1", "n2") | ("n2", "n1")));
    cluster.run_for(Duration::from_secs(120));
    assert!(
        false_deaths(&cluster, &NAMES, &NAMES).is_empty(),
        "{:?}",
        false_deaths(&cluster, &NAMES, &NAMES)
    );
}

#[test]
fn ten_percent_loss_produces_no_false_death() {
    // 4 seeds x 10 nodes x 1 h = 40 node-hours of 10 % uniform loss.
    for seed in 0..4 {
        let mut cluster = converged(lan(), &NAMES);
        let mut rng = Rng::seeded(seed);
        cluster.deliver = Box::new(move |_, _, _| rng.unit() >= 0.10);
        cluster.run_for(Duration::from_secs(3600));
        let deaths = false_deaths(&cluster, &NAMES, &NAMES);
        assert!(deaths.is_empty(), "loss seed {seed}: {deaths:?}");
        let refutations = cluster
            .events
            .iter()
            .filter(|(_, _, e)| matches!(e, Event::Refuted { .. }))
            .count();
        assert!(
            refutations > 0,
            "loss seed {seed}: 10 % loss never caused a suspicion; the test tests nothing"
        );
    }
}

#[test]
fn a_restarted_node_comes_back_and_dead_ones_are_eventually_reaped() {
    let mut config = lan();
    config.swim_mut().expect("ping").tombstone_ttl = Duration::from_secs(30);
    let mut cluster = converged(config, &NAMES);
    cluster.crash("n5");
    cluster.crash("n6");
    cluster
        .run_until(Duration::from_secs(30), |c| {
            c.status("n0", "n5") == Some(Status::Dead) && c.status("n0", "n6") == Some(Status::Dead)
        })
        .unwrap();
    cluster.start("n5", 0);
    let back = cluster.run_until(Duration::from_secs(30), |c| {
        NAMES
            .iter()
            .filter(|o| !["n5", "n6"].contains(o))
            .all(|o| c.status(o, "n5") == Some(Status::Alive))
    });
    assert!(back.is_some(), "the restarted node never came back");
    cluster.run_for(Duration::from_secs(60));
    assert_eq!(
        cluster.status("n0", "n6"),
        None,
        "the dead node's tombstone was never reaped"
    );
    assert_eq!(cluster.status("n0", "n5"), Some(Status::Alive));
}

#[test]
fn a_ping_node_probes_once_per_protocol_period() {
    let mut cluster = converged(lan(), &NAMES[..4]);
    let pings = |c: &Cluster| c.sent_by_kind("ping");
    let start = pings(&cluster);
    cluster.run_for(Duration::from_secs(100));
    let per_node_per_second = (pings(&cluster) - start) as f64 / 4.0 / 100.0;
    assert!(
        (1.9..=2.1).contains(&per_node_per_second),
        "{per_node_per_second} probes/s at N=4"
    );
}

fn quorum() -> Config {
    let mut config = lan();
    config.quorum = Some(crate::config::Quorum::Majority);
    config
}

#[test]
fn with_a_quorum_a_crash_is_still_detected_by_everyone() {
    let mut cluster = converged(quorum(), &NAMES);
    let crashed_at = cluster.now;
    cluster.crash("n3");
    let survivors: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "n3").collect();
    let all = cluster
        .run_until(Duration::from_secs(30), |c| {
            survivors.iter().all(|o| c.status(o, "n3") == Some(Status::Dead))
        })
        .expect("the crash was never detected by everyone");
    assert!(all - crashed_at <= Duration::from_secs(6), "{:?}", all - crashed_at);
}

#[test]
fn with_a_quorum_a_minority_left_by_mass_crashes_still_suspects_every_crashed_member() {
    // 4 of 7 crash at once: the 3 survivors can never declare anyone dead (no majority),
    // so their suspects stay suspects. Probing those again and again once starved the
    // round-robin: two of the crashed were never probed and stayed `alive` for good.
    // One crash instant, 5 s after formation, as when the bound was set: how long this
    // takes depends on it (10.6–32.7 s for instants 0–7 s after fast confirmation settles;
    // Lifeguard's awareness stretches the survivors' periods to 1.6 s).
    let names = &NAMES[..7];
    let mut cluster = Cluster::new(quorum(), names);
    cluster
        .run_until(Duration::from_secs(30), |c| c.all_alive(names))
        .expect("converged");
    cluster.run_for(Duration::from_secs(5));
    let crashed_at = cluster.now;
    let (survivors, crashed) = names.split_at(3);
    for name in crashed {
        cluster.crash(name);
    }
    let all = cluster.run_until(Duration::from_secs(60), |c| {
        survivors
            .iter()
            .all(|o| crashed.iter().all(|m| c.status(o, m) != Some(Status::Alive)))
    });
    let all = all.expect("a survivor kept showing a crashed member alive");
    eprintln!(
        "[measure] the last crashed member suspected at every survivor after {:?}",
        all - crashed_at
    );
    // Each survivor probes the 6 others in turn, a failed probe stretching its period
    // (Lifeguard); rechecks of suspects take at most every other period.
    assert!(all - crashed_at <= Duration::from_secs(20), "{:?}", all - crashed_at);
}

#[test]
fn with_a_quorum_one_sick_observer_never_removes_a_healthy_node() {
    let mut cluster = converged(quorum(), &NAMES);
    // n1 receives nothing at all: it accuses everyone it probes.
    cluster.deliver = Box::new(|_, to, _| to != "n1");
    cluster.run_for(Duration::from_secs(120));
    let others: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "n1").collect();
    let deaths = false_deaths(&cluster, &NAMES, &others);
    assert!(deaths.is_empty(), "{deaths:?}");
    let accused = others
        .iter()
        .any(|m| cluster.transitions("n1", m).iter().any(|t| t.to == Status::Suspect));
    assert!(accused, "n1 never accused anyone: the test tests nothing");
}

#[test]
fn with_a_quorum_ten_percent_loss_produces_no_false_death() {
    for seed in 0..4 {
        let mut cluster = converged(quorum(), &NAMES);
        let mut rng = Rng::seeded(100 + seed);
        cluster.deliver = Box::new(move |_, _, _| rng.unit() >= 0.10);
        cluster.run_for(Duration::from_secs(3600));
        let deaths = false_deaths(&cluster, &NAMES, &NAMES);
        assert!(deaths.is_empty(), "loss seed {seed}: {deaths:?}");
    }
}

#[test]
fn why_names_the_accusers_the_probe_evidence_and_the_history() {
    let mut cluster = converged(lan(), &NAMES);
    cluster.crash("n7");
    let suspected = cluster.run_until(Duration::from_secs(30), |c| {
        c.node("n0")
            .why("n7", c.now)
            .is_some_and(|w| w.suspicion.as_ref().is_some_and(|s| !s.accusers.is_empty()))
    });
    assert!(suspected.is_some(), "n0 never held a suspicion of n7 with an accuser");
    let why = cluster.node("n0").why("n7", cluster.now).unwrap();
    assert_eq!(why.status, Status::Suspect);
    assert!(why.suspicion.as_ref().unwrap().timeout_ms >= 1500, "{why:?}");
    assert!(why.local_awareness.is_some());
    cluster
        .run_until(Duration::from_secs(30), |c| c.status("n0", "n7") == Some(Status::Dead))
        .unwrap();
    let why = cluster.node("n0").why("n7", cluster.now).unwrap();
    let path: Vec<Status> = why.history.iter().map(|t| t.to).collect();
    assert_eq!(path[path.len() - 2..], [Status::Suspect, Status::Dead], "{path:?}");
    let accuser_probed = NAMES.iter().any(|o| {
        cluster
            .node(o)
            .why("n7", cluster.now)
            .is_some_and(|w| w.failed_probe.is_some())
    });
    assert!(accuser_probed, "no survivor kept the evidence of its failed probe");
    assert!(cluster.node("n0").why("nobody", cluster.now).is_none());
}

/// SWIM (Das, Gupta & Motivala, 2002): when each member picks its ping target uniformly
/// at random every protocol period, the expected number of periods until some member
/// first picks a given (failed) member is `1 / (1 − (1 − 1/M)^M)` for M other members,
/// which tends to e/(e − 1) ≈ 1.58. Measured on the real nodes' choices: for sampled
/// instants and members X, `G_i` is the 1-based index of node i's first period after the
/// instant in which it probes X, and the first detection is `min_i G_i`.
#[test]
fn swims_expected_first_detection_is_e_over_e_minus_one_protocol_periods() {
    let names: Vec<String> = (0..40).map(|i| format!("s{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut config = lan();
    config.swim_mut().expect("ping").random_targets = true;
    config.probes.indirect_probes = 0; // one direct probe per period, nothing else is a ping
    let mut cluster = Cluster::converged(config, &names, Duration::from_secs(60));
    cluster.record_sends();
    let start = cluster.now;
    cluster.run_for(Duration::from_secs(1_210));
    let mut probes: std::collections::BTreeMap<&str, Vec<(crate::time::Instant, std::net::SocketAddr)>> =
        Default::default();
    for (at, from, kind, to) in cluster.recorded_sends() {
        if *kind == "ping" {
            probes
                .entry(names.iter().find(|n| **n == from).unwrap())
                .or_default()
                .push((*at, *to));
        }
    }
    let mut samples = Vec::new();
    for k in 0..1_200u32 {
        let t0 = start + Duration::from_millis(1_000 * u64::from(k) + 500);
        for target in (0..5).map(|j| names[(k as usize * 5 + j) % names.len()]) {
            let addr = cluster.addr(target);
            let first = probes
                .iter()
                .filter(|(prober, _)| **prober != target)
                .filter_map(|(_, list)| list.iter().filter(|(at, _)| *at >= t0).position(|(_, to)| *to == addr))
                .min()
                .expect("someone probes every member eventually");
            samples.push(first as f64 + 1.0);
        }
    }
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let m = (names.len() - 1) as f64;
    let exact = 1.0 / (1.0 - (1.0 - 1.0 / m).powf(m));
    let limit = std::f64::consts::E / (std::f64::consts::E - 1.0);
    eprintln!(
        "[measure] SWIM first detection: {mean:.3} periods over {} samples (exact for M = {m}: {exact:.3}; e/(e-1) = {limit:.3})",
        samples.len()
    );
    assert!(
        (mean - limit).abs() / limit <= 0.05,
        "{mean:.3} periods, not within 5 % of {limit:.3}"
    );
}

/// When `victim` was first suspected, first held dead, and held dead by every one of
/// `survivors` last, from now on (the fault is injected just before): runs until the
/// last, at most `limit`.
fn until_dead_everywhere(cluster: &mut Cluster, victim: &str, survivors: &[&str], limit: Duration) -> [Instant; 3] {
    let since = cluster.now;
    let all = cluster
        .run_until(limit, |c| {
            survivors.iter().all(|o| c.status(o, victim) == Some(Status::Dead))
        })
        .unwrap_or_else(|| panic!("{victim} was never held dead by every survivor"));
    let first = |status: Status| {
        survivors
            .iter()
            .flat_map(|o| cluster.transitions(o, victim))
            .filter(|t| t.to == status && t.at >= since)
            .map(|t| t.at)
            .min()
            .unwrap_or_else(|| panic!("{victim} was never {status:?}"))
    };
    [first(Status::Suspect), first(Status::Dead), all]
}

/// The N = 10 cluster of `seed` (latency jittered by up to 500 µs), formed, five quiet
/// seconds later and settled ([`Cluster::settle`]).
fn settled_ten(config: &Config, seed: u64) -> Cluster {
    let mut cluster = Cluster::seeded(config.clone(), &NAMES, seed, Some(Duration::from_micros(500)));
    cluster
        .run_until(Duration::from_secs(30), |c| c.all_alive(&NAMES))
        .expect("converged");
    cluster.run_for(Duration::from_secs(5));
    cluster.settle();
    cluster
}

/// For one crash of n7 in a converged N = 10 cluster: the time from the first suspicion
/// of n7 (at any node) until every survivor holds it dead.
fn suspicion_to_dead_everywhere(config: &Config, seed: u64) -> Duration {
    let mut cluster = settled_ten(config, seed);
    cluster.crash("n7");
    let survivors: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "n7").collect();
    let [suspected, _, all] = until_dead_everywhere(&mut cluster, "n7", &survivors, Duration::from_secs(60));
    all - suspected
}

#[test]
fn fast_confirmation_ends_a_crash_suspicion_after_one_period_instead_of_the_lifeguard_timeout() {
    let fast = lan();
    let mut slow = lan();
    slow.swim_mut().expect("ping").fast_confirm = false;
    let period = fast.interval;
    // Lifeguard's floor at N = 10: suspicion_mult × log10(10) periods, reached only once
    // two others confirmed.
    let lifeguard_min = period * fast.swim().expect("ping").suspicion_mult;
    for seed in 1..=5 {
        let took = suspicion_to_dead_everywhere(&fast, seed);
        // At least one period from the first accusation (its age travels with it), at
        // most two: a confirmer may first finish a probe under way, then its own probe of
        // the suspect lasts at most a period.
        assert!(took >= period && took <= period * 2, "seed {seed}: {took:?}");
        let took = suspicion_to_dead_everywhere(&slow, seed);
        assert!(took >= lifeguard_min, "seed {seed}, fast confirmation off: {took:?}");
    }
}

/// Fast confirmation waits for the cluster to settle: a crash within
/// `members::SETTLE_INTERVALS` of the last join (formation, or one member joining a settled
/// cluster) ends on Lifeguard's timeout, at least `suspicion_mult` periods at N = 10.
#[test]
fn fast_confirmation_waits_for_the_cluster_to_settle_after_a_join() {
    let config = lan();
    let lifeguard_min = config.interval * config.swim().expect("ping").suspicion_mult;
    let names = &NAMES[..9];
    let survivors: Vec<&str> = names.iter().copied().filter(|n| *n != "n7").collect();
    for (seed, join_late) in [(1, false), (2, false), (3, true), (4, true)] {
        let mut cluster = Cluster::seeded(config.clone(), names, seed, Some(Duration::from_micros(500)));
        cluster
            .run_until(Duration::from_secs(30), |c| c.all_alive(names))
            .expect("converged");
        if join_late {
            cluster.settle();
            cluster.add("n9");
            cluster
                .run_until(Duration::from_secs(10), |c| c.all_alive(&NAMES))
                .expect("n9 joined");
        }
        cluster.crash("n7");
        let [suspected, _, all] = until_dead_everywhere(&mut cluster, "n7", &survivors, Duration::from_secs(60));
        let took = all - suspected;
        assert!(took >= lifeguard_min, "seed {seed}, join late {join_late}: {took:?}");
    }
}

/// A death confirmed fast reaches the members in a few network delays, not in the
/// `log N` periods piggybacking takes (each node sends it on to `⌈ln N⌉ + 3` members at
/// once, `death_fanout`): at N = 100, from the first node that holds the crashed member
/// dead, all but two within 50 ms. An epidemic of fanout 8 misses about `N e^-8` of them
/// (0.03 of 99 on average); those hear it piggybacked, within two periods.
#[test]
fn a_fast_death_reaches_a_hundred_members_within_milliseconds() {
    let names: Vec<String> = (0..100).map(|i| format!("n{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for seed in 1..=5 {
        let mut cluster = Cluster::seeded(lan(), &refs, seed, Some(Duration::from_micros(500)));
        cluster
            .run_until(Duration::from_secs(60), |c| c.all_alive(&refs))
            .expect("converged");
        cluster.settle();
        cluster.crash("n42");
        let survivors: Vec<&str> = refs.iter().copied().filter(|n| *n != "n42").collect();
        let [_, first_dead, all] = until_dead_everywhere(&mut cluster, "n42", &survivors, Duration::from_secs(60));
        let late = survivors
            .iter()
            .filter(|o| {
                let dead = cluster.transitions(o, "n42").into_iter().find(|t| t.to == Status::Dead);
                dead.is_some_and(|t| t.at - first_dead > Duration::from_millis(50))
            })
            .count();
        assert!(
            late <= 2,
            "seed {seed}: {late} of 99 heard of the death later than 50 ms"
        );
        let spread = all - first_dead;
        assert!(spread <= lan().interval * 2, "seed {seed}: {spread:?}");
    }
}

/// A member paused for twelve periods is declared dead by fast confirmation, about a
/// period after the first suspicion, and comes back: a false death. The first pauses
/// nothing (a crash restarted at once looks the same); once it happened twice, every
/// node that held it dead pauses fast confirmation, so a pause soon after ends on
/// Lifeguard's timeout (at least `suspicion_mult` periods at N = 10) instead.
#[test]
fn once_a_paused_member_came_back_from_two_fast_deaths_fast_confirmation_pauses() {
    let config = lan();
    let period = config.interval;
    let lifeguard_min = period * config.swim().expect("ping").suspicion_mult;
    let survivors: Vec<&str> = NAMES.iter().copied().filter(|n| *n != "n7").collect();
    for seed in 1..=4 {
        let mut cluster = settled_ten(&config, seed);
        for (time, pauses) in [("first", 0), ("second", 1)] {
            let took = pause_until_dead_everywhere(&mut cluster, &survivors, period * 12);
            assert!(took <= period * 2, "seed {seed}: the {time} death took {took:?}");
            cluster
                .run_until(Duration::from_secs(10), |c| c.all_alive(&NAMES))
                .unwrap_or_else(|| panic!("seed {seed}: n7 never came back"));
            for observer in &survivors {
                let paused = cluster.node(observer).stats().fast_confirm_pauses;
                assert_eq!(
                    paused, pauses,
                    "seed {seed}: {observer} paused fast confirmation {paused} times after the {time}"
                );
            }
        }
        // Long enough for Lifeguard, and within the pause of fast confirmation.
        let third = pause_until_dead_everywhere(&mut cluster, &survivors, period * 40);
        assert!(third >= lifeguard_min, "seed {seed}: the third death took {third:?}");
    }
}

/// Pauses n7 for `pause` and returns the time from its first suspicion (at any of
/// `survivors`) until every survivor holds it dead.
fn pause_until_dead_everywhere(cluster: &mut Cluster, survivors: &[&str], pause: Duration) -> Duration {
    cluster.pause("n7", pause);
    let [suspected, _, all] = until_dead_everywhere(cluster, "n7", survivors, pause);
    all - suspected
}

#[test]
fn every_member_learns_every_members_services_within_a_few_periods() {
    let names = &NAMES[..7];
    // Every node fronts `web` from the start, before anyone joined (as an agent does).
    let mut cluster = Cluster::new(lan(), names);
    names.iter().for_each(|name| cluster.front_service(name, "web"));
    let periods = cluster.periods_until_every_node_lists(names, "web");
    // Anti-entropy alone (one partner every 60 periods) would take far longer.
    assert!(periods <= 3.0, "{periods} periods after the cluster formed");
}

#[test]
fn both_sides_of_a_healed_partition_agree_within_five_seconds() {
    let names = &NAMES[..7];
    let mut cluster = converged(Config::preset(Preset::LanFast, StrategyKind::Ping), names);
    let side = |n: &str| ["n0", "n1", "n2", "n3"].contains(&n);
    cluster.deliver = Box::new(move |from, to, _| side(from) == side(to));
    cluster.run_for(Duration::from_secs(30));
    assert_eq!(cluster.status("n0", "n6"), Some(Status::Dead));
    cluster.deliver = Box::new(|_, _, _| true);
    let healed_at = cluster.now;
    let agreed = cluster
        .run_until(Duration::from_secs(30), |c| everyone_sees_everyone_alive(c, names))
        .expect("the two sides never agreed again");
    assert!(agreed - healed_at <= Duration::from_secs(5), "{:?}", agreed - healed_at);
}

/// Four of seven crash at once (lan-fast, 20 seeds): every survivor stops showing every
/// crashed member alive within the probe part of ping's detection bound (`2N` periods
/// plus Lifeguard's recovery from the awareness ceiling, `strategy::ping::detection_bound`).
/// Missed nacks from crashed intermediaries raise awareness, so this takes longer than
/// SWIM's `2N - 1` periods; the test bounds that stretch.
#[test]
fn four_of_seven_crashed_at_once_are_all_suspected_within_the_probe_bound() {
    let names = &NAMES[..7];
    let config = Config::preset(Preset::LanFast, StrategyKind::Ping);
    let ceiling = config.swim().unwrap().awareness_max;
    let recovery = (ceiling * (ceiling + 1) / 2).saturating_sub(1);
    let bound = config.interval * (recovery + 2 * names.len() as u32);
    let (survivors, crashed) = names.split_at(3);
    let mut worst = Duration::ZERO;
    for seed in 0..20 {
        let mut cluster = Cluster::seeded(config.clone(), names, seed, None);
        let formed = cluster.run_until(Duration::from_secs(30), |c| c.all_alive(names));
        assert!(formed.is_some(), "seed {seed}: never formed");
        cluster.settle();
        cluster.run_for(Duration::from_secs(5) + Duration::from_millis(37 * seed));
        let crashed_at = cluster.now;
        for name in crashed {
            cluster.crash(name);
        }
        let all = cluster.run_until(Duration::from_secs(60), |c| {
            survivors
                .iter()
                .all(|o| crashed.iter().all(|m| c.status(o, m) != Some(Status::Alive)))
        });
        let took = all.expect("a survivor kept showing a crashed member alive") - crashed_at;
        worst = worst.max(took);
    }
    assert!(worst <= bound, "worst {worst:?} over 20 seeds, bound {bound:?}");
}

/// A member that joins a formed cluster of 80 is probed about as often as any other from
/// the start: each node puts it in the current cycle of its round-robin (`Ping::enlist`),
/// not in the next one, up to 80 periods away. Over the 20 periods after the join,
/// without that no node probed it at all (each node's cycle had begun as the cluster
/// formed, so a crash of the joiner would have gone unnoticed for a minute); with it,
/// 58 probes, the others about 20 each.
#[test]
fn a_member_that_joins_a_large_cluster_is_probed_as_often_as_the_others() {
    let names: Vec<String> = (0..80).map(|i| format!("n{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let config = lan();
    let interval = config.interval;
    let mut cluster = Cluster::converged(config, &refs, Duration::from_secs(120));
    cluster.run_for(interval * 30);
    cluster.add("late");
    cluster
        .run_until(interval * 2, |c| refs.iter().all(|o| c.status(o, "late").is_some()))
        .expect("everyone heard of the joiner");
    cluster.record_sends();
    cluster.run_for(interval * 20);
    let pings_to = |member: &str| {
        let addr = cluster.addr(member);
        cluster
            .recorded_sends()
            .iter()
            .filter(|(_, _, kind, to)| *kind == "ping" && *to == addr)
            .count()
    };
    let others: usize = refs.iter().map(|m| pings_to(m)).sum();
    let average = others as f64 / refs.len() as f64;
    let late = pings_to("late") as f64;
    eprintln!(
        "[measure] probes over the 20 periods after a join: the joiner {late}, the others {average:.1} on average"
    );
    assert!(
        late >= 0.6 * average,
        "the joiner was probed {late} times, the others {average:.1} on average"
    );
}

/// The time from each crash to its first suspicion (by anyone), for `crashes` members of
/// a converged cluster of 30 crashed one after another, each at a random phase of the
/// interval once the one before is dead everywhere.
fn crash_to_first_suspicion(config: Config, crashes: usize) -> Vec<Duration> {
    let names: Vec<String> = (0..30).map(|i| format!("w{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut cluster = Cluster::converged(config, &names, Duration::from_secs(60));
    cluster.run_for(Duration::from_secs(20));
    let mut rng = crate::rng::Rng::seeded(17);
    let mut waits = Vec::new();
    for (k, victim) in names.iter().take(crashes).enumerate() {
        cluster.run_for(Duration::from_millis(3_000 + rng.below(1_000)));
        let crashed_at = cluster.now;
        cluster.crash(victim);
        let survivors: Vec<&str> = names[k + 1..].to_vec();
        let [suspected, ..] = until_dead_everywhere(&mut cluster, victim, &survivors, Duration::from_secs(60));
        waits.push(suspected - crashed_at);
    }
    waits
}

/// The watch ring (`strategy/ping/ring.rs`): a crashed member's watcher hears none of
/// its heartbeats for 1.5 intervals, probes it at its next round and suspects it when
/// that probe's period ends, so some node suspects a crash within 3.5 intervals of it,
/// whatever the round-robins do (in these 16 crashes, at worst 2.0 intervals: the
/// probe ends early once its helpers' nacks are in). Without the watch the first probe
/// waits as long as chance says (here up to 7.8 intervals before the suspicion).
#[test]
fn with_the_watch_ring_every_crash_is_suspected_within_three_and_a_half_intervals() {
    let interval = lan().interval;
    let bound = interval.mul_f64(3.5) + Duration::from_millis(10);
    let worst = |watch: bool| {
        let mut config = lan();
        config.swim_mut().expect("ping").watch_ring = watch;
        let waits = crash_to_first_suspicion(config, 16);
        eprintln!("[measure] watch {watch}: crash to first suspicion {waits:?}");
        waits.into_iter().max().expect("crashes")
    };
    let with = worst(true);
    assert!(with <= bound, "with the watch: {with:?}");
    let without = worst(false);
    assert!(without > bound, "without the watch the wait is chance's: {without:?}");
}
