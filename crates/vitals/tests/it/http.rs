//! The HTTP API returns what is specified, on a real agent.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;
use vitals_agent::daemon::http::MAX_CONNECTIONS;

use crate::support::{Cluster, get, get_json, wait_until};

#[test]
fn members_self_health_ready_and_metrics_endpoints_answer_as_specified() {
    let cluster = Cluster::start("127.10.10", 2, &["--preset", "lan-fast", "--ack"]);
    let http = cluster.http(1);
    let rtt_known = wait_until(Duration::from_secs(20), || {
        let rows = get_json(&http, "/v1/members").unwrap_or(Value::Null);
        let peer = rows
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == "node-2").cloned());
        peer.is_some_and(|p| p["rtt_ms"].is_number() && p["health"].is_object())
    });
    assert!(
        rtt_known.is_some(),
        "node-1 never measured node-2's round trip and health"
    );

    let rows = get_json(&http, "/v1/members").unwrap();
    let peer = rows.as_array().unwrap().iter().find(|r| r["name"] == "node-2").unwrap();
    for field in [
        "name",
        "addr",
        "status",
        "incarnation",
        "last_heard_ms",
        "health",
        "rtt_ms",
    ] {
        assert!(!peer[field].is_null(), "member field {field} missing: {peer}");
    }
    assert_eq!(peer["addr"], "127.10.10.3:7946");
    assert_eq!(peer["status"], "alive");
    for field in [
        "cpu_percent",
        "mem_available_bytes",
        "mem_total_bytes",
        "load1",
        "disk_free_bytes",
    ] {
        assert!(
            peer["health"][field].is_number(),
            "health field {field} missing: {peer}"
        );
    }
    assert!(peer["health"]["mem_total_bytes"].as_u64().unwrap() > 0);

    let me = get_json(&http, "/v1/self").unwrap();
    assert_eq!(me["name"], "node-1");
    assert_eq!(me["strategy"], "push");
    assert_eq!(me["config"]["interval"], "200ms");
    assert_eq!(me["config"]["threshold"], 3);
    assert_eq!(me["config"]["ack"], true);

    assert_eq!(get(&http, "/healthz").unwrap().0, 200);
    assert_eq!(get(&http, "/readyz").unwrap().0, 200);
    let (status, body) = get(&http, "/nope").unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("/v1/members"));

    let (status, metrics) = get(&http, "/metrics").unwrap();
    assert_eq!(status, 200);
    for name in [
        "vitals_heartbeats_sent_total",
        "vitals_heartbeats_received_total",
        "vitals_sent_bytes_total",
        "vitals_received_bytes_total",
        "vitals_members{status=\"alive\"} 2",
        "vitals_transitions_total",
        "vitals_decode_errors_total",
        "vitals_detection_latency_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }
    metrics_are_negotiated_and_parse(&http);
}

/// Whether `name` is a histogram's `_sum` or `_count` (the parser leaves those untyped).
fn is_histogram_total(exposition: &str, name: &str) -> bool {
    let base = name.strip_suffix("_sum").or_else(|| name.strip_suffix("_count"));
    base.is_some_and(|base| exposition.contains(&format!("# TYPE {base} histogram\n")))
}

/// `GET /metrics` with an `Accept` header: the content type and the body.
fn scrape(http: &str, accept: &str) -> (String, String) {
    let mut response = ureq::get(&format!("http://{http}/metrics"))
        .header("Accept", accept)
        .call()
        .unwrap();
    let content_type = response
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    (content_type, response.body_mut().read_to_string().unwrap())
}

/// The classic text format goes to who asks for it (and to who asks for nothing in
/// particular), and a real parser reads every family with its type; OpenMetrics goes to
/// Prometheus's Accept header.
fn metrics_are_negotiated_and_parse(http: &str) {
    let (content_type, classic) = scrape(http, "text/plain;version=0.0.4");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!classic.contains("# EOF"), "{classic}");
    let lines = classic.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).unwrap();
    let untyped: Vec<_> = parsed
        .samples
        .iter()
        .filter(|s| matches!(s.value, prometheus_parse::Value::Untyped(_)))
        .map(|s| &s.metric)
        .filter(|name| !is_histogram_total(&classic, name))
        .collect();
    assert!(untyped.is_empty(), "families without a type: {untyped:?}\n{classic}");
    let find = |metric: &str| parsed.samples.iter().find(|s| s.metric == metric);
    let sent = find("vitals_sent_bytes_total").expect("vitals_sent_bytes_total");
    assert!(
        matches!(sent.value, prometheus_parse::Value::Counter(v) if v > 0.0),
        "{sent:?}"
    );
    for name in [
        "vitals_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
    ] {
        assert!(find(name).is_some(), "no {name}:\n{classic}");
    }
    let alive = parsed.samples.iter().find(|s| {
        s.metric == "vitals_member_status"
            && s.labels.get("member") == Some("node-2")
            && s.labels.get("status") == Some("alive")
    });
    assert!(
        matches!(alive.map(|s| &s.value), Some(prometheus_parse::Value::Gauge(1.0))),
        "{classic}"
    );
    assert!(
        !classic.contains("vitals_is_leader"),
        "leader series under push:\n{classic}"
    );

    let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let (content_type, openmetrics) = scrape(http, prometheus);
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(
        openmetrics.contains("# TYPE vitals_sent_bytes counter\nvitals_sent_bytes_total "),
        "{openmetrics}"
    );
    assert_eq!(scrape(http, "*/*").0, "text/plain; version=0.0.4; charset=utf-8");
}

#[test]
fn an_agent_whose_seed_never_answers_is_alive_but_not_ready() {
    let mut cluster = Cluster::start("127.10.11", 1, &["--preset", "lan-fast"]);
    // node-1 joins through itself, which needs no answer; start node-2 pointing nowhere.
    let http = cluster.http(1);
    assert!(
        wait_until(Duration::from_secs(20), || get(&http, "/readyz")
            .is_some_and(|(s, _)| s == 200))
        .is_some()
    );
    cluster.signal(1, nix::sys::signal::Signal::SIGSTOP);
    let lonely = crate::support::tempdir::Dir::new("lonely");
    let mut child = std::process::Command::new(crate::support::VITALS)
        .args([
            "agent",
            "--name",
            "lonely",
            "--bind",
            "127.10.11.9:7946",
            "--http",
            "127.10.11.9:7947",
        ])
        .args(["--join", "127.10.11.2:7946", "--preset", "lan-fast"])
        .stderr(std::fs::File::create(lonely.0.join("log")).unwrap())
        .spawn()
        .unwrap();
    let answered = wait_until(Duration::from_secs(20), || {
        get("127.10.11.9:7947", "/healthz").is_some_and(|(s, _)| s == 200)
    });
    assert!(answered.is_some(), "healthz never answered");
    let unready = wait_until(Duration::from_secs(5), || {
        get("127.10.11.9:7947", "/readyz")
            .is_some_and(|(s, body)| s == 503 && body.contains("no answer from seed 127.10.11.2:7946"))
    });
    assert!(unready.is_some(), "{:?}", get("127.10.11.9:7947", "/readyz"));
    cluster.signal(1, nix::sys::signal::Signal::SIGCONT);
    let ready = wait_until(Duration::from_secs(10), || {
        get("127.10.11.9:7947", "/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert!(ready.is_some(), "the agent never became ready once its seed answered");
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether the agent has closed this connection (a read returns end of stream).
fn closed_by_peer(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    matches!((&*stream).read(&mut [0; 1]), Ok(0))
}

/// Issue 13, item 11: hundreds of idle TCP connections (a slow or hostile client) must not
/// keep the probe endpoint, or any other, from answering; the agent closes the oldest idle
/// connections instead of queueing new ones behind them.
#[test]
fn healthz_answers_while_hundreds_of_idle_connections_are_open() {
    let cluster = Cluster::start("127.10.131", 1, &["--preset", "lan-fast"]);
    let http = cluster.http(1);
    let up = wait_until(Duration::from_secs(20), || get(&http, "/healthz").is_some());
    assert!(up.is_some(), "the agent never answered /healthz");
    let addr = http.parse().unwrap();
    let idle: Vec<TcpStream> = (0..400)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok())
        .collect();
    assert!(idle.len() >= 300, "only {} of 400 connections opened", idle.len());
    for path in ["/healthz", "/readyz", "/v1/members", "/healthz"] {
        // `get` gives up after 2 s; idle connections used to hold the API for ~30 s.
        let answer = get(&http, path).map(|(status, _)| status);
        assert_eq!(
            answer,
            Some(200),
            "{path} did not answer while {} idle connections were open",
            idle.len()
        );
    }
    let bounded = wait_until(Duration::from_secs(2), || {
        idle.iter().filter(|s| closed_by_peer(s)).count() + MAX_CONNECTIONS >= idle.len()
    });
    assert!(
        bounded.is_some(),
        "the agent keeps more than {MAX_CONNECTIONS} idle connections open"
    );
}
