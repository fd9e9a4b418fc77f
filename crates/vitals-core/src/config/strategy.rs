//! Each strategy's own settings, as one enum ([`StrategyConfig`]) so that a setting of one
//! strategy cannot be written for another (an `ack` for ping, monitors for push, voters
//! for gossip). The few settings more than one strategy reads live in [`ProbeConfig`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Config, StrategyKind};

/// How liveness information flows, with the settings of that strategy only.
/// [`StrategyConfig::kind`] is the fieldless tag.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyConfig {
    /// Every node sends a heartbeat to every other node each interval.
    Push {
        /// Every heartbeat is acknowledged, round trips are measured, and a node that
        /// receives no acknowledgements learns that it is cut off.
        ack: bool,
    },
    /// Monitors poll every node each interval; the others learn the monitors' verdicts.
    Pull {
        /// The names of the nodes that poll the others (at least one).
        monitors: Vec<String>,
    },
    /// SWIM with Lifeguard.
    Ping(SwimConfig),
    /// Scuttlebutt-style gossip of heartbeat counters.
    Gossip(GossipConfig),
    /// One elected leader judges every member (Raft's election rules).
    Leader(LeaderConfig),
}

impl StrategyConfig {
    /// The defaults of strategy `kind` for a node whose detector declares death after
    /// `dead_after` of silence, sending every `interval`.
    pub fn defaults(kind: StrategyKind, interval: Duration, dead_after: Duration) -> StrategyConfig {
        match kind {
            StrategyKind::Push => StrategyConfig::Push { ack: false },
            StrategyKind::Pull => StrategyConfig::Pull { monitors: Vec::new() },
            StrategyKind::Ping => StrategyConfig::Ping(SwimConfig::for_interval(interval)),
            StrategyKind::Gossip => StrategyConfig::Gossip(GossipConfig::default()),
            StrategyKind::Leader => StrategyConfig::Leader(LeaderConfig::for_election_timeout(dead_after)),
        }
    }

    /// The fieldless tag.
    pub fn kind(&self) -> StrategyKind {
        match self {
            StrategyConfig::Push { .. } => StrategyKind::Push,
            StrategyConfig::Pull { .. } => StrategyKind::Pull,
            StrategyConfig::Ping(_) => StrategyKind::Ping,
            StrategyConfig::Gossip(_) => StrategyKind::Gossip,
            StrategyConfig::Leader(_) => StrategyKind::Leader,
        }
    }
}

/// Settings read by more than one strategy: how a node double-checks what it holds.
/// Indirect probes serve ping (SWIM's ping-req), pull and leader (a judge asks k others
/// before declaring a silent member dead, see `strategy/indirect.rs`); the full state
/// exchange serves push, pull and ping. Kept outside [`StrategyConfig`] so that one value
/// holds for every strategy that reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// How many members are asked to probe indirectly (SWIM's k).
    pub indirect_probes: usize,
    /// Every this many rounds, a full state exchange with one random member (ping's
    /// push-pull, push's and pull's sync), in a cluster of up to 100 members up; beyond,
    /// every `push_pull_rounds × ⌈up / 100⌉` rounds, so that the exchange's bytes per node,
    /// a whole member list each, do not grow with N (`strategy/anti_entropy.rs`).
    pub push_pull_rounds: u32,
}

impl Default for ProbeConfig {
    /// memberlist's: 3 indirect probes, a full sync every 60 rounds.
    fn default() -> ProbeConfig {
        ProbeConfig {
            indirect_probes: 3,
            push_pull_rounds: 60,
        }
    }
}

/// The leader strategy's election settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderConfig {
    /// The names of the members that vote in elections (empty: every member this node
    /// knows that has not left). The others are observers.
    pub voters: Vec<String>,
    /// Raft's election timeout `T`. A follower that hears no leader for a random time in
    /// `[T, 2T]` starts an election (§5.2); a voter that heard the leader less than `T`
    /// ago refuses to vote (thesis §4.2.3). Default: `dead_after()`.
    #[serde(with = "super::serde_duration")]
    pub election_timeout: Duration,
    /// How long a leader may act (publish its view) after a round of its heartbeats is
    /// acknowledged by a majority. Must satisfy
    /// `lease × (1 + clock_drift) < election_timeout × (1 − clock_drift)`.
    #[serde(with = "super::serde_duration")]
    pub lease: Duration,
    /// The bound on relative clock-rate drift between two nodes (0.05 = 5 %) that the
    /// lease assumes.
    pub clock_drift: f64,
    /// Consul's `bootstrap_expect`: no node stands for election before it knows this many
    /// voters, so a cluster started one node at a time elects its first leader only once
    /// it is that large. `None`: a node stands as soon as it has joined.
    #[serde(default)]
    pub bootstrap_expect: Option<u32>,
}

impl LeaderConfig {
    /// No configured voters, the default drift bound, and the lease that
    /// [`Config::default_lease`] derives from `election_timeout`.
    pub fn for_election_timeout(election_timeout: Duration) -> LeaderConfig {
        LeaderConfig {
            voters: Vec::new(),
            election_timeout,
            lease: Config::default_lease(election_timeout, super::DEFAULT_CLOCK_DRIFT),
            clock_drift: super::DEFAULT_CLOCK_DRIFT,
            bootstrap_expect: None,
        }
    }
}

/// Gossip parameters. The gossip interval is [`Config::interval`]: every interval a node
/// raises its own counter and sends one digest to each of `fanout` random members.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GossipConfig {
    /// Members a digest goes to each interval (memberlist's and Serf's default is 3).
    pub fanout: usize,
    /// Most bytes of one digest's body (health and entries); a reply is never larger
    /// than the digest it answers. At most [`crate::wire::LIST_BUDGET`].
    pub digest_budget: usize,
}

impl Default for GossipConfig {
    fn default() -> GossipConfig {
        GossipConfig {
            fanout: 3,
            digest_budget: crate::wire::LIST_BUDGET,
        }
    }
}

/// Gossip: extra intervals the detectors wait for a counter rise to travel a few hops
/// (with fanout 3 and push-pull, news of a cluster that fits one digest reaches every
/// node within about `log4 N` rounds, 2 for N ≤ 16, 3 for N ≤ 64).
pub const GOSSIP_HOP_ROUNDS: u32 = 2;

/// SWIM and Lifeguard parameters, named as in memberlist where they exist there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwimConfig {
    /// How long a direct probe waits for its ack before asking others (scaled by the
    /// local health multiplier).
    #[serde(with = "super::serde_duration")]
    pub probe_timeout: Duration,
    /// Suspicion lasts at least `suspicion_mult × max(1, log10 N) × interval`.
    pub suspicion_mult: u32,
    /// ... and at most `suspicion_max_mult` times that (Lifeguard: it starts there and
    /// shrinks as independent confirmations arrive).
    pub suspicion_max_mult: u32,
    /// Each piece of news is piggybacked `retransmit_mult × ceil(log10(N + 1))` times.
    pub retransmit_mult: u32,
    /// Lifeguard's local health multiplier ceiling (1 turns it off).
    pub awareness_max: u32,
    /// Lifeguard: suspicion timeouts shrink with independent confirmations.
    pub dynamic_suspicion: bool,
    /// Lifeguard: a probe of a suspect carries the suspicion, so it can refute at once.
    /// With it, a suspect whose probe failed is probed again each period, and its answer
    /// (direct, or relayed in an indirect ack) brings its incarnation: a refutation whose
    /// copy was lost still ends the suspicion. Off only in plain SWIM (`without_lifeguard`).
    pub buddy: bool,
    /// Fast confirmation: an accusation is sent straight to the members (not only
    /// piggybacked), each probes the suspect at once, and a suspicion confirmed by a
    /// majority of the members up (at most 8 accusers) ends after one period instead of
    /// the Lifeguard timeout. A member paused for longer than about two periods is then
    /// declared dead (and refutes when it resumes), and the death is sent on at once
    /// (each node that learns it tells `⌈ln N⌉ + 3` random members). It works only in a settled
    /// cluster (`strategy::ping`, `FastConfirm`): not within 10 intervals of a join, nor
    /// within 120 of the second within 120 of deaths sooner than Lifeguard's shortest
    /// suspicion whose member came back sooner than its longest (a machine too busy to
    /// schedule its agents in time; one alone may be a crash restarted at once),
    /// and no one-period verdicts while this node's own probes go unanswered (awareness
    /// above 0).
    #[serde(default = "super::yes")]
    pub fast_confirm: bool,
    /// Dead and left members are forgotten after this long (a tombstone).
    #[serde(with = "super::serde_duration")]
    pub tombstone_ttl: Duration,
    /// SWIM's basic target selection, uniformly at random each period (as the paper
    /// analyses it), instead of the randomised round-robin that bounds the worst case.
    #[serde(default)]
    pub random_targets: bool,
    /// The watch ring (`strategy/ping/ring.rs`): each node sends a heartbeat every
    /// interval to the member that watches it, and probes the member it watches as soon
    /// as that member's heartbeats stop, so that a crash is probed within about three
    /// intervals instead of after a geometric wait.
    #[serde(default = "super::yes")]
    pub watch_ring: bool,
}

impl SwimConfig {
    /// memberlist's LAN profile, scaled to `interval`: probe timeout 2/5 of the period,
    /// suspicion multiplier 4 (max ×6), retransmit multiplier 4, awareness up to ×8,
    /// tombstones kept 600 periods (indirect probes and full syncs: [`ProbeConfig`]).
    pub fn for_interval(interval: Duration) -> SwimConfig {
        SwimConfig {
            probe_timeout: interval * 2 / 5,
            suspicion_mult: 4,
            suspicion_max_mult: 6,
            retransmit_mult: 4,
            awareness_max: 8,
            dynamic_suspicion: true,
            buddy: true,
            fast_confirm: true,
            random_targets: false,
            watch_ring: true,
            tombstone_ttl: interval * 600,
        }
    }

    /// Turns Lifeguard's three mechanisms off (plain SWIM with suspicion).
    pub fn without_lifeguard(mut self) -> SwimConfig {
        self.awareness_max = 1;
        self.dynamic_suspicion = false;
        self.buddy = false;
        self
    }
}

/// The role settings that belong to one strategy each, as flags and files give them
/// (absent: empty or false), for [`StrategyConfig::with_roles`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Roles {
    /// Push only: acknowledged heartbeats.
    pub ack: bool,
    /// Pull only: the monitors.
    pub monitors: Vec<String>,
    /// Leader only: the voters.
    pub voters: Vec<String>,
    /// Leader only: voters to know before the first election.
    pub bootstrap_expect: Option<u32>,
}

/// A role setting given for a strategy that has no such setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// Monitors only make sense for pull.
    #[error("monitors are only used by strategy pull: drop --monitor or use --strategy pull")]
    MonitorsWithoutPull,
    /// Acknowledgements only make sense for push.
    #[error("--ack applies to strategy push only (pull replies and pings are acknowledged already)")]
    AckWithoutPush,
    /// Voters only make sense for leader.
    #[error("voters are only used by strategy leader: drop --voters or use --strategy leader")]
    VotersWithoutLeader,
    /// Bootstrap-expect only makes sense for leader.
    #[error("--bootstrap-expect is only used by strategy leader: drop it or use --strategy leader")]
    BootstrapWithoutLeader,
}

impl StrategyConfig {
    /// `self` with `roles` written into the strategy they belong to; a role given for
    /// another strategy is refused with the fix (the only place such a contradiction
    /// can still be stated: flags, files, JSON).
    pub fn with_roles(mut self, roles: Roles) -> Result<StrategyConfig, RoleError> {
        let Roles {
            ack,
            monitors,
            voters,
            bootstrap_expect,
        } = roles;
        let monitored = !monitors.is_empty();
        let misplaced = match &self {
            StrategyConfig::Push { .. } => monitored.then_some(RoleError::MonitorsWithoutPull),
            StrategyConfig::Pull { .. } => ack.then_some(RoleError::AckWithoutPush),
            StrategyConfig::Ping(_) | StrategyConfig::Gossip(_) if ack => Some(RoleError::AckWithoutPush),
            StrategyConfig::Ping(_) | StrategyConfig::Gossip(_) => monitored.then_some(RoleError::MonitorsWithoutPull),
            StrategyConfig::Leader(_) if monitored => Some(RoleError::MonitorsWithoutPull),
            StrategyConfig::Leader(_) => ack.then_some(RoleError::AckWithoutPush),
        };
        if let Some(error) = misplaced {
            return Err(error);
        }
        if !matches!(self, StrategyConfig::Leader(_)) {
            if !voters.is_empty() {
                return Err(RoleError::VotersWithoutLeader);
            }
            if bootstrap_expect.is_some() {
                return Err(RoleError::BootstrapWithoutLeader);
            }
        }
        match &mut self {
            StrategyConfig::Push { ack: slot } => *slot = ack,
            StrategyConfig::Pull { monitors: slot } => *slot = monitors,
            StrategyConfig::Leader(leader) => {
                leader.voters = voters;
                leader.bootstrap_expect = bootstrap_expect;
            }
            StrategyConfig::Ping(_) | StrategyConfig::Gossip(_) => {}
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(kind: StrategyKind) -> StrategyConfig {
        StrategyConfig::defaults(kind, Duration::from_millis(200), Duration::from_millis(600))
    }

    #[test]
    fn a_role_lands_in_its_strategy_and_is_refused_with_the_fix_elsewhere() {
        let ack = Roles {
            ack: true,
            ..Roles::default()
        };
        let monitors = Roles {
            monitors: vec!["m".into()],
            ..Roles::default()
        };
        let voters = Roles {
            voters: vec!["v".into()],
            ..Roles::default()
        };
        let push = defaults(StrategyKind::Push).with_roles(ack.clone());
        assert_eq!(push, Ok(StrategyConfig::Push { ack: true }));
        let pull = defaults(StrategyKind::Pull).with_roles(monitors.clone());
        assert_eq!(
            pull,
            Ok(StrategyConfig::Pull {
                monitors: vec!["m".into()]
            })
        );
        let leader = defaults(StrategyKind::Leader).with_roles(voters.clone()).unwrap();
        assert_eq!(leader.kind(), StrategyKind::Leader);
        for kind in [
            StrategyKind::Pull,
            StrategyKind::Ping,
            StrategyKind::Gossip,
            StrategyKind::Leader,
        ] {
            assert_eq!(defaults(kind).with_roles(ack.clone()), Err(RoleError::AckWithoutPush));
        }
        for kind in [
            StrategyKind::Push,
            StrategyKind::Ping,
            StrategyKind::Gossip,
            StrategyKind::Leader,
        ] {
            let refused = defaults(kind).with_roles(monitors.clone()).unwrap_err();
            assert!(refused.to_string().contains("drop --monitor"), "{kind:?}");
        }
        for kind in [
            StrategyKind::Push,
            StrategyKind::Pull,
            StrategyKind::Ping,
            StrategyKind::Gossip,
        ] {
            let refused = defaults(kind).with_roles(voters.clone()).unwrap_err();
            assert!(refused.to_string().contains("use --strategy leader"), "{kind:?}");
        }
    }

    #[test]
    fn the_written_form_stays_flat_and_reads_back_the_same() {
        let mut config = Config::preset(super::super::Preset::LanFast, StrategyKind::Push);
        config.strategy = StrategyConfig::Push { ack: true };
        for kind in [
            StrategyKind::Pull,
            StrategyKind::Ping,
            StrategyKind::Gossip,
            StrategyKind::Leader,
        ] {
            let json = serde_json::to_value(&config).unwrap();
            for key in [
                "strategy",
                "ack",
                "monitors",
                "voters",
                "election_timeout",
                "lease",
                "swim",
                "gossip",
            ] {
                assert!(json.get(key).is_some(), "{key} missing for {:?}", config.kind());
            }
            assert_eq!(json["swim"]["indirect_probes"], 3);
            let back: Config = serde_json::from_value(json).unwrap();
            assert_eq!(back, config);
            config = Config::preset(super::super::Preset::LanFast, kind);
            if kind == StrategyKind::Pull {
                config.strategy = StrategyConfig::Pull {
                    monitors: vec!["m".into()],
                };
            }
        }
        let mut json = serde_json::to_value(Config::preset(super::super::Preset::LanFast, StrategyKind::Ping)).unwrap();
        json["ack"] = true.into();
        let refused = serde_json::from_value::<Config>(json).unwrap_err().to_string();
        assert!(refused.contains("--ack applies to strategy push only"), "{refused}");
    }
}
