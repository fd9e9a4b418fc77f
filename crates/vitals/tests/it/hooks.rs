//! Event handlers and webhooks on real agents (issue 16): a handler program runs with the
//! event in its environment and the members on standard input, a failing one is counted;
//! a webhook that answers 503 first gets the event again and the retry is counted; bad
//! specs are refused at start-up with the fix. Subnets 127.91.6 and 127.91.7.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Cluster, VITALS, metric, tempdir, wait_until};

fn script(dir: &tempdir::Dir, name: &str, body: &str) -> String {
    let path = dir.0.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_handler_runs_with_the_event_in_its_environment_and_a_failing_one_is_counted() {
    let dir = tempdir::Dir::new("127-91-6-hooks");
    let out = dir.0.join("dead.txt");
    let record = script(
        &dir,
        "record.sh",
        &format!(
            "{{ echo \"$VITALS_EVENT $VITALS_MEMBER $VITALS_FROM>$VITALS_TO by=$VITALS_ACCUSER self=$VITALS_SELF\"; cat; }} > {}.tmp && mv {0}.tmp {0}",
            out.display()
        ),
    );
    let fail = script(&dir, "fail.sh", "exit 3");
    let mut cluster = Cluster::start_each("127.91.6", 2, |i| {
        let mut args = vec!["--preset".to_string(), "lan-fast".to_string()];
        if i == 1 {
            args.extend([
                "--event-handler".to_string(),
                format!("member:dead={record}"),
                "--event-handler".to_string(),
                format!("member={fail}"),
            ]);
        }
        args
    });
    let http = cluster.http(1);
    assert!(wait_until(Duration::from_secs(20), || cluster.everyone_alive(2)).is_some());
    let failed = "vitals_event_handler_runs_total{outcome=\"failed\"}";
    assert!(
        wait_until(Duration::from_secs(5), || metric(&http, failed) >= 1.0).is_some(),
        "the failing handler's run (for node-2's join) was never counted"
    );
    cluster.kill(2);
    let ran = wait_until(Duration::from_secs(10), || out.exists());
    assert!(
        ran.is_some(),
        "the handler never ran; logs in {}",
        cluster.log_dir().display()
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    let first = lines.next().unwrap();
    assert!(first.starts_with("member node-2 "), "{first}");
    assert!(
        first.contains(">dead by=node-") && first.ends_with("self=node-1"),
        "{first}"
    );
    let members: Vec<&str> = lines.collect();
    assert!(
        members.iter().any(|l| l.starts_with("node-1\t127.91.6.2:7946\talive")),
        "{members:?}"
    );
    // The file is written just before the handler exits: its run is counted right after.
    let ok = "vitals_event_handler_runs_total{outcome=\"ok\"}";
    assert!(wait_until(Duration::from_secs(2), || metric(&http, ok) == 1.0).is_some());
    assert!(cluster.log(1).contains("event handler failed"));
}

/// A webhook receiver that answers 503 to its first request and 200 after; keeps bodies.
fn receiver(listener: TcpListener, bodies: Arc<Mutex<Vec<Value>>>) {
    for (n, stream) in listener.incoming().enumerate() {
        let Ok(mut stream) = stream else { return };
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let body = loop {
            let Ok(read) = stream.read(&mut buf) else { break None };
            if read == 0 {
                break None;
            }
            seen.extend_from_slice(&buf[..read]);
            let text = String::from_utf8_lossy(&seen).to_string();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let length: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ")?.parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                break Some(body[..length].to_string());
            }
        };
        let status = if n == 0 { "503 Busy" } else { "200 OK" };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        if n > 0 {
            let value = body.and_then(|b| serde_json::from_str(&b).ok()).unwrap_or(Value::Null);
            bodies.lock().unwrap().push(value);
        }
    }
}

#[test]
fn a_webhook_gets_each_event_as_json_and_a_refused_delivery_is_retried() {
    let listener = TcpListener::bind("127.91.7.50:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    std::thread::spawn(move || receiver(listener, kept));
    let cluster = Cluster::start_each("127.91.7", 2, |i| {
        let mut args = vec!["--preset".to_string(), "lan-fast".to_string()];
        if i == 1 {
            args.extend(["--webhook".to_string(), url.clone()]);
        }
        args
    });
    let http = cluster.http(1);
    let joined = wait_until(Duration::from_secs(20), || {
        bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b["kind"] == "member" && b["member"] == "node-2" && b["to"] == "alive")
    });
    assert!(
        joined.is_some(),
        "node-2's join never reached the webhook: {:?}",
        bodies.lock().unwrap()
    );
    assert!(metric(&http, "vitals_webhook_deliveries_total{outcome=\"retried\"}") >= 1.0);
    assert!(metric(&http, "vitals_webhook_deliveries_total{outcome=\"ok\"}") >= 1.0);
    let ids: Vec<u64> = bodies.lock().unwrap().iter().filter_map(|b| b["id"].as_u64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "delivered out of order: {ids:?}");
}

#[test]
fn bad_handlers_and_webhooks_are_refused_at_start_up_with_the_fix() {
    for (flag, value, words) in [
        (
            "--event-handler",
            "members=/bin/true",
            "use member, leader, check, service or *",
        ),
        ("--event-handler", "member:gone=/bin/true", "alive, suspect, dead, left"),
        ("--event-handler", "member=/no/such/handler", "not an executable file"),
        ("--webhook", "https://example.org/hook", "https is not supported"),
        ("--event-handler-timeout", "0s", "from 1ms to 1h"),
    ] {
        let out = std::process::Command::new(VITALS)
            .args([
                "agent",
                "--name",
                "x",
                "--bind",
                "127.91.8.2:7946",
                "--http",
                "127.91.8.2:7947",
            ])
            .args([flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(words), "{flag} {value}: {stderr}");
    }
}
