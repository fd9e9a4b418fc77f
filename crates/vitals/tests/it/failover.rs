//! Failover through `vitals proxy`, with real processes on loopback: three
//! HTTP backends (their own processes) behind three agents and a proxy; a client sends
//! requests continuously; one backend and its agent are SIGKILLed. Reports how many
//! requests failed and for how long, and requires 100 % success after the detection bound.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::backends::ServerProcess;
use crate::health::{instances, write};
use crate::support::{Cluster, DETECTION_BOUND, SLACK, VITALS, get, tempdir, wait_until};

const SUBNET: &str = "127.20.5";
const PROXY: &str = "127.20.5.100:8000";
const PROXY_METRICS: &str = "127.20.5.100:8001";

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One request through the proxy on a fresh connection: whether it got a 200.
fn request(agent: &ureq::Agent) -> bool {
    agent
        .get(&format!("http://{PROXY}/healthz"))
        .call()
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// Sends requests until `stop`; returns (time since start, success) for each.
fn client(stop: Arc<AtomicBool>, start: Instant) -> Vec<(Duration, bool)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .max_idle_connections(0)
        .http_status_as_error(false)
        .build()
        .into();
    let mut log = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let ok = request(&agent);
        log.push((start.elapsed(), ok));
        std::thread::sleep(Duration::from_millis(5));
    }
    log
}

fn start_proxy(agent_http: &str) -> Proxy {
    let child = Command::new(VITALS)
        .args(["proxy", "--listen", PROXY, "--service", "web", "--http", agent_http])
        .args(["--metrics", PROXY_METRICS, "--refresh", "50ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proxy(child)
}

#[test]
fn the_proxy_fails_over_when_a_backend_and_its_agent_are_killed() {
    let mut backends: Vec<ServerProcess> = (1..=3)
        .map(|i| ServerProcess::start(&format!("{SUBNET}.{}", 10 + i), 8080))
        .collect();
    let dir = tempdir::Dir::new("127-20-5-conf");
    let mut cluster = Cluster::start_each(SUBNET, 3, |i| {
        let config = format!(
            "[[services]]\nname = \"web\"\naddr = \"{SUBNET}.{}:8080\"\n[[services.checks]]\nkind = \"http\"\n\
             path = \"/healthz\"\ninterval = \"100ms\"\ntimeout = \"100ms\"\nrise = 2\nfall = 2\n",
            10 + i
        );
        let config = write(&dir, &format!("node-{i}.toml"), &config);
        ["--preset", "lan-fast", "--config", &config]
            .map(str::to_string)
            .to_vec()
    });
    let http = cluster.http(1);
    let ready = wait_until(Duration::from_secs(20), || {
        let seen = instances(&http, "web");
        seen.len() == 3 && seen.iter().all(|(_, status, _)| status == "passing")
    });
    assert!(
        ready.is_some(),
        "three passing instances never appeared: {:?}",
        instances(&http, "web")
    );
    let _proxy = start_proxy(&http);
    let probe: ureq::Agent = ureq::Agent::config_builder().max_idle_connections(0).build().into();
    wait_until(Duration::from_secs(10), || request(&probe)).expect("the proxy never answered");

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let load = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || client(stop, start))
    };
    std::thread::sleep(Duration::from_millis(1000)); // steady load before the crash
    backends[1].kill();
    let killed_at = cluster.kill(2) - start;
    let dead = wait_until(Duration::from_secs(10), || cluster.all_see(&[1], 2, "dead"));
    let dead = dead.expect("node-1 never declared node-2 dead");
    std::thread::sleep(Duration::from_secs(2)); // the load keeps going after detection
    stop.store(true, Ordering::SeqCst);
    let log = load.join().unwrap();
    report(&log, killed_at, dead);
    let bound = killed_at + DETECTION_BOUND + SLACK;
    let late: Vec<_> = log.iter().filter(|(at, ok)| *at > bound && !ok).collect();
    assert!(late.is_empty(), "requests failed after the detection bound: {late:?}");
    let (_, metrics) = get(PROXY_METRICS, "/metrics").unwrap();
    for target in ["node-1", "node-2", "node-3"] {
        assert!(
            metrics.contains(&format!("vitals_proxy_connections_total{{target=\"{target}\"}}")),
            "no connection count for {target}: {metrics}"
        );
    }
}

fn report(log: &[(Duration, bool)], killed_at: Duration, dead: Duration) {
    let failed: Vec<Duration> = log.iter().filter(|(_, ok)| !ok).map(|(at, _)| *at).collect();
    let after: Vec<_> = log.iter().filter(|(at, _)| *at > killed_at).collect();
    let window = match (failed.first(), failed.last()) {
        (Some(first), Some(last)) => format!(
            "{} ms (from {} ms to {} ms after the kill)",
            (*last - *first).as_millis(),
            first.saturating_sub(killed_at).as_millis(),
            last.saturating_sub(killed_at).as_millis()
        ),
        _ => "none".to_string(),
    };
    let last_failure = failed.last().map_or(Duration::ZERO, |l| l.saturating_sub(killed_at));
    eprintln!(
        "[measure] failover: {} requests ({} after the kill), {} failed; failure window {window}; \
         node-2 declared dead {} ms after the kill; 100 % success from {} ms after the kill",
        log.len(),
        after.len(),
        failed.len(),
        dead.as_millis(),
        last_failure.as_millis()
    );
}
