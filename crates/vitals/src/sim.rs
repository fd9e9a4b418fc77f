//! `vitals sim`: parse the flags, run the deterministic simulator once (or hand a sweep
//! to `sweep.rs`), print a table (or JSON / CSV), and show a progress bar on runs longer
//! than a second. The simulation itself lives in `vitals-sim`; this module only parses,
//! runs and prints (and reads the wall clock, for the progress bar).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vitals_agent::daemon::config::parse_duration;
use vitals_core::{DetectorKind, StrategyKind};
use vitals_sim::{Latency, PartitionSpec, Report, Spec};

/// `vitals sim`.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// How liveness information flows.
    #[arg(long, default_value = "push", value_parser = crate::choice::strategy())]
    pub(crate) strategy: StrategyKind,
    /// Acknowledge heartbeats (push).
    #[arg(long)]
    pub(crate) ack: bool,
    /// Declare death only when a majority of the observers accuse, and (push, pull,
    /// gossip) alive only once a majority hear; not for leader.
    #[arg(long)]
    pub(crate) quorum: bool,
    /// Ping: turn Lifeguard off (plain SWIM with suspicion).
    #[arg(long)]
    pub(crate) no_lifeguard: bool,
    /// Ping: turn fast confirmation off (suspicions spread only piggybacked and end on
    /// Lifeguard's timeout).
    #[arg(long)]
    pub(crate) no_fast_confirm: bool,
    /// Ping: turn the watch ring off (no heartbeat to a watcher; a crash's first probe is
    /// left to chance).
    #[arg(long)]
    pub(crate) no_watch_ring: bool,
    /// How silence becomes a verdict.
    #[arg(long, default_value = "missed", value_parser = crate::choice::detector())]
    pub(crate) detector: DetectorKind,
    /// Number of simulated nodes.
    #[arg(long, default_value_t = 10)]
    pub(crate) nodes: usize,
    /// Pull: number of monitors.
    #[arg(long, default_value_t = 1)]
    pub(crate) monitors: usize,
    /// Simulated time measured after the warm-up, e.g. 10m, 1h [default: 10m; a sweep
    /// sizes each point itself unless given].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// Heartbeat interval [default: 1s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) interval: Option<Duration>,
    /// Missed heartbeats that declare a node dead [default: 3].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) threshold: Option<u32>,
    /// Silence before the first miss [default: the interval plus a tenth].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
    /// Phi that declares death, with --detector phi [default: 8].
    #[arg(long, value_name = "PHI", allow_negative_numbers = true)]
    pub(crate) phi_threshold: Option<f64>,
    /// One-way latency: 1ms, uniform:1ms..5ms, exp:20ms or mix:1ms,0.01,200ms.
    #[arg(long, default_value = "uniform:500us..1500us")]
    pub(crate) latency: Latency,
    /// Probability that a datagram is lost [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub(crate) loss: Option<f64>,
    /// Loss probability of one link, overriding --loss: FROM:TO:P (node indices), repeatable.
    #[arg(long, value_name = "FROM:TO:P", value_parser = parse_link_loss)]
    pub(crate) link_loss: Vec<(usize, usize, f64)>,
    /// Changes of --loss mid-run: AT=P[,AT=P...], each AT after the warm-up, e.g.
    /// 30m=0.05,90m=0.001.
    #[arg(long, value_name = "AT=P,...", value_parser = parse_loss_from)]
    pub(crate) loss_from: Option<LossFrom>,
    /// Probability that a datagram is delivered twice.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub(crate) duplicate: f64,
    /// Probability that a datagram is held back (up to 50ms) and overtaken.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub(crate) reorder: f64,
    /// Nodes that crash for good, at uniformly random times [default: 0; a sweep picks
    /// enough crashes to measure detection time unless given].
    #[arg(long)]
    pub(crate) crash: Option<usize>,
    /// Nodes that crash and restart as a fresh process.
    #[arg(long, default_value_t = 0)]
    pub(crate) restart: usize,
    /// Nodes that pause (GC pause, SIGSTOP).
    #[arg(long, default_value_t = 0)]
    pub(crate) pause: usize,
    /// How long a pause lasts.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub(crate) pause_for: Duration,
    /// Nodes that turn slow (every input handled late).
    #[arg(long, default_value_t = 0)]
    pub(crate) slow: usize,
    /// How late a slow node handles each input.
    #[arg(long, value_name = "DUR", default_value = "200ms", value_parser = parse_duration)]
    pub(crate) slow_by: Duration,
    /// How long a node stays slow.
    #[arg(long, value_name = "DUR", default_value = "1m", value_parser = parse_duration)]
    pub(crate) slow_for: Duration,
    /// Slow nodes handle only datagrams late; their timers fire on time (Lifeguard's setup).
    #[arg(long)]
    pub(crate) slow_messages_only: bool,
    /// Cut the first half of the nodes from the second at AT (after the warm-up) for DUR.
    #[arg(long, value_name = "AT+DUR", value_parser = parse_partition)]
    pub(crate) partition: Option<(Duration, Duration)>,
    /// With --partition: drop only datagrams from the first half to the second.
    #[arg(long)]
    pub(crate) one_way: bool,
    /// Every node picks its own interval and threshold (push, missed detector), starting
    /// from --interval and --threshold: detect-within=5s,mistakes=1/month[,floor=100ms].
    #[arg(long, value_name = "TARGET")]
    pub(crate) auto_tune: Option<vitals_core::adapt::Target>,
    /// The master seed.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Print the report as JSON.
    #[arg(long, conflicts_with = "csv")]
    pub(crate) json: bool,
    /// Print the report as CSV.
    #[arg(long)]
    pub(crate) csv: bool,
    /// Sweep parameters: interval=200ms..5s (geometric, --points values) or 200ms,1s,5s;
    /// threshold=2..6; loss=0.001,0.01. A swept key cannot also be given as a flag.
    #[arg(long, value_name = "KEY=RANGE", num_args = 1..)]
    pub(crate) sweep: Vec<String>,
    /// How many intervals a range of intervals is split into.
    #[arg(long, default_value_t = 5)]
    pub(crate) points: usize,
    /// Where the sweep's plot goes: PATH.svg and PATH.png.
    #[arg(long, value_name = "PATH", default_value = "sweep")]
    pub(crate) plot: PathBuf,
}

/// `--loss-from` (one value, not a list of them to clap).
#[derive(Clone, Debug)]
pub(crate) struct LossFrom(Vec<(Duration, f64)>);

fn parse_loss_from(text: &str) -> Result<LossFrom, String> {
    vitals_sim::scenario::parse_loss_from(text).map(LossFrom)
}

fn parse_link_loss(text: &str) -> Result<(usize, usize, f64), String> {
    let bad = || format!("`{text}` is not a link loss: write FROM:TO:P, like 0:1:0.5");
    let parts: Vec<&str> = text.split(':').collect();
    let [from, to, p] = parts[..] else { return Err(bad()) };
    Ok((
        from.parse().map_err(|_| bad())?,
        to.parse().map_err(|_| bad())?,
        p.parse().map_err(|_| bad())?,
    ))
}

fn parse_partition(text: &str) -> Result<(Duration, Duration), String> {
    let (at, duration) = text
        .split_once('+')
        .ok_or_else(|| format!("`{text}` is not a partition: write AT+DURATION, like 5m+30s"))?;
    Ok((parse_duration(at)?, parse_duration(duration)?))
}

impl SimArgs {
    /// The parameters of one run, defaults filled in.
    pub(crate) fn spec(&self) -> Spec {
        Spec {
            strategy: self.strategy,
            ack: self.ack,
            quorum: self.quorum,
            no_lifeguard: self.no_lifeguard,
            no_fast_confirm: self.no_fast_confirm,
            no_watch_ring: self.no_watch_ring,
            detector: self.detector,
            nodes: self.nodes,
            monitors: self.monitors,
            duration: self.duration.unwrap_or(Duration::from_secs(600)),
            interval: self.interval.unwrap_or(Duration::from_secs(1)),
            threshold: self.threshold.unwrap_or(3),
            timeout: self.timeout,
            phi_threshold: self.phi_threshold,
            latency: self.latency,
            loss: self.loss.unwrap_or(0.0),
            link_loss: self.link_loss.clone(),
            loss_from: self.loss_from.clone().map(|l| l.0).unwrap_or_default(),
            duplicate: self.duplicate,
            reorder: self.reorder,
            crash: self.crash.unwrap_or(0),
            restart: self.restart,
            pause: self.pause,
            pause_for: self.pause_for,
            slow: self.slow,
            slow_by: self.slow_by,
            slow_for: self.slow_for,
            slow_messages_only: self.slow_messages_only,
            partition: self.partition.map(|(at, duration)| PartitionSpec {
                at,
                duration,
                one_way: self.one_way,
            }),
            auto_tune: self.auto_tune,
            seed: self.seed,
        }
    }
}

/// Runs `vitals sim`.
pub(crate) fn run(args: &SimArgs) -> anyhow::Result<()> {
    if args.sweep.is_empty() {
        single(args)
    } else {
        crate::sweep::run(args)
    }
}

#[allow(clippy::disallowed_methods)]
fn single(args: &SimArgs) -> anyhow::Result<()> {
    let spec = args.spec();
    let scenario = spec.scenario().map_err(crate::usage)?;
    let started = std::time::Instant::now();
    let bar = delayed_bar(100);
    let report = vitals_sim::run(scenario, &mut |fraction| {
        if started.elapsed() > Duration::from_secs(1) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        bar.set_position((fraction * 100.0) as u64);
    });
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    print_one(args, &report)?;
    eprintln!(
        "simulated {:.1} node-hours, {} events in {wall:.2} s: {:.0} node-hours per wall-clock minute, {:.2e} events/s",
        report.node_hours,
        report.events,
        report.node_hours / wall * 60.0,
        report.events as f64 / wall
    );
    if !report.passed() {
        bail!("{}", vitals_sim::failure_message(&spec, &report).replace('\n', "; "));
    }
    Ok(())
}

fn print_one(args: &SimArgs, report: &Report) -> anyhow::Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else if args.csv {
        write_csv(std::slice::from_ref(report))?;
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

/// The reports as CSV (RFC 4180: a field holding a comma, such as a mixed latency, is
/// quoted), under [`Report::csv_header`]'s columns.
pub(crate) fn write_csv(reports: &[Report]) -> anyhow::Result<()> {
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record(Report::csv_header().split(','))?;
    for r in reports {
        let number = |x: f64| x.to_string();
        out.write_record([
            r.strategy.clone(),
            r.detector.clone(),
            r.nodes.to_string(),
            number(r.interval_s),
            number(r.timeout_s),
            r.threshold.to_string(),
            r.latency.clone(),
            number(r.loss),
            number(r.duration_s),
            r.seed.to_string(),
            r.crashes.to_string(),
            number(r.detection_first.mean),
            number(r.detection_first.p99),
            number(r.detection_all.mean),
            number(r.detection_all.p99),
            number(r.detection_each.mean),
            number(r.detection_each.max),
            r.undetected.to_string(),
            r.false_positives.to_string(),
            number(r.false_positives_per_node_hour),
            r.false_positives_upper_95.map_or(String::new(), number),
            number(r.mistake_duration.mean),
            number(r.mistake_recurrence_s),
            r.mistake_recurrence_is_bound.to_string(),
            number(r.query_accuracy),
            number(r.messages_per_node_s),
            number(r.bytes_per_node_s),
            r.passed().to_string(),
        ])?;
    }
    out.flush()?;
    Ok(())
}

/// A bar that stays hidden until the caller switches it to stderr.
pub(crate) fn delayed_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    bar
}
