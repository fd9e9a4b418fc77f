//! Tags, member filters and the operator's lifecycle commands against real agents on
//! `127.81.x.y`: `--tag` carried to every member, `/v1/members?status=&tag=` and
//! `vitals members --status --tag`, `vitals force-leave` (refused for a live member, a
//! dead one reaped everywhere at once), `vitals join` and `vitals leave`.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Cluster, VITALS, get, get_json, tempdir, wait_until};

const TOKEN: &str = "lifecycle-token-0123456789";

fn names(http: &str, query: &str) -> Vec<String> {
    let members = get_json(http, &format!("/v1/members{query}")).unwrap_or(Value::Null);
    let mut names: Vec<String> = members
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["name"].as_str().map(String::from)).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn vitals(args: &[&str]) -> Output {
    Command::new(VITALS).args(args).stdin(Stdio::null()).output().unwrap()
}

/// A child process killed on drop (a failed test leaves nothing running).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn tags_travel_filters_apply_and_force_leave_reaps_only_the_dead() {
    let dir = tempdir::Dir::new("lifecycle");
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let token_file = token_file.display().to_string();
    let mut cluster = Cluster::start_each("127.81.1", 3, |i| {
        let role = if i == 3 { "role=web" } else { "role=db" };
        let mut flags = vec!["--preset", "lan-fast", "--tag", role, "--api-token-file", &token_file];
        if i == 1 {
            flags.extend(["--tag", "zone=a"]);
        }
        flags.into_iter().map(String::from).collect()
    });
    let (h1, h3) = (cluster.http(1), cluster.http(3));
    let tagged = wait_until(Duration::from_secs(15), || {
        cluster.everyone_alive(3) && names(&h3, "?tag=role=db") == ["node-1", "node-2"]
    });
    assert!(
        tagged.is_some(),
        "node-3 never saw the db tags: {:?}",
        get_json(&h3, "/v1/members")
    );
    assert_eq!(names(&h3, "?tag=role=db&tag=zone=a"), ["node-1"]);
    assert_eq!(names(&h3, "?status=alive&tag=role=web"), ["node-3"]);
    let (status, body) = get(&h3, "/v1/members?status=up").unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("unknown status `up`: use alive, suspect, dead or left"),
        "{body}"
    );

    let out = vitals(&["members", "--http", &h3, "--status", "alive", "--tag", "role=db"]);
    let table = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(table.contains("TAGS") && table.contains("role=db,zone=a"), "{table}");
    assert!(table.contains("node-2") && !table.contains("node-3"), "{table}");

    cluster.kill(2);
    // Both survivors must hold it dead: a reap reaching an agent that still holds the
    // member alive is refused by design (its own detector has not yet agreed).
    let dead = wait_until(Duration::from_secs(10), || {
        names(&h3, "?status=dead") == ["node-2"] && names(&h1, "?status=dead") == ["node-2"]
    });
    assert!(
        dead.is_some(),
        "node-2 never held dead: {:?}",
        get_json(&h3, "/v1/members")
    );
    assert_eq!(names(&h3, "?status=alive&tag=role=db"), ["node-1"]);

    let alive = vitals(&["force-leave", "node-1", "--http", &h3, "--token", TOKEN]);
    assert!(!alive.status.success());
    let stderr = text(&alive.stderr);
    assert!(
        stderr.contains("`node-1` is alive: force-leave removes only dead members"),
        "{stderr}"
    );
    let reaped = vitals(&["force-leave", "node-2", "--http", &h3, "--token", TOKEN]);
    assert!(reaped.status.success(), "{}", text(&reaped.stderr));
    assert!(text(&reaped.stdout).contains("node-2 removed from the cluster"));
    let everywhere = wait_until(Duration::from_millis(500), || {
        !names(&h1, "").contains(&"node-2".to_string()) && !names(&h3, "").contains(&"node-2".to_string())
    });
    assert!(everywhere.is_some(), "node-1 still lists node-2: {:?}", names(&h1, ""));
    assert!(
        cluster.log(3).contains("member forgotten: force-left here"),
        "{}",
        cluster.log(3)
    );
    assert!(
        cluster.log(1).contains("member forgotten: force-left at node-3"),
        "{}",
        cluster.log(1)
    );
}

#[test]
fn join_and_leave_commands_drive_a_running_agent() {
    let dir = tempdir::Dir::new("lifecycle-join");
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let token_file = token_file.display().to_string();
    // Ping spreads news of a member to everyone (push learns members from join replies).
    let flags = [
        "--preset",
        "lan-fast",
        "--strategy",
        "ping",
        "--api-token-file",
        &token_file,
    ];
    let cluster = Cluster::start("127.81.2", 2, &flags);
    let loner_log = std::fs::File::create(dir.0.join("loner.log")).unwrap();
    let mut loner = Killed(
        Command::new(VITALS)
            .args([
                "agent",
                "--name",
                "loner",
                "--bind",
                "127.81.2.9:7946",
                "--http",
                "127.81.2.9:7947",
            ])
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(loner_log)
            .spawn()
            .unwrap(),
    );
    let h1 = cluster.http(1);
    let formed = wait_until(Duration::from_secs(10), || {
        cluster.everyone_alive(2) && get("127.81.2.9:7947", "/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert!(formed.is_some(), "the cluster or the loner never became ready");

    let refused = vitals(&["join", "127.81.2.9", "--http", &h1]);
    assert!(!refused.status.success(), "a join without the token was taken");
    let joined = vitals(&["join", "127.81.2.9:7946", "--http", &h1, "--token", TOKEN]);
    assert!(joined.status.success(), "{}", text(&joined.stderr));
    assert!(
        text(&joined.stdout).contains("joined through loner"),
        "{}",
        text(&joined.stdout)
    );
    let merged = wait_until(Duration::from_secs(10), || {
        names(&cluster.http(2), "?status=alive") == ["loner", "node-1", "node-2"]
            && names("127.81.2.9:7947", "?status=alive") == ["loner", "node-1", "node-2"]
    });
    assert!(
        merged.is_some(),
        "the clusters never merged: node-2 {:?}, loner {:?}\n{}",
        names(&cluster.http(2), "?status=alive"),
        names("127.81.2.9:7947", "?status=alive"),
        std::fs::read_to_string(dir.0.join("loner.log")).unwrap_or_default()
    );

    let left = vitals(&["leave", "--http", "127.81.2.9:7947", "--token", TOKEN]);
    assert!(left.status.success(), "{}", text(&left.stderr));
    let exited = wait_until(Duration::from_secs(10), || loner.0.try_wait().unwrap().is_some());
    assert!(exited.is_some(), "the loner did not stop after `vitals leave`");
    let gone = wait_until(Duration::from_secs(5), || names(&h1, "?status=left") == ["loner"]);
    assert!(
        gone.is_some(),
        "node-1 never held the loner left: {:?}",
        get_json(&h1, "/v1/members")
    );
}

#[test]
fn tags_beyond_their_bounds_are_refused_at_start_up() {
    let mut args = vec![
        "agent",
        "--name",
        "x",
        "--bind",
        "127.81.3.2:7946",
        "--http",
        "127.81.3.2:7947",
    ];
    let tags: Vec<String> = (0..17).map(|i| format!("--tag=k{i}=v")).collect();
    args.extend(tags.iter().map(String::as_str));
    let out = vitals(&args);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("17 tags: at most 16 are allowed"), "{stderr}");
    let out = vitals(&["agent", "--name", "x", "--tag", "role"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("`role` is not KEY=VALUE"),
        "{}",
        text(&out.stderr)
    );
}
