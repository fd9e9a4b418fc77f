//! The Grafana dashboard in `deploy/grafana/vitals.json` uses only metrics that exist: every
//! metric name in every panel's expression (and in its variables) is a family a real
//! agent serves on `/metrics` (strategy leader, with a service and a check, so that every
//! family the dashboard may show is there).

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::support::{Cluster, get, tempdir, wait_until};

/// Every `vitals_*` or `process_*` name in `expr` (label names never start so).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = ["vitals_", "process_"].iter().filter_map(|p| rest.find(p)).min() {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Every expression of the dashboard: panel targets and variable queries.
fn expressions(dashboard: &Value) -> Vec<String> {
    let panels = dashboard["panels"].as_array().unwrap().iter();
    let targets = panels.flat_map(|p| p["targets"].as_array().unwrap().iter());
    let mut exprs: Vec<String> = targets.map(|t| t["expr"].as_str().unwrap().to_string()).collect();
    let variables = dashboard["templating"]["list"].as_array().unwrap().iter();
    exprs.extend(variables.filter_map(|v| v["query"].as_str().map(str::to_string)));
    exprs
}

#[test]
fn every_metric_the_grafana_dashboard_uses_is_served() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/grafana/vitals.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempdir::Dir::new("dashboard");
    let config = dir.0.join("agent.toml");
    let checks = "[[services]]\nname = \"web\"\naddr = \"127.10.27.2:7947\"\n[[services.checks]]\nkind = \"ttl\"\nttl = \"5m\"\n";
    std::fs::write(&config, checks).unwrap();
    let cluster = Cluster::start(
        "127.10.27",
        1,
        &[
            "--preset",
            "lan-fast",
            "--strategy",
            "leader",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let http = cluster.http(1);
    let served = wait_until(Duration::from_secs(20), || {
        get(&http, "/metrics").is_some_and(|(s, _)| s == 200)
    });
    assert!(served.is_some(), "the agent never served /metrics");
    let (_, metrics) = get(&http, "/metrics").unwrap();
    let samples: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let exprs = expressions(&dashboard);
    assert!(exprs.len() >= 10, "{exprs:?}");
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(!names.is_empty() || !expr.contains('('), "no metric in {expr}");
        for name in names {
            assert!(
                samples.contains(name.as_str()),
                "the dashboard's `{expr}` uses `{name}`, which /metrics lacks"
            );
        }
    }
}
