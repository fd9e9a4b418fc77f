//! Five real agents per strategy: SIGKILL one and every survivor (or the monitor, for
//! pull) reports it dead within the bound; restart it and it is alive again; SIGTERM
//! another and it is reported `left`, not `dead`, and exits 0.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support::{Cluster, DETECTION_BOUND, SLACK, metric, wait_until};

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
    detect_crash_within(cluster, judges, label, DETECTION_BOUND + SLACK)
}

fn detect_crash_within(cluster: &mut Cluster, judges: &[usize], label: &str, bound: Duration) -> Duration {
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
    assert!(took <= bound, "{label}: detection took {took:?}, above {bound:?}");
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
    scenario_within(subnet, extra, label, DETECTION_BOUND + SLACK);
}

fn scenario_within(subnet: &str, extra: &[&str], label: &str, bound: Duration) {
    let mut args = vec!["--preset", "lan-fast"];
    args.extend_from_slice(extra);
    let mut cluster = Cluster::start(subnet, N, &args);
    converge(&cluster);
    detect_crash_within(&mut cluster, &[1, 2, 3, 4], label, bound);
    for observer in 1..=4 {
        let suppressed = metric(&cluster.http(observer), "vitals_replies_suppressed_total");
        assert_eq!(
            suppressed, 0.0,
            "{label}: node-{observer} had to suppress a reply larger than its request"
        );
    }
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

/// Ping's bound at lan-fast (200 ms periods, N = 5): the victim is probed within two
/// rounds of the round-robin (2 s), the probe fails within a period, a lone accuser's
/// suspicion lasts at most 4.8 s (6 × 4 × 200 ms), and the verdict spreads in a few periods.
const PING_BOUND: Duration = Duration::from_secs(8);

#[test]
fn ping_agents_detect_a_crash_welcome_a_restart_and_see_a_leave() {
    scenario_within("127.10.5", &["--strategy", "ping"], "ping", PING_BOUND);
}

#[test]
fn a_ping_agent_stopped_for_less_than_the_suspicion_window_is_never_declared_dead() {
    // 1 s periods: a suspicion confirmed by the others ends one period after it began
    // (fast confirmation), which leaves this test ample time to resume the agent.
    let args = ["--preset", "lan", "--interval", "1s", "--strategy", "ping"];
    let mut cluster = Cluster::start("127.10.6", N, &args);
    converge(&cluster);
    cluster.signal(3, Signal::SIGSTOP);
    let stopped = std::time::Instant::now();
    // Wait until the others have noticed (someone suspects node-3), then resume it.
    let noticed = wait_until(Duration::from_secs(10), || {
        (1..=N)
            .filter(|&o| o != 3)
            .any(|o| cluster.status(o, 3).as_deref() == Some("suspect"))
    });
    cluster.signal(3, Signal::SIGCONT);
    let paused = stopped.elapsed();
    assert!(noticed.is_some(), "nobody suspected the stopped agent");
    eprintln!("[measure] ping: node-3 stopped for {} ms", paused.as_millis());
    let back = wait_until(Duration::from_secs(10), || cluster.everyone_alive(N));
    assert!(back.is_some(), "node-3 never refuted the suspicion");
    for observer in (1..=N).filter(|&o| o != 3) {
        let log = cluster.log(observer);
        let declared_dead = log
            .lines()
            .any(|l| l.contains("member=node-3") && l.contains("to=\"dead\""));
        assert!(!declared_dead, "node-{observer} declared the paused node-3 dead");
    }
}

/// Gossip's bound at lan-fast (200 ms interval, threshold 3, N = 5): a counter that stops
/// rising is declared dead after `timeout + 2 intervals` = 600 + 400 ms without a rise;
/// the last rise may reach an observer one interval late (a hop) and the crash lands
/// anywhere in an interval: 1.4 s, plus the process slack.
const GOSSIP_BOUND: Duration = Duration::from_millis(1400);

#[test]
fn gossip_agents_detect_a_crash_welcome_a_restart_and_see_a_leave() {
    scenario_within("127.40.1", &["--strategy", "gossip"], "gossip", GOSSIP_BOUND + SLACK);
}

#[test]
fn gossip_agents_with_the_phi_detector_detect_a_crash() {
    let mut cluster = Cluster::start(
        "127.40.2",
        N,
        &["--preset", "lan-fast", "--strategy", "gossip", "--detector", "phi"],
    );
    converge(&cluster);
    detect_crash_within(&mut cluster, &[1, 2, 3, 4], "gossip+phi", GOSSIP_BOUND + SLACK);
}

/// How long ago `observer` last had evidence that `member` lives (a counter rise).
fn last_heard_ms(cluster: &Cluster, observer: usize, member: usize) -> Option<u64> {
    let members = crate::support::get_json(&cluster.http(observer), "/v1/members")?;
    let row = members
        .as_array()?
        .iter()
        .find(|m| m["name"] == Cluster::name(member))?
        .clone();
    row["last_heard_ms"].as_u64()
}

#[test]
fn a_gossip_agent_stopped_for_less_than_the_detection_window_is_never_declared_dead() {
    let mut cluster = Cluster::start("127.40.3", N, &["--preset", "lan-fast", "--strategy", "gossip"]);
    converge(&cluster);
    let observers: Vec<usize> = (1..=N).filter(|&o| o != 3).collect();
    cluster.signal(3, Signal::SIGSTOP);
    let stopped = std::time::Instant::now();
    // Resume once an observer has gone 400 ms without news of it (dead would be 1,000 ms).
    let noticed = wait_until(Duration::from_secs(5), || {
        observers
            .iter()
            .any(|&o| last_heard_ms(&cluster, o, 3).is_some_and(|ms| ms >= 400))
    });
    cluster.signal(3, Signal::SIGCONT);
    let paused = stopped.elapsed();
    assert!(noticed.is_some(), "nobody noticed the stopped agent's silence");
    eprintln!("[measure] gossip: node-3 stopped for {} ms", paused.as_millis());
    // Everyone hears a rise of its counter again, then nobody may have judged it dead.
    let heard = wait_until(Duration::from_secs(10), || {
        observers
            .iter()
            .all(|&o| last_heard_ms(&cluster, o, 3).is_some_and(|ms| ms < 200))
    });
    assert!(heard.is_some(), "node-3's counter never rose again everywhere");
    assert!(cluster.everyone_alive(N));
    for &observer in &observers {
        let log = cluster.log(observer);
        let declared_dead = log
            .lines()
            .any(|l| l.contains("member=node-3") && l.contains("to=\"dead\""));
        assert!(!declared_dead, "node-{observer} declared the paused node-3 dead");
    }
}

#[test]
fn vitals_why_explains_a_ping_verdict_with_its_accusers_and_history() {
    let mut cluster = Cluster::start("127.10.7", N, &["--preset", "lan-fast", "--strategy", "ping"]);
    converge(&cluster);
    detect_crash_within(&mut cluster, &[1], "ping why", PING_BOUND);
    let output = std::process::Command::new(crate::support::VITALS)
        .args(["why", "node-5", "--http", &cluster.http(1)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.starts_with("node-5 is dead"), "{text}");
    assert!(text.contains("history: suspect -> dead"), "{text}");
    let why = crate::support::get_json(&cluster.http(1), "/v1/members/node-5/why").unwrap();
    for change in why["history"].as_array().unwrap() {
        let at = change["at"].as_str().unwrap_or_else(|| panic!("no date: {change}"));
        let at = humantime::parse_rfc3339(at).unwrap();
        let age = std::time::SystemTime::now().duration_since(at).unwrap();
        assert!(age < Duration::from_secs(60), "{change} is {age:?} old");
    }
    let missing = std::process::Command::new(crate::support::VITALS)
        .args(["why", "nobody", "--http", &cluster.http(1)])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no member named `nobody`"));
}

#[test]
fn with_a_quorum_cutting_one_agents_inbound_traffic_from_one_peer_never_removes_it() {
    // node-1 drops every datagram from node-2 (127.10.8.3): one broken inbound link.
    let mut cluster = Cluster::start_each("127.10.8", N, |i| {
        let mut args: Vec<String> = ["--preset", "lan-fast", "--strategy", "ping", "--quorum"]
            .map(String::from)
            .to_vec();
        if i == 1 {
            args.extend(["--drop-inbound-from".to_string(), "127.10.8.3".to_string()]);
        }
        if i == 2 {
            // node-1, the usual seed, never hears node-2: it joins through node-3 as well.
            args.extend(["--join".to_string(), "127.10.8.4:7946".to_string()]);
        }
        args
    });
    let formed = wait_until(Duration::from_secs(20), || {
        (2..=N).all(|o| (1..=N).all(|m| cluster.status(o, m).as_deref() == Some("alive")))
    });
    assert!(
        formed.is_some(),
        "the cluster never formed; logs in {}",
        cluster.log_dir().display()
    );
    let dropped = || {
        metric(
            &cluster.http(1),
            "vitals_decode_errors_total{reason=\"fault_injected\"}",
        )
    };
    let cut = wait_until(Duration::from_secs(30), || dropped() >= 30.0);
    assert!(
        cut.is_some(),
        "node-1 never dropped node-2's datagrams: the test tests nothing"
    );
    eprintln!("[measure] quorum: node-1 dropped {} datagrams from node-2", dropped());
    for observer in 1..=N {
        let log = cluster.log(observer);
        let removed = log
            .lines()
            .any(|l| l.contains("member=node-2") && l.contains("to=\"dead\""));
        assert!(!removed, "node-{observer} removed node-2 over one broken link");
    }
    for observer in 2..=N {
        assert_eq!(
            cluster.status(observer, 2).as_deref(),
            Some("alive"),
            "node-{observer} about node-2"
        );
    }
    cluster.signal(2, Signal::SIGTERM);
    assert!(cluster.wait_exit(2, Duration::from_secs(5)).success());
}
