//! `vitals route NAME`: asks an agent for one target of a service and prints it. The
//! pick itself is the agent's (`GET /v1/route`); this only formats the answer.

use anyhow::Context as _;
use serde_json::Value;

use crate::cli::RouteArgs;
use crate::client;

pub(crate) fn run(args: &RouteArgs) -> anyhow::Result<()> {
    let policy = serde_json::to_value(args.policy)?;
    let path = format!(
        "/v1/route?service={}&policy={}",
        args.service,
        policy.as_str().unwrap_or("weighted")
    );
    let api = args.api.api()?;
    let (status, body) = client::get(&api, &path)?;
    if status == 401 {
        return client::get_ok(&api, &path).map(|_| ());
    }
    let answer: Value = serde_json::from_str(&body).with_context(|| format!("unexpected answer: {body}"))?;
    if status != 200 {
        let reason = answer["error"].as_str().unwrap_or(&body);
        anyhow::bail!("no route to `{}`: {reason}", args.service);
    }
    if args.json {
        println!("{body}");
    } else {
        println!("{}", line(&answer));
    }
    Ok(())
}

fn line(answer: &Value) -> String {
    let panic = if answer["panic"] == true { " (panic mode)" } else { "" };
    format!(
        "{} {} score={:.2} status={}{panic}",
        answer["name"].as_str().unwrap_or("?"),
        answer["addr"].as_str().unwrap_or("?"),
        answer["score"].as_f64().unwrap_or(0.0),
        answer["status"].as_str().unwrap_or("?"),
    )
}
