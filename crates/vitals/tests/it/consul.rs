//! The Consul-compatible read-only API on real agents, in the shapes Consul's clients
//! parse: the catalog lists the services, `/v1/health/service/NAME` lists each instance
//! with a `serfHealth` and a service check, `?passing` drops a killed member within the
//! detection bound, and every answer carries the `X-Consul-*` headers Consul's Go client
//! requires. (Consul clients no one here wrote read it in `scripts/consul-clients.py`, a CI step.)

use std::time::Duration;

use serde_json::Value;

use crate::support::{Cluster, DETECTION_BOUND, SLACK, wait_until};

/// `GET path` on `http`: the JSON body and the `X-Consul-Index` header.
fn consul_get(http: &str, path: &str) -> (Value, u64) {
    let mut response = ureq::get(&format!("http://{http}{path}")).call().unwrap();
    let header = |name: &str| {
        let value = response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name} on {path}"));
        value.to_str().unwrap().to_string()
    };
    let index: u64 = header("x-consul-index").parse().unwrap();
    assert_eq!(header("x-consul-lastcontact"), "0");
    assert_eq!(header("x-consul-knownleader"), "true");
    (response.body_mut().read_json().unwrap(), index)
}

/// The members `?passing` lists (none while the agent does not answer yet).
fn passing_nodes(http: &str) -> Vec<String> {
    let Some((_, body)) = crate::support::get(http, "/v1/health/service/web?passing") else {
        return Vec::new();
    };
    let entries: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let entries = entries.as_array().into_iter().flatten();
    entries
        .filter_map(|e| Some(e["Node"]["Node"].as_str()?.to_string()))
        .collect()
}

#[test]
fn consul_clients_read_the_catalog_and_a_killed_member_stops_passing() {
    let mut cluster = Cluster::start_each("127.10.26", 3, |i| {
        let service = format!("web=127.10.26.{}:8080", i + 1);
        ["--preset", "lan-fast", "--service", &service]
            .map(str::to_string)
            .to_vec()
    });
    let http = cluster.http(1);
    let all = || passing_nodes(&http).len() == 3;
    assert!(
        wait_until(Duration::from_secs(20), all).is_some(),
        "{:?}",
        passing_nodes(&http)
    );

    let (services, first_index) = consul_get(&http, "/v1/catalog/services");
    assert_eq!(services, serde_json::json!({"web": []}));
    let (me, _) = consul_get(&http, "/v1/agent/self");
    assert_eq!(
        (me["Config"]["Datacenter"].as_str(), me["Config"]["NodeName"].as_str()),
        (Some("dc1"), Some("node-1"))
    );
    let (members, _) = consul_get(&http, "/v1/agent/members");
    assert_eq!(members.as_array().unwrap().len(), 3);
    let (entries, _) = consul_get(&http, "/v1/health/service/web");
    let two = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Node"]["Node"] == "node-2")
        .unwrap();
    assert_eq!(two["Service"]["Address"], "127.10.26.3");
    assert_eq!(two["Service"]["Port"], 8080);
    assert_eq!(two["Node"]["Address"], "127.10.26.3");
    let checks: Vec<(&str, &str)> = two["Checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["CheckID"].as_str().unwrap(), c["Status"].as_str().unwrap()))
        .collect();
    assert_eq!(checks, [("serfHealth", "passing"), ("service:web", "passing")]);

    cluster.kill(3);
    let gone = wait_until(Duration::from_secs(10), || {
        !passing_nodes(&http).contains(&"node-3".to_string())
    });
    let gone = gone.expect("node-3 never stopped passing");
    eprintln!(
        "[measure] consul: node-3 left ?passing {} ms after its SIGKILL (suspect: warning)",
        gone.as_millis()
    );
    assert!(gone <= DETECTION_BOUND + SLACK, "{gone:?}");
    let serf_health = || {
        let (entries, index) = consul_get(&http, "/v1/health/service/web");
        let entries = entries.as_array().unwrap().clone();
        let three = entries.into_iter().find(|e| e["Node"]["Node"] == "node-3");
        (three.map(|e| e["Checks"][0]["Status"].clone()), index)
    };
    let dead = wait_until(Duration::from_secs(10), || serf_health().0 == Some("critical".into()));
    assert!(
        dead.is_some(),
        "a dead member stays listed, failing, as in Consul: {:?}",
        serf_health()
    );
    assert!(
        serf_health().1 > first_index,
        "the index must rise when the view changes"
    );
}
