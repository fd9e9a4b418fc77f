//! `vitals join`, `vitals leave` and `vitals force-leave`: commands against a running
//! agent's HTTP API (with its token), and the filters of `vitals members`.

use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::cli::ApiArgs;
use crate::client::Api;

/// `vitals join`.
#[derive(Debug, Args)]
pub(crate) struct JoinCmdArgs {
    /// Seeds to join through, HOST[:PORT] (port 7946 by default).
    #[arg(required = true, value_name = "HOST[:PORT]")]
    pub(crate) addrs: Vec<String>,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
}

/// `vitals leave`.
#[derive(Debug, Args)]
pub(crate) struct LeaveArgs {
    #[command(flatten)]
    pub(crate) api: ApiArgs,
}

/// `vitals force-leave`.
#[derive(Debug, Args)]
pub(crate) struct ForceLeaveArgs {
    /// The dead member to remove from every member's list.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
}

/// `POST http://{addr}{path}` with a JSON body; the body of a 2xx answer, else an error
/// that carries the agent's message.
fn post(api: &Api, path: &str, body: &serde_json::Value) -> anyhow::Result<String> {
    let url = format!("http://{}{path}", api.addr);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(&url);
    if let Some(token) = &api.token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .send_json(body)
        .with_context(|| format!("cannot reach the agent at {}", api.addr))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let message = || {
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string())
    };
    match status {
        200..=299 => Ok(text),
        401 => anyhow::bail!(
            "the agent at {} wants its API token: give it with --token, --token-file or VITALS_HTTP_TOKEN",
            api.addr
        ),
        _ => anyhow::bail!("{}", message()),
    }
}

pub(crate) fn join(args: &JoinCmdArgs) -> anyhow::Result<()> {
    let request = vitals_agent::api::JoinRequest {
        addrs: args.addrs.clone(),
    };
    let body = post(&args.api.api()?, "/v1/join", &serde_json::to_value(&request)?)?;
    let answer: vitals_agent::api::Joined =
        serde_json::from_str(&body).context("the agent sent an unexpected join answer")?;
    println!("joined through {}", answer.joined.join(", "));
    Ok(())
}

pub(crate) fn leave(args: &LeaveArgs) -> anyhow::Result<()> {
    post(&args.api.api()?, "/v1/leave", &serde_json::json!("vitals leave"))?;
    println!("the agent is leaving the cluster");
    Ok(())
}

pub(crate) fn force_leave(args: &ForceLeaveArgs) -> anyhow::Result<()> {
    let path = format!("/v1/force-leave/{}", args.name);
    post(&args.api.api()?, &path, &serde_json::json!(null))?;
    println!("{} removed from the cluster", args.name);
    Ok(())
}

/// The query string of `vitals members --status ... --tag ...` (empty without filters).
pub(crate) fn members_query(statuses: &[String], tags: &[String]) -> String {
    let mut params: Vec<String> = Vec::new();
    if !statuses.is_empty() {
        params.push(format!("status={}", encode(&statuses.join(","))));
    }
    params.extend(tags.iter().map(|t| format!("tag={}", encode(t))));
    if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_an_encoded_query() {
        assert_eq!(members_query(&[], &[]), "");
        let query = members_query(&["alive".into()], &["role=db".into(), "k8s.io/zone=a&b".into()]);
        assert_eq!(query, "?status=alive&tag=role%3Ddb&tag=k8s.io%2Fzone%3Da%26b");
    }
}
