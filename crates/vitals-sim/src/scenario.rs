//! What to simulate. [`Spec`] holds the flat parameters the `vitals sim` command line
//! takes (and prints back as a replay command); [`Scenario`] is what they expand to: the
//! node configuration, the network model, and a fault plan with absolute times drawn from
//! the seed. Owns the bounds the checkers hold each strategy to. Never runs anything.

use std::time::Duration;

use vitals_core::adapt::Target;
use vitals_core::bounds::{Cluster, Relay};
use vitals_core::config::serde_duration::format_duration;
use vitals_core::{Config, DetectorKind, Rng, Roles, StrategyKind};

use crate::net::{Latency, NetModel, Partition};

/// A fault injected into one node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FaultKind {
    /// The process dies and stays dead.
    Crash,
    /// The process dies and a fresh one (knowing nothing of its past) starts `down` later.
    Restart {
        /// Time between the crash and the restart.
        down: Duration,
    },
    /// The process stops handling input and timers for `duration`, then resumes with
    /// everything that queued up (a GC pause, SIGSTOP).
    Pause {
        /// How long it is stopped.
        duration: Duration,
    },
    /// Every input the process handles is handled `by` late, for `duration` (CPU
    /// starvation). With `messages_only`, only datagrams wait and its timers fire on
    /// time: Lifeguard's setup, a starved message handler while the probe timer runs.
    Slow {
        /// The extra delay of each input.
        by: Duration,
        /// How long the node is slow.
        duration: Duration,
        /// Only datagrams are late; timers are not.
        messages_only: bool,
    },
}

/// A fault at an instant (from the start of the simulation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    /// The node's index.
    pub node: usize,
    /// When it starts.
    pub at: Duration,
    /// What happens.
    pub kind: FaultKind,
}

impl Fault {
    /// The window `[start, end)` during which the node is down, paused or slow.
    pub fn window(&self) -> (Duration, Duration) {
        let end = match self.kind {
            FaultKind::Crash => Duration::MAX,
            FaultKind::Restart { down } => self.at + down,
            FaultKind::Pause { duration } | FaultKind::Slow { duration, .. } => self.at + duration,
        };
        (self.at, end)
    }
}

/// A fully expanded simulation: every time is absolute, every choice is made.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// How many nodes, named `n0`, `n1`, …
    pub nodes: usize,
    /// Every node's configuration.
    pub config: Config,
    /// Time before measurement starts (the cluster forms).
    pub warmup: Duration,
    /// The measured time after the warm-up.
    pub duration: Duration,
    /// The network.
    pub net: NetModel,
    /// Node faults.
    pub faults: Vec<Fault>,
    /// Partitions.
    pub partitions: Vec<Partition>,
    /// The master seed every random choice derives from.
    pub seed: u64,
    /// `--auto-tune`: every node picks its own interval and threshold toward this target.
    pub auto_tune: Option<Target>,
    /// The command that replays this scenario.
    pub replay: String,
}

impl Scenario {
    /// When the simulation ends.
    pub fn end(&self) -> Duration {
        self.warmup + self.duration
    }

    /// Whether node `index` is a pull monitor.
    pub fn is_monitor(&self, index: usize) -> bool {
        self.config.monitors().iter().any(|m| *m == node_name(index))
    }

    /// The cluster the bounds of `vitals_core::bounds` are computed for.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            nodes: self.nodes,
            delay: self.net.delay_bound(),
            lossy: self.net.lossy(),
        }
    }

    /// The longest time from a crash to its detection by an observer that judges the
    /// crashed node itself: the strategy's own bound (`Config::detection_bound`).
    pub fn direct_bound(&self) -> Duration {
        let configured = self.config.detection_bound(&self.cluster());
        let Some(target) = self.auto_tune else {
            return configured;
        };
        // Auto-tuned nodes may run at any timing up to detect-within of silence.
        let mut slowest = self.config.clone();
        slowest.timeout = vitals_core::config::arrival_timeout(slowest.interval);
        slowest.threshold = (target.detect_within.as_micros() / slowest.interval.as_micros().max(1)) as u32;
        configured.max(slowest.detection_bound(&self.cluster()))
    }

    /// The completeness bound for `observer` about `member`: pull members learn a
    /// monitor's verdict from its next poll; with the leader strategy every member but
    /// the leader learns the leader's verdict from its view (`Config::relay_bound`).
    pub fn detection_bound(&self, observer: usize, member: usize) -> Duration {
        let relayed = match self.config.kind() {
            StrategyKind::Leader => true,
            StrategyKind::Pull => !self.is_monitor(observer) && !self.is_monitor(member),
            StrategyKind::Push | StrategyKind::Ping | StrategyKind::Gossip => false,
        };
        if relayed {
            self.direct_bound() + self.config.relay_bound(&self.cluster(), &self.relay())
        } else {
            self.direct_bound()
        }
    }

    /// How verdicts travel in this scenario's network (see [`Relay`]).
    fn relay(&self) -> Relay {
        Relay {
            lost_rounds: self.lost_rounds(),
            view_slices: self.view_slices(),
        }
    }

    /// A run of lost datagrams on one link as likely as 10⁻⁶: each lost poll (pull) or
    /// leader heartbeat costs another interval.
    fn lost_rounds(&self) -> u32 {
        let p = self.net.highest_loss();
        if p > 0.0 {
            ((1e-6f64).ln() / p.ln()).ceil().min(100.0) as u32
        } else {
            0
        }
    }

    /// Leader: the time for a verdict the leader holds to reach every member, with its
    /// next heartbeat rounds (`Config::relay_bound`, the leader strategy's formula).
    pub fn leader_publish(&self) -> Duration {
        self.config.relay_bound(&self.cluster(), &self.relay())
    }

    /// Into how many datagram-sized slices `wire::chunk_entries` splits a view of every
    /// node (simulated nodes carry no health), at an incarnation as wide as the core
    /// accepts, so that refutations cannot make the entries longer than counted.
    fn view_slices(&self) -> u32 {
        let entries = (0..self.nodes)
            .map(|i| vitals_core::MemberEntry {
                timing: None,
                name: node_name(i),
                addr: crate::engine::addr_of(i),
                incarnation: 1 << 20,
                status: vitals_core::Status::Suspect,
                health: None,
            })
            .collect();
        u32::try_from(vitals_core::wire::chunk_entries(entries).len()).unwrap_or(u32::MAX)
    }

    /// Leader: how long a crash may go unjudged when an election intervenes (a leader
    /// under an injected fault, the crashed node itself included, or a partition that
    /// left observers without a reachable leader; see `check::election_delay`). Raft's
    /// timers fire within `[T, 2T]` of the last heartbeat (§5.2), each split vote costs
    /// another `2T` (two allowed, as in the core's sweep), pre-vote and vote take two
    /// round trips; the new leader then gives every member it holds up a detector that
    /// expects a report within one interval (`Members::set_judged`), declares it after
    /// the direct bound, and publishes the verdict with its view.
    pub fn leader_takeover(&self) -> Duration {
        const SPLIT_VOTES: u32 = 2;
        let timeout = self
            .config
            .leader()
            .map_or(self.config.dead_after(), |l| l.election_timeout);
        let election = timeout * 2 * (1 + SPLIT_VOTES) + self.net.delay_bound() * 4;
        election + self.config.interval + self.direct_bound() + self.leader_publish()
    }

    /// The time within which every live node sees every other live node up again after
    /// a partition heals or a node restarts (`Config::convergence_bound`).
    pub fn convergence_bound(&self) -> Duration {
        self.config.convergence_bound(&self.cluster())
    }
}

/// The name of node `index`.
pub fn node_name(index: usize) -> String {
    format!("n{index}")
}

/// The index of the node called `name`, if it is one of the simulator's.
pub fn node_index(name: &str) -> Option<usize> {
    name.strip_prefix('n')?.parse().ok()
}

/// A partition as the command line gives it: the first half of the nodes is cut off
/// from the second at `at` for `duration`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartitionSpec {
    /// When (after the warm-up).
    pub at: Duration,
    /// For how long.
    pub duration: Duration,
    /// Only datagrams from the first half to the second are dropped.
    pub one_way: bool,
}

/// The flat parameters of one simulation, as `vitals sim` takes them.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// push, pull, ping, gossip or leader.
    pub strategy: StrategyKind,
    /// Push: acknowledge heartbeats.
    pub ack: bool,
    /// Quorum-confirmed verdicts (a majority of accusers; push, pull, gossip: and of
    /// vouchers to take a member back). Not for leader.
    pub quorum: bool,
    /// Ping: Lifeguard off (plain SWIM with suspicion), to measure what it buys.
    pub no_lifeguard: bool,
    /// Ping: fast confirmation off, to measure what it buys and costs.
    pub no_fast_confirm: bool,
    /// Ping: the watch ring off, to measure what it buys and costs.
    pub no_watch_ring: bool,
    /// missed or phi.
    pub detector: DetectorKind,
    /// Number of nodes.
    pub nodes: usize,
    /// Pull: number of monitors (`n0`, `n1`, …).
    pub monitors: usize,
    /// Measured simulated time (after the warm-up).
    pub duration: Duration,
    /// Heartbeat interval.
    pub interval: Duration,
    /// Missed heartbeats that declare death (and phi's timing, see `PhiConfig::for_timing`).
    pub threshold: u32,
    /// Silence before the first miss (default: the interval).
    pub timeout: Option<Duration>,
    /// Phi threshold (default 8).
    pub phi_threshold: Option<f64>,
    /// One-way latency.
    pub latency: Latency,
    /// Loss probability per datagram.
    pub loss: f64,
    /// Per-link loss overrides: (from, to, probability).
    pub link_loss: Vec<(usize, usize, f64)>,
    /// Changes of `loss` mid-run: (when, after the warm-up; the new probability), in
    /// time order (`--loss-from 30m=0.05,90m=0.001`).
    pub loss_from: Vec<(Duration, f64)>,
    /// Duplication probability per datagram.
    pub duplicate: f64,
    /// Reordering probability per datagram.
    pub reorder: f64,
    /// Nodes that crash for good.
    pub crash: usize,
    /// Nodes that crash and restart.
    pub restart: usize,
    /// Nodes that pause.
    pub pause: usize,
    /// How long a pause lasts.
    pub pause_for: Duration,
    /// Nodes that turn slow.
    pub slow: usize,
    /// How late a slow node handles each input.
    pub slow_by: Duration,
    /// How long a node stays slow.
    pub slow_for: Duration,
    /// Slow nodes handle only their datagrams late; their timers fire on time
    /// (Lifeguard's setup).
    pub slow_messages_only: bool,
    /// A partition of the first half from the second.
    pub partition: Option<PartitionSpec>,
    /// `--auto-tune`: every node picks its own interval and threshold toward this target
    /// (push, missed-heartbeat detector), starting from `interval` and `threshold`.
    pub auto_tune: Option<Target>,
    /// The master seed.
    pub seed: u64,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            strategy: StrategyKind::Push,
            ack: false,
            quorum: false,
            no_lifeguard: false,
            no_fast_confirm: false,
            no_watch_ring: false,
            detector: DetectorKind::Missed,
            nodes: 10,
            monitors: 1,
            duration: Duration::from_secs(600),
            interval: Duration::from_secs(1),
            threshold: 3,
            timeout: None,
            phi_threshold: None,
            latency: Latency::Uniform(Duration::from_micros(500), Duration::from_micros(1500)),
            loss: 0.0,
            link_loss: Vec::new(),
            loss_from: Vec::new(),
            duplicate: 0.0,
            reorder: 0.0,
            crash: 0,
            restart: 0,
            pause: 0,
            pause_for: Duration::from_secs(5),
            slow: 0,
            slow_by: Duration::from_millis(200),
            slow_for: Duration::from_secs(60),
            slow_messages_only: false,
            partition: None,
            auto_tune: None,
            seed: 0,
        }
    }
}

impl Spec {
    /// The node configuration, validated.
    pub fn config(&self) -> Result<Config, String> {
        let mut config = Config::with_timing(self.strategy, self.interval, self.threshold);
        let monitors = match self.strategy {
            StrategyKind::Pull => (0..self.monitors.max(1)).map(node_name).collect(),
            _ => Vec::new(), // --monitors counts pull's monitors only
        };
        let roles = Roles {
            ack: self.ack,
            monitors,
            voters: Vec::new(),
            bootstrap_expect: None,
        };
        config.strategy = config.strategy.with_roles(roles).map_err(|e| e.to_string())?;
        config.quorum = self.quorum.then_some(vitals_core::Quorum::Majority);
        if let Some(swim) = config.swim_mut() {
            if self.no_lifeguard {
                *swim = swim.clone().without_lifeguard();
            }
            swim.fast_confirm = !self.no_fast_confirm;
            swim.watch_ring = !self.no_watch_ring;
        }
        config.detector = self.detector;
        if let Some(timeout) = self.timeout {
            config.timeout = timeout;
        }
        if let Some(phi) = self.phi_threshold {
            config.phi.threshold = phi;
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    /// Checks the parameters the node configuration does not cover; the message names
    /// the flag.
    pub fn validate(&self) -> Result<(), String> {
        let probabilities = [
            ("--loss", self.loss),
            ("--duplicate", self.duplicate),
            ("--reorder", self.reorder),
        ];
        for (flag, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{flag} {p} must be a probability between 0 and 1"));
            }
        }
        for &(from, to, p) in &self.link_loss {
            if from >= self.nodes || to >= self.nodes || !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "--link-loss {from}:{to}:{p} must name two nodes below --nodes {} and a probability",
                    self.nodes
                ));
            }
        }
        self.validate_loss_from()?;
        if !(2..=100_000).contains(&self.nodes) {
            return Err(format!("--nodes {} must be between 2 and 100000", self.nodes));
        }
        let monitors = if self.strategy == StrategyKind::Pull {
            self.monitors.max(1)
        } else {
            0
        };
        let faulty = self.crash + self.restart + self.pause + self.slow;
        if faulty + monitors + 1 > self.nodes {
            return Err(format!(
                "--crash/--restart/--pause/--slow name {faulty} nodes but only {} of {} may fail (monitors and one observer stay up)",
                self.nodes.saturating_sub(monitors + 1),
                self.nodes
            ));
        }
        if self.duration.is_zero() {
            return Err("--duration must be above zero".into());
        }
        if self.auto_tune.is_some() && (self.strategy != StrategyKind::Push || self.detector != DetectorKind::Missed) {
            return Err("--auto-tune needs --strategy push with --detector missed".into());
        }
        Ok(())
    }

    fn validate_loss_from(&self) -> Result<(), String> {
        let in_order = self.loss_from.windows(2).all(|w| w[0].0 < w[1].0);
        let probabilities = self.loss_from.iter().all(|(_, p)| (0.0..=1.0).contains(p));
        if !in_order || !probabilities {
            return Err(format!(
                "--loss-from {} must list AT=P in rising order of AT, P a probability, like 30m=0.05,90m=0.001",
                loss_from_text(&self.loss_from)
            ));
        }
        Ok(())
    }

    /// The scenario these parameters describe; faults are placed with the seed.
    pub fn scenario(&self) -> Result<Scenario, String> {
        self.validate()?;
        let config = self.config()?;
        let warmup = config.dead_after() * 2 + config.interval * 10;
        let net = NetModel {
            latency: self.latency,
            loss: self.loss,
            link_loss: self.link_loss.clone(),
            loss_steps: self.loss_from.iter().map(|&(at, p)| (warmup + at, p)).collect(),
            duplicate: self.duplicate,
            reorder: self.reorder,
            ..NetModel::perfect(Duration::ZERO)
        };
        let mut scenario = Scenario {
            nodes: self.nodes,
            config,
            warmup,
            duration: self.duration,
            net,
            faults: Vec::new(),
            partitions: Vec::new(),
            seed: self.seed,
            auto_tune: self.auto_tune,
            replay: self.command_line(),
        };
        scenario.faults = self.place_faults(&scenario);
        if let Some(p) = self.partition {
            scenario.partitions.push(Partition {
                side: (0..self.nodes / 2).collect(),
                one_way: p.one_way,
                start: warmup + p.at,
                duration: p.duration,
            });
        }
        Ok(scenario)
    }

    /// Victims are distinct non-monitor nodes; times are uniform over the measured window,
    /// early enough that detection (and, after a restart, convergence) fits in the run.
    fn place_faults(&self, scenario: &Scenario) -> Vec<Fault> {
        let mut rng = Rng::seeded(self.seed ^ 0x6661_756c_7473); // "faults"
        let mut candidates: Vec<usize> = (0..self.nodes).filter(|i| !scenario.is_monitor(*i)).collect();
        // Fisher–Yates with the fault stream.
        for i in (1..candidates.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            candidates.swap(i, j);
        }
        let bound = scenario.direct_bound() + scenario.config.interval * 2;
        let down = bound * 2;
        let kinds = std::iter::repeat_n(FaultKind::Crash, self.crash)
            .chain(std::iter::repeat_n(FaultKind::Restart { down }, self.restart))
            .chain(std::iter::repeat_n(
                FaultKind::Pause {
                    duration: self.pause_for,
                },
                self.pause,
            ))
            .chain(std::iter::repeat_n(
                FaultKind::Slow {
                    by: self.slow_by,
                    duration: self.slow_for,
                    messages_only: self.slow_messages_only,
                },
                self.slow,
            ));
        let mut faults: Vec<Fault> = kinds
            .zip(candidates)
            .map(|(kind, node)| {
                let tail = match kind {
                    FaultKind::Crash => bound,
                    FaultKind::Restart { down } => down + scenario.convergence_bound(),
                    FaultKind::Pause { duration } | FaultKind::Slow { duration, .. } => {
                        duration + scenario.convergence_bound()
                    }
                };
                let span = self.duration.saturating_sub(tail);
                let offset = Duration::from_micros(rng.below(span.as_micros().max(1) as u64));
                Fault {
                    node,
                    at: scenario.warmup + offset,
                    kind,
                }
            })
            .collect();
        faults.sort_by_key(|f| (f.at, f.node));
        faults
    }

    /// The exact `vitals sim` command that replays these parameters.
    pub fn command_line(&self) -> String {
        let d = format_duration;
        let mut line = format!(
            "vitals sim --strategy {} --nodes {} --duration {} --interval {} --threshold {} --detector {} --latency {} --loss {}",
            strategy_name(self.strategy),
            self.nodes,
            d(self.duration),
            d(self.interval),
            self.threshold,
            detector_name(self.detector),
            self.latency,
            self.loss
        );
        let mut flag = |text: String| {
            line.push(' ');
            line.push_str(&text);
        };
        if self.ack {
            flag("--ack".into());
        }
        if self.quorum {
            flag("--quorum".into());
        }
        if self.no_lifeguard {
            flag("--no-lifeguard".into());
        }
        if self.no_fast_confirm {
            flag("--no-fast-confirm".into());
        }
        if self.no_watch_ring {
            flag("--no-watch-ring".into());
        }
        if self.strategy == StrategyKind::Pull && self.monitors != 1 {
            flag(format!("--monitors {}", self.monitors));
        }
        if let Some(t) = self.timeout {
            flag(format!("--timeout {}", d(t)));
        }
        if let Some(phi) = self.phi_threshold {
            flag(format!("--phi-threshold {phi}"));
        }
        self.fault_flags(&mut flag);
        if let Some(target) = self.auto_tune {
            flag(format!("--auto-tune {target}"));
        }
        flag(format!("--seed {}", self.seed));
        line
    }

    fn fault_flags(&self, flag: &mut impl FnMut(String)) {
        let d = format_duration;
        let counts = [("--duplicate", self.duplicate, 0.0), ("--reorder", self.reorder, 0.0)];
        for (name, value, default) in counts {
            if value != default {
                flag(format!("{name} {value}"));
            }
        }
        for (from, to, p) in &self.link_loss {
            flag(format!("--link-loss {from}:{to}:{p}"));
        }
        if !self.loss_from.is_empty() {
            flag(format!("--loss-from {}", loss_from_text(&self.loss_from)));
        }
        for (name, value) in [("--crash", self.crash), ("--restart", self.restart)] {
            if value > 0 {
                flag(format!("{name} {value}"));
            }
        }
        if self.pause > 0 {
            flag(format!("--pause {} --pause-for {}", self.pause, d(self.pause_for)));
        }
        if self.slow > 0 {
            flag(format!(
                "--slow {} --slow-by {} --slow-for {}",
                self.slow,
                d(self.slow_by),
                d(self.slow_for)
            ));
            if self.slow_messages_only {
                flag("--slow-messages-only".into());
            }
        }
        if let Some(p) = self.partition {
            let way = if p.one_way { " --one-way" } else { "" };
            flag(format!("--partition {}+{}{way}", d(p.at), d(p.duration)));
        }
    }
}

/// A loss schedule as `--loss-from` takes it: `30m=0.05,90m=0.001`.
pub fn loss_from_text(steps: &[(Duration, f64)]) -> String {
    let parts: Vec<String> = steps
        .iter()
        .map(|(at, p)| format!("{}={p}", format_duration(*at)))
        .collect();
    parts.join(",")
}

/// Parses `--loss-from`: `AT=P[,AT=P...]`, each AT after the warm-up.
pub fn parse_loss_from(text: &str) -> Result<Vec<(Duration, f64)>, String> {
    let bad = || format!("`{text}` is not a loss schedule: write AT=P[,AT=P...], like 30m=0.05,90m=0.001");
    text.split(',')
        .map(|part| {
            let (at, p) = part.split_once('=').ok_or_else(bad)?;
            let at = vitals_core::config::serde_duration::parse_duration(at.trim()).map_err(|_| bad())?;
            Ok((at, p.trim().parse().map_err(|_| bad())?))
        })
        .collect()
}

/// `push`, `pull` or `ping`.
pub fn strategy_name(strategy: StrategyKind) -> &'static str {
    strategy.name()
}

/// `missed` or `phi`.
pub fn detector_name(detector: DetectorKind) -> &'static str {
    detector.name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_land_on_distinct_non_monitor_nodes_inside_the_window() {
        let spec = Spec {
            strategy: StrategyKind::Pull,
            nodes: 10,
            crash: 3,
            restart: 2,
            pause: 1,
            slow: 1,
            seed: 9,
            ..Spec::default()
        };
        let scenario = spec.scenario().unwrap();
        let mut victims: Vec<usize> = scenario.faults.iter().map(|f| f.node).collect();
        victims.sort_unstable();
        victims.dedup();
        assert_eq!(victims.len(), 7);
        assert!(!victims.contains(&0), "n0 is the monitor");
        assert!(
            scenario
                .faults
                .iter()
                .all(|f| f.at >= scenario.warmup && f.at < scenario.end())
        );
    }

    #[test]
    fn too_many_faulty_nodes_are_refused_naming_the_flags() {
        let spec = Spec {
            nodes: 3,
            crash: 3,
            ..Spec::default()
        };
        assert!(spec.scenario().unwrap_err().contains("--crash"));
    }

    #[test]
    fn a_loss_schedule_parses_prints_back_and_lands_after_the_warm_up() {
        let steps = parse_loss_from("30m=0.05,90m=0.001").unwrap();
        assert_eq!(
            steps,
            vec![(Duration::from_secs(1800), 0.05), (Duration::from_secs(5400), 0.001)]
        );
        let spec = Spec {
            duration: Duration::from_secs(7200),
            loss: 0.001,
            loss_from: steps,
            ..Spec::default()
        };
        assert!(
            spec.command_line().contains("--loss-from 30m=0.05,90m=0.001"),
            "{}",
            spec.command_line()
        );
        let scenario = spec.scenario().unwrap();
        assert_eq!(
            scenario.net.loss_steps[0].0,
            scenario.warmup + Duration::from_secs(1800)
        );
        assert!(parse_loss_from("30m").is_err());
        let backwards = Spec {
            loss_from: vec![(Duration::from_secs(60), 0.1), (Duration::from_secs(30), 0.0)],
            ..Spec::default()
        };
        assert!(backwards.scenario().unwrap_err().contains("--loss-from"));
    }

    #[test]
    fn node_names_and_indices_round_trip() {
        assert_eq!(node_index(&node_name(42)), Some(42));
        assert_eq!(node_index("web-1"), None);
    }
}
