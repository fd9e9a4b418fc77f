//! The health score: one number in [0, 1] per member (and per service instance) that
//! fuses liveness, check results and resource headroom. Computed here, in one place, as
//! pure functions of what a node knows, so every node and every tool agrees:
//!
//! ```text
//! score     = liveness × checks × headroom
//! liveness  = alive: 1 − s/2    suspect: (1 − s)/2    dead, left: 0
//!             s = suspicion in [0, 1]: the detector's reading over its death level
//!             (missed heartbeats / threshold, or phi / phi threshold)
//! checks    = passing: 1    warning: 0.5    critical: 0    (nothing reported: 1)
//!             for an instance, the worse of the node's and the service's status
//! headroom  = 0.5 + 0.5 × min(1 − cpu%/100, memory available / memory total)
//!             (no sample: 1), so a saturated node keeps half its score
//! ```
//!
//! Never reads a clock: the caller passes the detector's reading.

use crate::checks::{CheckStatus, ServiceEntry};
use crate::config::{Config, DetectorKind};
use crate::message::{Health, Status};

/// The detector's `level` as a fraction of the level that declares death, in [0, 1].
pub fn suspicion(config: &Config, level: f64) -> f64 {
    let death = match config.detector {
        DetectorKind::Missed => f64::from(config.threshold.max(1)),
        DetectorKind::Phi => config.phi.threshold,
    };
    if !level.is_finite() {
        return 1.0;
    }
    (level / death).clamp(0.0, 1.0)
}

/// The liveness factor of a member with `status` and `suspicion`.
pub fn liveness(status: Status, suspicion: f64) -> f64 {
    let s = suspicion.clamp(0.0, 1.0);
    match status {
        Status::Alive => 1.0 - s / 2.0,
        Status::Suspect => (1.0 - s) / 2.0,
        Status::Dead | Status::Left => 0.0,
    }
}

/// The checks factor of a status.
pub fn checks_factor(status: Option<CheckStatus>) -> f64 {
    match status {
        None | Some(CheckStatus::Passing) => 1.0,
        Some(CheckStatus::Warning) => 0.5,
        Some(CheckStatus::Critical) => 0.0,
    }
}

/// Free resources in [0, 1]: the scarcer of CPU and memory; `None` without a sample.
pub fn free_fraction(health: Option<&Health>) -> Option<f64> {
    let h = health.filter(|h| h.mem_total_bytes > 0)?;
    let cpu_free = 1.0 - f64::from(h.cpu_percent) / 100.0;
    let mem_free = h.mem_available_bytes as f64 / h.mem_total_bytes as f64;
    Some(cpu_free.min(mem_free).clamp(0.0, 1.0))
}

/// The headroom factor, in [0.5, 1].
pub fn headroom(health: Option<&Health>) -> f64 {
    free_fraction(health).map_or(1.0, |free| 0.5 + 0.5 * free)
}

/// The node's own check status, as its health reports it.
pub fn node_status(health: Option<&Health>) -> Option<CheckStatus> {
    health.and_then(|h| h.checks.as_ref()).map(|c| c.status)
}

/// A member's score.
pub fn member_score(status: Status, suspicion: f64, health: Option<&Health>) -> f64 {
    liveness(status, suspicion) * checks_factor(node_status(health)) * headroom(health)
}

/// The status of one instance of a service: the worse of the node's and the service's.
pub fn instance_status(health: Option<&Health>, service: &ServiceEntry) -> CheckStatus {
    node_status(health).unwrap_or_default().max(service.status)
}

/// The score of one instance of `service` on a member.
pub fn instance_score(status: Status, suspicion: f64, health: Option<&Health>, service: &ServiceEntry) -> f64 {
    liveness(status, suspicion) * checks_factor(Some(instance_status(health, service))) * headroom(health)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Checks;
    use crate::config::{Preset, StrategyKind};

    fn health(cpu: f32, avail: u64, status: CheckStatus) -> Health {
        Health {
            cpu_percent: cpu,
            mem_available_bytes: avail,
            mem_total_bytes: 100,
            load1: 0.0,
            disk_free_bytes: 1,
            checks: Some(Checks {
                status,
                services: vec![],
            }),
            tags: Default::default(),
        }
    }

    #[test]
    fn an_idle_passing_alive_member_scores_one_and_a_dead_one_zero() {
        let idle = health(0.0, 100, CheckStatus::Passing);
        assert_eq!(member_score(Status::Alive, 0.0, Some(&idle)), 1.0);
        assert_eq!(member_score(Status::Alive, 0.0, None), 1.0);
        assert_eq!(member_score(Status::Dead, 0.0, Some(&idle)), 0.0);
        assert_eq!(member_score(Status::Left, 0.0, None), 0.0);
    }

    #[test]
    fn warning_halves_critical_zeroes_and_load_lowers_the_score() {
        let warn = health(0.0, 100, CheckStatus::Warning);
        assert_eq!(member_score(Status::Alive, 0.0, Some(&warn)), 0.5);
        let crit = health(0.0, 100, CheckStatus::Critical);
        assert_eq!(member_score(Status::Alive, 0.0, Some(&crit)), 0.0);
        let busy = health(100.0, 100, CheckStatus::Passing);
        assert_eq!(member_score(Status::Alive, 0.0, Some(&busy)), 0.5);
        let tight = health(10.0, 20, CheckStatus::Passing);
        assert!((member_score(Status::Alive, 0.0, Some(&tight)) - 0.6).abs() < 1e-9);
    }

    #[test]
    fn suspicion_lowers_liveness_and_suspect_is_below_any_alive() {
        assert_eq!(liveness(Status::Alive, 1.0), 0.5);
        assert_eq!(liveness(Status::Suspect, 0.0), 0.5);
        assert!(liveness(Status::Suspect, 0.4) < liveness(Status::Alive, 0.99));
        let config = Config::preset(Preset::LanFast, StrategyKind::Push);
        assert_eq!(suspicion(&config, 0.0), 0.0);
        assert_eq!(suspicion(&config, f64::from(config.threshold) * 2.0), 1.0);
        assert_eq!(suspicion(&config, f64::INFINITY), 1.0);
    }

    #[test]
    fn an_instance_is_as_bad_as_its_node_or_its_service() {
        let service = ServiceEntry {
            name: "web".into(),
            addr: "127.0.0.1:80".parse().unwrap(),
            weight: 1,
            status: CheckStatus::Warning,
        };
        let passing = health(0.0, 100, CheckStatus::Passing);
        assert_eq!(instance_status(Some(&passing), &service), CheckStatus::Warning);
        assert_eq!(instance_score(Status::Alive, 0.0, Some(&passing), &service), 0.5);
        let critical = health(0.0, 100, CheckStatus::Critical);
        assert_eq!(instance_status(Some(&critical), &service), CheckStatus::Critical);
        assert_eq!(instance_score(Status::Alive, 0.0, Some(&critical), &service), 0.0);
    }
}
