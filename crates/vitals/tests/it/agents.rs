//! Five real agents per strategy: SIGKILL one and every survivor (or the monitor, for
//! pull) reports it dead within the bound; restart it and it is alive again; SIGTERM
//! another and it is reported `left`, not `dead`, and exits 0.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{Cluster, DETECTION_BOUND, SLACK, wait_until};

const N: usize = 5;

fn converge(cluster: &Cluster) {
    let formed = wait_until(Duration::from_secs(20), || cluster.everyone_alive(N));
    assert!(
        formed.is_some(),
        "the agents never all saw each other alive; logs in {}",
        cluster.log_dir().display()
    );
}

/// Kills node-5, waits until `judges` all hold it dead, and returns how long that took.
fn detect_crash(cluster: &mut Cluster, judges: &[usize], label: &str) -> Duration {
    cluster.kill(5);
    let took = wait_until(Duration::from_secs(10), || cluster.all_see(judges, 5, "dead")).unwrap_or_else(|| {
        panic!(
            "{label}: the crash was never detected; logs in {}",
            cluster.log_dir().display()
        )
    });
    eprintln!(
        "[measure] {label}: SIGKILL of node-5 detected by {judges:?} in {} ms",
        took.as_millis()
    );
    assert!(took <= DETECTION_BOUND + SLACK, "{label}: detection took {took:?}");
    took
}

fn restart_is_welcomed(cluster: &mut Cluster, label: &str) {
    cluster.spawn(5);
    let back = wait_until(Duration::from_secs(10), || cluster.all_see(&[1, 2, 3, 4], 5, "alive"));
    assert!(back.is_some(), "{label}: the restarted node never came back");
    eprintln!(
        "[measure] {label}: restarted node-5 alive everywhere in {} ms",
        back.unwrap().as_millis()
    );
}

fn sigterm_means_left(cluster: &mut Cluster, label: &str) {
    cluster.signal(2, Signal::SIGTERM);
    let status = cluster.wait_exit(2, Duration::from_secs(5));
    assert!(status.success(), "{label}: SIGTERM exit status {status}");
    let left = wait_until(Duration::from_secs(5), || cluster.all_see(&[1, 3, 4, 5], 2, "left"));
    assert!(left.is_some(), "{label}: node-2 was not reported left");
    for observer in [1, 3, 4, 5] {
        let log = cluster.log(observer);
        let declared_dead = log
            .lines()
            .any(|l| l.contains("member=node-2") && l.contains("to=\"dead\""));
        assert!(
            !declared_dead,
            "{label}: node-{observer} declared node-2 dead before it left"
        );
    }
}

fn scenario(subnet: &str, extra: &[&str], label: &str) {
    let mut args = vec!["--preset", "lan-fast"];
    args.extend_from_slice(extra);
    let mut cluster = Cluster::start(subnet, N, &args);
    converge(&cluster);
    detect_crash(&mut cluster, &[1, 2, 3, 4], label);
    restart_is_welcomed(&mut cluster, label);
    sigterm_means_left(&mut cluster, label);
}

#[test]
fn push_agents_detect_a_crash_welcome_a_restart_and_see_a_leave() {
    scenario("127.10.1", &["--strategy", "push"], "push");
}

#[test]
fn push_with_acks_agents_detect_a_crash_and_measure_round_trips() {
    scenario("127.10.2", &["--strategy", "push", "--ack"], "push+ack");
}

#[test]
fn push_with_the_phi_detector_detects_a_crash() {
    scenario("127.10.3", &["--strategy", "push", "--detector", "phi"], "push+phi");
}

#[test]
fn a_pull_monitor_detects_a_crash_and_the_members_learn_it() {
    let mut cluster = Cluster::start(
        "127.10.4",
        N,
        &["--preset", "lan-fast", "--strategy", "pull", "--monitor", "node-1"],
    );
    converge(&cluster);
    detect_crash(&mut cluster, &[1], "pull (monitor)");
    let learned = wait_until(Duration::from_secs(5), || cluster.all_see(&[2, 3, 4], 5, "dead"));
    let learned = learned.expect("the members never learned the monitor's verdict");
    eprintln!(
        "[measure] pull: members learned the verdict {} ms after the monitor",
        learned.as_millis()
    );
    restart_is_welcomed(&mut cluster, "pull");
    sigterm_means_left(&mut cluster, "pull");
}
