//! Five real agents with `--strategy leader --preset lan-fast` on 127.30.x.y: SIGKILL the
//! leader and the others elect a new one within the bound, all agree on it, and it
//! detects the next crash and shows it dead everywhere; SIGSTOP the leader past the
//! election timeout, SIGCONT it, and it steps down and follows the new leader, with never
//! two agents acting as leader at once. Figures are printed as `[measure]` lines.

use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::support::{Cluster, DETECTION_BOUND, SLACK, VITALS, get, get_json, wait_until};

const N: usize = 5;
/// lan-fast: Raft's election timeout T is timeout + (threshold - 1) x interval = 620 ms.
const ELECTION_TIMEOUT: Duration = Duration::from_millis(620);
/// The documented failover bound: the first timer fires at most 2T after the last
/// heartbeat; one split vote (rare) adds at most 2T more; then a few round trips.
const FAILOVER_BOUND: Duration = Duration::from_millis(4 * 600);

fn index_of(name: &str) -> usize {
    name.trim_start_matches("node-").parse().expect("a node-N name")
}

fn leader_answer(cluster: &Cluster, i: usize) -> Option<Value> {
    get_json(&cluster.http(i), "/v1/leader")
}

/// Waits until every node of `group` agrees on a leader other than `old`, checking after
/// every poll that at most one of them acts as leader; returns it and the time it took.
fn new_leader(cluster: &Cluster, group: &[usize], old: usize) -> (usize, Duration) {
    let mut new = None;
    let took = wait_until(Duration::from_secs(10), || {
        assert!(acting(cluster, group).len() <= 1, "two leaders acting");
        new = agreed_leader(cluster, group).filter(|l| *l != old);
        new.is_some()
    })
    .unwrap_or_else(|| {
        panic!(
            "no new leader after node-{old}; logs in {}",
            cluster.log_dir().display()
        )
    });
    (new.expect("set when found"), took)
}

/// The leader all of `nodes` name, when they agree and it says it leads.
fn agreed_leader(cluster: &Cluster, nodes: &[usize]) -> Option<usize> {
    let mut named = None;
    for &i in nodes {
        let answer = leader_answer(cluster, i)?;
        let leader = answer["leader"].as_str()?.to_string();
        if named.get_or_insert_with(|| leader.clone()) != &leader {
            return None;
        }
    }
    let leader = index_of(&named?);
    if !nodes.contains(&leader) {
        return None; // (and never ask a stopped agent: it would not answer before the timeout)
    }
    let own = leader_answer(cluster, leader)?;
    (own["role"] == "leader").then_some(leader)
}

/// How many of `nodes` say they act as leader (hold their lease) right now.
fn acting(cluster: &Cluster, nodes: &[usize]) -> Vec<usize> {
    nodes
        .iter()
        .copied()
        .filter(|&i| leader_answer(cluster, i).is_some_and(|a| a["acting"] == true))
        .collect()
}

fn start(subnet: &str) -> (Cluster, usize) {
    start_with(subnet, &[])
}

fn start_with(subnet: &str, extra: &[&str]) -> (Cluster, usize) {
    let mut args = vec!["--preset", "lan-fast", "--strategy", "leader"];
    args.extend_from_slice(extra);
    let cluster = Cluster::start(subnet, N, &args);
    let all: Vec<usize> = (1..=N).collect();
    let mut leader = None;
    let formed = wait_until(Duration::from_secs(20), || {
        leader = agreed_leader(&cluster, &all).filter(|_| cluster.everyone_alive(N));
        leader.is_some()
    });
    assert!(
        formed.is_some(),
        "the agents never agreed on a leader; logs in {}",
        cluster.log_dir().display()
    );
    (cluster, leader.unwrap())
}

fn others(but: &[usize]) -> Vec<usize> {
    (1..=N).filter(|i| !but.contains(i)).collect()
}

#[test]
fn killing_the_leader_elects_a_new_one_that_all_agree_on_and_that_detects_the_next_crash() {
    let (mut cluster, old) = start("127.30.1");
    cluster.kill(old);
    let survivors = others(&[old]);
    let (new, took) = new_leader(&cluster, &survivors, old);
    eprintln!(
        "[measure] leader (real processes, lan-fast): SIGKILL of leader node-{old} to node-{new} agreed by all 4 survivors in {} ms",
        took.as_millis()
    );
    assert!(took <= FAILOVER_BOUND + SLACK, "failover took {took:?}");
    let dead = wait_until(Duration::from_secs(5), || cluster.all_see(&survivors, old, "dead"));
    assert!(dead.is_some(), "the old leader is not shown dead everywhere");
    for &member in &survivors {
        assert!(
            cluster.all_see(&survivors, member, "alive"),
            "the new leader started from the view: node-{member} is alive everywhere"
        );
    }

    let victim = *survivors.iter().find(|&&i| i != new).unwrap();
    cluster.kill(victim);
    let rest = others(&[old, victim]);
    let took = wait_until(Duration::from_secs(10), || cluster.all_see(&rest, victim, "dead"))
        .unwrap_or_else(|| panic!("node-{victim}'s crash was never shown dead everywhere"));
    eprintln!(
        "[measure] leader (real processes, lan-fast): SIGKILL of member node-{victim} shown dead by all {} survivors in {} ms",
        rest.len(),
        took.as_millis()
    );
    assert!(took <= DETECTION_BOUND + Duration::from_millis(200) + SLACK, "{took:?}");

    let output = Command::new(VITALS)
        .args(["leader", "--http", &cluster.http(rest[0])])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains(&format!("leader: node-{new}")), "{text}");
    let metrics = get(&cluster.http(new), "/metrics").unwrap().1;
    assert!(metrics.contains("vitals_is_leader 1"), "{metrics}");
}

#[test]
fn a_stopped_leader_steps_down_on_resume_and_never_acts_alongside_the_new_one() {
    let (mut cluster, old) = start("127.30.2");
    let old_term = leader_answer(&cluster, old).unwrap()["term"].as_u64().unwrap();
    cluster.signal(old, Signal::SIGSTOP);
    let stopped_at = Instant::now();
    let rest = others(&[old]);
    let (new, took) = new_leader(&cluster, &rest, old);
    eprintln!(
        "[measure] leader (real processes, lan-fast): SIGSTOP of leader node-{old} to node-{new} agreed by the other 4 in {} ms",
        took.as_millis()
    );
    assert!(took <= FAILOVER_BOUND + SLACK, "failover took {took:?}");
    // Stay stopped for well over the election timeout, then resume.
    let stop_for = ELECTION_TIMEOUT * 3;
    let elapsed = stopped_at.elapsed();
    if elapsed < stop_for {
        std::thread::sleep(stop_for - elapsed); // the scenario's input: a long pause
    }
    cluster.signal(old, Signal::SIGCONT);
    let all: Vec<usize> = (1..=N).collect();
    let follows = wait_until(Duration::from_secs(10), || {
        let acting_now = acting(&cluster, &all);
        assert!(acting_now.len() <= 1, "two leaders acting at once: {acting_now:?}");
        assert!(!acting_now.contains(&old), "the resumed leader acts on a stale lease");
        leader_answer(&cluster, old).is_some_and(|a| {
            a["role"] == "follower" && a["leader"] == format!("node-{new}") && a["term"].as_u64() > Some(old_term)
        })
    });
    let follows = follows.unwrap_or_else(|| {
        panic!(
            "the resumed leader never followed; logs in {}",
            cluster.log_dir().display()
        )
    });
    eprintln!(
        "[measure] leader (real processes, lan-fast): resumed node-{old} follows node-{new} {} ms after SIGCONT",
        follows.as_millis()
    );
    let back = wait_until(Duration::from_secs(10), || {
        assert!(acting(&cluster, &all).len() <= 1, "two leaders acting");
        cluster.everyone_alive(N) && agreed_leader(&cluster, &all) == Some(new)
    });
    assert!(back.is_some(), "the resumed node never came back alive everywhere");
}

#[test]
fn a_lone_leader_agent_leads_itself_and_a_push_agent_has_no_leader() {
    let alone = Cluster::start("127.30.3", 1, &["--preset", "lan-fast", "--strategy", "leader"]);
    let leads = wait_until(Duration::from_secs(10), || {
        leader_answer(&alone, 1).is_some_and(|a| a["leader"] == "node-1" && a["acting"] == true)
    });
    assert!(leads.is_some(), "a single voter is its own majority");
    let answer = leader_answer(&alone, 1).unwrap();
    assert_eq!(answer["voters"], serde_json::json!(["node-1"]));
    assert!(answer["term"].as_u64() >= Some(1));
    let output = Command::new(VITALS)
        .args(["leader", "--json", "--http", &alone.http(1)])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["role"], "leader");

    let push = Cluster::start("127.30.4", 1, &["--preset", "lan-fast"]);
    let answered = wait_until(Duration::from_secs(10), || get(&push.http(1), "/v1/leader").is_some());
    assert!(answered.is_some());
    let (status, body) = get(&push.http(1), "/v1/leader").unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("use --strategy leader"), "{body}");
}

#[test]
fn every_one_of_repeated_leader_kills_is_followed_by_a_new_leader_within_the_bound() {
    const ROUNDS: usize = 5;
    let (mut cluster, mut leader) = start("127.30.5");
    let all: Vec<usize> = (1..=N).collect();
    let mut took = Vec::new();
    for round in 1..=ROUNDS {
        cluster.kill(leader);
        let survivors = others(&[leader]);
        let (new, failover) = new_leader(&cluster, &survivors, leader);
        took.push(failover);
        cluster.spawn(leader);
        let rejoined = wait_until(Duration::from_secs(10), || {
            cluster.everyone_alive(N) && agreed_leader(&cluster, &all) == Some(new)
        });
        assert!(
            rejoined.is_some(),
            "round {round}: the restarted node-{leader} never rejoined"
        );
        leader = new;
    }
    let mut sorted = took.clone();
    sorted.sort();
    let millis: Vec<u128> = took.iter().map(Duration::as_millis).collect();
    eprintln!(
        "[measure] leader (real processes, lan-fast): {ROUNDS} leader SIGKILLs, new leader agreed by all survivors in {millis:?} ms (median {} ms, max {} ms)",
        sorted[ROUNDS / 2].as_millis(),
        sorted[ROUNDS - 1].as_millis()
    );
    assert!(sorted[ROUNDS - 1] <= FAILOVER_BOUND + SLACK, "{took:?}");
}

#[test]
fn bad_leader_settings_are_refused_at_start_up_naming_the_key() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--voters", "a,b"],
            "error: invalid `voters`: voters are only used by strategy leader",
        ),
        (
            &["--strategy", "leader", "--voters", "a,a"],
            "error: invalid `voters`: voter `a` is named twice",
        ),
        (
            &[
                "--strategy",
                "leader",
                "--preset",
                "lan-fast",
                "--election-timeout",
                "300ms",
            ],
            "error: invalid `election_timeout`",
        ),
        (
            &["--strategy", "leader", "--preset", "lan-fast", "--lease", "590ms"],
            "error: invalid `lease`",
        ),
        (
            &["--strategy", "leader", "--clock-drift", "0.7"],
            "error: invalid `clock_drift`",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec![
            "agent",
            "--name",
            "x",
            "--bind",
            "127.30.6.2:7946",
            "--http",
            "127.30.6.2:7947",
        ];
        args.extend_from_slice(extra);
        let output = Command::new(VITALS).args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{extra:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(expected), "{extra:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn with_three_voters_only_voters_lead_and_the_observers_follow_every_leader() {
    let voters = [1, 2, 3];
    let (mut cluster, old) = start_with("127.30.7", &["--voters", "node-1,node-2,node-3"]);
    assert!(voters.contains(&old), "observer node-{old} leads");
    for observer in [4, 5] {
        let answer = leader_answer(&cluster, observer).unwrap();
        assert_eq!(answer["role"], "observer");
        assert_eq!(answer["voters"], serde_json::json!(["node-1", "node-2", "node-3"]));
    }
    cluster.kill(old);
    let survivors = others(&[old]);
    let (new, took) = new_leader(&cluster, &survivors, old);
    assert!(voters.contains(&new), "observer node-{new} leads");
    eprintln!(
        "[measure] leader (real processes, lan-fast, 3 voters + 2 observers): SIGKILL of leader node-{old} to node-{} agreed by all 4 survivors in {} ms",
        new,
        took.as_millis()
    );
    assert!(took <= FAILOVER_BOUND + SLACK, "failover took {took:?}");
}

/// How many of `nodes` say they are the leader (whatever their lease).
fn leading(cluster: &Cluster, nodes: &[usize]) -> usize {
    let leads = |i: &usize| leader_answer(cluster, *i).is_some_and(|a| a["role"] == "leader");
    nodes.iter().filter(|i| leads(i)).count()
}

/// `--bootstrap-expect 3`, agents started one at a time: one or two agents elect nobody
/// and `/readyz` says what they wait for; the third makes one leader; there are never
/// two leaders at once.
#[test]
fn agents_started_one_at_a_time_wait_for_bootstrap_expect_and_never_have_two_leaders() {
    let extra = [
        "--preset",
        "lan-fast",
        "--strategy",
        "leader",
        "--bootstrap-expect",
        "3",
    ];
    let mut cluster = Cluster::stopped("127.30.6", 3, |_| extra.iter().map(|s| s.to_string()).collect());
    let waiting = |cluster: &Cluster, i: usize, known: usize| {
        let wait = format!("waiting for 3 voters (--bootstrap-expect) before any election: {known} known");
        get(&cluster.http(i), "/readyz").is_some_and(|(status, body)| status == 503 && body.contains(&wait))
    };
    for started in 1..=2 {
        cluster.spawn(started);
        let nodes: Vec<usize> = (1..=started).collect();
        let explained = wait_until(Duration::from_secs(10), || {
            assert_eq!(leading(&cluster, &nodes), 0, "a leader with {started} of 3 voters");
            nodes.iter().all(|&i| waiting(&cluster, i, started))
        });
        assert!(
            explained.is_some(),
            "no bootstrap wait on /readyz; logs in {}",
            cluster.log_dir().display()
        );
        // Several election timeouts (620 ms each) pass without a leader.
        let elected = wait_until(Duration::from_secs(3), || leading(&cluster, &nodes) > 0);
        assert!(elected.is_none(), "{started} agents elected a leader");
    }
    assert!(
        cluster
            .log(1)
            .contains("not standing for election: waiting for 3 voters")
    );
    cluster.spawn(3);
    let all = [1, 2, 3];
    let agreed = wait_until(Duration::from_secs(10), || {
        assert!(leading(&cluster, &all) <= 1, "two leaders");
        agreed_leader(&cluster, &all).is_some()
    });
    assert!(
        agreed.is_some(),
        "no leader with 3 voters; logs in {}",
        cluster.log_dir().display()
    );
    let watch = wait_until(Duration::from_secs(3), || leading(&cluster, &all) > 1);
    assert!(watch.is_none(), "two leaders after the election");
    let ready = wait_until(Duration::from_secs(5), || {
        all.iter()
            .all(|&i| get(&cluster.http(i), "/readyz").is_some_and(|(s, _)| s == 200))
    });
    assert!(ready.is_some(), "not ready once a leader is elected");
}
