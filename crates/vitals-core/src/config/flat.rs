//! The written form of a [`Config`] (JSON in `GET /v1/self`, any serde format): one flat
//! record with every strategy's settings, as before the settings became an enum, so that
//! readers of the API see the same fields. Writing fills the settings of the other
//! strategies with their defaults; reading refuses a setting of another strategy
//! ([`StrategyConfig::with_roles`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    Config, DetectorKind, GossipConfig, LeaderConfig, PhiConfig, ProbeConfig, Quorum, Roles, StrategyConfig,
    StrategyKind, SwimConfig, default_brake_fraction, serde_duration, yes,
};

#[derive(Serialize, Deserialize)]
pub(super) struct FlatConfig {
    strategy: StrategyKind,
    ack: bool,
    monitors: Vec<String>,
    #[serde(with = "serde_duration")]
    interval: Duration,
    #[serde(with = "serde_duration")]
    timeout: Duration,
    threshold: u32,
    detector: DetectorKind,
    phi: PhiConfig,
    #[serde(default)]
    voters: Vec<String>,
    #[serde(default, with = "serde_duration")]
    election_timeout: Duration,
    #[serde(default, with = "serde_duration")]
    lease: Duration,
    #[serde(default)]
    clock_drift: f64,
    #[serde(default)]
    bootstrap_expect: Option<u32>,
    swim: FlatSwim,
    #[serde(default)]
    gossip: GossipConfig,
    #[serde(default)]
    quorum: Option<Quorum>,
    #[serde(default = "default_brake_fraction")]
    brake_fraction: f64,
    #[serde(default, with = "serde_duration")]
    brake_window: Duration,
    #[serde(default)]
    flap_damping: bool,
    #[serde(default, with = "serde_duration")]
    flap_half_life: Duration,
}

/// [`SwimConfig`] with the shared [`ProbeConfig`] fields in their old places.
#[derive(Serialize, Deserialize)]
struct FlatSwim {
    #[serde(with = "serde_duration")]
    probe_timeout: Duration,
    indirect_probes: usize,
    suspicion_mult: u32,
    suspicion_max_mult: u32,
    retransmit_mult: u32,
    awareness_max: u32,
    dynamic_suspicion: bool,
    buddy: bool,
    #[serde(default = "yes")]
    fast_confirm: bool,
    push_pull_rounds: u32,
    #[serde(with = "serde_duration")]
    tombstone_ttl: Duration,
    #[serde(default)]
    random_targets: bool,
    #[serde(default = "yes")]
    watch_ring: bool,
}

impl From<Config> for FlatConfig {
    fn from(c: Config) -> FlatConfig {
        let leader = c
            .leader()
            .cloned()
            .unwrap_or_else(|| LeaderConfig::for_election_timeout(c.dead_after()));
        let swim = c
            .swim()
            .cloned()
            .unwrap_or_else(|| SwimConfig::for_interval(c.interval));
        let gossip = c.gossip().cloned().unwrap_or_default();
        FlatConfig {
            strategy: c.kind(),
            ack: matches!(c.strategy, StrategyConfig::Push { ack: true }),
            monitors: c.monitors().to_vec(),
            interval: c.interval,
            timeout: c.timeout,
            threshold: c.threshold,
            detector: c.detector,
            phi: c.phi,
            voters: leader.voters,
            election_timeout: leader.election_timeout,
            lease: leader.lease,
            clock_drift: leader.clock_drift,
            bootstrap_expect: leader.bootstrap_expect,
            swim: FlatSwim::new(swim, &c.probes),
            gossip,
            quorum: c.quorum,
            brake_fraction: c.brake_fraction,
            brake_window: c.brake_window,
            flap_damping: c.flap_damping,
            flap_half_life: c.flap_half_life,
        }
    }
}

impl TryFrom<FlatConfig> for Config {
    type Error = super::RoleError;

    fn try_from(f: FlatConfig) -> Result<Config, Self::Error> {
        let roles = Roles {
            ack: f.ack,
            monitors: f.monitors,
            voters: f.voters.clone(),
            bootstrap_expect: f.bootstrap_expect,
        };
        let probes = ProbeConfig {
            indirect_probes: f.swim.indirect_probes,
            push_pull_rounds: f.swim.push_pull_rounds,
        };
        let strategy = match f.strategy {
            StrategyKind::Ping => StrategyConfig::Ping(f.swim.into_swim()),
            StrategyKind::Gossip => StrategyConfig::Gossip(f.gossip),
            StrategyKind::Leader => StrategyConfig::Leader(LeaderConfig {
                voters: f.voters,
                election_timeout: f.election_timeout,
                lease: f.lease,
                clock_drift: f.clock_drift,
                bootstrap_expect: f.bootstrap_expect,
            }),
            kind => StrategyConfig::defaults(kind, f.interval, f.timeout),
        };
        Ok(Config {
            strategy: strategy.with_roles(roles)?,
            interval: f.interval,
            timeout: f.timeout,
            threshold: f.threshold,
            detector: f.detector,
            phi: f.phi,
            probes,
            quorum: f.quorum,
            brake_fraction: f.brake_fraction,
            brake_window: f.brake_window,
            flap_damping: f.flap_damping,
            flap_half_life: f.flap_half_life,
        })
    }
}

impl FlatSwim {
    fn new(swim: SwimConfig, probes: &ProbeConfig) -> FlatSwim {
        FlatSwim {
            probe_timeout: swim.probe_timeout,
            indirect_probes: probes.indirect_probes,
            suspicion_mult: swim.suspicion_mult,
            suspicion_max_mult: swim.suspicion_max_mult,
            retransmit_mult: swim.retransmit_mult,
            awareness_max: swim.awareness_max,
            dynamic_suspicion: swim.dynamic_suspicion,
            buddy: swim.buddy,
            fast_confirm: swim.fast_confirm,
            push_pull_rounds: probes.push_pull_rounds,
            tombstone_ttl: swim.tombstone_ttl,
            random_targets: swim.random_targets,
            watch_ring: swim.watch_ring,
        }
    }

    fn into_swim(self) -> SwimConfig {
        SwimConfig {
            probe_timeout: self.probe_timeout,
            suspicion_mult: self.suspicion_mult,
            suspicion_max_mult: self.suspicion_max_mult,
            retransmit_mult: self.retransmit_mult,
            awareness_max: self.awareness_max,
            dynamic_suspicion: self.dynamic_suspicion,
            buddy: self.buddy,
            fast_confirm: self.fast_confirm,
            tombstone_ttl: self.tombstone_ttl,
            random_targets: self.random_targets,
            watch_ring: self.watch_ring,
        }
    }
}
