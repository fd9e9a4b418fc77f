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

/// A runtime failure: exit code 1 and one error line.
fn failed(args: &[&str]) -> String {
    let output = vitals(args);
    assert_eq!(output.status.code(), Some(1), "{args:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    stderr
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
        (
            &["--preset", "turbo"],
            "[possible values: web, high-traffic, background, lan-fast, lan]",
        ),
        (&["--threshold", "0"], "invalid `threshold`"),
        (&["--threshold", "-1"], "--threshold"),
        (
            &["--interval", "1s", "--timeout", "500ms"],
            "invalid `timeout`: timeout 500ms is shorter than interval 1s",
        ),
        (&["--strategy", "pull"], "invalid `monitors`"),
        (&["--detector", "tea-leaves"], "--detector"),
        (
            &["--join", "seed:port"],
            "invalid `join`: `seed:port`: `port` is not a port",
        ),
        (
            &["--advertise", "0.0.0.0:7946"],
            "invalid `advertise`: 0.0.0.0:7946 is not an address peers can reach",
        ),
        (&["--retry-join-max", "0"], "invalid `retry_join_max`"),
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
    for bad in ["bell\u{7}", "two words", "caf\u{e9}", "a/b"] {
        let stderr = refused(&["agent", "--name", bad, "--bind", "127.10.20.2:7946"]);
        assert!(stderr.contains("is not a valid node name"), "{bad:?}: {stderr}");
        assert!(!stderr.contains('\u{7}'), "the bad name is shown escaped: {stderr}");
    }
    let stderr = refused(&agent_args(&["--quorum-size", "20000"]));
    assert!(stderr.contains("more than any cluster can reach"), "{stderr}");
}

#[test]
fn bad_config_files_are_refused_naming_the_key() {
    let dir = tempdir::Dir::new("config");
    let cases = [
        ("interval = \"ten seconds\"\n", "interval"),
        ("interval = 10\n", "write \"10s\""),
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
        stderr.contains("cannot read the config file /nonexistent/vitals.toml"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("os error 2").count(),
        1,
        "the OS error said twice: {stderr}"
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
            "http://127.10.21.2:7947",
        ])
        .args(["--threshold", "5", "--log-format", "json"])
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
    let log = std::fs::read_to_string(cluster_dir.0.join("log")).unwrap();
    let started = log
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .find(|line| line["message"] == "vitals agent started")
        .unwrap_or_else(|| panic!("no start line in {log}"));
    assert_eq!(started["strategy"], "push", "{started}");
    assert_eq!(started["interval"], "200ms", "{started}");
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
    let stderr = failed(&["members", "--http", "127.10.22.99:1"]);
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
    assert!(
        stdout.contains("Watch it live at http://127.10.23.2:7947/ui"),
        "{stdout}"
    );
    assert!(stdout.contains("node-3 declared dead by all 2 survivors"), "{stdout}");
    assert!(stdout.contains("node-3 is alive again everywhere"), "{stdout}");
}

/// `vitals` with extra environment variables.
fn vitals_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(VITALS);
    command
        .args(args)
        .env_remove("VITALS_HTTP_ADDR")
        .env_remove("VITALS_HTTP_TOKEN");
    command.envs(env.iter().copied()).output().expect("run vitals")
}

#[test]
fn client_commands_take_the_address_and_token_as_flags_urls_or_environment() {
    let dir = tempdir::Dir::new("api-token");
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, "cli-token-0123456789\n").unwrap();
    let token_file = token_file.to_str().unwrap();
    let cluster = Cluster::start(
        "127.10.24",
        1,
        &[
            "--preset",
            "lan-fast",
            "--api-token-file",
            token_file,
            "--api-auth",
            "all",
            "--service",
            "api=127.10.24.2:7947",
        ],
    );
    let http = cluster.http(1);
    let ready = || crate::support::get(&http, "/readyz").is_some_and(|(status, _)| status == 200);
    assert!(wait_until(Duration::from_secs(20), ready).is_some());
    let url = format!("http://{http}/");
    let stderr = failed(&["members", "--http", &url]);
    assert!(
        stderr.contains("--token, --token-file or VITALS_HTTP_TOKEN"),
        "{stderr}"
    );
    type Env<'a> = Vec<(&'a str, &'a str)>;
    let ways: [(Vec<&str>, Env); 3] = [
        (vec!["--http", &url, "--token", "cli-token-0123456789"], vec![]),
        (vec!["--http", &http, "--token-file", token_file], vec![]),
        (
            vec![],
            vec![
                ("VITALS_HTTP_ADDR", &url),
                ("VITALS_HTTP_TOKEN", "cli-token-0123456789"),
            ],
        ),
    ];
    for (flags, env) in ways {
        let args: Vec<&str> = ["members"].into_iter().chain(flags.iter().copied()).collect();
        let output = vitals_env(&args, &env);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{args:?} {env:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.lines().any(|l| l.starts_with("node-1")), "{stdout}");
    }
    // A flag wins over the environment.
    let output = vitals_env(
        &["members", "--http", &http, "--token-file", token_file],
        &[("VITALS_HTTP_TOKEN", "wrong")],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    proxy_follows_an_agent_that_wants_a_token(&url, token_file);
}

/// `vitals proxy --token-file` reads the view of an agent that wants its token: the
/// agent fronts its own API as service `api`, so a request through the proxy reaches it.
fn proxy_follows_an_agent_that_wants_a_token(url: &str, token_file: &str) {
    let listen = "127.10.24.100:8000";
    let mut proxy = Command::new(VITALS)
        .args(["proxy", "--listen", listen, "--service", "api", "--http", url])
        .args(["--token-file", token_file, "--refresh", "50ms"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let through = wait_until(Duration::from_secs(10), || {
        crate::support::get(listen, "/healthz").is_some_and(|(status, _)| status == 200)
    });
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(through.is_some(), "no request went through the proxy");
}

#[test]
fn help_lists_possible_values_and_completions_and_a_man_page_are_printed() {
    let help = vitals(&["agent", "--help"]);
    let help = String::from_utf8(help.stdout).unwrap();
    for expected in ["Timing and detection:", "lan-fast", "- lan:", "- leader:", "- phi:"] {
        assert!(help.contains(expected), "{expected:?} not in:\n{help}");
    }
    let version = String::from_utf8(vitals(&["--version"]).stdout).unwrap();
    assert!(version.contains("(commit "), "{version}");
    let bash = vitals(&["completions", "bash"]);
    assert!(bash.status.success());
    let bash = String::from_utf8(bash.stdout).unwrap();
    assert!(bash.contains("complete -F") && bash.contains("--preset"), "{bash}");
    let man = String::from_utf8(vitals(&["man"]).stdout).unwrap();
    assert!(man.starts_with(".ie") || man.contains(".TH vitals"), "{man}");
    let stderr = refused(&["completions", "tcsh"]);
    assert!(stderr.contains("possible values"), "{stderr}");
}
