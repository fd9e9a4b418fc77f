//! Link measurements with real agents on loopback: `GET /v1/links` lists each peer with
//! no loss and loopback delays, `vitals links` prints them, and `GET /v1/tune` and
//! `vitals tune --from` recommend from them. (Loss injected with nftables:
//! scripts/links-loss.py, run as root by CI.)

use std::process::Command;
use std::time::Duration;

use crate::support::{Cluster, VITALS, get, get_json, wait_until};

#[test]
fn links_list_each_peer_without_loss_and_tune_recommends_from_them() {
    let cluster = Cluster::start("127.10.180", 3, &["--preset", "lan-fast", "--ack"]);
    assert!(wait_until(Duration::from_secs(20), || cluster.everyone_alive(3)).is_some());
    let http = cluster.http(1);
    // 5 s of 200 ms rounds: some 25 heartbeats and acks from each peer.
    let measured = wait_until(Duration::from_secs(20), || {
        get_json(&http, "/v1/links").is_some_and(|links| {
            links
                .as_array()
                .is_some_and(|all| all.len() == 2 && all.iter().all(|l| l["window_s"].as_f64() >= Some(5.0)))
        })
    });
    assert!(measured.is_some(), "{:?}", get(&http, "/v1/links"));
    check_links(&cluster, &http);
    check_tune(&http);
}

/// Each peer on a clean loopback: no loss, loopback delays, 200 ms rounds; and the table.
fn check_links(cluster: &Cluster, http: &str) {
    let links = get_json(http, "/v1/links").unwrap();
    let names: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["peer"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["node-2", "node-3"]);
    for (i, link) in links.as_array().unwrap().iter().enumerate() {
        assert_eq!(link["addr"], cluster.bind(i + 2), "{link}");
        assert_eq!(link["loss"], 0.0, "a clean loopback loses nothing: {link}");
        assert!(link["received"].as_u64().unwrap() >= 20, "{link}");
        // Loopback on a busy machine: well under 100 ms, never zero rounds.
        let delay = &link["delay_ms"];
        assert!(delay["p50"].as_f64().unwrap() < 100.0, "{link}");
        assert!(
            delay["p99"].as_f64().unwrap() >= delay["p50"].as_f64().unwrap(),
            "{link}"
        );
        assert!(link["rtt_ms"]["p50"].as_f64().unwrap() > 0.0, "{link}");
        let mean = link["interarrival_ms"]["mean"].as_f64().unwrap();
        assert!((150.0..300.0).contains(&mean), "200 ms rounds: {link}");
    }

    let table = Command::new(VITALS).args(["links", "--http", http]).output().unwrap();
    assert!(table.status.success());
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("PEER"), "{table}");
    for peer in ["node-2", "node-3"] {
        assert!(
            table.lines().any(|l| l.starts_with(peer) && l.contains("0.00%")),
            "{peer} in {table}"
        );
    }
}

/// `GET /v1/tune` and `vitals tune --from` recommend the same from what was measured.
fn check_tune(http: &str) {
    let tune = get_json(http, "/v1/tune?detect-within=5s&mistakes=1/month").unwrap();
    assert_eq!(tune["loss"], 0.0, "{tune}");
    assert!(tune["threshold"].as_u64().unwrap() >= 1, "{tune}");
    assert!(tune["flags"].as_str().unwrap().starts_with("--interval "), "{tune}");
    let (status, body) = get(http, "/v1/tune?detect-within=soon&mistakes=1/month").unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("detect-within"), "{body}");

    let from = Command::new(VITALS)
        .args([
            "tune",
            "--from",
            http,
            "--detect-within",
            "5s",
            "--max-false-positives",
            "1/month",
        ])
        .args(["--nodes", "3", "--sim-duration", "10m"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&from.stdout);
    assert!(
        from.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&from.stderr)
    );
    assert!(stdout.starts_with("measured at "), "{stdout}");
    assert!(
        stdout.contains(&format!("--interval {}", tune["interval"].as_str().unwrap())),
        "the same pick as /v1/tune: {stdout}\n{tune}"
    );
    assert!(stdout.contains("predicted") && stdout.contains("simulated"), "{stdout}");
    // --from measures what --loss would guess: both at once are refused.
    let both = Command::new(VITALS)
        .args([
            "tune",
            "--from",
            http,
            "--detect-within",
            "5s",
            "--max-false-positives",
            "1/month",
            "--loss",
            "0.1",
        ])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}
