//! Blocking queries on real agents (issue 16): `?index=N&wait=...` answers at the first
//! change after N (a SIGKILLed member) or at the timeout; bad values are refused; and
//! `vitals proxy`, told to poll only every 30 s, still stops routing to a dead member's
//! instance within the detection bound, because it follows the agent through watches.
//! Subnets 127.91.4 and 127.91.5.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::backends::Switchable;
use crate::health::{instances, write};
use crate::support::{Cluster, DETECTION_BOUND, SLACK, VITALS, get, metric, tempdir, wait_until};

/// `GET` with a long timeout: (status, `X-Vitals-Index`, body as JSON).
fn watch(http: &str, path: &str) -> (u16, Option<u64>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&format!("http://{http}{path}"))
        .call()
        .expect("the agent answers");
    let index = response
        .headers()
        .get("x-vitals-index")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (
        response.status().as_u16(),
        index,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

fn status_of(members: &Value, name: &str) -> Option<String> {
    let row = members.as_array()?.iter().find(|m| m["name"] == name)?;
    row["status"].as_str().map(str::to_string)
}

#[test]
fn a_blocking_query_answers_at_the_first_change_or_at_the_timeout() {
    let mut cluster = Cluster::start("127.91.4", 3, &["--preset", "lan-fast"]);
    let http = cluster.http(1);
    let formed = wait_until(Duration::from_secs(20), || cluster.everyone_alive(3));
    assert!(formed.is_some(), "agents never converged");

    for (path, words) in [
        ("/v1/members?index=soon", "whole number"),
        ("/v1/members?wait=11m&index=1", "at most 10m"),
        ("/v1/services/web?wait=later", "like 30s"),
        ("/v1/route?service=web&index=-2", "whole number"),
    ] {
        let (status, body) = get(&http, path).unwrap();
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(words), "{path}: {body}");
    }

    let (_, index, _) = watch(&http, "/v1/members");
    let index = index.expect("/v1/members carries X-Vitals-Index");
    let asked = Instant::now();
    let (status, same, members) = watch(&http, &format!("/v1/members?index={index}&wait=1s"));
    let waited = asked.elapsed();
    assert_eq!(status, 200);
    assert!(
        same != Some(index) || waited >= Duration::from_millis(950),
        "an unchanged watch answered after {waited:?}"
    );
    assert_eq!(status_of(&members, "node-3").as_deref(), Some("alive"));
    let mut index = same.unwrap();

    let start_waiter = |index: u64| {
        let http = http.clone();
        std::thread::spawn(move || {
            let answer = watch(&http, &format!("/v1/members?index={index}&wait=30s"));
            (answer, Instant::now())
        })
    };
    let mut waiter = start_waiter(index);
    // The watch is blocked when node-3 is killed. On a busy machine something else (a
    // check's status, a suspicion) may change first: the watch must then answer with a
    // higher index, and is started again.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        if !waiter.is_finished() {
            break;
        }
        let ((status, next, _), _) = waiter.join().unwrap();
        assert_eq!(status, 200);
        let next = next.expect("X-Vitals-Index");
        assert!(
            next > index,
            "the watch answered with index {next} though {index} had not changed"
        );
        index = next;
        waiter = start_waiter(index);
    }
    assert!(!waiter.is_finished(), "the members changed every 200 ms for 2 s");
    let killed = cluster.kill(3);
    let ((status, next, members), answered) = waiter.join().unwrap();
    let took = answered - killed;
    eprintln!(
        "[measure] SIGKILL of node-3 to the members watch's answer: {} ms",
        took.as_millis()
    );
    assert_eq!(status, 200);
    assert!(next.unwrap() > index, "the index did not rise: {next:?} after {index}");
    assert_ne!(status_of(&members, "node-3").as_deref(), Some("alive"));
    assert!(
        took <= DETECTION_BOUND + SLACK,
        "the watch answered {took:?} after the kill"
    );
}

struct Proxy(std::process::Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_proxy_stops_routing_to_a_dead_members_instance_through_a_watch() {
    const PROXY: &str = "127.91.5.100:8000";
    const PROXY_METRICS: &str = "127.91.5.100:8001";
    let backends: Vec<Switchable> = (1..=3).map(|_| Switchable::start("127.91.5.50")).collect();
    let dir = tempdir::Dir::new("127-91-5-conf");
    let mut cluster = Cluster::start_each("127.91.5", 3, |i| {
        let config = format!("[[services]]\nname = \"web\"\naddr = \"{}\"\n", backends[i - 1].addr);
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
        "three instances never appeared: {:?}",
        instances(&http, "web")
    );
    // A poll every 30 s could not notice the death in time: only the watch can.
    let child = std::process::Command::new(VITALS)
        .args(["proxy", "--listen", PROXY, "--service", "web", "--http", &http])
        .args(["--metrics", PROXY_METRICS, "--refresh", "30s"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _proxy = Proxy(child);
    let routed_to_2 = || metric(PROXY_METRICS, "vitals_proxy_connections_total{target=\"node-2\"}");
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let _ = std::net::TcpStream::connect(PROXY);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    assert!(
        wait_until(Duration::from_secs(10), || routed_to_2() > 0.0).is_some(),
        "node-2 never got traffic"
    );

    let killed = cluster.kill(2);
    let mut last_rise = killed;
    let mut count = routed_to_2();
    while killed.elapsed() < Duration::from_secs(4) {
        let now = routed_to_2();
        if now > count {
            (count, last_rise) = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    load.join().unwrap();
    let reaction = last_rise - killed;
    eprintln!(
        "[measure] proxy (watch): last connection to the killed member's instance {} ms after the kill",
        reaction.as_millis()
    );
    assert!(
        reaction <= DETECTION_BOUND + SLACK,
        "the proxy routed to node-2 {reaction:?} after its death"
    );
}
