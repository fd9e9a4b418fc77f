//! `vitals links` (what an agent measures of each peer it hears directly,
//! `GET /v1/links`, as a table) and `vitals tune --from AGENT` (the worst of those links
//! as the network `vitals tune` configures for; the arithmetic is
//! `vitals_agent::daemon::tuning`, the same `GET /v1/tune` answers with).

use anyhow::Context;
use clap::Args;
use vitals_agent::api::links::LinkView;
use vitals_agent::daemon::tuning;

use crate::cli::ApiArgs;
use crate::client::{self, AgentAddr, Api};
use crate::tune::TuneArgs;

/// `vitals links`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  vitals links --http 10.0.0.1:7947")]
pub(crate) struct LinksArgs {
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Print the raw JSON (`GET /v1/links`) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `vitals links`.
pub(crate) fn run(args: &LinksArgs) -> anyhow::Result<()> {
    let api = args.api.api()?;
    if args.json {
        println!("{}", client::get_ok(&api, "/v1/links")?);
    } else {
        print!("{}", table(&fetch(&api)?));
    }
    Ok(())
}

/// The links the agent at `api` measures.
pub(crate) fn fetch(api: &Api) -> anyhow::Result<Vec<LinkView>> {
    let body = client::get_ok(api, "/v1/links")?;
    serde_json::from_str(&body).with_context(|| format!("the agent at {} sent an unexpected link list", api.addr))
}

fn quantiles(q: Option<vitals_agent::api::links::QuantilesMs>) -> String {
    q.map_or("-".into(), |q| format!("{:.2}/{:.2}ms", q.p50, q.p99))
}

/// One row per peer: what was received and lost, round trips and one-way delays
/// (p50/p99), jitter and inter-arrival times (mean ± standard deviation).
pub(crate) fn table(links: &[LinkView]) -> String {
    let mut table = comfy_table::Table::new();
    table.load_style(comfy_table::presets::NOTHING).set_header([
        "PEER",
        "ADDRESS",
        "WINDOW",
        "RECEIVED",
        "LOSS",
        "RTT p50/p99",
        "DELAY p50/p99",
        "JITTER",
        "INTER-ARRIVAL",
    ]);
    for link in links {
        let spread = link
            .interarrival_ms
            .map_or("-".into(), |s| format!("{:.1}±{:.1}ms", s.mean, s.stddev));
        table.add_row([
            link.peer.clone(),
            link.addr.to_string(),
            format!("{:.0}s", link.window_s),
            link.received.to_string(),
            format!("{:.2}%", link.loss * 100.0),
            quantiles(link.rtt_ms),
            quantiles(link.delay_ms),
            format!("{:.2}ms", link.jitter_ms),
            spread,
        ]);
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, 2));
        if i >= 2 {
            column.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    let lines: Vec<String> = table.lines().map(|l| l.trim_end().to_string()).collect();
    lines.join("\n") + "\n"
}

/// `vitals tune --from AGENT`: `args` with the worst measured link's loss and delay
/// model in place of `--loss` and `--latency` (which `--from` refuses), after a line
/// naming that link.
pub(crate) fn measured(args: &TuneArgs, from: &AgentAddr) -> anyhow::Result<TuneArgs> {
    let api = Api {
        addr: from.clone(),
        token: std::env::var("VITALS_HTTP_TOKEN").ok(),
    };
    let links = fetch(&api)?;
    let worst = vitals_agent::api::links::worst(&links).with_context(|| {
        format!("the agent at {from} measures no link yet: it hears no peer directly; try again once it has joined")
    })?;
    let latency = tuning::latency_of(worst);
    println!(
        "measured at {from}: {} links; worst: {} ({}), loss {} over {:.0} s, delay p50/p99 {}, inter-arrival {} -> --loss {} --latency {latency}",
        links.len(),
        worst.peer,
        worst.addr,
        worst.loss,
        worst.window_s,
        quantiles(worst.delay_ms),
        worst
            .interarrival_ms
            .map_or("-".into(), |s| format!("{:.1}±{:.1}ms", s.mean, s.stddev)),
        worst.loss,
    );
    let mut measured = args.clone();
    measured.from = None;
    measured.loss = worst.loss;
    measured.latency = latency;
    Ok(measured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_loss_as_a_percentage_and_missing_figures_as_dashes() {
        let link: LinkView = serde_json::from_str(
            r#"{"peer":"node-2","addr":"127.0.0.3:7946","window_s":60.0,"received":118,"loss":0.0167,
                "rtt_ms":null,"delay_ms":null,"jitter_ms":0.12,
                "interarrival_ms":{"mean":1000.2,"stddev":3.1,"p99":1010.0}}"#,
        )
        .unwrap();
        let text = table(&[link]);
        let row = text.lines().nth(1).unwrap();
        for cell in [
            "node-2",
            "127.0.0.3:7946",
            "60s",
            "118",
            "1.67%",
            "0.12ms",
            "1000.2±3.1ms",
        ] {
            assert!(row.contains(cell), "{cell} missing in {row}");
        }
        assert_eq!(
            row.matches(" - ").count() + usize::from(row.ends_with(" -")),
            2,
            "{row}"
        );
    }
}
