//! Typed API on real agents: the OpenAPI description an agent serves is the checked-in
//! `docs/openapi.json`, and Prometheus's HTTP service discovery
//! (`/v1/prometheus/sd?service=NAME&passing`) lists the passing instances with their
//! labels and drops a killed member within the detection bound. (A real Prometheus reads
//! it in `scripts/prometheus-sd.py`, a CI step.)

use std::time::Duration;

use vitals_agent::api::SdTargetGroup;

use crate::support::{Cluster, DETECTION_BOUND, SLACK, get, wait_until};

/// The targets `?passing` lists, sorted (none while the agent does not answer yet).
fn passing_targets(http: &str) -> Vec<SdTargetGroup> {
    let Some((200, body)) = get(http, "/v1/prometheus/sd?service=web&passing") else {
        return Vec::new();
    };
    serde_json::from_str(&body).expect("the answer is a list of target groups")
}

#[test]
fn an_agent_serves_the_checked_in_openapi_description() {
    let cluster = Cluster::start("127.10.140", 1, &["--preset", "lan-fast"]);
    let http = cluster.http(1);
    let served = wait_until(Duration::from_secs(10), || get(&http, "/v1/openapi.json").is_some());
    assert!(served.is_some(), "no answer on /v1/openapi.json");
    let (status, body) = get(&http, "/v1/openapi.json").unwrap();
    assert_eq!(status, 200);
    let served: serde_json::Value = serde_json::from_str(&body).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let checked_in: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        served, checked_in,
        "regenerate: VITALS_BLESS=1 cargo test -p vitals-agent --lib openapi"
    );
}

#[test]
fn prometheus_http_sd_lists_passing_instances_and_drops_a_killed_one() {
    let mut cluster = Cluster::start_each("127.10.141", 3, |i| {
        let service = format!("web=127.10.141.{}:8080", i + 1);
        ["--preset", "lan-fast", "--service", &service]
            .map(str::to_string)
            .to_vec()
    });
    let http = cluster.http(1);
    let three = wait_until(Duration::from_secs(20), || passing_targets(&http).len() == 3);
    assert!(three.is_some(), "{:?}", passing_targets(&http));
    let groups = passing_targets(&http);
    let two = groups
        .iter()
        .find(|g| g.labels["__meta_vitals_member"] == "node-2")
        .expect("node-2 is listed");
    assert_eq!(two.targets, ["127.10.141.3:8080"]);
    assert_eq!(two.labels["__meta_vitals_service"], "web");
    assert_eq!(two.labels["__meta_vitals_member_status"], "alive");
    assert_eq!(two.labels["__meta_vitals_check_status"], "passing");
    let (_, unknown) = get(&http, "/v1/prometheus/sd?service=nope").unwrap();
    assert_eq!(unknown, "[]", "an unknown service has no targets");

    cluster.kill(3);
    let node3_listed = |groups: &[SdTargetGroup]| groups.iter().any(|g| g.labels["__meta_vitals_member"] == "node-3");
    let gone = wait_until(Duration::from_secs(10), || !node3_listed(&passing_targets(&http)));
    let gone = gone.expect("node-3 never left the passing targets");
    eprintln!(
        "[measure] prometheus sd: node-3 left ?passing {} ms after its SIGKILL",
        gone.as_millis()
    );
    assert!(gone <= DETECTION_BOUND + SLACK, "{gone:?}");
    let (_, all) = get(&http, "/v1/prometheus/sd?service=web").unwrap();
    let all: Vec<SdTargetGroup> = serde_json::from_str(&all).unwrap();
    assert!(
        node3_listed(&all),
        "without ?passing a suspect or dead member stays listed, with its status"
    );
}
