//! `vitals tune`: recommend an interval, threshold and strategy for a detection-time and
//! false-positive target, with Chen, Toueg & Aguilera's configuration procedure, then
//! confirm the pick with one simulation and print predicted and simulated figures side by
//! side. The arithmetic lives in `vitals_sim::tune`; this module parses and prints.

use std::time::Duration;

use clap::Args;
use vitals_agent::daemon::config::parse_duration;
use vitals_core::config::serde_duration::format_duration;
use vitals_core::{Envelope, Message, Peer, StrategyKind, wire};
use vitals_sim::tune::{self, Knobs, NfdS, Target};
use vitals_sim::{HEADER_BYTES, Latency, Report, Spec};

/// `vitals tune`.
#[derive(Clone, Debug, Args)]
pub(crate) struct TuneArgs {
    /// T_D^U: every crash must be detected within this, e.g. 5s.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) detect_within: Duration,
    /// At most this many false positives per observer–member pair, e.g. 1/month, 1/day.
    #[arg(long, value_name = "RATE", value_parser = tune::parse_rate)]
    pub(crate) max_false_positives: f64,
    /// T_M^U: mistakes must be corrected within this on average [default: twice --detect-within].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) max_mistake_duration: Option<Duration>,
    /// Probability that a heartbeat is lost.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub(crate) loss: f64,
    /// One-way delay distribution: 1ms, uniform:1ms..5ms, exp:20ms, mix:1ms,0.01,200ms.
    #[arg(long, default_value = "exp:1ms")]
    pub(crate) latency: Latency,
    /// Cluster size (push below 50 nodes, pull with 2 monitors above).
    #[arg(long, default_value_t = 10)]
    pub(crate) nodes: usize,
    /// Simulated time of the confirming run [default: sized to about 20 million events].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) sim_duration: Option<Duration>,
    /// The confirming run's seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Take --loss and --latency from what the agent at this address measures: its worst
    /// link (GET /v1/links; the highest loss, then the highest delay).
    #[arg(long, value_name = "AGENT", conflicts_with_all = ["loss", "latency"])]
    pub(crate) from: Option<crate::client::AgentAddr>,
}

/// Runs `vitals tune`.
pub(crate) fn run(args: &TuneArgs) -> anyhow::Result<()> {
    if let Some(from) = &args.from {
        return run(&crate::links::measured(args, from)?);
    }
    if !(0.0..1.0).contains(&args.loss) {
        return Err(crate::usage(format!(
            "--loss {} must be a probability below 1",
            args.loss
        )));
    }
    if args.nodes < 2 {
        return Err(crate::usage(format!("--nodes {} must be at least 2", args.nodes)));
    }
    let strategy = if args.nodes <= 50 {
        StrategyKind::Push
    } else {
        StrategyKind::Pull
    };
    let mut target = Target {
        detect_within: args.detect_within.as_secs_f64(),
        mistake_recurrence: args.max_false_positives,
        mistake_duration: args
            .max_mistake_duration
            .unwrap_or(args.detect_within * 2)
            .as_secs_f64(),
        loss: args.loss,
        latency: args.latency,
    };
    let no_fit = || {
        crate::usage(format!(
            "--detect-within {} and --max-false-positives cannot both be met at loss {}: allow a longer detection time or more false positives",
            format_duration(args.detect_within),
            args.loss
        ))
    };
    let mut nfd = tune::configure(&target).ok_or_else(no_fit)?;
    if strategy == StrategyKind::Pull {
        // Members learn a monitor's verdict one interval later: leave that interval out.
        target.detect_within -= nfd.eta;
        nfd = tune::configure(&target).ok_or_else(no_fit)?;
    }
    let knobs = tune::knobs(&target, &nfd);
    let spec = confirming_spec(args, strategy, &knobs);
    let report = vitals_sim::simulate(&spec).map_err(anyhow::Error::msg)?;
    print(args, &target, &nfd, &knobs, &spec, &report);
    Ok(())
}

fn confirming_spec(args: &TuneArgs, strategy: StrategyKind, knobs: &Knobs) -> Spec {
    let n = args.nodes as f64;
    let per_second = n * n / knobs.interval.as_secs_f64();
    let auto = Duration::from_secs_f64((2e7 / per_second).clamp(3600.0, 30.0 * 86_400.0));
    Spec {
        strategy,
        monitors: 2,
        nodes: args.nodes,
        duration: args.sim_duration.unwrap_or(auto),
        interval: knobs.interval,
        threshold: knobs.threshold,
        timeout: Some(knobs.timeout),
        latency: args.latency,
        loss: args.loss,
        crash: (args.nodes / 3).clamp(1, 10),
        seed: args.seed,
        ..Spec::default()
    }
}

/// The size of one heartbeat datagram, header included.
fn heartbeat_bytes() -> f64 {
    let envelope = Envelope {
        timing: None,
        from: Peer {
            name: "n10".into(),
            addr: vitals_sim::addr_of(10),
            incarnation: 0,
        },
        message: Message::Heartbeat {
            seq: 1000,
            health: None,
            ack: false,
        },
    };
    let mut buf = Vec::new();
    let _ = wire::encode(&envelope, &mut buf);
    (buf.len() as u64 + HEADER_BYTES) as f64
}

fn print(args: &TuneArgs, target: &Target, nfd: &NfdS, knobs: &Knobs, spec: &Spec, report: &Report) {
    let f = format_duration;
    println!(
        "target: detect within {}, E(T_MR) >= {:.0} s per observer-member pair, E(T_M) <= {} s; loss {}, latency {}",
        f(args.detect_within),
        target.mistake_recurrence,
        target.mistake_duration,
        target.loss,
        target.latency
    );
    println!(
        "Chen et al. NFD-S: eta = {:.3} s (eta_max {:.3} s), delta = {:.3} s",
        nfd.eta, nfd.eta_max, nfd.delta
    );
    let strategy = vitals_sim::scenario::strategy_name(spec.strategy);
    let t = tune::typeable;
    println!(
        "recommended: --strategy {strategy} --interval {} --threshold {} --timeout {}  (missed-heartbeat detector: dead after {} of silence; eta rounded down to a typeable value, the target re-checked)",
        t(knobs.interval),
        knobs.threshold,
        t(knobs.timeout),
        t(knobs.dead_after)
    );
    comparison(target, nfd, knobs, spec, report);
}

/// Predicted and simulated figures side by side, then the checks and the replay command.
fn comparison(target: &Target, nfd: &NfdS, knobs: &Knobs, spec: &Spec, report: &Report) {
    let n = spec.nodes as f64;
    let per_node = if spec.strategy == StrategyKind::Push {
        n - 1.0
    } else {
        2.0 * (n - 1.0) * 2.0 / n
    };
    let messages = per_node / knobs.interval.as_secs_f64();
    let mean_td =
        knobs.dead_after.as_secs_f64() - knobs.interval.as_secs_f64() / 2.0 + target.latency.mean().as_secs_f64();
    let predicted_tmr = tune::recurrence(target, nfd.eta);
    let rows = [
        (
            "detection time, max",
            format!("<= {:.3} s", target.detect_within),
            format!("{:.3} s", report.detection_each.max),
        ),
        (
            "detection time, mean",
            format!("{mean_td:.3} s"),
            format!("{:.3} s", report.detection_each.mean),
        ),
        (
            "mistake recurrence T_MR",
            format!(">= {predicted_tmr:.3e} s"),
            tmr(report),
        ),
        (
            "false positives",
            "-".into(),
            format!("{} in {:.0} node-hours", report.false_positives, report.node_hours),
        ),
        (
            "query accuracy P_A",
            "-".into(),
            format!("{:.9}", report.query_accuracy),
        ),
        (
            "messages/node/s",
            format!("{messages:.3}"),
            format!("{:.3}", report.messages_per_node_s),
        ),
        (
            "bytes/node/s",
            format!("{:.1}", messages * heartbeat_bytes()),
            format!("{:.1}", report.bytes_per_node_s),
        ),
    ];
    println!("\n{:<26}{:>22}{:>30}", "", "predicted", "simulated");
    for (name, predicted, simulated) in rows {
        println!("{name:<26}{predicted:>22}{simulated:>30}");
    }
    for check in &report.checks {
        println!("check {}: {} ({})", check.name, check.verdict, check.detail);
    }
    println!("\nreplay the confirming run: {}", spec.command_line());
}

fn tmr(report: &Report) -> String {
    if report.mistake_recurrence_is_bound {
        format!(">= {:.3e} s (no mistake)", report.mistake_recurrence_s)
    } else {
        format!("{:.3e} s", report.mistake_recurrence_s)
    }
}
