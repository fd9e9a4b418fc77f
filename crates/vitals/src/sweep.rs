//! `vitals sim --sweep`: the cartesian product of the swept keys, one simulation per core,
//! each point sized for its own statistics, one progress line per finished point on
//! stderr (terminal or not), then the table and the plot.
//!
//! **Sizing.** Unless `--duration` or `--crash` is given, a point starts small and grows
//! until its figures are tight, then stops:
//! - false positives: at least [`ENOUGH_MISTAKES`] (their rate then known within
//!   0.61–1.54× at 95 %), or [`PAIR_HOURS`] observer–member pair-hours (a pair-week), in
//!   which none bounds the rate below 3 per pair-week (rule of three). The simulated time a
//!   point needs is pair-hours / (n(n − 1)), so the node count does not change the cost
//!   of a pair-hour; the sweep keeps `--nodes` (the per-node figures depend on it);
//! - detection time: crashes until the 95 % confidence interval of the mean T_D is
//!   within [`DETECTION_PRECISION`] of the mean, each crash one sample (its observers
//!   share its phase), up to a third of the nodes.
//!
//! A point that grows is run again, longer or with more crashes (the same seed), so its
//! report is one plain run that `vitals sim` replays from the printed command.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use vitals_agent::daemon::config::parse_duration;
use vitals_core::StrategyKind;
use vitals_core::config::serde_duration::format_duration;
use vitals_sim::{Report, Spec};

use crate::plot;
use crate::sim::{SimArgs, delayed_bar, write_csv};

/// False positives after which a point's rate counts as measured.
pub(crate) const ENOUGH_MISTAKES: u64 = 20;
/// The most a point's duration grows from one run to the next.
const MAX_GROWTH: f64 = 4.0;
/// Observer–member pair-hours after which a point stops in any case.
pub(crate) const PAIR_HOURS: f64 = 168.0;
/// The 95 % half-width of the mean detection time, relative to the mean, that is tight.
pub(crate) const DETECTION_PRECISION: f64 = 0.10;

/// The most runs one point takes (its last run is reported even if not tight).
const MAX_RUNS: usize = 8;

/// Which of a point's dimensions the sweep chooses (the others were given).
#[derive(Clone, Copy, Debug)]
struct Sizing {
    duration: bool,
    crash: bool,
}

/// One finished point.
struct Point {
    spec: Spec,
    report: Report,
    runs: usize,
    wall: f64,
}

/// Runs the sweep.
#[allow(clippy::disallowed_methods)]
pub(crate) fn run(args: &SimArgs) -> anyhow::Result<()> {
    let keys = swept_keys(args).map_err(|e| crate::usage(format!("{e:#}")))?;
    let specs = specs(args).map_err(|e| crate::usage(format!("{e:#}")))?;
    let sizing = Sizing {
        duration: args.duration.is_none(),
        crash: args.crash.is_none(),
    };
    let started = std::time::Instant::now();
    let points = run_points(&specs, sizing, &keys)?;
    let runs: usize = points.iter().map(|p| p.runs).sum();
    let reports: Vec<Report> = points.iter().map(|p| p.report.clone()).collect();
    print_table(args, &points)?;
    let svg = args.plot.with_extension("svg");
    let png = args.plot.with_extension("png");
    plot::sweep(&reports, &svg, &png)?;
    eprintln!(
        "{} points ({runs} runs) in {:.1} s; plot: {} and {}",
        points.len(),
        started.elapsed().as_secs_f64(),
        svg.display(),
        png.display()
    );
    for point in &points {
        if !point.report.passed() {
            bail!(
                "{}",
                vitals_sim::failure_message(&point.spec, &point.report).replace('\n', "; ")
            );
        }
    }
    Ok(())
}

/// Runs every point, one per core, printing a line as each finishes.
#[allow(clippy::disallowed_methods)]
fn run_points(specs: &[Spec], sizing: Sizing, keys: &[String]) -> anyhow::Result<Vec<Point>> {
    let started = std::time::Instant::now();
    let bar = delayed_bar(specs.len() as u64);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<Point, String>>>> = Mutex::new((0..specs.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(specs.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(spec) = specs.get(i) else { break };
                    let point = measure(spec, sizing);
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    let line = match &point {
                        Ok(point) => progress_line(finished, specs.len(), keys, point),
                        Err(e) => format!("point {finished}/{} failed: {e}", specs.len()),
                    };
                    if started.elapsed() > Duration::from_secs(1) {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    }
                    bar.suspend(|| eprintln!("{line}"));
                    bar.inc(1);
                    if let Ok(mut slots) = slots.lock() {
                        slots[i] = Some(point);
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    let slots = slots
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a sweep worker panicked"))?;
    slots
        .into_iter()
        .map(|slot| slot.context("a sweep point was not run")?.map_err(anyhow::Error::msg))
        .collect()
}

/// Runs one point, growing it until its figures are tight (see the module doc).
#[allow(clippy::disallowed_methods)]
fn measure(spec: &Spec, sizing: Sizing) -> Result<Point, String> {
    let started = std::time::Instant::now();
    let mut spec = first_size(spec, sizing);
    let mut runs = 0;
    loop {
        runs += 1;
        let report = vitals_sim::simulate(&spec).map_err(|e| format!("{e} (in {})", spec.command_line()))?;
        match grow(&spec, &report, sizing).filter(|_| runs < MAX_RUNS) {
            Some(bigger) => spec = bigger,
            None => {
                return Ok(Point {
                    spec,
                    report,
                    runs,
                    wall: started.elapsed().as_secs_f64(),
                });
            }
        }
    }
}

/// The first, small try: a sixteenth of the pair-hours cap and a tenth of the nodes
/// crashing.
fn first_size(spec: &Spec, sizing: Sizing) -> Spec {
    let mut s = spec.clone();
    if sizing.crash {
        s.crash = (s.nodes / 10).max(2).min(max_crashes(&s));
    }
    if sizing.duration {
        s.duration = duration_for(&s, PAIR_HOURS / 16.0);
    }
    s
}

/// The larger run a point needs, if any.
fn grow(spec: &Spec, report: &Report, sizing: Sizing) -> Option<Spec> {
    let mut next = spec.clone();
    let mut grown = false;
    if sizing.duration && report.false_positives < ENOUGH_MISTAKES && report.pair_hours < PAIR_HOURS {
        // At most fourfold a step: a small first run with one unlucky mistake would
        // otherwise send a noisy point straight to the cap (a threshold-2 point at 1 %
        // loss, 3.5 mistakes expected there, ran the whole pair-week).
        let wanted = match report.false_positives {
            0 => MAX_GROWTH,
            fp => (ENOUGH_MISTAKES as f64 / fp as f64 * 1.2).clamp(2.0, MAX_GROWTH),
        };
        // Crashes take pairs away, so the cap is reckoned from the pair-hours measured.
        let to_cap = PAIR_HOURS / report.pair_hours.max(f64::MIN_POSITIVE) * 1.02;
        next.duration = Duration::from_secs((spec.duration.as_secs_f64() * wanted.min(to_cap)).ceil() as u64);
        grown = true;
    }
    let tight = report
        .detection_mean_ci95
        .is_some_and(|half| half <= DETECTION_PRECISION * report.detection_each.mean);
    if sizing.crash && !tight && spec.crash < max_crashes(spec) {
        next.crash = (spec.crash * 2).clamp(1, max_crashes(spec));
        grown = true;
    }
    grown.then_some(next)
}

/// The most crashes a point may have: a third of the nodes that may fail.
fn max_crashes(spec: &Spec) -> usize {
    let monitors = if spec.strategy == StrategyKind::Pull {
        spec.monitors.max(1)
    } else {
        0
    };
    let others = spec.restart + spec.pause + spec.slow;
    let may_fail = spec.nodes.saturating_sub(monitors + 1 + others);
    (may_fail / 3).max(1).min(may_fail)
}

/// The measured time that gives `pair_hours` observer–member pair-hours, and at least
/// room for crashes to fall at random phases and be detected (twice the detection bound
/// plus two intervals), rounded up to the second.
fn duration_for(spec: &Spec, pair_hours: f64) -> Duration {
    let n = spec.nodes as f64;
    let wanted = pair_hours * 3600.0 / (n * (n - 1.0));
    let tail = spec
        .scenario()
        .map_or(spec.interval * 10, |s| s.direct_bound() + s.config.interval * 2);
    Duration::from_secs(wanted.max(tail.as_secs_f64() * 2.0).ceil() as u64)
}

/// `point 7/25 interval=1s, threshold=3 done in 1.3 s: 5m simulated, 10 crashes, 21
/// false positives (2 runs)`.
fn progress_line(finished: usize, total: usize, keys: &[String], point: &Point) -> String {
    let values: Vec<String> = keys
        .iter()
        .map(|key| format!("{key}={}", value_of(&point.spec, key)))
        .collect();
    format!(
        "point {finished}/{total} {} done in {:.1} s: {} simulated, {} crashes, {} false positives ({} run{})",
        values.join(", "),
        point.wall,
        format_duration(point.spec.duration),
        point.spec.crash,
        point.report.false_positives,
        point.runs,
        if point.runs == 1 { "" } else { "s" }
    )
}

fn value_of(spec: &Spec, key: &str) -> String {
    match key {
        "interval" => format_duration(spec.interval),
        "timeout" => spec.timeout.map_or_else(|| "-".into(), format_duration),
        "threshold" => spec.threshold.to_string(),
        _ => spec.loss.to_string(),
    }
}

/// The swept keys, in order; a key swept twice, or swept and also given as a flag, is
/// refused (the flag would be silently overridden).
fn swept_keys(args: &SimArgs) -> anyhow::Result<Vec<String>> {
    let mut keys: Vec<String> = Vec::new();
    for item in &args.sweep {
        let key = item.split_once('=').map_or(item.as_str(), |(k, _)| k).to_string();
        if keys.contains(&key) {
            bail!("--sweep names `{key}` twice: give each key once, like --sweep interval=200ms..5s threshold=2..6");
        }
        let fixed = match key.as_str() {
            "interval" => args.interval.map(format_duration),
            "timeout" => args.timeout.map(format_duration),
            "threshold" => args.threshold.map(|t| t.to_string()),
            "loss" => args.loss.map(|l| l.to_string()),
            _ => None,
        };
        if let Some(value) = fixed {
            bail!(
                "--{key} {value} conflicts with --sweep {item}: the sweep sets {key} at every point; drop --{key} or sweep another key"
            );
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The values of one `--sweep` key.
fn sweep_values(item: &str, points: usize) -> anyhow::Result<(String, Vec<String>)> {
    let (key, range) = item
        .split_once('=')
        .with_context(|| format!("--sweep `{item}`: write KEY=RANGE, like interval=200ms..5s or threshold=2..6"))?;
    let values: Vec<String> = match (key, range.split_once("..")) {
        ("interval" | "timeout", Some((lo, hi))) => {
            let (lo, hi) = (
                parse_duration(lo).map_err(anyhow::Error::msg)?,
                parse_duration(hi).map_err(anyhow::Error::msg)?,
            );
            geometric(lo, hi, points.max(2))
                .into_iter()
                .map(format_duration)
                .collect()
        }
        ("threshold", Some((lo, hi))) => {
            let lo: u32 = lo
                .parse()
                .with_context(|| format!("--sweep {key}: `{lo}` is not a whole number"))?;
            let hi: u32 = hi
                .parse()
                .with_context(|| format!("--sweep {key}: `{hi}` is not a whole number"))?;
            (lo..=hi).map(|t| t.to_string()).collect()
        }
        ("interval" | "timeout" | "threshold" | "loss", None) => range.split(',').map(str::to_string).collect(),
        _ => bail!("--sweep: unknown key `{key}`; sweep interval, timeout, threshold or loss"),
    };
    if values.is_empty() {
        bail!("--sweep {key}: the range is empty");
    }
    Ok((key.to_string(), values))
}

/// `points` durations from `lo` to `hi` in equal ratios, rounded to the millisecond.
fn geometric(lo: Duration, hi: Duration, points: usize) -> Vec<Duration> {
    let (a, b) = (lo.as_secs_f64(), hi.as_secs_f64());
    let mut values: Vec<Duration> = (0..points)
        .map(|i| {
            let x = a * (b / a).powf(i as f64 / (points - 1) as f64);
            Duration::from_millis((x * 1000.0).round() as u64)
        })
        .collect();
    values.dedup();
    values
}

fn apply(spec: &mut Spec, key: &str, value: &str) -> anyhow::Result<()> {
    let flag = || format!("--sweep {key}={value}");
    match key {
        "interval" => spec.interval = parse_duration(value).map_err(anyhow::Error::msg).with_context(flag)?,
        "timeout" => spec.timeout = Some(parse_duration(value).map_err(anyhow::Error::msg).with_context(flag)?),
        "threshold" => spec.threshold = value.parse().with_context(flag)?,
        "loss" => spec.loss = value.parse().with_context(flag)?,
        _ => bail!("--sweep: unknown key `{key}`"),
    }
    Ok(())
}

/// The cartesian product of the sweep's keys, as specs; every flag not swept keeps the
/// value given (or its default).
fn specs(args: &SimArgs) -> anyhow::Result<Vec<Spec>> {
    let mut specs = vec![args.spec()];
    let timeout_swept = args.sweep.iter().any(|item| item.starts_with("timeout="));
    for item in &args.sweep {
        let (key, values) = sweep_values(item, args.points)?;
        let mut next = Vec::new();
        for spec in &specs {
            for value in &values {
                let mut s = spec.clone();
                apply(&mut s, &key, value)?;
                // Two swept ranges may cross; a given --timeout below a swept interval is
                // refused by the check below instead.
                if timeout_swept && let Some(timeout) = s.timeout.filter(|t| *t < s.interval) {
                    s.timeout = Some(timeout.max(s.interval));
                }
                next.push(s);
            }
        }
        specs = next;
    }
    for spec in &specs {
        spec.scenario()
            .map_err(|e| anyhow::anyhow!("{e} (in {})", spec.command_line()))?;
    }
    Ok(specs)
}

fn print_table(args: &SimArgs, points: &[Point]) -> anyhow::Result<()> {
    let reports: Vec<Report> = points.iter().map(|p| p.report.clone()).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(());
    }
    if args.csv {
        return write_csv(&reports);
    }
    println!(
        "{:>9} {:>9} {:>6} {:>9} {:>7} {:>9} {:>20} {:>10} {:>12} {:>9} {:>7} {:>7}",
        "interval",
        "threshold",
        "loss",
        "T_D mean",
        "±95%",
        "T_D max",
        "false pos./node-hour",
        "msg/node/s",
        "bytes/node/s",
        "simulated",
        "crashes",
        "checks"
    );
    for p in points {
        println!("{}", table_row(&p.spec, &p.report));
    }
    Ok(())
}

fn table_row(spec: &Spec, r: &Report) -> String {
    let fp = match r.false_positives_upper_95 {
        Some(upper) => format!("0 (< {upper:.2e})"),
        None => format!("{:.3e}", r.false_positives_per_node_hour),
    };
    let ci = r.detection_mean_ci95.map_or_else(|| "-".into(), |h| format!("{h:.3}s"));
    format!(
        "{:>9} {:>9} {:>6} {:>8.3}s {:>7} {:>8.3}s {:>20} {:>10.2} {:>12.0} {:>9} {:>7} {:>7}",
        format_duration(spec.interval),
        r.threshold,
        r.loss,
        r.detection_each.mean,
        ci,
        r.detection_each.max,
        fp,
        r.messages_per_node_s,
        r.bytes_per_node_s,
        format_duration(spec.duration),
        r.crashes,
        if r.passed() { "passed" } else { "FAILED" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(nodes: usize) -> Spec {
        Spec {
            nodes,
            loss: 0.01,
            ..Spec::default()
        }
    }

    #[test]
    fn the_first_try_is_a_sixteenth_of_the_pair_hours_with_a_tenth_of_the_nodes_crashing() {
        let sizing = Sizing {
            duration: true,
            crash: true,
        };
        let s = first_size(&push(100), sizing);
        assert_eq!(s.crash, 10);
        // 31.5 pair-hours of 100 nodes is 11.5 s, but crashes need room: twice the
        // detection bound plus two intervals.
        assert_eq!(s.duration, duration_for(&push(100), PAIR_HOURS / 16.0));
        assert!((12..=20).contains(&s.duration.as_secs()), "{:?}", s.duration);
        let small = first_size(&push(20), sizing);
        assert_eq!(
            small.duration,
            Duration::from_secs((PAIR_HOURS / 16.0 * 3600.0 / 380.0).ceil() as u64)
        );
        assert_eq!(small.crash, 2);
        let fixed = Sizing {
            duration: false,
            crash: false,
        };
        assert_eq!(first_size(&push(100), fixed), push(100), "given flags are kept");
    }

    #[test]
    fn a_point_grows_until_enough_mistakes_or_the_pair_hours_cap() {
        let sizing = Sizing {
            duration: true,
            crash: false,
        };
        let spec = first_size(&push(20), sizing);
        let mut report = vitals_sim::simulate(&Spec {
            duration: Duration::from_secs(30),
            nodes: 3,
            ..Spec::default()
        })
        .unwrap();
        report.false_positives = 0;
        report.pair_hours = PAIR_HOURS / 16.0;
        let bigger = grow(&spec, &report, sizing).expect("no mistakes yet: grow");
        assert_eq!(bigger.duration, spec.duration * 4);
        report.pair_hours = PAIR_HOURS / 2.0;
        let last = grow(&spec, &report, sizing).expect("below the cap: grow");
        assert_eq!(
            last.duration,
            Duration::from_secs((spec.duration.as_secs_f64() * 2.04).ceil() as u64),
            "up to the cap"
        );
        report.false_positives = 1;
        report.pair_hours = PAIR_HOURS / 16.0;
        let one = grow(&spec, &report, sizing).expect("one mistake: grow");
        assert_eq!(one.duration, spec.duration * 4, "at most fourfold, not 24-fold");
        report.false_positives = ENOUGH_MISTAKES;
        assert!(grow(&spec, &report, sizing).is_none(), "enough mistakes: stop");
        report.false_positives = 0;
        report.pair_hours = PAIR_HOURS;
        assert!(grow(&spec, &report, sizing).is_none(), "at the cap: stop");
    }
}
