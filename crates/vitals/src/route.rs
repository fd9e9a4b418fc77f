//! `vitals route NAME`: asks an agent for one target of a service and prints it. The
//! pick itself is the agent's (`GET /v1/route`); this only formats the answer.

use anyhow::Context as _;
use vitals_agent::api::{ApiError, Route};

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
    if status != 200 {
        let reason = serde_json::from_str::<ApiError>(&body).map_or(body.clone(), |e| e.error);
        anyhow::bail!("no route to `{}`: {reason}", args.service);
    }
    let answer: Route = serde_json::from_str(&body).with_context(|| format!("unexpected answer: {body}"))?;
    if args.json {
        println!("{body}");
    } else {
        println!("{}", line(&answer));
    }
    Ok(())
}

fn line(answer: &Route) -> String {
    let panic = if answer.panic { " (panic mode)" } else { "" };
    let target = &answer.target;
    format!(
        "{} {} score={:.2} status={}{panic}",
        target.name,
        target.addr,
        target.score,
        target.status.as_str(),
    )
}
