//! Quorum-confirmed verdicts with real agents (push and gossip on `127.50.x.y`, pull on
//! `127.70.x.y`): one agent's inbound traffic from one peer is cut (the hidden
//! `--drop-inbound-from` fault injection), and nobody ever removes either end of that
//! link, while a SIGKILLed agent is still declared dead by every survivor, and
//! `vitals why` (and `GET /v1/members/NAME/why`) names its accusers.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{Cluster, VITALS, get_json, metric, wait_until};

const N: usize = 5;

fn one_broken_link_never_removes_anyone_but_a_crash_is_detected(strategy: &str, subnet: &str) {
    let cut_from = format!("{subnet}.3"); // node-2
    let cluster_args = |i: usize| {
        let mut args: Vec<String> = ["--preset", "lan-fast", "--strategy", strategy, "--quorum"]
            .map(String::from)
            .to_vec();
        if i == 1 {
            args.extend(["--drop-inbound-from".to_string(), cut_from.clone()]);
        }
        if i == 2 {
            // node-1, the usual seed, never hears node-2: it joins through the others as
            // well (through one only, it could join a node whose own join raced node-1's
            // start, and with push the two would only know each other).
            for seed in 4..=6 {
                args.extend(["--join".to_string(), format!("{subnet}.{seed}:7946")]);
            }
        }
        args
    };
    let mut cluster = Cluster::start_each(subnet, N, cluster_args);
    // Push spreads membership only by join replies and a sync every 60 rounds (12 s at
    // lan-fast): a member that joined through node-1 (which never hears node-2) may meet
    // node-2 only at a sync, so allow a few of them on a loaded machine.
    let formed = wait_until(Duration::from_secs(45), || {
        // For the same reason node-2's own view of node-1 is not waited for.
        (3..=N).all(|o| (1..=N).all(|m| cluster.status(o, m).as_deref() == Some("alive")))
    });
    assert!(
        formed.is_some(),
        "{strategy}: the cluster never formed; logs in {}",
        cluster.log_dir().display()
    );
    cut_then_crash(&mut cluster, strategy, "node-2");
    nobody_removed_either_end(&cluster, strategy);
    if strategy == "push" {
        // Gossip hears counters through anyone: a broken link is not seen there.
        matrix_tells_the_cut_from_the_crash(&cluster);
    }
    for i in 1..=4 {
        cluster.signal(i, Signal::SIGTERM);
        assert!(cluster.wait_exit(i, Duration::from_secs(5)).success());
    }
}

/// `GET /v1/reachability` and `vitals matrix` at a third party: node-5 (killed) is a
/// node down, node-1 not hearing node-2 is a link down, not a node down.
fn matrix_tells_the_cut_from_the_crash(cluster: &Cluster) {
    let pair = |m: &serde_json::Value, observer: &str, target: &str| {
        m["unreachable"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|u| u["observer"] == observer && u["target"] == target)
            .map(|u| u["class"].as_str().unwrap_or_default().to_owned())
    };
    let read = || get_json(&cluster.http(3), "/v1/reachability").unwrap();
    let classified = wait_until(Duration::from_secs(20), || {
        let m = read();
        m["node_down"] == serde_json::json!(["node-5"]) && pair(&m, "node-1", "node-2").as_deref() == Some("link_down")
    });
    assert!(
        classified.is_some(),
        "the matrix never told the cut from the crash: {}",
        read()
    );
    let m = read();
    assert_eq!(m["full"], true);
    assert_eq!(pair(&m, "node-3", "node-5").as_deref(), Some("node_down"));
    assert!(pair(&m, "node-2", "node-1").is_none(), "the cut is one-way: {m}");
    let output = std::process::Command::new(VITALS)
        .args(["matrix", "--http", &cluster.http(3)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("node-1 does not hear node-2: link down"), "{text}");
    assert!(text.contains("node down: node-5"), "{text}");
}

/// No survivor ever logged node-1 or node-2 dead, and the third parties (nodes 3, 4)
/// hold both alive.
fn nobody_removed_either_end(cluster: &Cluster, strategy: &str) {
    for observer in 1..=4 {
        let log = cluster.log(observer);
        for member in ["node-1", "node-2"] {
            let removed = log
                .lines()
                .any(|l| l.contains(&format!("member={member}")) && l.contains("to=\"dead\""));
            assert!(
                !removed,
                "{strategy}: node-{observer} removed {member} over one broken link"
            );
        }
    }
    for observer in 3..=4 {
        assert_eq!(
            cluster.status(observer, 2).as_deref(),
            Some("alive"),
            "{strategy}: node-{observer} about node-2"
        );
        assert_eq!(
            cluster.status(observer, 1).as_deref(),
            Some("alive"),
            "{strategy}: node-{observer} about node-1"
        );
    }
}

#[test]
fn push_with_a_quorum_one_broken_inbound_link_never_removes_anyone_and_a_crash_is_detected() {
    one_broken_link_never_removes_anyone_but_a_crash_is_detected("push", "127.50.1");
}

#[test]
fn gossip_with_a_quorum_one_broken_inbound_link_never_removes_anyone_and_a_crash_is_detected() {
    one_broken_link_never_removes_anyone_but_a_crash_is_detected("gossip", "127.50.2");
}

/// Pull with three monitors (node-1..3) and `--quorum` (two monitors): node-1 never hears
/// node-4, so its own detector accuses node-4, but one accuser is not a quorum.
#[test]
fn pull_with_a_quorum_of_monitors_one_broken_inbound_link_never_removes_the_member_and_a_crash_is_detected() {
    let subnet = "127.70.1";
    let cluster_args = |i: usize| {
        let mut args: Vec<String> = ["--preset", "lan-fast", "--strategy", "pull", "--quorum"]
            .map(String::from)
            .to_vec();
        args.extend(["--monitor".to_string(), "node-1,node-2,node-3".to_string()]);
        if i == 1 {
            args.extend(["--drop-inbound-from".to_string(), format!("{subnet}.5")]); // node-4
        }
        if i == 4 {
            // node-1, the usual seed, never hears node-4: it joins through the other monitors.
            args.extend(["--join".to_string(), format!("{subnet}.3:7946,{subnet}.4:7946")]);
        }
        args
    };
    let mut cluster = Cluster::start_each(subnet, N, cluster_args);
    let formed = wait_until(Duration::from_secs(45), || {
        (2..=N).all(|o| (1..=N).all(|m| cluster.status(o, m).as_deref() == Some("alive")))
    });
    assert!(
        formed.is_some(),
        "pull: the cluster never formed; logs in {}",
        cluster.log_dir().display()
    );
    cut_then_crash(&mut cluster, "pull", "node-4");
    the_accusers_are_named(&cluster);
    for observer in 1..=4 {
        let removed = cluster
            .log(observer)
            .lines()
            .any(|l| l.contains("member=node-4") && l.contains("to=\"dead\""));
        assert!(!removed, "pull: node-{observer} removed node-4 over one broken link");
    }
    for observer in [2, 3, 4] {
        assert_eq!(
            cluster.status(observer, 4).as_deref(),
            Some("alive"),
            "pull: node-{observer} about node-4"
        );
    }
    for i in 1..=4 {
        cluster.signal(i, Signal::SIGTERM);
        assert!(cluster.wait_exit(i, Duration::from_secs(5)).success());
    }
}

/// The monitors' accusations of the dead node-5, through the API (on a monitor) and
/// through `vitals why` (on a member, which counts the monitors' words only).
fn the_accusers_are_named(cluster: &Cluster) {
    let why = get_json(&cluster.http(2), "/v1/members/node-5/why").expect("node-2 answers why");
    let quorum = &why["quorum"];
    let accusers: Vec<&str> = quorum["accusers"]
        .as_array()
        .unwrap_or_else(|| panic!("no quorum evidence: {why}"))
        .iter()
        .filter_map(|r| r["observer"].as_str())
        .collect();
    assert_eq!(why["status"], "dead", "{why}");
    assert!(accusers.len() >= 2, "{why}");
    assert!(
        accusers.iter().all(|a| ["node-1", "node-2", "node-3"].contains(a)),
        "{why}"
    );
    assert_eq!(
        (quorum["observers"].as_u64(), quorum["needed"].as_u64()),
        (Some(3), Some(2)),
        "{why}"
    );
    let output = std::process::Command::new(VITALS)
        .args(["why", "node-5", "--http", &cluster.http(4)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    eprintln!("[measure] pull quorum: `vitals why node-5` on node-4:\n{text}");
    assert!(text.starts_with("node-5 is dead"), "{text}");
    let accused = text
        .lines()
        .find(|l| l.trim_start().starts_with("accused by:"))
        .unwrap_or("");
    let named = ["node-1", "node-2", "node-3"]
        .iter()
        .filter(|m| accused.contains(*m))
        .count();
    assert!(named >= 2, "the member names at least two accusing monitors: {text}");
    assert!(text.contains("of 2 needed among 3 observer(s)"), "{text}");
}

/// Waits until node-1 has dropped 30 datagrams from `cut_peer` (its broken inbound link
/// is in force), then SIGKILLs node-5 and waits until every survivor holds it dead.
fn cut_then_crash(cluster: &mut Cluster, label: &str, cut_peer: &str) {
    let dropped = || {
        metric(
            &cluster.http(1),
            "vitals_decode_errors_total{reason=\"fault_injected\"}",
        )
    };
    let cut = wait_until(Duration::from_secs(30), || dropped() >= 30.0);
    assert!(cut.is_some(), "{label}: node-1 never dropped {cut_peer}'s datagrams");
    eprintln!(
        "[measure] {label} quorum: node-1 dropped {} datagrams from {cut_peer}",
        dropped()
    );
    cluster.kill(5);
    let detected = wait_until(Duration::from_secs(10), || cluster.all_see(&[1, 2, 3, 4], 5, "dead"));
    let took = detected.unwrap_or_else(|| {
        panic!(
            "{label}: the SIGKILL of node-5 was never detected by all; logs in {}",
            cluster.log_dir().display()
        )
    });
    eprintln!(
        "[measure] {label} quorum: SIGKILL of node-5 known dead by all survivors in {} ms",
        took.as_millis()
    );
}
