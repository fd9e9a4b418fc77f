//! Health checks, routing and gRPC health on real agents: an HTTP check follows a real
//! server through rise/fall, a TTL check expires, exec is refused unless enabled, a
//! critical instance is never routed to, weighted picks follow scores, and tonic-health's
//! generated `grpc.health.v1` client sees SERVING / NOT_SERVING.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::backends::Switchable;
use crate::support::{Cluster, VITALS, get, get_json, tempdir, wait_until};

pub const TOKEN: &str = "health-token-0123456789";

pub fn write(dir: &tempdir::Dir, name: &str, text: &str) -> String {
    let path = dir.0.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The status of check `name` on agent `http`.
pub fn check_status(http: &str, name: &str) -> Option<String> {
    let checks = get_json(http, "/v1/checks")?;
    let check = checks["checks"].as_array()?.iter().find(|c| c["name"] == name)?.clone();
    check["status"].as_str().map(str::to_string)
}

/// `PUT /v1/checks/{check}/{action}` on agent `http`; the status code.
pub fn report(http: &str, check: &str, action: &str, token: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.put(&format!("http://{http}/v1/checks/{check}/{action}"));
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    request.send("from the test").map(|r| r.status().as_u16()).unwrap_or(0)
}

/// The instances of `service` agent `http` knows, by member name: (status, score).
pub fn instances(http: &str, service: &str) -> Vec<(String, String, f64)> {
    let rows = get_json(http, &format!("/v1/services/{service}")).unwrap_or(Value::Null);
    rows.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
                r["score"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

fn wait_check(http: &str, name: &str, status: &str, limit: Duration) -> Duration {
    wait_until(limit, || check_status(http, name).as_deref() == Some(status))
        .unwrap_or_else(|| panic!("check {name} never became {status}: {:?}", get(http, "/v1/checks")))
}

#[test]
fn an_http_check_turns_critical_after_fall_failures_and_passing_after_rise_successes() {
    let backend = Switchable::start("127.20.1.10");
    let dir = tempdir::Dir::new("127-20-1-conf");
    let config = format!(
        "[[services]]\nname = \"web\"\naddr = \"{}\"\n[[services.checks]]\nkind = \"http\"\n\
         interval = \"100ms\"\ntimeout = \"100ms\"\nrise = 2\nfall = 3\n",
        backend.addr
    );
    let config = write(&dir, "agent.toml", &config);
    let cluster = Cluster::start("127.20.1", 1, &["--preset", "lan-fast", "--config", &config]);
    let http = cluster.http(1);
    wait_check(&http, "web-http", "passing", Duration::from_secs(20));

    backend.answer(500);
    let down = wait_check(&http, "web-http", "critical", Duration::from_secs(5));
    let routed = get(&http, "/v1/route?service=web").unwrap();
    assert_eq!(routed.0, 503, "a critical instance is not routed to: {}", routed.1);
    assert!(routed.1.contains("critical"), "{}", routed.1);
    backend.answer(200);
    let up = wait_check(&http, "web-http", "passing", Duration::from_secs(5));
    eprintln!(
        "[measure] http check (interval 100ms, fall 3, rise 2): critical {} ms after the server began failing, \
         passing {} ms after it recovered",
        down.as_millis(),
        up.as_millis()
    );
    assert!(
        down >= Duration::from_millis(150),
        "fell after {down:?}: fewer than 3 failures?"
    );
    assert!(
        up >= Duration::from_millis(50),
        "rose after {up:?}: fewer than 2 successes?"
    );
    assert_eq!(get(&http, "/v1/route?service=web").unwrap().0, 200);
}

#[test]
fn a_ttl_check_passes_when_reported_expires_to_critical_and_reports_need_the_token() {
    let dir = tempdir::Dir::new("127-20-2-conf");
    let config = "[[services]]\nname = \"web\"\naddr = \"127.20.2.10:80\"\n[[services.checks]]\nkind = \"ttl\"\nttl = \"600ms\"\n";
    let config = write(&dir, "agent.toml", config);
    let token = write(&dir, "token", TOKEN);
    let cluster = Cluster::start(
        "127.20.2",
        1,
        &["--preset", "lan-fast", "--config", &config, "--api-token-file", &token],
    );
    let http = cluster.http(1);
    wait_check(&http, "web-ttl", "critical", Duration::from_secs(20));
    assert_eq!(report(&http, "web-ttl", "pass", None), 401);
    assert_eq!(report(&http, "web-ttl", "pass", Some("wrong-token-0123456789")), 403);
    assert_eq!(report(&http, "nope", "pass", Some(TOKEN)), 404);
    assert_eq!(report(&http, "web-ttl", "pass", Some(TOKEN)), 200);
    let reported = Instant::now();
    wait_check(&http, "web-ttl", "passing", Duration::from_secs(2));
    assert_eq!(report(&http, "web-ttl", "warn", Some(TOKEN)), 200);
    wait_check(&http, "web-ttl", "warning", Duration::from_secs(2));
    let expired = wait_until(Duration::from_secs(5), || {
        check_status(&http, "web-ttl").as_deref() == Some("critical")
    })
    .expect("the TTL never expired");
    let after = reported.elapsed();
    eprintln!(
        "[measure] ttl check (ttl 600ms): critical {} ms after the last report",
        after.as_millis()
    );
    assert!(
        after >= Duration::from_millis(550),
        "expired after {after:?} ({expired:?} of waiting)"
    );
}

#[test]
fn exec_checks_are_refused_unless_enabled_and_map_exit_codes_when_enabled() {
    let dir = tempdir::Dir::new("127-20-3-conf");
    let check =
        "[[checks]]\nkind = \"exec\"\ninterval = \"100ms\"\nargs = [\"sh\", \"-c\", \"echo degraded; exit 1\"]\n";
    let refused = write(&dir, "refused.toml", check);
    let output = Command::new(VITALS)
        .args([
            "agent",
            "--name",
            "x",
            "--bind",
            "127.20.3.2:7946",
            "--http",
            "127.20.3.2:7947",
        ])
        .args(["--config", &refused])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("invalid `checks[0].kind`") && stderr.contains("enable_exec = true"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    let enabled = write(&dir, "enabled.toml", &format!("enable_exec = true\n{check}"));
    let cluster = Cluster::start("127.20.3", 1, &["--preset", "lan-fast", "--config", &enabled]);
    let http = cluster.http(1);
    wait_check(&http, "node-exec", "warning", Duration::from_secs(20));
    let seen = wait_until(Duration::from_secs(5), || {
        get_json(&http, "/v1/members").is_some_and(|m| m[0]["check_status"] == "warning")
    });
    assert!(seen.is_some(), "the node's own status never became warning");
}

fn routes(http: &str, policy: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let answer = get_json(http, &format!("/v1/route?service=web&policy={policy}")).expect("a route");
            answer["name"].as_str().unwrap().to_string()
        })
        .collect()
}

fn count(picks: &[String], name: &str) -> usize {
    picks.iter().filter(|p| *p == name).count()
}

/// Three agents fronting `web`, each with a TTL check reported passing, all seen by node-1.
fn three_passing_instances(dir: &tempdir::Dir) -> Cluster {
    let token = write(dir, "token", TOKEN);
    let cluster = Cluster::start_each("127.20.4", 3, |i| {
        let config = format!(
            "[[services]]\nname = \"web\"\naddr = \"127.20.4.{}:8080\"\n[[services.checks]]\nkind = \"ttl\"\nttl = \"5m\"\n",
            10 + i
        );
        let config = write(dir, &format!("node-{i}.toml"), &config);
        ["--preset", "lan-fast", "--config", &config, "--api-token-file", &token]
            .map(str::to_string)
            .to_vec()
    });
    for i in 1..=3 {
        wait_until(Duration::from_secs(20), || {
            report(&cluster.http(i), "web-ttl", "pass", Some(TOKEN)) == 200
        })
        .expect("the TTL report was accepted");
    }
    let http = cluster.http(1);
    let all_passing = wait_until(Duration::from_secs(20), || {
        let seen = instances(&http, "web");
        seen.len() == 3 && seen.iter().all(|(_, status, _)| status == "passing")
    });
    assert!(
        all_passing.is_some(),
        "node-1 never saw three passing instances: {:?}",
        instances(&http, "web")
    );

    cluster
}

/// 600 weighted picks, in batches compared with the scores read just before each.
fn weighted_picks_follow_scores(http: &str) {
    // Scores move with each node's CPU samples: compare each batch of picks with the
    // scores read just before it.
    let (mut expected, mut picks) = (0.0, Vec::new());
    for _ in 0..30 {
        let scores = instances(http, "web");
        let score = |name: &str| scores.iter().find(|(n, _, _)| n == name).map_or(0.0, |s| s.2);
        expected += 20.0 * score("node-1") / (score("node-1") + score("node-2"));
        picks.extend(routes(http, "weighted", 20));
    }
    let node_1 = count(&picks, "node-1") as f64;
    eprintln!(
        "[measure] weighted routing: 600 picks gave node-1 {node_1} (scores predicted {expected:.0}), node-2 {}, node-3 {}",
        count(&picks, "node-2"),
        count(&picks, "node-3")
    );
    assert_eq!(count(&picks, "node-3"), 0);
    assert!(
        (node_1 - expected).abs() < 72.0,
        "picks {node_1} vs scores {expected:.0}"
    );
}

fn no_healthy_instance_means_503(cluster: &Cluster, http: &str) {
    let line = Command::new(VITALS)
        .args(["route", "web", "--http", http])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&line.stdout);
    assert!(
        line.status.success() && (text.starts_with("node-1 ") || text.starts_with("node-2 ")),
        "{text}"
    );
    for i in 1..=2 {
        assert_eq!(report(&cluster.http(i), "web-ttl", "fail", Some(TOKEN)), 200);
    }
    let none = wait_until(Duration::from_secs(5), || {
        get(http, "/v1/route?service=web").is_some_and(|r| r.0 == 503)
    });
    assert!(none.is_some(), "no healthy instance must answer 503");
    let (_, body) = get(http, "/v1/route?service=web").unwrap();
    assert!(
        serde_json::from_str::<Value>(&body).unwrap()["error"].is_string(),
        "{body}"
    );
    let refused = Command::new(VITALS)
        .args(["route", "web", "--http", http])
        .output()
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(1),
        "no route is a failure at run time, not a usage error"
    );
}

#[test]
fn a_critical_instance_is_never_routed_to_and_weighted_picks_follow_scores() {
    let dir = tempdir::Dir::new("127-20-4-conf");
    let cluster = three_passing_instances(&dir);
    let http = cluster.http(1);
    assert_eq!(report(&cluster.http(3), "web-ttl", "fail", Some(TOKEN)), 200);
    let critical = wait_until(Duration::from_secs(5), || {
        instances(&http, "web")
            .iter()
            .any(|(n, s, _)| n == "node-3" && s == "critical")
    });
    eprintln!(
        "[measure] routing: node-1 saw node-3's service critical {} ms after its TTL failed",
        critical.expect("node-1 never saw node-3 critical").as_millis()
    );
    for policy in ["weighted", "least-loaded", "round-robin"] {
        let picks = routes(&http, policy, 60);
        assert_eq!(count(&picks, "node-3"), 0, "{policy} routed to the critical instance");
    }
    let picks = routes(&http, "round-robin", 40);
    assert_eq!((count(&picks, "node-1"), count(&picks, "node-2")), (20, 20));

    assert_eq!(report(&cluster.http(2), "web-ttl", "warn", Some(TOKEN)), 200);
    wait_until(Duration::from_secs(5), || {
        instances(&http, "web")
            .iter()
            .any(|(n, s, _)| n == "node-2" && s == "warning")
    })
    .expect("node-1 never saw node-2's warning");
    weighted_picks_follow_scores(&http);
    no_healthy_instance_means_503(&cluster, &http);
}

/// What a gRPC health client hears for `services`, one status each: tonic-health's
/// generated `grpc.health.v1` client, the same protocol grpc-health-probe, Envoy and
/// Kubernetes gRPC probes speak. A failed call reads as its error.
fn grpc_check(addr: &str, services: &[&str]) -> Vec<String> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5));
        let channel = match endpoint.connect().await {
            Ok(channel) => channel,
            Err(error) => return vec![format!("cannot connect: {error}")],
        };
        let mut client = HealthClient::new(channel);
        let mut heard = Vec::new();
        for name in services {
            let request = HealthCheckRequest {
                service: name.to_string(),
            };
            heard.push(match client.check(request).await {
                Ok(reply) => ServingStatus::try_from(reply.into_inner().status)
                    .map_or("invalid status", |s| s.as_str_name())
                    .to_string(),
                Err(status) => format!("error: {status}"),
            });
        }
        heard
    })
}

#[test]
fn a_grpc_health_client_sees_serving_and_not_serving_as_checks_change() {
    let dir = tempdir::Dir::new("127-20-6-conf");
    let config =
        "[[services]]\nname = \"web\"\naddr = \"127.20.6.10:80\"\n[[services.checks]]\nkind = \"ttl\"\nttl = \"5m\"\n";
    let config = write(&dir, "agent.toml", config);
    let token = write(&dir, "token", TOKEN);
    let grpc = "127.20.6.2:7950";
    let cluster = Cluster::start(
        "127.20.6",
        1,
        &[
            "--preset",
            "lan-fast",
            "--config",
            &config,
            "--api-token-file",
            &token,
            "--grpc",
            grpc,
        ],
    );
    let http = cluster.http(1);
    let expect = |want: [&str; 2]| {
        let seen = wait_until(Duration::from_secs(15), || grpc_check(grpc, &["", "web"]) == want);
        assert!(
            seen.is_some(),
            "wanted {want:?}, the client heard {:?}",
            grpc_check(grpc, &["", "web"])
        );
    };
    expect(["SERVING", "NOT_SERVING"]);
    assert_eq!(report(&http, "web-ttl", "pass", Some(TOKEN)), 200);
    expect(["SERVING", "SERVING"]);
    assert_eq!(report(&http, "web-ttl", "fail", Some(TOKEN)), 200);
    expect(["SERVING", "NOT_SERVING"]);
    let (_, metrics) = get(&http, "/metrics").unwrap();
    for (status, value) in [("critical", 1), ("passing", 0)] {
        let series = format!("vitals_check_status{{check=\"web-ttl\",service=\"web\",status=\"{status}\"}} {value}");
        assert!(metrics.contains(&series), "no {series}:\n{metrics}");
    }
    eprintln!("[measure] grpc: the grpc.health.v1 client heard NOT_SERVING -> SERVING -> NOT_SERVING for `web`");
}
