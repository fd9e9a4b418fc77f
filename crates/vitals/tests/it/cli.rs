//! Bad flags and bad config files are refused at start-up with a one-line error that
//! names the flag or key; `vitals members` and `vitals demo` work against real agents.

use std::process::{Command, Output};
use std::time::Duration;

use crate::support::{Cluster, VITALS, tempdir, wait_until};

fn vitals(args: &[&str]) -> Output {
    Command::new(VITALS).args(args).output().expect("run vitals")
}

fn refused(args: &[&str]) -> String {
    let output = vitals(args);
    assert!(!output.status.success(), "{args:?} was accepted");
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    String::from_utf8(output.stderr).unwrap()
}

fn agent_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "agent",
        "--name",
        "x",
        "--bind",
        "127.10.20.2:7946",
        "--http",
        "127.10.20.2:7947",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn bad_flags_are_refused_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--interval", "10"], "--interval"),
        (&["--interval", "fast"], "not a duration"),
        (&["--strategy", "telepathy"], "--strategy"),
        (&["--preset", "turbo"], "unknown preset `turbo`"),
        (&["--threshold", "0"], "invalid `threshold`"),
        (&["--threshold", "-1"], "--threshold"),
        (
            &["--interval", "1s", "--timeout", "500ms"],
            "invalid `timeout`: timeout 500ms is shorter than interval 1s",
        ),
        (&["--strategy", "pull"], "invalid `monitors`"),
        (&["--detector", "tea-leaves"], "--detector"),
        (&["--join", "nowhere"], "invalid `join`"),
        (
            &["--phi-threshold", "-3", "--detector", "phi"],
            "invalid `phi.threshold`",
        ),
    ];
    for (extra, expected) in cases {
        let stderr = refused(&agent_args(extra));
        assert!(
            stderr.contains(expected),
            "{extra:?}: expected {expected:?} in:\n{stderr}"
        );
    }
    let stderr = refused(&["agent"]);
    assert!(stderr.contains("invalid `name`"), "{stderr}");
}

#[test]
fn bad_config_files_are_refused_naming_the_key() {
    let dir = tempdir::Dir::new("config");
    let cases = [
        ("interval = \"ten seconds\"\n", "interval"),
        ("intervall = \"1s\"\n", "unknown field `intervall`"),
        ("threshold = \"three\"\n", "threshold"),
        ("strategy = \"push\"\nmonitors = [\"a\"]\n", "invalid `monitors`"),
        ("[phi]\nwindow = 1\n", "invalid `phi.window`"),
        ("name = ", "config file"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.0.join(format!("bad-{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let stderr = refused(&agent_args(&["--config", path.to_str().unwrap()]));
        assert!(
            stderr.contains(expected),
            "{text:?}: expected {expected:?} in:\n{stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "not one line:\n{stderr}");
    }
    let stderr = refused(&agent_args(&["--config", "/nonexistent/vitals.toml"]));
    assert!(
        stderr.contains("cannot read config file /nonexistent/vitals.toml"),
        "{stderr}"
    );
}

#[test]
fn a_config_file_is_used_and_flags_override_it() {
    let dir = tempdir::Dir::new("good-config");
    let path = dir.0.join("agent.toml");
    std::fs::write(
        &path,
        "name = \"from-file\"\npreset = \"lan-fast\"\nthreshold = 4\ndetector = \"phi\"\n",
    )
    .unwrap();
    let cluster_dir = tempdir::Dir::new("good-config-agent");
    let mut child = Command::new(VITALS)
        .args([
            "agent",
            "--config",
            path.to_str().unwrap(),
            "--bind",
            "127.10.21.2:7946",
            "--http",
            "127.10.21.2:7947",
        ])
        .args(["--threshold", "5"])
        .stderr(std::fs::File::create(cluster_dir.0.join("log")).unwrap())
        .spawn()
        .unwrap();
    let me = wait_until(Duration::from_secs(20), || {
        crate::support::get_json("127.10.21.2:7947", "/v1/self").is_some()
    });
    assert!(me.is_some());
    let me = crate::support::get_json("127.10.21.2:7947", "/v1/self").unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(me["name"], "from-file");
    assert_eq!(me["config"]["interval"], "200ms");
    assert_eq!(me["config"]["threshold"], 5);
    assert_eq!(me["config"]["detector"], "phi");
}

#[test]
fn members_prints_a_table_and_json() {
    let cluster = Cluster::start("127.10.22", 2, &["--preset", "lan-fast"]);
    assert!(wait_until(Duration::from_secs(20), || cluster.everyone_alive(2)).is_some());
    let table = vitals(&["members", "--http", &cluster.http(1)]);
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("node-2") && l.contains("127.10.22.3:7946") && l.contains("alive")),
        "{table}"
    );
    let json = vitals(&["members", "--http", &cluster.http(1), "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    let stderr = refused(&["members", "--http", "127.10.22.99:1"]);
    assert!(stderr.contains("cannot reach the agent at 127.10.22.99:1"), "{stderr}");
}

#[test]
fn the_demo_crashes_a_node_detects_it_and_brings_it_back() {
    let output = vitals(&["demo", "--nodes", "3", "--once", "--subnet", "127.10.23"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("All 3 agents see each other alive"), "{stdout}");
    assert!(stdout.contains("node-3 declared dead by all 2 survivors"), "{stdout}");
    assert!(stdout.contains("node-3 is alive again everywhere"), "{stdout}");
}
