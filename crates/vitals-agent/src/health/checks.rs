//! Runs the agent's checks and turns their results into the [`Checks`] value the node
//! carries in its heartbeats. One tokio task per check (probe every interval, or wait
//! for TTL reports), a [`RiseFall`] per check (HAProxy's rise/fall), a [`Board`] of the
//! latest results for the API, and one reporter task that fuses the board, the system
//! thresholds and the latest resource sample into [`Health`] and hands it to the driver.
//!
//! Never touches the node (only the driver does) and never decides a member's liveness.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use vitals_core::{CheckStatus, Checks, Command, Health, ServiceEntry};

use super::probe::{self, Outcome};
use super::services::{CheckKind, CheckSpec, Levels, ServiceSpec, Thresholds};
use crate::daemon::driver::Control;

/// Consecutive-result thresholds: a check's first result sets its status; after that it
/// turns `critical` after `fall` consecutive failures and `passing` after `rise`
/// consecutive successes. A warning result sets `warning` at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    status: Option<CheckStatus>,
    successes: u32,
    failures: u32,
}

impl RiseFall {
    /// A check with no result yet.
    pub fn new(rise: u32, fall: u32) -> RiseFall {
        RiseFall {
            rise,
            fall,
            status: None,
            successes: 0,
            failures: 0,
        }
    }

    /// Takes in one result; returns the check's status.
    pub fn record(&mut self, result: CheckStatus) -> CheckStatus {
        match result {
            CheckStatus::Passing => {
                self.successes += 1;
                self.failures = 0;
            }
            CheckStatus::Critical => {
                self.failures += 1;
                self.successes = 0;
            }
            CheckStatus::Warning => (self.successes, self.failures) = (0, 0),
        }
        let next = match (self.status, result) {
            (None, result) | (_, result @ CheckStatus::Warning) => result,
            (Some(held), CheckStatus::Passing) if held != CheckStatus::Passing && self.successes < self.rise => held,
            (Some(held), CheckStatus::Critical) if held != CheckStatus::Critical && self.failures < self.fall => held,
            (Some(_), result) => result,
        };
        self.status = Some(next);
        next
    }
}

/// One check as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CheckView {
    /// The check's name.
    pub name: String,
    /// The service it checks, if any.
    pub service: Option<String>,
    /// `http`, `tcp`, `grpc`, `exec` or `ttl`.
    pub kind: &'static str,
    /// The status after rise/fall.
    pub status: CheckStatus,
    /// The latest run's explanation.
    pub output: String,
}

/// The latest result of every check, by name.
pub type Board = BTreeMap<String, CheckView>;

/// A TTL report: `PUT /v1/checks/NAME/pass|warn|fail`.
#[derive(Clone, Debug)]
pub struct TtlReport {
    /// The reported status.
    pub status: CheckStatus,
    /// The request body, as the check's output.
    pub note: String,
}

/// Senders to the TTL checks, by check name.
pub type TtlInbox = Arc<BTreeMap<String, mpsc::Sender<TtlReport>>>;

/// Starts every check; returns the board's receiver, the TTL inboxes and the tasks.
pub(crate) fn start(specs: &[CheckSpec]) -> (watch::Receiver<Board>, TtlInbox, Vec<tokio::task::JoinHandle<()>>) {
    let initial: Board = specs
        .iter()
        .map(|s| (s.name.clone(), view(s, CheckStatus::Critical, "not run yet".into())))
        .collect();
    let (tx, rx) = watch::channel(initial);
    let board = Arc::new(tx);
    let mut inbox = BTreeMap::new();
    let mut tasks = Vec::new();
    for spec in specs.iter().cloned() {
        let board = Arc::clone(&board);
        if let CheckKind::Ttl { ttl } = spec.kind {
            let (report_tx, report_rx) = mpsc::channel(16);
            inbox.insert(spec.name.clone(), report_tx);
            tasks.push(tokio::spawn(run_ttl(spec, ttl, report_rx, board)));
        } else {
            tasks.push(tokio::spawn(run_probe(spec, board)));
        }
    }
    (rx, Arc::new(inbox), tasks)
}

fn view(spec: &CheckSpec, status: CheckStatus, output: String) -> CheckView {
    CheckView {
        name: spec.name.clone(),
        service: spec.service.clone(),
        kind: spec.kind.as_str(),
        status,
        output,
    }
}

fn post(board: &watch::Sender<Board>, view: CheckView) {
    board.send_if_modified(|b| {
        let changed = b.get(&view.name) != Some(&view);
        if changed {
            if b.get(&view.name).is_some_and(|old| old.status != view.status) {
                tracing::info!(check = %view.name, status = view.status.as_str(), output = %view.output, "check status changed");
            }
            b.insert(view.name.clone(), view);
        }
        changed
    });
}

async fn run_probe(spec: CheckSpec, board: Arc<watch::Sender<Board>>) {
    let mut rise_fall = RiseFall::new(spec.rise, spec.fall);
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Outcome { status, output } = probe::run(&spec.kind, spec.timeout).await;
        let status = rise_fall.record(status);
        post(&board, view(&spec, status, output));
    }
}

async fn run_ttl(
    spec: CheckSpec,
    ttl: Duration,
    mut reports: mpsc::Receiver<TtlReport>,
    board: Arc<watch::Sender<Board>>,
) {
    post(&board, view(&spec, CheckStatus::Critical, "no report yet".into()));
    loop {
        match tokio::time::timeout(ttl, reports.recv()).await {
            Ok(Some(report)) => post(&board, view(&spec, report.status, report.note)),
            Ok(None) => return,
            Err(_) => post(
                &board,
                view(
                    &spec,
                    CheckStatus::Critical,
                    format!("TTL expired: no report for {ttl:?}"),
                ),
            ),
        }
    }
}

fn level_status(value: f64, levels: Levels, higher_is_worse: bool) -> CheckStatus {
    let beyond = |limit: Option<f64>| limit.is_some_and(|l| if higher_is_worse { value >= l } else { value <= l });
    if beyond(levels.critical) {
        CheckStatus::Critical
    } else if beyond(levels.warning) {
        CheckStatus::Warning
    } else {
        CheckStatus::Passing
    }
}

/// The system's status under `thresholds`, with a reason for each resource beyond one.
pub fn system_status(health: &Health, thresholds: &Thresholds) -> (CheckStatus, Vec<String>) {
    let mem_percent = if health.mem_total_bytes == 0 {
        100.0
    } else {
        health.mem_available_bytes as f64 * 100.0 / health.mem_total_bytes as f64
    };
    let disk_mib = health.disk_free_bytes as f64 / f64::from(1u32 << 20);
    let readings = [
        (
            "cpu_percent",
            f64::from(health.cpu_percent),
            thresholds.cpu_percent,
            true,
        ),
        (
            "memory_available_percent",
            mem_percent,
            thresholds.memory_available_percent,
            false,
        ),
        ("disk_free_mib", disk_mib, thresholds.disk_free_mib, false),
        ("load1", f64::from(health.load1), thresholds.load1, true),
    ];
    let mut worst = CheckStatus::Passing;
    let mut reasons = Vec::new();
    for (name, value, levels, higher_is_worse) in readings {
        let status = level_status(value, levels, higher_is_worse);
        if status != CheckStatus::Passing {
            reasons.push(format!("{name} is {value:.1}: {}", status.as_str()));
        }
        worst = worst.max(status);
    }
    (worst, reasons)
}

/// The [`Checks`] a node announces: its status is the worst of its node-level checks and
/// its system status; each service's is the worst of its checks (passing without any).
pub fn summarize(board: &Board, system: CheckStatus, services: &[ServiceSpec]) -> Checks {
    let worst = |service: Option<&str>| {
        board
            .values()
            .filter(|c| c.service.as_deref() == service)
            .map(|c| c.status)
            .max()
            .unwrap_or_default()
    };
    Checks {
        status: worst(None).max(system),
        services: services
            .iter()
            .map(|s| ServiceEntry {
                name: s.name.clone(),
                addr: s.addr,
                weight: s.weight,
                status: worst(Some(&s.name)),
            })
            .collect(),
    }
}

/// What the reporter needs.
/// What a program that embeds the agent says about its own node (`embed::Agent`'s
/// `set_health` and `set_tags`): combined with the checks (the worse status wins) and
/// replacing the configured tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalHealth {
    /// The program's own verdict about its node, if it gave one.
    pub status: Option<CheckStatus>,
    /// Tags replacing the configured ones, if it set any.
    pub tags: Option<vitals_core::tags::Tags>,
}

pub(crate) struct Reporter {
    pub(crate) board: watch::Receiver<Board>,
    /// The embedding program's word (never changes for the daemon).
    pub(crate) local: watch::Receiver<LocalHealth>,
    pub(crate) samples: mpsc::Receiver<Health>,
    pub(crate) services: Vec<ServiceSpec>,
    pub(crate) thresholds: Thresholds,
    /// The node's tags, carried in every health it hands the node.
    pub(crate) tags: vitals_core::tags::Tags,
    pub(crate) controls: mpsc::Sender<Control>,
}

impl Reporter {
    /// Hands the node a fresh [`Health`] whenever a sample arrives or a check changes.
    pub(crate) async fn run(mut self) {
        let mut sample = Health::default();
        let mut sent: Option<Health> = None;
        // Without checks nothing holds the board's sender: then only samples drive this.
        let (mut board_open, mut samples_open) = (true, true);
        while board_open || samples_open {
            tokio::select! {
                next = self.samples.recv(), if samples_open => match next {
                    Some(next) => sample = next,
                    None => {
                        samples_open = false;
                        continue;
                    }
                },
                changed = self.board.changed(), if board_open => if changed.is_err() {
                    board_open = false;
                    continue;
                },
                Ok(()) = self.local.changed() => {}
            }
            let (system, _) = system_status(&sample, &self.thresholds);
            let mut checks = summarize(&self.board.borrow_and_update(), system, &self.services);
            let local = self.local.borrow_and_update().clone();
            checks.status = checks.status.max(local.status.unwrap_or_default());
            let health = Health {
                checks: Some(checks),
                tags: local.tags.unwrap_or_else(|| self.tags.clone()),
                ..sample.clone()
            };
            if sent.as_ref() == Some(&health) {
                continue;
            }
            sent = Some(health.clone());
            if self
                .controls
                .send(Control::Node(Command::SetHealth(health)))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckStatus::{Critical, Passing, Warning};

    #[test]
    fn a_passing_check_fails_only_after_fall_failures_and_recovers_after_rise_successes() {
        let mut rf = RiseFall::new(2, 3);
        assert_eq!(rf.record(Passing), Passing);
        assert_eq!(rf.record(Critical), Passing);
        assert_eq!(rf.record(Critical), Passing);
        assert_eq!(rf.record(Passing), Passing, "a success resets the failure streak");
        assert_eq!(rf.record(Critical), Passing);
        assert_eq!(rf.record(Critical), Passing);
        assert_eq!(rf.record(Critical), Critical);
        assert_eq!(rf.record(Passing), Critical);
        assert_eq!(rf.record(Passing), Passing);
        assert_eq!(rf.record(Warning), Warning, "a warning is reported at once");
    }

    #[test]
    fn the_first_result_sets_the_status() {
        assert_eq!(RiseFall::new(5, 5).record(Critical), Critical);
        assert_eq!(RiseFall::new(5, 5).record(Passing), Passing);
    }

    #[test]
    fn system_thresholds_make_the_node_warning_or_critical() {
        let mut health = Health {
            cpu_percent: 50.0,
            mem_available_bytes: 50,
            mem_total_bytes: 100,
            load1: 1.0,
            disk_free_bytes: 10 << 30,
            checks: None,
            tags: Default::default(),
        };
        let thresholds = Thresholds::default();
        assert_eq!(system_status(&health, &thresholds).0, Passing);
        health.mem_available_bytes = 5;
        assert_eq!(system_status(&health, &thresholds).0, Warning);
        health.disk_free_bytes = 1 << 20;
        let (status, reasons) = system_status(&health, &thresholds);
        assert_eq!(status, Critical);
        assert_eq!(reasons.len(), 2, "{reasons:?}");
    }

    #[test]
    fn a_service_is_as_bad_as_its_worst_check_and_the_node_as_its_own() {
        let spec = |name: &str| ServiceSpec {
            name: name.into(),
            addr: "127.0.0.1:80".parse().unwrap(),
            tags: vec![],
            weight: 1,
        };
        let check = |name: &str, service: Option<&str>, status| CheckView {
            name: name.into(),
            service: service.map(str::to_string),
            kind: "tcp",
            status,
            output: String::new(),
        };
        let board: Board = [
            check("a", Some("web"), Passing),
            check("b", Some("web"), Warning),
            check("c", None, Passing),
        ]
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
        let checks = summarize(&board, Passing, &[spec("web"), spec("db")]);
        assert_eq!(checks.status, Passing);
        assert_eq!(checks.service("web").unwrap().status, Warning);
        assert_eq!(checks.service("db").unwrap().status, Passing);
        assert_eq!(summarize(&board, Critical, &[]).status, Critical);
    }
}
