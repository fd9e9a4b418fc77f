//! A small blocking client of the agent's HTTP API, the `vitals members` table and the
//! `vitals leader` line.

use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use vitals_agent::api::LeaderAnswer;

/// One row of `GET /v1/members`: the type the agent serves it from (`vitals_agent::api`).
pub(crate) type MemberRow = vitals_agent::api::MemberView;

/// An agent's HTTP API address as users write it: `host:port`, `http://host:port` or a
/// name such as `localhost:7947`. Names are resolved when the address is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AgentAddr(String);

impl FromStr for AgentAddr {
    type Err = String;
    fn from_str(text: &str) -> Result<AgentAddr, String> {
        let hostport = match text.split_once("://") {
            None => text,
            Some(("http", rest)) => rest.trim_end_matches('/'),
            Some((scheme, _)) => {
                return Err(format!(
                    "`{scheme}://` is not served by the agent: give http://HOST:PORT or HOST:PORT"
                ));
            }
        };
        let bad = || format!("`{text}` is not an address: write HOST:PORT, like 127.0.0.1:7947 or localhost:7947");
        let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || host.contains(['/', '?', '#', ' ']) || port.parse::<u16>().is_err() {
            return Err(bad());
        }
        Ok(AgentAddr(hostport.to_string()))
    }
}

impl std::fmt::Display for AgentAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AgentAddr {
    /// The first socket address the host resolves to.
    pub(crate) fn resolve(&self) -> anyhow::Result<SocketAddr> {
        let mut addrs = self
            .0
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve the agent address {self}"))?;
        addrs
            .next()
            .with_context(|| format!("the agent address {self} resolves to no address"))
    }
}

/// Where an agent's API is and the bearer token to show it.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    pub(crate) addr: AgentAddr,
    pub(crate) token: Option<String>,
}

fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// `GET http://{addr}{path}` as text, with its status code.
pub(crate) fn get(api: &Api, path: &str) -> anyhow::Result<(u16, String)> {
    let url = format!("http://{}{path}", api.addr);
    let mut request = http_agent().get(&url);
    if let Some(token) = &api.token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .call()
        .with_context(|| format!("cannot reach the agent at {}", api.addr))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("bad response from {url}"))?;
    Ok((status, body))
}

/// `GET path`, which must answer 200: its body. A 401 says how to give the token.
pub(crate) fn get_ok(api: &Api, path: &str) -> anyhow::Result<String> {
    let (status, body) = get(api, path)?;
    let addr = &api.addr;
    match status {
        200 => Ok(body),
        401 => anyhow::bail!(
            "the agent at {addr} wants its API token: give it with --token, --token-file or VITALS_HTTP_TOKEN"
        ),
        _ => anyhow::bail!("the agent at {addr} answered {status}: {}", body.trim()),
    }
}

/// The members the agent at `api` knows.
pub(crate) fn members(api: &Api, path: &str) -> anyhow::Result<Vec<MemberRow>> {
    let body = get_ok(api, path)?;
    serde_json::from_str(&body).with_context(|| format!("the agent at {} sent an unexpected member list", api.addr))
}

/// Why the agent at `api` has not joined, if it has not (`None` when unknown).
pub(crate) fn join_problem(api: &Api) -> Option<String> {
    let body = get_ok(api, "/v1/self").ok()?;
    let me: serde_json::Value = serde_json::from_str(&body).ok()?;
    if me["joined"].as_bool() != Some(false) {
        return None;
    }
    Some(
        me["join_problem"]
            .as_str()
            .unwrap_or("no seed has answered the join yet")
            .to_string(),
    )
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// How long ago, to a precision a reader wants: `350ms`, `46.1s`, `5m 3s`, `2h 10m`.
pub(crate) fn ago(ms: u64) -> String {
    let shown = match ms {
        0..1_000 => Duration::from_millis(ms),
        1_000..60_000 => return format!("{:.1}s ago", ms as f64 / 1e3),
        60_000..3_600_000 => Duration::from_secs(ms / 1_000),
        _ => Duration::from_secs(ms / 60_000 * 60),
    };
    format!("{} ago", humantime::format_duration(shown))
}

/// A table like `serf members`: each column as wide as its widest cell.
pub(crate) fn table(rows: &[MemberRow]) -> String {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING).set_header([
        "NAME", "ADDRESS", "STATUS", "INC", "HEARD", "RTT", "CPU", "MEM FREE", "LOAD", "TAGS",
    ]);
    for row in rows {
        let heard = row.last_heard_ms.map_or("-".to_string(), ago);
        let rtt = row.rtt_ms.map_or("-".to_string(), |ms| format!("{ms:.2}ms"));
        let (cpu, mem, load) = row.health.as_ref().map_or(("-".into(), "-".into(), "-".into()), |h| {
            (
                format!("{:.0}%", h.cpu_percent),
                gib(h.mem_available_bytes),
                format!("{:.2}", h.load1),
            )
        });
        table.add_row([
            row.name.clone(),
            row.addr.to_string(),
            row.status.as_str().to_string(),
            row.incarnation.to_string(),
            heard,
            rtt,
            cpu,
            mem,
            load,
            tags_cell(&row.tags),
        ]);
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if (3..9).contains(&i) {
            column.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_string()).collect();
    lines.join("\n") + "\n"
}

/// `role=db,zone=a`, or `-` without tags.
fn tags_cell(tags: &std::collections::BTreeMap<String, String>) -> String {
    if tags.is_empty() {
        return "-".to_string();
    }
    let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// `vitals leader`: who leads, in which term, who votes, and this agent's role.
pub(crate) fn leader_line(body: &str) -> anyhow::Result<String> {
    let row: LeaderAnswer = serde_json::from_str(body).context("the agent sent an unexpected leader answer")?;
    let role = serde_json::to_value(row.role)?;
    let leader = row.leader.as_deref().unwrap_or("none (election under way)");
    let acting = if row.acting { ", acting" } else { "" };
    Ok(format!(
        "leader: {leader}\nterm: {}\nvoters: {}\nthis agent: {}{acting}\n",
        row.term,
        row.voters.join(","),
        role.as_str().unwrap_or("?")
    ))
}

/// The quorum part of an explanation: who accuses, who vouches, what is needed.
/// `why`'s line for a member held in doubt (ping, pull).
fn doubt_line(d: &serde_json::Map<String, serde_json::Value>) -> String {
    let shown = d.get("shown").and_then(|v| v.as_str()).unwrap_or("suspect");
    if d.get("awaiting_answers").and_then(|v| v.as_bool()) == Some(true) {
        return format!(
            "  held in doubt: shown {shown} because it came back from the dead on its own word and has not yet answered two of this agent's polls in a row; shown as it is once it does\n"
        );
    }
    let cause = if d.get("held_down").and_then(|v| v.as_bool()) == Some(true) {
        "it was declared dead twice within about a minute".to_string()
    } else if let Some(rate) = d.get("answer_rate").and_then(|v| v.as_f64()) {
        format!("it answers {:.0} % of this agent's polls", rate * 100.0)
    } else {
        "it keeps refuting suspicions raised by different members".to_string()
    };
    format!(
        "  held in doubt: shown {shown} because {cause}; shown as it is again in {} ms at the earliest, if it settles\n",
        d.get("release_in_ms").cloned().unwrap_or_default()
    )
}

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
    if let Some(d) = why["doubt"].as_object() {
        out += &doubt_line(d);
    }
    if why["damped"].as_bool() == Some(true) {
        out += "  it keeps dying and returning: flap damping holds its return back until it settles\n";
    }
    if let Some(reason) = why["unreachable_quorum"].as_object() {
        out += &format!(
            "  no verdict by quorum is possible: {} accuser(s) needed, but a member has at most {} observer(s) with {} member(s) up\n",
            reason["needed"], reason["observers"], reason["up"]
        );
    }
    if why["held_by_brake"].as_bool() == Some(true) {
        out += "  its death verdict is held back by the mass-failure brake\n";
    }
    for t in why["history"].as_array().into_iter().flatten() {
        out += &format!(
            "  history: {} -> {} at incarnation {}{}\n",
            t["from"].as_str().unwrap_or("new"),
            t["to"].as_str().unwrap_or("?"),
            t["incarnation"],
            t["at"].as_str().map_or(String::new(), |date| format!(", {date}")),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_addresses_are_host_port_urls_or_names() {
        for (typed, kept) in [
            ("127.0.0.1:7947", "127.0.0.1:7947"),
            ("http://127.0.0.1:7201", "127.0.0.1:7201"),
            ("http://localhost:7201/", "localhost:7201"),
            ("localhost:7201", "localhost:7201"),
            ("[::1]:7947", "[::1]:7947"),
        ] {
            assert_eq!(typed.parse::<AgentAddr>().unwrap().to_string(), kept, "{typed}");
        }
        for bad in [
            "localhost",
            "https://a:1",
            "a:port",
            ":7947",
            "http://a:1/v1/members",
            "a:70000",
        ] {
            assert!(bad.parse::<AgentAddr>().is_err(), "{bad} was accepted");
        }
        let local: AgentAddr = "localhost:7201".parse().unwrap();
        assert!(local.resolve().unwrap().ip().is_loopback());
    }

    #[test]
    fn a_doubted_member_is_explained_by_its_cause() {
        let line = |doubt: serde_json::Value| doubt_line(doubt.as_object().unwrap());
        let held =
            line(serde_json::json!({"shown": "dead", "held_down": true, "answer_rate": 0.2, "release_in_ms": 900}));
        assert!(held.contains("shown dead because it was declared dead twice"), "{held}");
        let polled =
            line(serde_json::json!({"shown": "suspect", "held_down": false, "answer_rate": 0.25, "release_in_ms": 0}));
        assert!(polled.contains("answers 25 % of this agent's polls"), "{polled}");
        let refuting =
            line(serde_json::json!({"shown": "suspect", "held_down": false, "answer_rate": null, "release_in_ms": 5}));
        assert!(refuting.contains("keeps refuting"), "{refuting}");
        let returned = line(
            serde_json::json!({"shown": "dead", "held_down": false, "awaiting_answers": true,
            "answer_rate": 0.9, "release_in_ms": 0}),
        );
        assert!(
            returned.contains("shown dead because it came back from the dead"),
            "{returned}"
        );
    }

    #[test]
    fn times_ago_are_rounded_for_reading() {
        assert_eq!(ago(350), "350ms ago");
        assert_eq!(ago(46_125), "46.1s ago");
        assert_eq!(ago(303_500), "5m 3s ago");
        assert_eq!(ago(7_830_000), "2h 10m ago");
    }
}
