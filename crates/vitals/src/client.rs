//! A small blocking client of the agent's HTTP API, the `vitals members` table and the
//! `vitals leader` line.

use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use vitals_core::{Health, Status};

/// One row of `GET /v1/members`, as the CLI reads it.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct MemberRow {
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) status: Status,
    pub(crate) incarnation: u64,
    pub(crate) last_heard_ms: Option<u64>,
    pub(crate) health: Option<Health>,
    pub(crate) rtt_ms: Option<f64>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// `GET http://{http}{path}` as text, with its status code.
pub(crate) fn get(http: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let url = format!("http://{http}{path}");
    let mut response = agent()
        .get(&url)
        .call()
        .with_context(|| format!("cannot reach the agent at {http}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("bad response from {url}"))?;
    Ok((status, body))
}

/// The members the agent at `http` knows.
pub(crate) fn members(http: &str) -> anyhow::Result<Vec<MemberRow>> {
    let (status, body) = get(http, "/v1/members")?;
    anyhow::ensure!(status == 200, "the agent at {http} answered {status}: {body}");
    serde_json::from_str(&body).with_context(|| format!("the agent at {http} sent an unexpected member list"))
}

fn gib(bytes: u64) -> String {
    format!("{:.1}G", bytes as f64 / (1u64 << 30) as f64)
}

/// A table like `serf members`.
pub(crate) fn table(rows: &[MemberRow]) -> String {
    let mut out = format!(
        "{:<16} {:<22} {:<8} {:>5} {:>10} {:>8} {:>6} {:>9} {:>6}\n",
        "NAME", "ADDRESS", "STATUS", "INC", "HEARD", "RTT", "CPU", "MEM-FREE", "LOAD"
    );
    for row in rows {
        let heard = row.last_heard_ms.map_or("-".to_string(), |ms| format!("{ms}ms ago"));
        let rtt = row.rtt_ms.map_or("-".to_string(), |ms| format!("{ms:.2}ms"));
        let (cpu, mem, load) = row.health.as_ref().map_or(("-".into(), "-".into(), "-".into()), |h| {
            (
                format!("{:.0}%", h.cpu_percent),
                gib(h.mem_available_bytes),
                format!("{:.2}", h.load1),
            )
        });
        out.push_str(&format!(
            "{:<16} {:<22} {:<8} {:>5} {:>10} {:>8} {:>6} {:>9} {:>6}\n",
            row.name,
            row.addr,
            row.status.as_str(),
            row.incarnation,
            heard,
            rtt,
            cpu,
            mem,
            load
        ));
    }
    out
}

/// `GET /v1/leader`, as the CLI reads it.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct LeaderRow {
    pub(crate) leader: Option<String>,
    pub(crate) term: u64,
    pub(crate) voters: Vec<String>,
    pub(crate) role: String,
    pub(crate) acting: bool,
}

/// `vitals leader`: who leads, in which term, who votes, and this agent's role.
pub(crate) fn leader_line(body: &str) -> anyhow::Result<String> {
    let row: LeaderRow = serde_json::from_str(body).context("the agent sent an unexpected leader answer")?;
    let leader = row.leader.as_deref().unwrap_or("none (election under way)");
    let acting = if row.acting { ", acting" } else { "" };
    Ok(format!(
        "leader: {leader}\nterm: {}\nvoters: {}\nthis agent: {}{acting}\n",
        row.term,
        row.voters.join(","),
        row.role
    ))
}

/// The quorum part of an explanation: who accuses, who vouches, what is needed.
fn quorum_lines(q: &serde_json::Map<String, serde_json::Value>) -> String {
    let names = |key: &str| {
        let reports = q[key].as_array().into_iter().flatten();
        let named: Vec<String> = reports
            .map(|r| {
                let name = r["observer"].as_str().unwrap_or("?");
                match r["own"].as_bool() {
                    Some(true) => format!("{name} (this agent, for {} ms)", r["ms_ago"]),
                    _ => format!("{name} (heard {} ms ago)", r["ms_ago"]),
                }
            })
            .collect();
        match named.is_empty() {
            true => "nobody".to_string(),
            false => named.join(", "),
        }
    };
    let count = |key: &str| q[key].as_array().map_or(0, Vec::len);
    let admitted = match q["admitted"].as_bool() {
        Some(true) => "admitted at this incarnation",
        _ => "not admitted at this incarnation (a quorum has not vouched for it)",
    };
    let head = format!(
        "  quorum: {} accuser(s) of {} needed among {} observer(s), reports count for {} ms; {admitted}\n",
        count("accusers"),
        q["needed"],
        q["observers"],
        q["window_ms"],
    );
    let accused = format!("    accused by: {}\n", names("accusers"));
    head + &accused + &format!("    vouched for by: {}\n", names("vouchers"))
}

/// A readable explanation of a `GET /v1/members/NAME/why` answer.
pub(crate) fn explain(body: &str) -> anyhow::Result<String> {
    let why: serde_json::Value = serde_json::from_str(body).context("the agent sent an unexpected explanation")?;
    let mut out = format!(
        "{} is {} at incarnation {} (for {} ms; last heard {})\n",
        why["name"].as_str().unwrap_or("?"),
        why["status"].as_str().unwrap_or("?"),
        why["incarnation"],
        why["status_age_ms"],
        why["last_heard_ms"]
            .as_u64()
            .map_or("never".to_string(), |ms| format!("{ms} ms ago")),
    );
    if let Some(d) = why["detector"].as_object() {
        out += &format!(
            "  detector: level {:.2}, declares death after {:.0} ms of silence\n",
            d["level"].as_f64().unwrap_or(0.0),
            d["timeout_ms"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(s) = why["suspicion"].as_object() {
        out += &format!(
            "  suspected for {} ms by {} (dead after {} ms; {} accuser(s) needed)\n",
            s["age_ms"], s["accusers"], s["timeout_ms"], s["quorum"]
        );
    }
    if let Some(q) = why["quorum"].as_object() {
        out += &quorum_lines(q);
    }
    if let Some(p) = why["failed_probe"].as_object() {
        out += &format!(
            "  this agent's own probe failed {} ms ago: no ack directly, nor through {} ({} nack(s)); its awareness was {}\n",
            p["ms_ago"], p["asked"], p["nacks"], p["awareness"]
        );
    }
    if let Some(a) = why["local_awareness"].as_u64() {
        out += &format!("  this agent's own health: awareness {a} (0 is healthy)\n");
    }
    if why["damped"].as_bool() == Some(true) {
        out += "  it keeps dying and returning: flap damping holds its return back until it settles\n";
    }
    if why["held_by_brake"].as_bool() == Some(true) {
        out += "  its death verdict is held back by the mass-failure brake\n";
    }
    for t in why["history"].as_array().into_iter().flatten() {
        out += &format!(
            "  history: {} -> {} at incarnation {}\n",
            t["from"].as_str().unwrap_or("new"),
            t["to"].as_str().unwrap_or("?"),
            t["incarnation"]
        );
    }
    Ok(out)
}
