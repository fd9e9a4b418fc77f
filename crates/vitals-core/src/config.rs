//! What a node is configured to do: the strategy with its own settings
//! ([`StrategyConfig`], in `config/strategy.rs`), the timing (interval, timeout,
//! threshold), the detector, and the named presets. [`Config::validate`] refuses settings
//! that cannot work, with a message that says what to change. A configuration is written
//! (JSON, `GET /v1/self`) in the flat form of `config/flat.rs`.

use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod flat;
mod strategy;

pub use strategy::{
    GOSSIP_HOP_ROUNDS, GossipConfig, LeaderConfig, ProbeConfig, RoleError, Roles, StrategyConfig, SwimConfig,
};

/// How liveness information flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StrategyKind {
    /// Every node sends a heartbeat to every other node each interval.
    Push,
    /// Monitors poll every node each interval; the others learn the monitors' verdicts.
    Pull,
    /// SWIM: each period a node probes one member directly, then through k others; news
    /// of suspicion and death spreads piggybacked on probes (with Lifeguard).
    Ping,
    /// One elected leader collects every member's heartbeats, judges them and publishes
    /// the view; the voters elect a new leader when it fails (Raft's election rules).
    Leader,
    /// Scuttlebutt-style gossip: each node raises its own heartbeat counter every
    /// interval and exchanges bounded digests of counters with `fanout` random
    /// members; each node judges every member from the arrival of its counter rises.
    Gossip,
}

/// How silence is turned into a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectorKind {
    /// Dead after `threshold` consecutive missed heartbeats.
    Missed,
    /// Dead when the phi accrual value reaches `phi.threshold` (Hayashibara et al.).
    Phi,
}

/// Parameters of the phi accrual detector, named as in Akka.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhiConfig {
    /// Phi at which a member is declared dead (suspect at half of it).
    pub threshold: f64,
    /// How many inter-arrival samples are kept.
    pub window: usize,
    /// Floor on the standard deviation, so a perfectly regular sender is not judged on
    /// microseconds of jitter.
    #[serde(with = "crate::config::serde_duration")]
    pub min_std_dev: Duration,
    /// Silence tolerated on top of the mean inter-arrival time.
    #[serde(with = "crate::config::serde_duration")]
    pub acceptable_pause: Duration,
}

/// The default bound on clock-rate drift between two nodes that leader leases assume (5 %,
/// far above what NTP-disciplined quartz clocks drift).
pub const DEFAULT_CLOCK_DRIFT: f64 = 0.05;

/// A named starting point for the timing settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Preset {
    /// Web applications: 10 s interval, 3 misses.
    Web,
    /// High-traffic services: 3 s interval, 3 misses.
    HighTraffic,
    /// Background jobs: 20 s interval, 3 misses.
    Background,
    /// Tests and demos on one machine: 200 ms interval, 3 misses.
    LanFast,
    /// A data-centre LAN: 500 ms interval, 3 misses (the default ping profile).
    Lan,
}

impl Preset {
    /// Every preset, in the order the CLI lists them.
    pub const ALL: [Preset; 5] = [
        Preset::Web,
        Preset::HighTraffic,
        Preset::Background,
        Preset::LanFast,
        Preset::Lan,
    ];

    /// The preset's name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Web => "web",
            Preset::HighTraffic => "high-traffic",
            Preset::Background => "background",
            Preset::LanFast => "lan-fast",
            Preset::Lan => "lan",
        }
    }

    /// The heartbeat interval.
    pub fn interval(self) -> Duration {
        match self {
            Preset::Web => Duration::from_secs(10),
            Preset::HighTraffic => Duration::from_secs(3),
            Preset::Background => Duration::from_secs(20),
            Preset::LanFast => Duration::from_millis(200),
            Preset::Lan => Duration::from_millis(500),
        }
    }

    /// Consecutive misses before a member is declared dead.
    pub fn threshold(self) -> u32 {
        3
    }
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Preset, String> {
        Preset::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<_> = Preset::ALL.iter().map(|p| p.name()).collect();
            format!("unknown preset `{s}`; choose one of: {}", names.join(", "))
        })
    }
}

impl StrategyKind {
    /// The strategy's name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Push => "push",
            StrategyKind::Pull => "pull",
            StrategyKind::Ping => "ping",
            StrategyKind::Leader => "leader",
            StrategyKind::Gossip => "gossip",
        }
    }
}

impl DetectorKind {
    /// The detector's name as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            DetectorKind::Missed => "missed",
            DetectorKind::Phi => "phi",
        }
    }
}

impl FromStr for StrategyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<StrategyKind, String> {
        match s {
            "push" => Ok(StrategyKind::Push),
            "pull" => Ok(StrategyKind::Pull),
            "leader" => Ok(StrategyKind::Leader),
            "ping" => Ok(StrategyKind::Ping),
            "gossip" => Ok(StrategyKind::Gossip),
            _ => Err(format!(
                "unknown strategy `{s}`; choose push, pull, ping, gossip or leader"
            )),
        }
    }
}

impl FromStr for DetectorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<DetectorKind, String> {
        match s {
            "missed" => Ok(DetectorKind::Missed),
            "phi" => Ok(DetectorKind::Phi),
            _ => Err(format!("unknown detector `{s}`; choose missed or phi")),
        }
    }
}

/// A node's validated protocol configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "flat::FlatConfig", try_from = "flat::FlatConfig")]
pub struct Config {
    /// How liveness information flows, with that strategy's own settings.
    pub strategy: StrategyConfig,
    /// Time between two heartbeats (or polls).
    pub interval: Duration,
    /// Silence after the last heartbeat before the next one counts as missed (≥ interval).
    pub timeout: Duration,
    /// Consecutive missed heartbeats that declare a member dead.
    pub threshold: u32,
    /// Which failure detector judges silence.
    pub detector: DetectorKind,
    /// Phi accrual parameters (used when `detector` is `phi`).
    pub phi: PhiConfig,
    /// Indirect probes and full syncs, read by several strategies.
    pub probes: ProbeConfig,
    /// Quorum-confirmed verdicts: a member is declared dead only when at least this many
    /// distinct observers accuse it (ping: failed their own probes; push and gossip: their
    /// own detectors declare it dead; pull: the monitors' detectors), and (push, pull,
    /// gossip) a new or returning member is declared alive only once as many hear it
    /// (see `quorum.rs`). `None` takes each node's own verdict. Not for leader. See
    /// [`Config::quorum_size`].
    pub quorum: Option<Quorum>,
    /// The mass-failure brake: at most this fraction of the cluster may be declared dead
    /// within `brake_window`; later verdicts are held back (the members stay suspect)
    /// and counted, as Envoy's panic threshold and Kubernetes' zone brakes do. The limit
    /// rounds down (3 of 7 with 0.5), but is at least one death per window. 1 (the
    /// default) is off; 0.5 is a common choice.
    pub brake_fraction: f64,
    /// The brake's window.
    pub brake_window: Duration,
    /// Flap damping (as BGP damps routes): every death adds 1 to a member's penalty,
    /// which halves every `flap_half_life`; while it is at or above 3, the member's
    /// return is held back (it stays down, so no work is routed to a flapping node) until
    /// the penalty decays below 1.5. Off by default.
    pub flap_damping: bool,
    /// The penalty's half-life (default 60 intervals).
    pub flap_half_life: Duration,
}

/// A quorum the cluster as it is cannot reach ([`Config::unreachable_quorum`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error(
    "quorum {needed} cannot be reached with {up} members up: a member has at most {observers} observers, so none can be declared dead or admitted alive by quorum; lower --quorum-size to at most {observers}, use --quorum for a majority, or add members"
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnreachableQuorum {
    /// Accusers (or vouchers) a verdict needs.
    pub needed: usize,
    /// The most observers any member has.
    pub observers: usize,
    /// Members up, this node included.
    pub up: usize,
}

/// How many accusers a death verdict needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quorum {
    /// A majority of the members this node holds up (itself included).
    Majority,
    /// At least this many.
    AtLeast(u32),
}

fn yes() -> bool {
    true
}

fn default_brake_fraction() -> f64 {
    1.0
}

/// The default timeout for heartbeats sent every `interval`: the interval plus a tenth of
/// it ([`ARRIVAL_GRACE`]).
///
/// With timeout = interval, the deadline of the `threshold`-th heartbeat falls exactly on
/// its expected arrival, so "three misses" was in effect two misses and a coin toss: in
/// the simulator (push, 7 nodes, 200 ms, threshold 3, 10 % loss, 1 h) that made 3,755
/// false positives against 655 with the grace (docs/SIMULATION.md).
pub fn arrival_timeout(interval: Duration) -> Duration {
    interval + interval / ARRIVAL_GRACE
}

/// The default timeout exceeds the interval by `interval / ARRIVAL_GRACE`.
pub const ARRIVAL_GRACE: u32 = 10;

impl Config {
    /// The configuration of `preset` for `strategy`, every other field derived from it.
    pub fn preset(preset: Preset, strategy: StrategyKind) -> Config {
        Config::with_timing(strategy, preset.interval(), preset.threshold())
    }

    /// A configuration whose timeout and phi parameters are derived from `interval` and
    /// `threshold`: timeout = [`arrival_timeout`]`(interval)` (the interval plus a tenth,
    /// so that the `threshold`-th heartbeat sent on time is not racing its own deadline);
    /// phi's acceptable pause makes it declare death about when `threshold` misses would
    /// on a steady network.
    ///
    /// Gossip: a counter rise reaches a node only after a few hops, so the timeout grows
    /// by `GOSSIP_HOP_ROUNDS` intervals and so does phi's acceptable pause: dead after
    /// `(threshold + 2.1) × interval` of silence (1.02 s with `lan-fast`). This holds while the cluster fits one digest (about 45
    /// members at the default budget); beyond, each member's counter reaches a node only
    /// every ~`N / (fanout × entries per digest / 2)` rounds, so raise `timeout` to at
    /// least `interval × (3 + 2N / (fanout × 20))` or use `--detector phi`, which learns
    /// the arrival rate (see docs/SIMULATION.md).
    pub fn with_timing(strategy: StrategyKind, interval: Duration, threshold: u32) -> Config {
        let mut phi = PhiConfig::for_timing(interval, threshold);
        let mut timeout = arrival_timeout(interval);
        if strategy == StrategyKind::Gossip {
            timeout += interval * GOSSIP_HOP_ROUNDS;
            phi.acceptable_pause += interval * GOSSIP_HOP_ROUNDS;
        }
        let dead_after = timeout + interval * threshold.saturating_sub(1);
        Config {
            strategy: StrategyConfig::defaults(strategy, interval, dead_after),
            interval,
            timeout,
            threshold,
            detector: DetectorKind::Missed,
            phi,
            probes: ProbeConfig::default(),
            quorum: None,
            brake_fraction: default_brake_fraction(),
            brake_window: interval * 30,
            flap_damping: false,
            flap_half_life: interval * 60,
        }
    }

    /// The fieldless tag of the strategy.
    pub fn kind(&self) -> StrategyKind {
        self.strategy.kind()
    }

    /// Ping's SWIM settings (`None` for the other strategies).
    pub fn swim(&self) -> Option<&SwimConfig> {
        match &self.strategy {
            StrategyConfig::Ping(swim) => Some(swim),
            _ => None,
        }
    }

    /// Ping's SWIM settings, to change them.
    pub fn swim_mut(&mut self) -> Option<&mut SwimConfig> {
        match &mut self.strategy {
            StrategyConfig::Ping(swim) => Some(swim),
            _ => None,
        }
    }

    /// Gossip's settings (`None` for the other strategies).
    pub fn gossip(&self) -> Option<&GossipConfig> {
        match &self.strategy {
            StrategyConfig::Gossip(gossip) => Some(gossip),
            _ => None,
        }
    }

    /// The leader strategy's election settings (`None` for the other strategies). The
    /// defaults ([`Config::with_timing`]) take the election timeout from `dead_after()`
    /// (a follower gives up on a silent leader about when it would declare it dead) and
    /// the lease from [`Config::default_lease`].
    pub fn leader(&self) -> Option<&LeaderConfig> {
        match &self.strategy {
            StrategyConfig::Leader(leader) => Some(leader),
            _ => None,
        }
    }

    /// Pull's monitors (empty for the other strategies).
    pub fn monitors(&self) -> &[String] {
        match &self.strategy {
            StrategyConfig::Pull { monitors } => monitors,
            _ => &[],
        }
    }

    /// The default lease for an election timeout and a drift bound: 90 % of
    /// `election_timeout × (1 − drift) / (1 + drift)`, the longest the drift bound allows.
    pub fn default_lease(election_timeout: Duration, clock_drift: f64) -> Duration {
        let drift = clock_drift.clamp(0.0, 0.49);
        election_timeout.mul_f64((1.0 - drift) / (1.0 + drift) * 0.9)
    }

    /// Silence after the last heartbeat at which the missed-heartbeat detector declares
    /// death: `timeout + (threshold − 1) × interval`.
    pub fn dead_after(&self) -> Duration {
        self.timeout + self.interval * self.threshold.saturating_sub(1)
    }

    /// Refuses a configuration that cannot work. The message names the field and the fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.interval < Duration::from_millis(10) {
            return Err(ConfigError::IntervalTooShort(self.interval));
        }
        if self.interval > Duration::from_secs(3600) {
            return Err(ConfigError::IntervalTooLong(self.interval));
        }
        if self.threshold == 0 {
            return Err(ConfigError::ZeroThreshold);
        }
        if self.threshold > 100 {
            return Err(ConfigError::ThresholdTooHigh(self.threshold));
        }
        if self.timeout < self.interval {
            return Err(ConfigError::TimeoutShorterThanInterval {
                timeout: self.timeout,
                interval: self.interval,
            });
        }
        self.validate_phi()?;
        self.validate_quorum()?;
        if self.probes.indirect_probes > 16 {
            return Err(ConfigError::TooManyIndirectProbes(self.probes.indirect_probes));
        }
        match &self.strategy {
            StrategyConfig::Push { .. } => Ok(()),
            StrategyConfig::Pull { monitors } if monitors.is_empty() => Err(ConfigError::PullWithoutMonitors),
            StrategyConfig::Pull { .. } => Ok(()),
            StrategyConfig::Ping(swim) => self.validate_swim(swim),
            StrategyConfig::Gossip(gossip) => validate_gossip(gossip),
            StrategyConfig::Leader(leader) => self.validate_election(leader),
        }
    }

    fn validate_election(&self, leader: &LeaderConfig) -> Result<(), ConfigError> {
        let voters = &leader.voters;
        if let Some(expect) = leader.bootstrap_expect {
            let configured = voters.len();
            if expect == 0 || (configured > 0 && expect as usize > configured) {
                return Err(ConfigError::BadBootstrapExpect { expect, configured });
            }
        }
        let duplicate = (1..voters.len()).find(|&i| voters[..i].contains(&voters[i]));
        if let Some(i) = duplicate {
            return Err(ConfigError::DuplicateVoter(voters[i].clone()));
        }
        if !(0.0..0.5).contains(&leader.clock_drift) {
            return Err(ConfigError::BadClockDrift(leader.clock_drift));
        }
        if leader.election_timeout < self.interval * 2 {
            return Err(ConfigError::ElectionTimeoutTooShort {
                election_timeout: leader.election_timeout,
                interval: self.interval,
            });
        }
        let (drift, lease) = (leader.clock_drift, leader.lease);
        if lease < self.interval || lease.mul_f64(1.0 + drift) >= leader.election_timeout.mul_f64(1.0 - drift) {
            return Err(ConfigError::BadLease {
                lease,
                interval: self.interval,
                election_timeout: leader.election_timeout,
                drift,
            });
        }
        Ok(())
    }

    /// Accusers a death verdict needs when `up` members (this node included) are up
    /// (ping), or, for push, pull and gossip, when the member has `up` observers (the
    /// members held up other than itself; pull: the monitors other than itself).
    pub fn quorum_size(&self, up: usize) -> usize {
        match self.quorum {
            None => 1,
            Some(Quorum::Majority) => up / 2 + 1,
            Some(Quorum::AtLeast(n)) => n as usize,
        }
    }

    /// What keeps the quorum out of reach while `up` members (this node included) are
    /// up, if anything: no member ever has more than `up − 1` observers (pull: the
    /// monitors), so a quorum above that can neither declare a member dead nor (push,
    /// pull, gossip) admit a new one alive. Reported on `/readyz` and by `why`.
    /// Only a fixed size (`--quorum-size`) can be out of reach: a majority of the members
    /// up always can be, and a node alone has nobody to judge.
    pub fn unreachable_quorum(&self, up: usize) -> Option<UnreachableQuorum> {
        let Some(Quorum::AtLeast(_)) = self.quorum else {
            return None;
        };
        let (observers, needed) = match &self.strategy {
            StrategyConfig::Leader(_) => return None,
            StrategyConfig::Pull { monitors } => (monitors.len(), self.quorum_size(monitors.len())),
            StrategyConfig::Ping(_) => (up.saturating_sub(1), self.quorum_size(up)),
            StrategyConfig::Push { .. } | StrategyConfig::Gossip(_) => {
                let observers = up.saturating_sub(1);
                (observers, self.quorum_size(observers))
            }
        };
        (needed > observers).then_some(UnreachableQuorum { needed, observers, up })
    }

    fn validate_quorum(&self) -> Result<(), ConfigError> {
        if !(self.brake_fraction > 0.0 && self.brake_fraction <= 1.0) {
            return Err(ConfigError::BadBrake(self.brake_fraction));
        }
        if self.quorum.is_some() && self.kind() == StrategyKind::Leader {
            return Err(ConfigError::QuorumNotSupported(self.kind().name()));
        }
        if self.quorum == Some(Quorum::AtLeast(0)) {
            return Err(ConfigError::ZeroQuorum);
        }
        if let Some(Quorum::AtLeast(n)) = self.quorum
            && n as usize >= crate::members::MAX_MEMBERS
        {
            return Err(ConfigError::QuorumAboveCap(n));
        }
        if let (StrategyConfig::Pull { monitors }, Some(Quorum::AtLeast(n))) = (&self.strategy, self.quorum)
            && n as usize > monitors.len()
        {
            return Err(ConfigError::QuorumAboveMonitors {
                quorum: n,
                monitors: monitors.len(),
            });
        }
        Ok(())
    }

    fn validate_swim(&self, swim: &SwimConfig) -> Result<(), ConfigError> {
        if swim.probe_timeout.is_zero() || swim.probe_timeout >= self.interval {
            return Err(ConfigError::BadProbeTimeout {
                probe_timeout: swim.probe_timeout,
                interval: self.interval,
            });
        }
        if swim.suspicion_mult == 0
            || swim.suspicion_max_mult == 0
            || swim.retransmit_mult == 0
            || swim.awareness_max == 0
        {
            return Err(ConfigError::ZeroSwimMultiplier);
        }
        Ok(())
    }

    fn validate_phi(&self) -> Result<(), ConfigError> {
        if !(self.phi.threshold.is_finite() && self.phi.threshold > 0.0) {
            return Err(ConfigError::BadPhiThreshold(self.phi.threshold));
        }
        if self.phi.window < 2 || self.phi.window > 10_000 {
            return Err(ConfigError::BadPhiWindow(self.phi.window));
        }
        if self.phi.min_std_dev.is_zero() {
            return Err(ConfigError::ZeroMinStdDev);
        }
        Ok(())
    }
}

fn validate_gossip(gossip: &GossipConfig) -> Result<(), ConfigError> {
    if !(1..=16).contains(&gossip.fanout) {
        return Err(ConfigError::BadGossipFanout(gossip.fanout));
    }
    if !(MIN_DIGEST_BUDGET..=crate::wire::LIST_BUDGET).contains(&gossip.digest_budget) {
        return Err(ConfigError::BadDigestBudget(gossip.digest_budget));
    }
    Ok(())
}

impl PhiConfig {
    /// Akka's defaults (threshold 8, 1,000 samples), with the standard-deviation floor at
    /// a tenth of the interval and the pause set so that death is declared after about
    /// `threshold` intervals of silence.
    pub fn for_timing(interval: Duration, threshold: u32) -> PhiConfig {
        let pause = (interval * threshold.saturating_sub(1)).saturating_sub(interval / 2);
        PhiConfig {
            threshold: 8.0,
            window: 1000,
            min_std_dev: interval / 10,
            acceptable_pause: pause,
        }
    }
}

/// A configuration that was refused, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// `bootstrap_expect` is 0, or more than the configured voters.
    #[error(
        "bootstrap_expect {expect} cannot be met: give at least 1 and at most the number of configured voters ({configured}; 0: every member votes)"
    )]
    BadBootstrapExpect {
        /// The setting.
        expect: u32,
        /// Configured voters (0: every member votes).
        configured: usize,
    },
    /// The interval is below 10 ms.
    #[error("interval {0:?} is too short: use at least 10ms")]
    IntervalTooShort(Duration),
    /// The interval is above an hour.
    #[error("interval {0:?} is too long: use at most 1h")]
    IntervalTooLong(Duration),
    /// A threshold of zero would declare every member dead at once.
    #[error("threshold 0 would declare members dead without a single missed heartbeat: use 1 or more (3 is usual)")]
    ZeroThreshold,
    /// The threshold is above 100.
    #[error("threshold {0} is too high: use at most 100 missed heartbeats")]
    ThresholdTooHigh(u32),
    /// The timeout is shorter than the interval.
    #[error(
        "timeout {timeout:?} is shorter than interval {interval:?}: heartbeats would count as missed before they are due; set timeout to at least the interval"
    )]
    TimeoutShorterThanInterval {
        /// The configured timeout.
        timeout: Duration,
        /// The configured interval.
        interval: Duration,
    },
    /// The phi threshold is not a positive number.
    #[error("phi threshold {0} must be a positive number (8 is usual)")]
    BadPhiThreshold(f64),
    /// The phi window is out of range.
    #[error("phi window {0} must be between 2 and 10000 samples (1000 is usual)")]
    BadPhiWindow(usize),
    /// The phi standard-deviation floor is zero.
    #[error("phi min_std_dev must be above zero (a tenth of the interval is usual)")]
    ZeroMinStdDev,
    /// Pull needs at least one monitor.
    #[error("strategy pull needs at least one monitor: name them with --monitor NAME[,NAME...]")]
    PullWithoutMonitors,
    /// The probe timeout must be positive and shorter than the period.
    #[error(
        "probe timeout {probe_timeout:?} must be above zero and shorter than the interval {interval:?} (2/5 of it is usual)"
    )]
    BadProbeTimeout {
        /// The configured probe timeout.
        probe_timeout: Duration,
        /// The configured interval (the protocol period).
        interval: Duration,
    },
    /// The brake fraction is out of range.
    #[error("brake fraction {0} must be above 0 and at most 1 (0.5 is usual; 1 turns the brake off)")]
    BadBrake(f64),
    /// Quorum does not apply to this strategy (leader).
    #[error(
        "--quorum does not apply to strategy {0}: its elected leader already judges with the backing of a majority of the voters; drop --quorum, or use --strategy push, pull, ping or gossip"
    )]
    QuorumNotSupported(&'static str),
    /// Pull: a quorum of more monitors than there are.
    #[error(
        "--quorum-size {quorum} is more than the {monitors} monitors: no member could ever be declared dead; use at most {monitors}, or --quorum for a majority of the monitors"
    )]
    QuorumAboveMonitors {
        /// The configured quorum.
        quorum: u32,
        /// How many monitors are named.
        monitors: usize,
    },
    /// A quorum no cluster can reach: more accusers than the member table's cap allows.
    #[error(
        "--quorum-size {0} is more than any cluster can reach (at most {max} members, so {limit} observers of one): no member could ever be declared dead; use --quorum for a majority, or a size well below the cluster's",
        max = crate::members::MAX_MEMBERS,
        limit = crate::members::MAX_MEMBERS - 1
    )]
    QuorumAboveCap(u32),
    /// A quorum of zero.
    #[error("a quorum of 0 accusers would declare members dead without evidence: use 1 or more, or majority")]
    ZeroQuorum,
    /// A SWIM multiplier is zero.
    #[error("suspicion, retransmit and awareness multipliers must be at least 1")]
    ZeroSwimMultiplier,
    /// Too many indirect probes.
    #[error("indirect probes {0} is too many: use at most 16 (3 is usual)")]
    TooManyIndirectProbes(usize),
    /// A voter is named twice.
    #[error("voter `{0}` is named twice: list every voter once")]
    DuplicateVoter(String),
    /// The election timeout leaves no room for heartbeats.
    #[error(
        "election timeout {election_timeout:?} is shorter than two intervals ({interval:?} each): a leader could not keep its followers; use at least 2 intervals (the default is timeout + (threshold - 1) intervals)"
    )]
    ElectionTimeoutTooShort {
        /// The configured election timeout.
        election_timeout: Duration,
        /// The configured interval.
        interval: Duration,
    },
    /// The lease is too short to be renewed, or too long to be safe under the drift bound.
    #[error(
        "lease {lease:?} must be at least the interval ({interval:?}) and satisfy lease x (1 + drift) < election timeout x (1 - drift) (election timeout {election_timeout:?}, drift {drift}): shorten the lease or lengthen the election timeout"
    )]
    BadLease {
        /// The configured lease.
        lease: Duration,
        /// The configured interval.
        interval: Duration,
        /// The configured election timeout.
        election_timeout: Duration,
        /// The configured drift bound.
        drift: f64,
    },
    /// The drift bound is not in `[0, 0.5)`.
    #[error("clock drift {0} must be a fraction in [0, 0.5) (0.05 means clocks may run 5% apart)")]
    BadClockDrift(f64),
    /// The gossip fanout is out of range.
    #[error("gossip fanout {0} must be between 1 and 16 (3 is usual)")]
    BadGossipFanout(usize),
    /// The digest budget is out of range.
    #[error(
        "gossip digest_budget {0} must be between 200 and 1200 bytes (1200 is usual): a digest must fit one datagram and hold a few entries"
    )]
    BadDigestBudget(usize),
}

/// The smallest digest budget accepted: room for the sender's own entry and a few more.
pub const MIN_DIGEST_BUDGET: usize = 200;

/// Durations as human-readable strings ("200ms", "10s") in TOML and JSON.
pub mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `200ms`, `10s`, `1m 30s`.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    /// Reads what [`parse_duration`] accepts.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// Parses `250ms`, `1s`, `1.5s`, `2m`, `1h`.
    pub fn parse_duration(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a duration: write a number and a unit, like 200ms, 1s or 2m"))?;
        let seconds = match unit.trim() {
            "us" | "µs" => value / 1e6,
            "ms" => value / 1e3,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            "" => return Err(format!("`{text}` has no unit: write 200ms, 1s or 2m")),
            other => return Err(format!("unknown unit `{other}` in `{text}`: use us, ms, s, m or h")),
        };
        if !seconds.is_finite() || seconds > 1e9 {
            return Err(format!("`{text}` is out of range"));
        }
        Ok(Duration::from_secs_f64(seconds))
    }

    /// The shortest exact rendering in one unit.
    pub fn format_duration(d: Duration) -> String {
        let micros = d.as_micros();
        match micros {
            0 => "0s".to_string(),
            m if m % 3_600_000_000 == 0 => format!("{}h", m / 3_600_000_000),
            m if m % 60_000_000 == 0 => format!("{}m", m / 60_000_000),
            m if m % 1_000_000 == 0 => format!("{}s", m / 1_000_000),
            m if m % 1_000 == 0 => format!("{}ms", m / 1_000),
            m => format!("{m}us"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::serde_duration::{format_duration, parse_duration};
    use super::*;

    #[test]
    fn presets_follow_the_published_guidance() {
        let table = [
            (Preset::Web, 10_000),
            (Preset::HighTraffic, 3_000),
            (Preset::Background, 20_000),
            (Preset::LanFast, 200),
            (Preset::Lan, 500),
        ];
        for (preset, millis) in table {
            let config = Config::preset(preset, StrategyKind::Push);
            assert_eq!(config.interval, Duration::from_millis(millis));
            assert_eq!(config.threshold, 3);
            assert_eq!(config.validate(), Ok(()));
            assert_eq!(preset.name().parse::<Preset>(), Ok(preset));
        }
    }

    #[test]
    fn a_timeout_shorter_than_the_interval_is_refused_with_the_fix() {
        let mut config = Config::preset(Preset::Web, StrategyKind::Push);
        config.timeout = Duration::from_secs(5);
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("timeout 5s is shorter than interval 10s"), "{message}");
        assert!(message.contains("at least the interval"), "{message}");
    }

    #[test]
    fn a_zero_threshold_is_refused() {
        let mut config = Config::preset(Preset::Web, StrategyKind::Push);
        config.threshold = 0;
        assert_eq!(config.validate(), Err(ConfigError::ZeroThreshold));
    }

    #[test]
    fn pull_without_monitors_is_refused() {
        let config = Config::preset(Preset::Web, StrategyKind::Pull);
        assert_eq!(config.validate(), Err(ConfigError::PullWithoutMonitors));
    }

    #[test]
    fn death_is_declared_after_timeout_plus_the_remaining_misses() {
        // 220 ms for the first miss, 200 ms for each of the other two.
        let config = Config::preset(Preset::LanFast, StrategyKind::Push);
        assert_eq!(config.timeout, Duration::from_millis(220));
        assert_eq!(config.dead_after(), Duration::from_millis(620));
    }

    #[test]
    fn gossip_waits_two_more_intervals_for_counters_to_travel() {
        let config = Config::preset(Preset::LanFast, StrategyKind::Gossip);
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.timeout, Duration::from_millis(620));
        assert_eq!(config.dead_after(), Duration::from_millis(1020));
        assert_eq!(config.strategy, StrategyConfig::Gossip(GossipConfig::default()));
        assert_eq!("gossip".parse::<StrategyKind>(), Ok(StrategyKind::Gossip));
        assert_eq!(StrategyKind::Gossip.name(), "gossip");
    }

    #[test]
    fn a_gossip_fanout_or_budget_out_of_range_is_refused_with_the_range() {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Gossip);
        let gossip = GossipConfig::default();
        config.strategy = StrategyConfig::Gossip(GossipConfig { fanout: 0, ..gossip });
        assert!(config.validate().unwrap_err().to_string().contains("between 1 and 16"));
        config.strategy = StrategyConfig::Gossip(GossipConfig {
            digest_budget: 5000,
            ..GossipConfig::default()
        });
        assert_eq!(config.validate(), Err(ConfigError::BadDigestBudget(5000)));
    }

    #[test]
    fn a_quorum_is_accepted_for_push_pull_ping_and_gossip_and_refused_for_leader_with_why() {
        for strategy in [
            StrategyKind::Push,
            StrategyKind::Ping,
            StrategyKind::Gossip,
            StrategyKind::Pull,
        ] {
            let mut config = Config::preset(Preset::LanFast, strategy);
            config.quorum = Some(Quorum::Majority);
            if strategy == StrategyKind::Pull {
                config.strategy = StrategyConfig::Pull {
                    monitors: vec!["m1".into(), "m2".into(), "m3".into()],
                };
            }
            assert_eq!(config.validate(), Ok(()), "{strategy:?}");
        }
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Leader);
        config.quorum = Some(Quorum::Majority);
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("does not apply to strategy leader"), "{message}");
        assert!(message.contains("drop --quorum"), "{message}");
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Pull);
        config.strategy = StrategyConfig::Pull {
            monitors: vec!["m1".into(), "m2".into()],
        };
        config.quorum = Some(Quorum::AtLeast(3));
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("more than the 2 monitors"), "{message}");
        assert!(message.contains("use at most 2"), "{message}");
    }

    #[test]
    fn durations_parse_in_every_documented_unit() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("fast").unwrap_err().contains("not a duration"));
        assert_eq!(format_duration(Duration::from_millis(200)), "200ms");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
    }

    #[test]
    fn a_quorum_beyond_any_cluster_is_refused_and_one_beyond_the_members_up_is_reported() {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Push);
        config.quorum = Some(Quorum::AtLeast(crate::members::MAX_MEMBERS as u32));
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("more than any cluster can reach"), "{refused}");
        config.quorum = Some(Quorum::AtLeast(1000));
        assert_eq!(config.validate(), Ok(()));
        for strategy in [StrategyKind::Push, StrategyKind::Gossip, StrategyKind::Ping] {
            config.strategy = StrategyConfig::defaults(strategy, config.interval, config.dead_after());
            let reason = config
                .unreachable_quorum(7)
                .expect("1000 of 6 observers is out of reach");
            assert_eq!((reason.needed, reason.observers, reason.up), (1000, 6, 7));
            assert!(
                reason
                    .to_string()
                    .starts_with("quorum 1000 cannot be reached with 7 members up")
            );
            config.quorum = Some(Quorum::AtLeast(6));
            assert_eq!(config.unreachable_quorum(7), None);
            assert!(config.unreachable_quorum(6).is_some());
            config.quorum = Some(Quorum::Majority);
            assert_eq!(config.unreachable_quorum(3), None);
            assert_eq!(
                config.unreachable_quorum(1),
                None,
                "a node alone is not an impossible quorum"
            );
            config.quorum = None;
            assert_eq!(config.unreachable_quorum(1), None);
            config.quorum = Some(Quorum::AtLeast(1000));
        }
    }
}
