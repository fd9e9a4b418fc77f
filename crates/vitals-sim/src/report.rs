//! The QoS report of one run, in Chen, Toueg & Aguilera's vocabulary: detection time
//! T_D, mistakes (count, rate, duration T_M, recurrence T_MR), query accuracy P_A, and
//! overhead. Computed from the ledger after the run; rendered as a table, JSON or CSV.
//! Holds nothing that depends on the wall clock, so the same seed gives the same bytes.

use std::fmt::Write as _;

use serde::Serialize;

use crate::check::Check;
use crate::engine::Sim;
use crate::scenario::{detector_name, strategy_name};

/// Order statistics of a sample, in seconds (all zero when `count` is zero).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Sample size.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Summary {
    /// The summary of `values` (nearest-rank percentiles).
    pub fn of(mut values: Vec<f64>) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        values.sort_by(f64::total_cmp);
        let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        Summary {
            count: values.len(),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            p50: rank(0.5),
            p90: rank(0.9),
            p99: rank(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// The report of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The strategy's name.
    pub strategy: String,
    /// missed or phi.
    pub detector: String,
    /// Push with acknowledgements.
    pub ack: bool,
    /// Nodes.
    pub nodes: usize,
    /// Heartbeat interval, seconds.
    pub interval_s: f64,
    /// Missed-heartbeat timeout, seconds.
    pub timeout_s: f64,
    /// Threshold.
    pub threshold: u32,
    /// Latency model.
    pub latency: String,
    /// Loss probability.
    pub loss: f64,
    /// Measured simulated seconds.
    pub duration_s: f64,
    /// The master seed.
    pub seed: u64,
    /// Node-hours simulated inside the measured window.
    pub node_hours: f64,
    /// Observer–member pair-hours inside the measured window (both up): the exposure
    /// false positives are counted over.
    pub pair_hours: f64,
    /// Simulator events processed (deliveries, timers, fault steps).
    pub events: u64,
    /// Crashes injected.
    pub crashes: usize,
    /// T_D to the first observer, per crash.
    pub detection_first: Summary,
    /// T_D to the last observer (all have detected), per crash.
    pub detection_all: Summary,
    /// T_D of every (crash, observer) pair.
    pub detection_each: Summary,
    /// From the first observer's verdict to the last's, per crash every watcher detected:
    /// how long a verdict takes to reach everyone once it exists (dissemination, not
    /// detection).
    pub detection_spread: Summary,
    /// Half-width of the 95 % confidence interval of the mean T_D, in seconds, taking
    /// each crash as one sample (its observers' mean: they share the crash's phase, so
    /// they are not independent). `None` below two detected crashes.
    pub detection_mean_ci95: Option<f64>,
    /// Watchers that never detected a crash within the run (or before the crashed node
    /// restarted), not counting watchers that crashed themselves first.
    pub undetected: usize,
    /// Dead verdicts about nodes that were up and not under an injected fault.
    pub false_positives: u64,
    /// False positives per node-hour.
    pub false_positives_per_node_hour: f64,
    /// When there were none: the 95 % upper bound on the rate (rule of three).
    pub false_positives_upper_95: Option<f64>,
    /// Dead verdicts excused by an injected fault (pause, slow, partition, restart).
    pub excused_verdicts: u64,
    /// Dead verdicts by any observer, a faulty one included, about members that were up,
    /// undisturbed and reachable (Lifeguard's "false positives at healthy members").
    pub healthy_member_deaths: u64,
    /// `healthy_member_deaths` per node-hour.
    pub healthy_member_deaths_per_node_hour: f64,
    /// Suspicions reached the same way about such members.
    pub healthy_member_suspicions: u64,
    /// T_M: how long each mistake lasted.
    pub mistake_duration: Summary,
    /// E(T_MR) estimated as observed pair-seconds per mistake (a 95 % lower bound when
    /// there was no mistake).
    pub mistake_recurrence_s: f64,
    /// Whether `mistake_recurrence_s` is only a lower bound.
    pub mistake_recurrence_is_bound: bool,
    /// T_MR between consecutive mistakes of the same pair, where observed.
    pub mistake_recurrence_observed: Summary,
    /// P_A: the probability that a query at a random time gets a right answer.
    pub query_accuracy: f64,
    /// Datagrams sent per node per second.
    pub messages_per_node_s: f64,
    /// Bytes sent per node per second, 28 B of IP+UDP header counted per datagram.
    pub bytes_per_node_s: f64,
    /// Of those, the bytes of reachability rows (`reach.rs` in the core).
    pub reach_bytes_per_node_s: f64,
    /// Refutations (a node raising its incarnation).
    pub refutations: u64,
    /// Datagrams the codec refused (always 0 unless the codec is broken).
    pub decode_errors: u64,
    /// Per member: the most status changes about it that one observer recorded within
    /// the measured window (a flapping member shows here; joins not counted).
    pub status_changes_max: Vec<u64>,
    /// The checkers.
    pub checks: Vec<Check>,
}

impl Report {
    pub(crate) fn of(sim: &Sim, checks: Vec<Check>) -> Report {
        let s = &sim.scenario;
        let l = &sim.ledger;
        let up = l.up_seconds(s.nodes);
        let node_seconds: f64 = up.iter().sum();
        let node_hours = node_seconds / 3600.0;
        let pair_seconds = pair_seconds(sim);
        let Detections {
            first,
            all,
            each,
            spread,
            per_crash,
            undetected,
        } = detections(sim);
        let fp = l.false_positives;
        let (recurrence, bound) = if fp == 0 {
            (pair_seconds / 3.0, true)
        } else {
            (pair_seconds / fp as f64, false)
        };
        Report {
            strategy: strategy_name(s.config.kind()).into(),
            detector: detector_name(s.config.detector).into(),
            ack: matches!(s.config.strategy, vitals_core::StrategyConfig::Push { ack: true }),
            nodes: s.nodes,
            interval_s: s.config.interval.as_secs_f64(),
            timeout_s: s.config.timeout.as_secs_f64(),
            threshold: s.config.threshold,
            latency: s.net.latency.to_string(),
            loss: s.net.loss,
            duration_s: s.duration.as_secs_f64(),
            seed: s.seed,
            node_hours,
            pair_hours: pair_seconds / 3600.0,
            events: sim.events,
            crashes: l.crashes.len(),
            detection_first: Summary::of(first),
            detection_all: Summary::of(all),
            detection_each: Summary::of(each),
            detection_spread: Summary::of(spread),
            detection_mean_ci95: mean_ci95(&per_crash),
            undetected,
            false_positives: fp,
            false_positives_per_node_hour: fp as f64 / node_hours.max(f64::MIN_POSITIVE),
            false_positives_upper_95: (fp == 0).then(|| 3.0 / node_hours.max(f64::MIN_POSITIVE)),
            excused_verdicts: l.excused,
            healthy_member_deaths: l.healthy_deaths,
            healthy_member_deaths_per_node_hour: l.healthy_deaths as f64 / node_hours.max(f64::MIN_POSITIVE),
            healthy_member_suspicions: l.healthy_suspicions,
            mistake_duration: Summary::of(l.mistake_durations.clone()),
            mistake_recurrence_s: recurrence,
            mistake_recurrence_is_bound: bound,
            mistake_recurrence_observed: Summary::of(l.recurrences.clone()),
            query_accuracy: 1.0 - l.mistake_time / pair_seconds.max(f64::MIN_POSITIVE),
            messages_per_node_s: l.messages as f64 / node_seconds.max(f64::MIN_POSITIVE),
            bytes_per_node_s: l.bytes as f64 / node_seconds.max(f64::MIN_POSITIVE),
            reach_bytes_per_node_s: l.reach_bytes as f64 / node_seconds.max(f64::MIN_POSITIVE),
            refutations: l.refutations,
            decode_errors: l.decode_errors,
            status_changes_max: l
                .status_changes
                .iter()
                .map(|by_observer| by_observer.iter().copied().max().unwrap_or(0))
                .collect(),
            checks,
        }
    }

    /// The most status changes per minute one observer recorded about `member` (0 for an
    /// index out of range).
    pub fn status_changes_per_minute(&self, member: usize) -> f64 {
        let count = self.status_changes_max.get(member).copied().unwrap_or(0);
        count as f64 * 60.0 / self.duration_s.max(f64::MIN_POSITIVE)
    }

    /// Whether every checker passed or was skipped.
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(Check::failed)
    }
}

/// Observer–member seconds during which both were up, inside the measured window.
fn pair_seconds(sim: &Sim) -> f64 {
    let l = &sim.ledger;
    let n = sim.scenario.nodes as f64;
    let window = (l.end - l.start).as_secs_f64();
    let down: Vec<(usize, f64, f64)> = l
        .crashes
        .iter()
        .map(|c| {
            let from = c.at.max(l.start).as_micros() as f64 / 1e6;
            let to = c.restart_at.unwrap_or(l.end).min(l.end).as_micros() as f64 / 1e6;
            (c.node, from, to.max(from))
        })
        .collect();
    let total_down: f64 = down.iter().map(|(_, a, b)| b - a).sum();
    let mut both_down = 0.0;
    for (i, a) in down.iter().enumerate() {
        for b in &down[i + 1..] {
            if a.0 != b.0 {
                both_down += 2.0 * (a.2.min(b.2) - a.1.max(b.1)).max(0.0);
            }
        }
    }
    n * (n - 1.0) * window - 2.0 * (n - 1.0) * total_down + both_down
}

/// The detection times of a run, in seconds.
struct Detections {
    /// The first observer's, per crash.
    first: Vec<f64>,
    /// The last observer's, per crash whose every watcher detected it.
    all: Vec<f64>,
    /// Every (crash, observer) pair's.
    each: Vec<f64>,
    /// The last observer's less the first's, per crash whose every watcher detected it.
    spread: Vec<f64>,
    /// The mean over the observers, per crash.
    per_crash: Vec<f64>,
    /// Watchers that never detected a crash.
    undetected: usize,
}

fn detections(sim: &Sim) -> Detections {
    let mut d = Detections {
        first: Vec::new(),
        all: Vec::new(),
        each: Vec::new(),
        spread: Vec::new(),
        per_crash: Vec::new(),
        undetected: 0,
    };
    let ledger = &sim.ledger;
    for crash in &ledger.crashes {
        // A watcher that crashed itself before it reached a verdict watches no longer: it
        // is neither a detection nor a miss (ping's T_D, seconds, can exceed the gap
        // between two injected crashes).
        let until = crash.restart_at.unwrap_or(ledger.end);
        let took: Vec<Option<f64>> = crash
            .watchers
            .iter()
            .filter(|&&o| crash.detected[o].is_some() || !ledger.went_down(o, crash.at, until))
            .map(|&o| crash.detected[o].map(|t| (t - crash.at).as_secs_f64()))
            .collect();
        let seen: Vec<f64> = took.iter().flatten().copied().collect();
        d.undetected += took.len() - seen.len();
        if let Some(min) = seen.iter().copied().reduce(f64::min) {
            d.first.push(min);
            d.per_crash.push(seen.iter().sum::<f64>() / seen.len() as f64);
        }
        if !seen.is_empty() && seen.len() == took.len() {
            let last = seen.iter().copied().fold(0.0, f64::max);
            d.all.push(last);
            d.spread.push(last - seen.iter().copied().fold(f64::INFINITY, f64::min));
        }
        d.each.extend(seen);
    }
    d
}

/// Half-width of the 95 % confidence interval of the mean of `samples` (Student's t),
/// `None` below two samples.
fn mean_ci95(samples: &[f64]) -> Option<f64> {
    /// t_{0.975, k} for k = 1..=30 degrees of freedom.
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    let k = samples.len();
    if k < 2 {
        return None;
    }
    let mean = samples.iter().sum::<f64>() / k as f64;
    let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    let t = T.get(k - 2).copied().unwrap_or(1.96);
    Some(t * (variance / k as f64).sqrt())
}

fn secs(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}s")
    } else if x >= 1.0 {
        format!("{x:.3}s")
    } else {
        format!("{:.1}ms", x * 1e3)
    }
}

fn summary_row(out: &mut String, label: &str, s: &Summary) {
    let _ = writeln!(
        out,
        "  {label:<22}{:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
        s.count,
        secs(s.mean),
        secs(s.p50),
        secs(s.p90),
        secs(s.p99),
        secs(s.max)
    );
}

impl Report {
    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} / {} detector{}: {} nodes, interval {}, timeout {}, threshold {}; latency {}, loss {}; {} measured, seed {}",
            self.strategy,
            self.detector,
            if self.ack { " with acks" } else { "" },
            self.nodes,
            secs(self.interval_s),
            secs(self.timeout_s),
            self.threshold,
            self.latency,
            self.loss,
            secs(self.duration_s),
            self.seed
        );
        let _ = writeln!(
            out,
            "\n{:<24}{:>6}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
            "detection time T_D", "n", "mean", "p50", "p90", "p99", "max"
        );
        summary_row(&mut out, "first observer", &self.detection_first);
        summary_row(&mut out, "all observers", &self.detection_all);
        summary_row(&mut out, "each observer", &self.detection_each);
        summary_row(&mut out, "first to last observer", &self.detection_spread);
        summary_row(&mut out, "mistake duration T_M", &self.mistake_duration);
        let _ = writeln!(out);
        self.mistakes(&mut out);
        let _ = writeln!(
            out,
            "{:<24}{:.1} messages, {:.0} bytes per node per second (28 B IP+UDP per datagram counted), {:.0} of them reachability rows",
            "overhead", self.messages_per_node_s, self.bytes_per_node_s, self.reach_bytes_per_node_s
        );
        let _ = writeln!(
            out,
            "{:<24}{} crashes, {} undetected, {} refutations, {} verdicts excused by injected faults",
            "faults", self.crashes, self.undetected, self.refutations, self.excused_verdicts
        );
        let flappiest =
            (0..self.status_changes_max.len()).max_by_key(|&m| (self.status_changes_max[m], usize::MAX - m));
        if let Some(member) = flappiest.filter(|&m| self.status_changes_max[m] > 0) {
            let _ = writeln!(
                out,
                "{:<24}n{member}: {} at one observer ({:.1} per minute); every member, most at one observer: {:?}",
                "status changes",
                self.status_changes_max[member],
                self.status_changes_per_minute(member),
                self.status_changes_max
            );
        }
        if self.healthy_member_deaths + self.healthy_member_suspicions > 0 {
            let _ = writeln!(
                out,
                "{:<24}{} dead verdicts ({:.3e} per node-hour) and {} suspicions by anyone, a faulty node included",
                "about healthy members",
                self.healthy_member_deaths,
                self.healthy_member_deaths_per_node_hour,
                self.healthy_member_suspicions
            );
        }
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{:<24}{} ({})",
                format!("check {}", check.name),
                check.verdict,
                check.detail
            );
        }
        out
    }

    fn mistakes(&self, out: &mut String) {
        let rate = match self.false_positives_upper_95 {
            Some(upper) => format!("0 per node-hour (95 % upper bound {upper:.3e})"),
            None => format!("{:.3e} per node-hour", self.false_positives_per_node_hour),
        };
        let _ = writeln!(
            out,
            "{:<24}{} in {:.1} node-hours: {rate}",
            "false positives", self.false_positives, self.node_hours
        );
        let recurrence = self.mistake_recurrence_s;
        let prefix = if self.mistake_recurrence_is_bound {
            "at least "
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<24}{prefix}{recurrence:.3e} s ({prefix}{:.1} days) per observer-member pair",
            "mistake recurrence T_MR",
            recurrence / 86_400.0
        );
        let _ = writeln!(out, "{:<24}{:.9}", "query accuracy P_A", self.query_accuracy);
    }

    /// The CSV header matching [`Report::csv_row`].
    pub fn csv_header() -> &'static str {
        "strategy,detector,nodes,interval_s,timeout_s,threshold,latency,loss,duration_s,seed,crashes,td_first_mean_s,td_first_p99_s,td_all_mean_s,td_all_p99_s,td_each_mean_s,td_each_max_s,undetected,false_positives,fp_per_node_hour,fp_upper_95,tm_mean_s,tmr_s,tmr_is_bound,query_accuracy,messages_per_node_s,bytes_per_node_s,checks_passed"
    }

    /// One CSV row.
    pub fn csv_row(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            self.strategy,
            self.detector,
            self.nodes,
            self.interval_s,
            self.timeout_s,
            self.threshold,
            self.latency,
            self.loss,
            self.duration_s,
            self.seed,
            self.crashes,
            self.detection_first.mean,
            self.detection_first.p99,
            self.detection_all.mean,
            self.detection_all.p99,
            self.detection_each.mean,
            self.detection_each.max,
            self.undetected,
            self.false_positives,
            self.false_positives_per_node_hour,
            self.false_positives_upper_95.map_or(String::new(), |u| u.to_string()),
            self.mistake_duration.mean,
            self.mistake_recurrence_s,
            self.mistake_recurrence_is_bound,
            self.query_accuracy,
            self.messages_per_node_s,
            self.bytes_per_node_s,
            self.passed()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s = Summary::of((1..=100).map(f64::from).collect());
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(s.mean, 50.5);
        assert_eq!(Summary::of(Vec::new()).count, 0);
    }

    #[test]
    fn the_confidence_interval_of_the_mean_uses_students_t() {
        assert_eq!(mean_ci95(&[3.0]), None);
        // Two samples 1 apart: s = 0.707, t(1) = 12.706, half-width 12.706 × 0.5.
        let half = mean_ci95(&[1.0, 2.0]).unwrap();
        assert!((half - 6.353).abs() < 1e-3, "{half}");
        let many: Vec<f64> = (0..100).map(|i| f64::from(i % 2)).collect();
        let half = mean_ci95(&many).unwrap();
        assert!((half - 1.96 * 0.5025 / 10.0).abs() < 1e-3, "{half}");
    }
}
