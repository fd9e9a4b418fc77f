//! Quorum-confirmed verdicts with real agents (push and gossip, on `127.50.x.y`): one
//! agent's inbound traffic from one peer is cut (the hidden `--drop-inbound-from`
//! fault injection), and nobody ever removes either end of that link, while a SIGKILLed
//! agent is still declared dead by every survivor.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{Cluster, metric, wait_until};

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
    let dropped = || {
        metric(
            &cluster.http(1),
            "vitals_decode_errors_total{reason=\"fault_injected\"}",
        )
    };
    let cut = wait_until(Duration::from_secs(30), || dropped() >= 30.0);
    assert!(cut.is_some(), "{strategy}: node-1 never dropped node-2's datagrams");
    eprintln!(
        "[measure] {strategy} quorum: node-1 dropped {} datagrams from node-2",
        dropped()
    );
    cluster.kill(5);
    let detected = wait_until(Duration::from_secs(10), || cluster.all_see(&[1, 2, 3, 4], 5, "dead"));
    let took = detected.unwrap_or_else(|| {
        panic!(
            "{strategy}: the SIGKILL of node-5 was never detected by all; logs in {}",
            cluster.log_dir().display()
        )
    });
    eprintln!(
        "[measure] {strategy} quorum: SIGKILL of node-5 known dead by all survivors in {} ms",
        took.as_millis()
    );
    nobody_removed_either_end(&cluster, strategy);
    for i in 1..=4 {
        cluster.signal(i, Signal::SIGTERM);
        assert!(cluster.wait_exit(i, Duration::from_secs(5)).success());
    }
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
