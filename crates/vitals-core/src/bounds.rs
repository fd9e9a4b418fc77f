//! The time bounds each strategy is held to, for checkers (the simulator) and docs: how
//! long after a crash an observer that judges the crashed node itself declares it dead,
//! and how long after a heal or restart every node sees every other up again. One
//! formula per strategy, written beside the strategy (`strategy/*.rs`, reached through
//! `StrategyKind`); this module only names the cluster they depend on. Pure functions of the configuration: never part of
//! a node's own decisions.

use std::time::Duration;

use crate::config::Config;

/// How a verdict travels to an observer that does not judge the member itself (pull:
/// a member learns a monitor's verdict; leader: a follower learns the leader's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Relay {
    /// A run of lost datagrams on one link as unlikely as the checker accepts: each
    /// lost carrier of the verdict costs another round.
    pub lost_rounds: u32,
    /// Into how many datagram-sized slices a view of every member is cut (leader: an
    /// entry is carried every `view_slices` rounds).
    pub view_slices: u32,
}

/// What a bound depends on besides the configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cluster {
    /// How many nodes the cluster has.
    pub nodes: usize,
    /// The slowest delivery of one datagram.
    pub delay: Duration,
    /// Whether datagrams may be lost (phi's spread widens under loss).
    pub lossy: bool,
}

impl Config {
    /// The longest time from a crash to its detection by an observer that judges the
    /// crashed node itself, in `cluster` (see each strategy's `detection_bound`).
    pub fn detection_bound(&self, cluster: &Cluster) -> Duration {
        self.strategy.detection_bound(self, cluster)
    }

    /// The time for a verdict to reach an observer that learns it from the judge rather
    /// than judging itself, after the judge declared it (see each strategy's
    /// `relay_bound`; zero for strategies in which every observer judges).
    pub fn relay_bound(&self, cluster: &Cluster, relay: &Relay) -> Duration {
        self.strategy.relay_bound(self, cluster, relay)
    }

    /// How many deliveries, each with its own jitter, a heartbeat crosses before the
    /// detector that judges it hears of it (pull: poll and reply; gossip: the counter's
    /// hops).
    pub fn jitter_hops(&self) -> u32 {
        self.kind().jitter_hops()
    }

    /// The silence the detector tolerates beyond one interval before a verdict: the
    /// jitter a heartbeat may carry without a mistake on a network that loses nothing.
    pub fn detector_slack(&self) -> Duration {
        match self.detector {
            crate::config::DetectorKind::Missed => self.dead_after().saturating_sub(self.interval),
            crate::config::DetectorKind::Phi => self.phi.acceptable_pause,
        }
    }

    /// Leader: the longest time from a crash to its detection when the crash also took the
    /// leader's quorum away (a majority crashed, the leader perhaps among them). The
    /// survivors judge everyone themselves only once an election has failed: up to two
    /// election timeouts (the first spent waiting for the dead leader, the second on a
    /// vote nobody can win), then the detector's silence and a few rounds of slack
    /// (2.4 s at `lan-fast`; the 1 s of [`Config::detection_bound`] holds while a leader
    /// with a quorum survives).
    pub fn leaderless_detection_bound(&self) -> Duration {
        self.leader().map_or(self.dead_after(), |l| l.election_timeout) * 2 + self.dead_after() + self.interval * 3
    }

    /// The time within which every live node sees every other live node up again after a
    /// partition heals or a node restarts: a dead member is retried every 5 rounds, the
    /// refutation must travel back, and pull views rotate through the member list; the
    /// strategy adds its own delay (ping: a suspicion running to its end unheard).
    pub fn convergence_bound(&self, cluster: &Cluster) -> Duration {
        let rounds = 15 + u32::try_from(cluster.nodes / 20).unwrap_or(u32::MAX);
        let base = self.dead_after() + self.interval * rounds + cluster.delay * 4;
        base + self.strategy.convergence_extra(self, cluster)
    }
}
