//! `GET /v1/events` on real agents (issue 16): a subscriber hears a SIGKILLed agent's death
//! within the detection bound, resumes with `Last-Event-ID`, is told the gap when the ring
//! cannot replay what it missed (its agent restarted), and a client that never reads
//! holds nothing up. Subnets 127.91.x.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Cluster, DETECTION_BOUND, SLACK, get, tempdir, wait_until};

/// One Server-Sent Events message.
#[derive(Debug, Clone)]
pub struct Message {
    pub event: String,
    pub id: Option<u64>,
    pub data: Value,
}

/// Reads `GET {path}` on `http` as an event stream in a thread; messages arrive on the
/// receiver as they are read. `headers` are sent as given.
pub fn subscribe(http: &str, path: &str, headers: &[(&str, &str)]) -> mpsc::Receiver<Message> {
    let mut stream = TcpStream::connect(http).expect("connect to the agent");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nAccept: text/event-stream\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let reader = BufReader::new(stream);
        let mut current = (String::new(), None, String::new());
        // The body is chunked: chunk-size lines are hex numbers, never SSE fields.
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(value) = line.strip_prefix("event: ") {
                current.0 = value.to_string();
            } else if let Some(value) = line.strip_prefix("id: ") {
                current.1 = value.parse().ok();
            } else if let Some(value) = line.strip_prefix("data: ") {
                current.2 = value.to_string();
            } else if line.is_empty() && !current.2.is_empty() {
                let (event, id, data) = std::mem::take(&mut current);
                let data = serde_json::from_str(&data).unwrap_or(Value::Null);
                if tx.send(Message { event, id, data }).is_err() {
                    return;
                }
            } else if line.starts_with("HTTP/1.1 ") && !line.starts_with("HTTP/1.1 200") {
                let _ = tx.send(Message {
                    event: "http-error".into(),
                    id: None,
                    data: Value::String(line),
                });
            }
        }
    });
    rx
}

/// The first message within `limit` that `wanted` accepts.
pub fn next_matching(
    rx: &mpsc::Receiver<Message>,
    limit: Duration,
    wanted: impl Fn(&Message) -> bool,
) -> Option<Message> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        let message = rx.recv_timeout(left).ok()?;
        assert_ne!(
            message.event, "http-error",
            "the stream was refused: {:?}",
            message.data
        );
        if wanted(&message) {
            return Some(message);
        }
    }
}

fn is_death_of(member: &str) -> impl Fn(&Message) -> bool + '_ {
    move |m| m.event == "member" && m.data["member"] == member && m.data["to"] == "dead"
}

fn converge(cluster: &Cluster, n: usize) {
    let formed = wait_until(Duration::from_secs(20), || cluster.everyone_alive(n));
    assert!(
        formed.is_some(),
        "agents never converged; logs in {}",
        cluster.log_dir().display()
    );
}

#[test]
fn a_subscriber_hears_a_killed_agent_die_and_resumes_after_the_last_event_it_saw() {
    let mut cluster = Cluster::start("127.91.1", 3, &["--preset", "lan-fast"]);
    let http = cluster.http(1);
    converge(&cluster, 3);
    let events = subscribe(&http, "/v1/events?kind=member", &[]);
    // Resuming from the start: the joins are replayed, with ids, times and reasons.
    let replayed = subscribe(&http, "/v1/events?kind=member&last_event_id=1", &[]);
    let gap = next_matching(&replayed, Duration::from_secs(2), |_| true).expect("a replay");
    assert_eq!(
        gap.event, "gap",
        "ids start above 1, so a resumption from 1 is a gap first"
    );
    let join = next_matching(&replayed, Duration::from_secs(2), |m| {
        m.data["member"] == "node-3" && m.data["to"] == "alive"
    })
    .expect("node-3's join is replayed");
    assert_eq!(join.data["kind"], "member");
    assert_eq!(join.data["id"].as_u64(), join.id);
    assert!(join.data["time"].as_str().unwrap().ends_with('Z'), "{:?}", join.data);

    let killed = cluster.kill(3);
    let death = next_matching(&events, Duration::from_secs(10), is_death_of("node-3"))
        .unwrap_or_else(|| panic!("no death event; logs in {}", cluster.log_dir().display()));
    let took = killed.elapsed();
    eprintln!(
        "[measure] SIGKILL of node-3 to its SSE death event: {} ms",
        took.as_millis()
    );
    assert!(
        took <= DETECTION_BOUND + SLACK,
        "the event came {took:?} after the kill"
    );
    let accuser = death.data["accuser"].as_str().unwrap_or_default();
    assert!(["node-1", "node-2"].contains(&accuser), "{:?}", death.data);
    let reason = death.data["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("declared dead by") && !reason.contains('\n'),
        "{reason}"
    );
    assert!(death.data["incarnation"].is_u64() && death.data["from"].is_string());

    // A client that missed the death resumes after the event before it and gets it.
    let last_seen = death.id.unwrap() - 1;
    let resumed = subscribe(
        &http,
        "/v1/events?kind=member",
        &[("Last-Event-ID", &last_seen.to_string())],
    );
    let again = next_matching(&resumed, Duration::from_secs(2), |_| true).expect("a replay");
    assert_eq!(again.id, death.id, "the resumption starts right after the id given");
}

#[test]
fn a_resumption_across_a_restart_is_told_the_gap_and_a_stalled_client_holds_nothing_up() {
    let mut cluster = Cluster::start("127.91.2", 2, &["--preset", "lan-fast"]);
    converge(&cluster, 2);
    let http = cluster.http(2);
    let first = subscribe(&http, "/v1/events?member=node-1", &[("Last-Event-ID", "1")]);
    let seen = next_matching(&first, Duration::from_secs(2), |m| m.id.is_some()).expect("node-1's join");
    // A client that sends its request and never reads a byte.
    let mut stalled = TcpStream::connect(&http).unwrap();
    write!(stalled, "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();

    cluster.kill(2);
    cluster.spawn(2);
    converge(&cluster, 2);
    let resumed = subscribe(&http, "/v1/events", &[("Last-Event-ID", &seen.id.unwrap().to_string())]);
    let gap = next_matching(&resumed, Duration::from_secs(2), |_| true).expect("a message");
    assert_eq!(gap.event, "gap", "{gap:?}");
    assert_eq!(gap.data["from"].as_u64(), Some(seen.id.unwrap() + 1));
    assert!(gap.data["to"].as_u64().unwrap() > seen.id.unwrap());

    let mut stalled = TcpStream::connect(&http).unwrap();
    write!(stalled, "GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let reader = subscribe(&http, "/v1/events?kind=member", &[]);
    let killed = cluster.kill(1);
    let heard = next_matching(&reader, Duration::from_secs(10), is_death_of("node-1"));
    assert!(
        heard.is_some(),
        "a stalled client kept the others from hearing the death"
    );
    assert!(killed.elapsed() <= DETECTION_BOUND + SLACK);
    assert_eq!(get(&http, "/healthz").map(|(s, _)| s), Some(200));
}

#[test]
fn under_api_auth_all_a_browser_subscribes_with_a_query_token() {
    let dir = tempdir::Dir::new("127-91-3");
    let token = dir.0.join("token");
    std::fs::write(&token, "events-token-0123456789abcdef").unwrap();
    let token = token.to_str().unwrap();
    let cluster = Cluster::start(
        "127.91.3",
        1,
        &["--preset", "lan-fast", "--api-token-file", token, "--api-auth", "all"],
    );
    let http = cluster.http(1);
    assert!(wait_until(Duration::from_secs(20), || get(&http, "/healthz").is_some()).is_some());
    assert_eq!(get(&http, "/v1/events").map(|(s, _)| s), Some(401));
    assert_eq!(
        get(&http, "/v1/members?token=events-token-0123456789abcdef").map(|(s, _)| s),
        Some(401)
    );
    assert_eq!(
        get(&http, "/v1/events?kind=nope&token=events-token-0123456789abcdef").map(|(s, _)| s),
        Some(400)
    );
    let stream = subscribe(
        &http,
        "/v1/events?token=events-token-0123456789abcdef&last_event_id=1",
        &[],
    );
    let first = next_matching(&stream, Duration::from_secs(2), |_| true);
    assert_eq!(first.map(|m| m.event).as_deref(), Some("gap"));
}
