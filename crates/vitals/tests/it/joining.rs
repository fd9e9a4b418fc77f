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
