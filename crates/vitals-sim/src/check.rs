//! The checkers that run on every simulation: accuracy, completeness and convergence.
//! Each says passed, failed (with the first offending observer, member and instant) or
//! skipped (with the reason: a lossy network makes mistakes legitimate). They read the
//! ledger after the run; they never change what the run recorded.

use std::time::Duration;

use serde::Serialize;
use vitals_core::{DetectorKind, Instant, StrategyKind};

use crate::engine::Sim;
use crate::ledger::{Crash, Ledger};
use crate::scenario::node_name;

/// The outcome of one checker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// `accuracy`, `completeness` or `convergence`.
    pub name: String,
    /// `passed`, `failed` or `skipped`.
    pub verdict: String,
    /// What was checked, or what went wrong.
    pub detail: String,
}

impl Check {
    fn new(name: &str, verdict: &str, detail: String) -> Check {
        Check {
            name: name.into(),
            verdict: verdict.into(),
            detail,
        }
    }

    /// Whether the checker failed.
    pub fn failed(&self) -> bool {
        self.verdict == "failed"
    }
}

pub(crate) fn all(sim: &Sim) -> Vec<Check> {
    vec![accuracy(sim), completeness(sim), convergence(sim)]
}

/// No live, unpartitioned, undisturbed node is ever declared dead when the network
/// loses nothing and its jitter cannot stretch a silence to the detector's tolerance.
fn accuracy(sim: &Sim) -> Check {
    let s = &sim.scenario;
    let c = &s.config;
    // Each delivery a heartbeat crosses to its judge carries its own jitter.
    let hops = c.jitter_hops();
    let slack = c.detector_slack();
    if s.net.lossy() {
        return Check::new(
            "accuracy",
            "skipped",
            "the network loses datagrams: mistakes are measured, not forbidden".into(),
        );
    }
    if s.net.jitter_bound() * hops >= slack {
        return Check::new(
            "accuracy",
            "skipped",
            format!(
                "latency jitter up to {:?} can exceed the detector's slack {slack:?}",
                s.net.jitter_bound() * hops
            ),
        );
    }
    let ledger = &sim.ledger;
    match ledger.first_mistakes.first() {
        None => Check::new(
            "accuracy",
            "passed",
            format!("{} excused verdicts during injected faults", ledger.excused),
        ),
        Some(m) => Check::new(
            "accuracy",
            "failed",
            format!(
                "{} false positives; first: {} declared {} dead at {} although it was up and reachable",
                ledger.false_positives,
                node_name(m.observer),
                node_name(m.member),
                m.at
            ),
        ),
    }
}

/// Every crashed node is declared dead by every observer that held it up, stayed up,
/// undisturbed and unpartitioned from it, within the strategy's bound.
fn completeness(sim: &Sim) -> Check {
    let s = &sim.scenario;
    let ledger = &sim.ledger;
    let mut checked = 0u64;
    let mut late = Vec::new();
    for crash in &ledger.crashes {
        // Phi remembers a window of inter-arrival times: a past pause or partition of the
        // observer widens its spread for that long, so such observers are not held to the bound.
        let lookback = match s.config.detector {
            DetectorKind::Missed => s.config.dead_after(),
            DetectorKind::Phi => s.config.interval * u32::try_from(s.config.phi.window).unwrap_or(u32::MAX),
        };
        let since = vitals_core::Instant::from_duration(crash.at.since_epoch().saturating_sub(lookback));
        for &o in &crash.watchers {
            let bound = s.detection_bound(o, crash.node)
                + partition_delay(s, crash.at, since)
                + election_delay(s, ledger, crash, s.detection_bound(o, crash.node));
            let horizon = crash.at + bound;
            let cut = ledger.node_disturbed(o, since, horizon) || ledger.separated(o, crash.node, since, horizon);
            // A process that restarted before the bound ran out was back (it rejoins at
            // incarnation 0) before anyone owed a verdict: nothing is left to detect.
            let back = crash.restart_at.is_some_and(|r| r < horizon);
            if horizon > ledger.end || cut || back {
                continue;
            }
            checked += 1;
            let took = crash.detected[o].map(|t| t - crash.at);
            if took.is_none_or(|t| t > bound) {
                late.push((o, crash.node, crash.at, took, bound));
            }
        }
    }
    match late.first() {
        None => Check::new(
            "completeness",
            "passed",
            format!("{checked} observer detections within the bound"),
        ),
        Some((o, m, at, took, bound)) => Check::new(
            "completeness",
            "failed",
            format!(
                "{} of {checked} detections late or missing; first: {} crashed at {at}, {} took {took:?} (bound {bound:?})",
                late.len(),
                node_name(*m),
                node_name(*o)
            ),
        ),
    }
}

/// Ping: Lifeguard raises the awareness of every node whose ping-req helpers cannot
/// answer, so during a partition every node (on either side) stretches its period, and
/// its own probe of a crashed member may wait for the awareness to come down after the
/// heal. The bound then runs from the heal: this returns the time from the crash to the
/// heal of a partition in force between `since` and the end of the bound (zero if none).
fn partition_delay(
    s: &crate::Scenario,
    crashed: vitals_core::Instant,
    since: vitals_core::Instant,
) -> std::time::Duration {
    if s.config.kind() != StrategyKind::Ping {
        return std::time::Duration::ZERO;
    }
    let horizon = crashed + s.direct_bound();
    s.partitions
        .iter()
        .map(|p| {
            let (start, end) = (p.start, p.start + p.duration);
            (
                vitals_core::Instant::from_duration(start),
                vitals_core::Instant::from_duration(end),
            )
        })
        .filter(|&(start, end)| start <= horizon && since <= end && crashed < end)
        .map(|(_, end)| end - crashed)
        .max()
        .unwrap_or_default()
}

/// Leader: when an election stands between a crash and its verdict, the extra time it
/// takes. Members judge only the leader and learn every other verdict from its view, so
/// when a node that led near the crash is under an injected fault (it crashed, perhaps
/// being the crashed node itself, or restarted, paused or turned slow), or a partition
/// near the crash left observers without a leader they can reach (a side without a
/// majority elects nobody; check-quorum, thesis §6.2, deposes a leader cut from its
/// majority), the crash is judged only by the next leader. The bound then runs from the
/// later of the crash and the heal or the fault's start, plus
/// [`crate::Scenario::leader_takeover`]. An election begun up to one takeover before the
/// crash may still be under way. Zero otherwise.
fn election_delay(s: &crate::Scenario, ledger: &Ledger, crash: &Crash, base: Duration) -> Duration {
    if s.config.kind() != StrategyKind::Leader {
        return Duration::ZERO;
    }
    let takeover = s.leader_takeover();
    let horizon = crash.at + base;
    let earliest = Instant::from_duration(crash.at.since_epoch().saturating_sub(takeover));
    let heals = s
        .partitions
        .iter()
        .map(|p| {
            (
                Instant::from_duration(p.start),
                Instant::from_duration(p.start + p.duration),
            )
        })
        .filter(|&(start, end)| start <= horizon && earliest <= end)
        .map(|(_, end)| end);
    let from = heals.chain(ledger.leader_disturbed(earliest, horizon)).max();
    from.map_or(Duration::ZERO, |t| {
        let wait = t.since_epoch().saturating_sub(crash.at.since_epoch()) + takeover;
        wait.saturating_sub(base)
    })
}

/// After every heal, restart, pause or slow spell (plus the convergence bound) and at the
/// end, every live node sees every other live node up.
fn convergence(sim: &Sim) -> Check {
    match sim.disagreements.first() {
        None => Check::new("convergence", "passed", format!("{} checks", sim.convergence_checks)),
        Some(d) => Check::new(
            "convergence",
            "failed",
            format!(
                "{} disagreements; first: at {} {} did not see {} up",
                sim.disagreement_count,
                d.at,
                node_name(d.observer),
                node_name(d.member)
            ),
        ),
    }
}
