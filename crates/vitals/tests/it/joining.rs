//! Joining a cluster, with real agents on `127.80.x.y`: a join retried until the seed
//! starts (the seed given as `localhost:PORT`), a give-up after `--retry-join-max`
//! attempts (exit 1 with the reason), the concrete reason of a failed join in the WARN
//! line and in `/readyz`, and start-up errors that name the file and the fix.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{Cluster, VITALS, get, tempdir, wait_until};

/// One agent as a child process, its stderr in `dir/NAME.log`; killed on drop.
struct Agent {
    child: Child,
    log: std::path::PathBuf,
}

impl Agent {
    fn start(dir: &Path, name: &str, bind: &str, http: &str, extra: &[&str]) -> Agent {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(VITALS)
            .args([
                "agent", "--name", name, "--bind", bind, "--http", http, "--preset", "lan-fast",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start vitals agent");
        Agent { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a log line holding every one of `parts`; panics with the log after `limit`.
    fn wait_for_line(&self, limit: Duration, parts: &[&str]) -> String {
        let found = || {
            self.log()
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(String::from)
        };
        wait_until(limit, || found().is_some());
        found().unwrap_or_else(|| panic!("no line with {parts:?} in:\n{}", self.log()))
    }

    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let mut status = None;
        wait_until(limit, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status.expect("the agent did not exit").code()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/readyz` of `http`: its status and body (0 and empty while nothing answers).
fn readyz(http: &str) -> (u16, String) {
    get(http, "/readyz").unwrap_or_default()
}

/// Waits for `/readyz` to answer 503 with a body containing `reason`.
fn wait_unready_with(http: &str, reason: &str) {
    let seen = wait_until(Duration::from_secs(10), || {
        let (status, body) = readyz(http);
        status == 503 && body.contains(reason)
    });
    assert!(
        seen.is_some(),
        "/readyz never said {reason:?}; last: {:?}",
        readyz(http)
    );
}

/// A UDP port on 127.0.0.1 that nothing listens on (as the OS hands it out).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_join_is_retried_until_the_seed_named_by_host_starts() {
    let dir = tempdir::Dir::new("join-retry");
    let port = free_port();
    let seed_bind = format!("127.0.0.1:{port}");
    let join = format!("localhost:{port}");
    let newcomer = Agent::start(
        &dir.0,
        "newcomer",
        "127.80.1.3:7946",
        "127.80.1.3:7947",
        &["--join", &join, "--retry-join-interval", "100ms"],
    );
    // `localhost` may also resolve to [::1], listed first or second.
    let seed = format!("127.0.0.1:{port}");
    newcomer.wait_for_line(
        Duration::from_secs(10),
        &["WARN", "cannot join: no answer from seed", &seed],
    );
    wait_unready_with("127.80.1.3:7947", "no answer from seed");
    wait_unready_with("127.80.1.3:7947", &seed);

    let _seed = Agent::start(&dir.0, "seed", &seed_bind, "127.80.1.2:7947", &[]);
    let ready = wait_until(Duration::from_secs(10), || readyz("127.80.1.3:7947").0 == 200);
    assert!(ready.is_some(), "never joined once the seed ran:\n{}", newcomer.log());
    let seen = wait_until(Duration::from_secs(5), || {
        crate::support::get_json("127.80.1.2:7947", "/v1/members")
            .and_then(|m| {
                m.as_array()
                    .map(|m| m.iter().any(|m| m["name"] == "newcomer" && m["status"] == "alive"))
            })
            .unwrap_or(false)
    });
    assert!(seen.is_some(), "the seed never saw the newcomer alive");
    newcomer.wait_for_line(Duration::from_secs(2), &["joined through the seeds"]);
}

#[test]
fn the_agent_gives_up_after_retry_join_max_attempts() {
    let dir = tempdir::Dir::new("join-give-up");
    let mut agent = Agent::start(
        &dir.0,
        "loner",
        "127.80.2.3:7946",
        "127.80.2.3:7947",
        &[
            "--join",
            "127.80.2.9,nosuchhost.invalid:7946",
            "--retry-join-interval",
            "50ms",
            "--retry-join-max",
            "3",
        ],
    );
    assert_eq!(agent.wait_exit(Duration::from_secs(20)), Some(1), "{}", agent.log());
    let log = agent.log();
    assert_eq!(
        log.matches("cannot join: no answer from seed 127.80.2.9:7946").count(),
        2,
        "{log}"
    );
    assert!(log.contains("cannot resolve seed `nosuchhost.invalid:7946`"), "{log}");
    let last = log.trim().lines().last().unwrap();
    assert!(
        last.starts_with("error: gave up joining after 3 attempts: no answer from seed 127.80.2.9:7946 (attempt 3)"),
        "{log}"
    );
}

/// Two agents, each the other's seed, that refuse each other's datagrams: each names
/// why in its WARN line and in `/readyz`, and logs what it refuses.
fn refused_both_ways(subnet: &str, a: &[&str], b: &[&str], reason: &str) {
    let dir = tempdir::Dir::new(&format!("join-{}", subnet.replace('.', "-")));
    let (a_bind, b_bind) = (format!("{subnet}.2:7946"), format!("{subnet}.3:7946"));
    let (a_http, b_http) = (format!("{subnet}.2:7947"), format!("{subnet}.3:7947"));
    let agent_a = Agent::start(&dir.0, "a", &a_bind, &a_http, &[&["--join", &b_bind], a].concat());
    let agent_b = Agent::start(&dir.0, "b", &b_bind, &b_http, &[&["--join", &a_bind], b].concat());
    for (agent, http, seed) in [(&agent_a, &a_http, &b_bind), (&agent_b, &b_http, &a_bind)] {
        let answer = format!("seed {seed} answers, but its datagrams are refused: {reason}");
        agent.wait_for_line(Duration::from_secs(15), &["WARN", "cannot join", &answer]);
        wait_unready_with(http, &answer);
        agent.wait_for_line(
            Duration::from_secs(5),
            &["WARN", &format!("refused datagrams from {seed}"), reason],
        );
    }
}

#[test]
fn a_seed_of_another_cluster_is_named() {
    refused_both_ways(
        "127.80.3",
        &["--cluster", "blue", "--retry-join-interval", "100ms"],
        &["--cluster", "green", "--retry-join-interval", "100ms"],
        "another cluster label",
    );
}

#[test]
fn a_seed_with_another_key_is_named() {
    let dir = tempdir::Dir::new("join-keys");
    let write_key = |name: &str| {
        let path = dir.0.join(name);
        std::fs::write(&path, vitals_agent::keygen()).unwrap();
        path.display().to_string()
    };
    let (one, two) = (write_key("one"), write_key("two"));
    refused_both_ways(
        "127.80.4",
        &["--keyring", &one, "--retry-join-interval", "100ms"],
        &["--keyring", &two, "--retry-join-interval", "100ms"],
        "sealed with a key this node's keyring does not hold",
    );
}

#[test]
fn start_up_errors_name_the_file_and_the_fix() {
    let run = |extra: &[&str]| {
        let output = Command::new(VITALS)
            .args([
                "agent",
                "--name",
                "x",
                "--bind",
                "127.80.5.2:7946",
                "--http",
                "127.80.5.2:7947",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{extra:?} was not refused");
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = run(&["--keyring", "/nonexistent/keyring"]);
    assert!(
        stderr.contains("cannot read the keyring file (--keyring) /nonexistent/keyring"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
    let stderr = run(&["--api-token-file", "/nonexistent/token"]);
    assert!(
        stderr.contains("cannot read the API token file (--api-token-file) /nonexistent/token"),
        "{stderr}"
    );

    let dir = tempdir::Dir::new("join-keyring-mode");
    let keyring = dir.0.join("keyring");
    std::fs::write(&keyring, vitals_agent::keygen()).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&keyring, std::fs::Permissions::from_mode(0o644)).unwrap();
    let keyring = keyring.display().to_string();
    let agent = Agent::start(
        &dir.0,
        "x",
        "127.80.5.3:7946",
        "127.80.5.3:7947",
        &["--keyring", &keyring],
    );
    agent.wait_for_line(
        Duration::from_secs(10),
        &[
            "WARN",
            "can be read by other users (mode 0644)",
            &format!("chmod 600 {keyring}"),
        ],
    );
}

#[test]
fn a_restarted_agent_rejoins_through_its_snapshot_with_the_seed_down() {
    let dir = tempdir::Dir::new("join-snapshot");
    let snapshot = |i: usize| dir.0.join(format!("node-{i}.json")).display().to_string();
    let mut cluster = Cluster::start_each("127.80.6", 3, |i| {
        [
            "--preset",
            "lan-fast",
            "--retry-join-interval",
            "100ms",
            "--snapshot",
            &snapshot(i),
        ]
        .map(String::from)
        .to_vec()
    });
    // node-3's snapshot names node-2 (written once everyone is alive).
    let remembered = wait_until(Duration::from_secs(15), || {
        cluster.everyone_alive(3)
            && std::fs::read_to_string(snapshot(3)).is_ok_and(|t| t.contains("127.80.6.3:7946") && t.contains("node-2"))
    });
    assert!(remembered.is_some(), "node-3's snapshot never named node-2");
    cluster.kill(1); // the only seed
    cluster.kill(3);
    cluster.spawn(3);
    let rejoined = wait_until(Duration::from_secs(15), || {
        get("127.80.6.4:7947", "/readyz").is_some_and(|(s, _)| s == 200)
            && cluster.status(3, 2).as_deref() == Some("alive")
            && cluster.status(2, 3).as_deref() == Some("alive")
    });
    assert!(
        rejoined.is_some(),
        "node-3 never rejoined through node-2:\n{}",
        cluster.log(3)
    );
    assert!(
        cluster.log(3).contains("loaded the members snapshot"),
        "{}",
        cluster.log(3)
    );
}

#[test]
fn a_corrupt_snapshot_is_reported_and_ignored() {
    let dir = tempdir::Dir::new("join-corrupt");
    std::fs::write(dir.0.join("members.json"), "{garbage").unwrap();
    let data_dir = dir.0.display().to_string();
    let agent = Agent::start(
        &dir.0,
        "x",
        "127.80.7.2:7946",
        "127.80.7.2:7947",
        &["--data-dir", &data_dir],
    );
    agent.wait_for_line(
        Duration::from_secs(10),
        &["WARN", "ignoring the members snapshot", "not a members snapshot"],
    );
    let ready = wait_until(Duration::from_secs(10), || readyz("127.80.7.2:7947").0 == 200);
    assert!(
        ready.is_some(),
        "a lone agent with a corrupt snapshot never became ready:\n{}",
        agent.log()
    );
}

#[test]
fn a_newcomer_with_a_taken_name_is_refused_and_the_member_keeps_its_incarnation() {
    let dir = tempdir::Dir::new("join-duplicate");
    let _seed = Agent::start(&dir.0, "a", "127.80.8.2:7946", "127.80.8.2:7947", &[]);
    let _b = Agent::start(
        &dir.0,
        "b",
        "127.80.8.3:7946",
        "127.80.8.3:7947",
        &["--join", "127.80.8.2:7946"],
    );
    let formed = wait_until(Duration::from_secs(10), || readyz("127.80.8.3:7947").0 == 200);
    assert!(formed.is_some(), "b never joined");
    let rival_dir = tempdir::Dir::new("join-duplicate-rival");
    let rival = Agent::start(
        &rival_dir.0,
        "b",
        "127.80.8.4:7946",
        "127.80.8.4:7947",
        &["--join", "127.80.8.2:7946", "--retry-join-interval", "100ms"],
    );
    let why = "seed 127.80.8.2:7946 refused the join: the name is taken by a live member at 127.80.8.3:7946";
    rival.wait_for_line(Duration::from_secs(10), &["WARN", "cannot join", why]);
    wait_unready_with("127.80.8.4:7947", why);
    _seed.wait_for_line(
        Duration::from_secs(5),
        &[
            "WARN",
            "refused a join from 127.80.8.4:7946: the name `b` is taken by a live member at 127.80.8.3:7946",
        ],
    );
    let members = Command::new(VITALS)
        .args(["members", "--http", "127.80.8.4:7947"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&members.stdout);
    assert!(
        stdout.contains(&format!("this agent has not joined: {why}")),
        "{stdout}"
    );
    let json = Command::new(VITALS)
        .args(["members", "--json", "--http", "127.80.8.4:7947"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&json.stderr);
    assert!(
        stderr.contains(&format!("this agent has not joined: {why}")),
        "{stderr}"
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&json.stdout).is_ok());
    let b = crate::support::get_json("127.80.8.3:7947", "/v1/self").unwrap();
    assert_eq!(b["incarnation"], 0, "b had to refute: {b}");
    let held = crate::support::get_json("127.80.8.2:7947", "/v1/members").unwrap();
    let held_b = held
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "b")
        .unwrap()
        .clone();
    assert_eq!(
        (held_b["addr"].as_str(), held_b["incarnation"].as_u64()),
        (Some("127.80.8.3:7946"), Some(0)),
        "{held_b}"
    );
}

/// A newcomer joining a seed that never sends to it (the seed has no reason to): the
/// seed's refusal notice is the newcomer's only news, and it names the cause in the
/// newcomer's WARN line and `/readyz`.
fn refused_one_way(subnet: &str, seed: &[&str], newcomer: &[&str], why: &str) {
    let dir = tempdir::Dir::new(&format!("notice-{}", subnet.replace('.', "-")));
    let seed_bind = format!("{subnet}.2:7946");
    let seed_agent = Agent::start(&dir.0, "seed", &seed_bind, &format!("{subnet}.2:7947"), seed);
    let http = format!("{subnet}.3:7947");
    let flags = [&["--join", &seed_bind, "--retry-join-interval", "100ms"], newcomer].concat();
    let agent = Agent::start(&dir.0, "newcomer", &format!("{subnet}.3:7946"), &http, &flags);
    let told = format!("seed {seed_bind} refused the join: {why}");
    agent.wait_for_line(Duration::from_secs(15), &["WARN", "cannot join", &told]);
    wait_unready_with(&http, &told);
    seed_agent.wait_for_line(
        Duration::from_secs(5),
        &["WARN", &format!("refused datagrams from {subnet}.3:7946")],
    );
}

#[test]
fn a_seed_tells_a_newcomer_with_another_key() {
    let dir = tempdir::Dir::new("notice-keys");
    let write_key = |name: &str| {
        let path = dir.0.join(name);
        std::fs::write(&path, vitals_agent::keygen()).unwrap();
        path.display().to_string()
    };
    let (one, two) = (write_key("one"), write_key("two"));
    refused_one_way(
        "127.80.9",
        &["--keyring", &one],
        &["--keyring", &two],
        "the seed cannot authenticate this node's datagrams",
    );
    refused_one_way(
        "127.80.10",
        &["--keyring", &one],
        &[],
        "this node sends plaintext, but the seed has a keyring",
    );
}

#[test]
fn a_seed_tells_a_newcomer_of_another_cluster() {
    refused_one_way(
        "127.80.11",
        &["--cluster", "blue"],
        &["--cluster", "green"],
        "the seed has another cluster label (give both the same --cluster)",
    );
}

#[test]
fn versions_are_told_both_ways_with_a_notice_no_larger_than_the_request() {
    // The seed side: a datagram of another wire version gets a six-byte notice.
    let _seed = Agent::start(
        &tempdir::Dir::new("notice-version-seed").0,
        "seed",
        "127.80.12.2:7946",
        "127.80.12.2:7947",
        &[],
    );
    wait_until(Duration::from_secs(10), || readyz("127.80.12.2:7947").0 == 200);
    let probe = std::net::UdpSocket::bind("127.80.12.9:0").unwrap();
    probe.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    probe.send_to(b"VT\x09\x00padding", "127.80.12.2:7946").unwrap();
    let mut buf = [0u8; 64];
    let (len, _) = probe.recv_from(&mut buf).expect("no refusal notice");
    assert_eq!(&buf[..len], &[b'V', b'T', 0xFF, 5, vitals_core::wire::VERSION, 0]);
    probe.send_to(b"VT\x09\x00", "127.80.12.2:7946").unwrap();
    assert!(
        probe.recv_from(&mut buf).is_err(),
        "a notice answered a shorter datagram"
    );

    // The newcomer side: a seed of another version (played by this test) answers.
    let fake_seed = std::net::UdpSocket::bind("127.80.12.3:7946").unwrap();
    let dir = tempdir::Dir::new("notice-version");
    let agent = Agent::start(
        &dir.0,
        "newcomer",
        "127.80.12.4:7946",
        "127.80.12.4:7947",
        &["--join", "127.80.12.3:7946", "--retry-join-interval", "100ms"],
    );
    fake_seed.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (len, from) = fake_seed.recv_from(&mut buf).expect("no join arrived");
    assert!(len >= 6);
    fake_seed.send_to(&[b'V', b'T', 0xFF, 5, 9, 0], from).unwrap();
    let why = format!(
        "seed 127.80.12.3:7946 refused the join: the seed speaks wire version 9, this node {}",
        vitals_core::wire::VERSION
    );
    agent.wait_for_line(Duration::from_secs(10), &["WARN", &why]);
    wait_unready_with("127.80.12.4:7947", &why);
}

/// Tags of about 360 bytes: two members' entries fill a page of the member list.
fn large_tags(i: usize) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .flat_map(|key| ["--tag".to_string(), format!("{key}={}", format!("{i}").repeat(118))])
        .collect()
}

#[test]
fn a_joiner_follows_every_page_of_the_member_list() {
    // The pages after the first were once never asked for: the padded request for the
    // next page is larger than the page that asks for it, and the anti-amplification
    // rule suppressed it as a reply. The joiner then knew only the first page's members,
    // and (with push, which learns members from join replies) the others never heard of
    // it until the anti-entropy sync, 60 rounds later.
    let n = 6;
    let mut cluster = Cluster::stopped("127.91.8", n, |i| {
        let mut flags = vec!["--interval".to_string(), "1s".to_string()];
        flags.extend(large_tags(i));
        flags
    });
    for i in 1..n {
        cluster.spawn(i);
    }
    let seed = cluster.http(1);
    let tagged = |members: &serde_json::Value| {
        members
            .as_array()
            .is_some_and(|m| m.len() == n - 1 && m.iter().all(|m| m["status"] == "alive" && m["tags"]["c"].is_string()))
    };
    let formed = wait_until(Duration::from_secs(20), || {
        crate::support::get_json(&seed, "/v1/members").is_some_and(|m| tagged(&m))
    });
    assert!(
        formed.is_some(),
        "the first {} agents never formed with their tags",
        n - 1
    );

    cluster.spawn(n);
    let learned = wait_until(Duration::from_secs(5), || {
        (1..=n).all(|m| cluster.status(n, m).as_deref() == Some("alive"))
    });
    assert!(
        learned.is_some(),
        "the joiner never listed every member (a page of the member list is missing):\n{}",
        cluster.log(n)
    );
    let suppressed = crate::support::metric(&cluster.http(n), "vitals_replies_suppressed_total");
    assert_eq!(suppressed, 0.0, "a request for a page was suppressed");
}
