//! Routing: which instance of a service gets the next request. The functions here are
//! pure, over the instances a node knows (from its published snapshot, or from an
//! agent's `/v1/services/NAME` answer in the proxy); they never touch the node or a
//! socket. [`proxy`] is the failover TCP proxy built on them (`vitals proxy`): the one
//! part of routing that opens sockets, and it only follows an agent's HTTP API, never a
//! node.
//!
//! **Invariant:** outside panic mode, a pick is never a member that is suspect, dead or
//! left, nor an instance that is critical. Panic mode (Envoy's panic threshold): when the
//! healthy instances are fewer than `panic_threshold` of those not left, the pick is
//! among every instance whose member is alive or suspect, whatever its checks say, so
//! the few healthy ones are not overloaded by the whole load. With no healthy instance at
//! all there is no route (503): panic mode spreads load, it never invents health.

pub mod proxy;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use vitals_core::{CheckStatus, Status};

/// How to choose among healthy instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// At random, in proportion to weight × score.
    #[default]
    Weighted,
    /// The instance whose node has the most free resources.
    LeastLoaded,
    /// Each in turn.
    RoundRobin,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        match s {
            "weighted" => Ok(Policy::Weighted),
            "least-loaded" => Ok(Policy::LeastLoaded),
            "round-robin" => Ok(Policy::RoundRobin),
            _ => Err(format!(
                "unknown policy `{s}`; choose weighted, least-loaded or round-robin"
            )),
        }
    }
}

/// One instance of a service on one member, as `GET /v1/services/NAME` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Instance {
    /// The member's name.
    pub name: String,
    /// The service's address on that member.
    #[schema(value_type = String, example = "10.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The member's liveness.
    pub member_status: Status,
    /// The worse of the node's and the service's check status.
    pub status: CheckStatus,
    /// The health score in [0, 1] (see `vitals_core::score`).
    pub score: f64,
    /// The service's weight on that member.
    pub weight: u16,
    /// The member's free resources in [0, 1], if it reports them.
    pub free: Option<f64>,
}

impl Instance {
    /// Routable outside panic mode.
    pub fn is_healthy(&self) -> bool {
        self.member_status == Status::Alive && self.status != CheckStatus::Critical
    }

    /// Routable in panic mode.
    pub fn is_live(&self) -> bool {
        self.member_status.is_up()
    }
}

/// Why no instance could be picked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{reason}")]
pub struct NoRoute {
    /// A one-line explanation.
    pub reason: String,
}

/// A pick and how it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Route {
    /// The chosen instance.
    #[serde(flatten)]
    pub target: Instance,
    /// The policy used.
    pub policy: Policy,
    /// Whether panic mode was in force.
    pub panic: bool,
    /// Instances the pick was made among.
    pub candidates: usize,
}

/// The instances a pick may choose among, and whether that is panic mode.
pub fn candidates(instances: &[Instance], panic_threshold: f64) -> (Vec<&Instance>, bool) {
    let counted = instances.iter().filter(|i| i.member_status != Status::Left).count();
    let healthy: Vec<&Instance> = instances.iter().filter(|i| i.is_healthy()).collect();
    let panic = !healthy.is_empty() && (healthy.len() as f64) < panic_threshold * counted as f64;
    if panic {
        (instances.iter().filter(|i| i.is_live()).collect(), true)
    } else {
        (healthy, false)
    }
}

/// Picks one of `instances` for `service`. `turn` is a counter for round-robin, `random`
/// a uniform number in [0, 1) for the weighted draw.
pub fn pick(
    service: &str,
    instances: &[Instance],
    policy: Policy,
    panic_threshold: f64,
    turn: u64,
    random: f64,
) -> Result<Route, NoRoute> {
    let (candidates, panic) = candidates(instances, panic_threshold);
    if candidates.is_empty() {
        return Err(no_route(service, instances));
    }
    let chosen = match policy {
        Policy::RoundRobin => candidates[(turn % candidates.len() as u64) as usize],
        Policy::LeastLoaded => least_loaded(&candidates),
        Policy::Weighted => weighted(&candidates, random),
    };
    Ok(Route {
        target: chosen.clone(),
        policy,
        panic,
        candidates: candidates.len(),
    })
}

fn no_route(service: &str, instances: &[Instance]) -> NoRoute {
    let reason = if instances.is_empty() {
        format!("no member announces service `{service}`")
    } else {
        let states: Vec<String> = instances
            .iter()
            .map(|i| format!("{} {}/{}", i.name, i.member_status.as_str(), i.status.as_str()))
            .collect();
        format!("no healthy instance of `{service}`: {}", states.join(", "))
    };
    NoRoute { reason }
}

fn least_loaded<'a>(candidates: &[&'a Instance]) -> &'a Instance {
    let key = |i: &Instance| (i.free.unwrap_or(1.0), i.score);
    candidates
        .iter()
        .copied()
        .max_by(|a, b| key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal))
        .expect("not empty")
}

fn weighted<'a>(candidates: &[&'a Instance], random: f64) -> &'a Instance {
    let weight = |i: &Instance| f64::from(i.weight) * i.score.max(0.0);
    let total: f64 = candidates.iter().map(|i| weight(i)).sum();
    if total <= 0.0 {
        // Panic mode may hold only zero scores: fall back to the weights alone.
        return candidates[((random * candidates.len() as f64) as usize).min(candidates.len() - 1)];
    }
    let mut point = random.clamp(0.0, 1.0) * total;
    for candidate in candidates {
        point -= weight(candidate);
        if point < 0.0 {
            return candidate;
        }
    }
    candidates.last().expect("not empty")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(name: &str, member_status: Status, status: CheckStatus, score: f64) -> Instance {
        Instance {
            name: name.into(),
            addr: "127.0.0.1:80".parse().unwrap(),
            member_status,
            status,
            score,
            weight: 1,
            free: Some(score),
        }
    }

    fn three() -> Vec<Instance> {
        vec![
            instance("a", Status::Alive, CheckStatus::Passing, 1.0),
            instance("b", Status::Alive, CheckStatus::Warning, 0.5),
            instance("c", Status::Alive, CheckStatus::Critical, 0.0),
        ]
    }

    #[test]
    fn a_critical_suspect_dead_or_left_instance_is_never_picked() {
        let mut all = three();
        all.push(instance("d", Status::Suspect, CheckStatus::Passing, 0.5));
        all.push(instance("e", Status::Dead, CheckStatus::Passing, 0.0));
        for policy in [Policy::Weighted, Policy::LeastLoaded, Policy::RoundRobin] {
            for turn in 0..100 {
                let route = pick("web", &all, policy, 0.0, turn, turn as f64 / 100.0).unwrap();
                assert!(
                    ["a", "b"].contains(&route.target.name.as_str()),
                    "{policy:?} picked {route:?}"
                );
            }
        }
    }

    #[test]
    fn weighted_picks_follow_weight_times_score() {
        let all = three();
        let picks: Vec<String> = (0..300)
            .map(|i| {
                pick("web", &all, Policy::Weighted, 0.0, 0, i as f64 / 300.0)
                    .unwrap()
                    .target
                    .name
            })
            .collect();
        let a = picks.iter().filter(|n| *n == "a").count();
        assert_eq!(a, 200, "a scores twice b, so it gets two thirds");
    }

    #[test]
    fn below_the_panic_threshold_every_live_instance_is_routed_to() {
        let all = three();
        let (healthy, panic) = candidates(&all, 0.5);
        assert_eq!((healthy.len(), panic), (2, false));
        let (live, panic) = candidates(&all, 0.8);
        assert_eq!((live.len(), panic), (3, true), "2 of 3 healthy is below 80 %");
        let route = pick("web", &all, Policy::RoundRobin, 0.8, 2, 0.0).unwrap();
        assert_eq!((route.target.name.as_str(), route.panic), ("c", true));
    }

    #[test]
    fn no_healthy_instance_is_an_error_with_a_reason() {
        let all = vec![instance("c", Status::Dead, CheckStatus::Critical, 0.0)];
        let error = pick("web", &all, Policy::Weighted, 0.5, 0, 0.0).unwrap_err();
        assert!(error.reason.contains("c dead/critical"), "{}", error.reason);
        let error = pick("db", &[], Policy::Weighted, 0.5, 0, 0.0).unwrap_err();
        assert!(error.reason.contains("no member announces"), "{}", error.reason);
        let all = vec![instance("c", Status::Alive, CheckStatus::Critical, 0.0)];
        assert!(
            pick("web", &all, Policy::Weighted, 1.0, 0, 0.0).is_err(),
            "panic mode never routes to none healthy"
        );
    }

    #[test]
    fn least_loaded_picks_the_most_free_resources() {
        let all = three();
        assert_eq!(
            pick("web", &all, Policy::LeastLoaded, 0.0, 0, 0.0).unwrap().target.name,
            "a"
        );
    }
}
