//! Announced timing: each node tells the others its strategy, interval, timeout and
//! threshold ([`Timing`]), and every observer judges a member by the timing that member
//! announced, so nodes on different presets share one cluster without flapping (a
//! `lan-fast` observer does not declare a `web` member dead 620 ms after a heartbeat that
//! comes every 10 s).
//!
//! The timing is data in messages: an envelope carries its sender's timing with every
//! join, member-list page and introduction and every [`ANNOUNCE_ROUNDS`]th round (so at
//! rest a datagram grows by the one byte of an absent option), and a member entry in a
//! join reply carries the member's. [`pace`] is the one rule that turns an announced
//! timing into the pace a detector here expects, per strategy:
//!
//! - **push, leader**: the member sends its heartbeats (reports, leader heartbeats,
//!   discovery joins) on its own rounds, so its detector follows the member's timing.
//! - **gossip**: a counter rises on the member's rounds but travels in the relays'
//!   digests, so the member's interval and threshold, with the hop allowance (timeout −
//!   interval) of the slower of the two nodes.
//! - **pull**: a monitor judges its members by its own polls (its own timing); a member
//!   judges a monitor by the monitor's polls (the monitor's timing); two monitors poll
//!   each other, and are judged at the slower of the two timings.
//! - **ping**: nothing follows. The prober's own period drives its probes, and a target
//!   answers a probe (and refutes a suspicion) the moment it arrives whatever its preset,
//!   so a probe's wait and a suspicion's timeout are the prober's, as before
//!   (`tests/timing.rs` holds ping to this).
//!
//! A mismatch that cannot work is reported once per member and cause ([`Mismatch`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, StrategyKind};

/// A node sends its timing with its round's messages every this many rounds (besides
/// every join and member-list page), so that a member learned second-hand without it
/// hears it within this many of the member's rounds.
pub const ANNOUNCE_ROUNDS: u64 = 8;

/// What a node announces about its own timing. On the wire: the strategy's tag, then
/// the interval and the timeout in whole milliseconds and the threshold, as varints (6
/// bytes for `web`). A decoded timing outside what [`Config::validate`] accepts is
/// refused with its datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireTiming", into = "WireTiming")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timing {
    /// The strategy the member runs.
    pub strategy: StrategyKind,
    /// Its heartbeat (round) interval.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub interval: Duration,
    /// Silence after a heartbeat before the next counts as missed.
    #[cfg_attr(feature = "openapi", schema(value_type = u64))]
    pub timeout: Duration,
    /// Consecutive misses that declare it dead.
    pub threshold: u32,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
struct WireTiming {
    strategy: StrategyKind,
    interval_ms: u32,
    timeout_ms: u32,
    threshold: u32,
}

impl From<Timing> for WireTiming {
    fn from(t: Timing) -> WireTiming {
        let millis = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        WireTiming {
            strategy: t.strategy,
            interval_ms: millis(t.interval),
            timeout_ms: millis(t.timeout),
            threshold: t.threshold,
        }
    }
}

impl TryFrom<WireTiming> for Timing {
    type Error = &'static str;
    fn try_from(w: WireTiming) -> Result<Timing, &'static str> {
        let plausible = (10..=3_600_000).contains(&w.interval_ms)
            && w.timeout_ms >= w.interval_ms
            && w.timeout_ms <= 100 * 3_600_000
            && (1..=100).contains(&w.threshold);
        if !plausible {
            return Err("announced timing out of range");
        }
        Ok(Timing {
            strategy: w.strategy,
            interval: Duration::from_millis(u64::from(w.interval_ms)),
            timeout: Duration::from_millis(u64::from(w.timeout_ms)),
            threshold: w.threshold,
        })
    }
}

impl Timing {
    /// The timing `config` announces (rounded to whole milliseconds, as it travels).
    pub fn of(config: &Config) -> Timing {
        let millis = |d: Duration| Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Timing {
            strategy: config.kind(),
            interval: millis(config.interval),
            timeout: millis(config.timeout),
            threshold: config.threshold,
        }
    }

    /// Silence after a heartbeat at which a missed-heartbeat detector declares death.
    pub fn dead_after(&self) -> Duration {
        self.timeout + self.interval * self.threshold.saturating_sub(1)
    }

    /// Whether the interval, timeout and threshold are the same (the strategy aside).
    fn same_pace(&self, other: &Timing) -> bool {
        (self.interval, self.timeout, self.threshold) == (other.interval, other.timeout, other.threshold)
    }
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fmt = crate::config::serde_duration::format_duration;
        write!(
            f,
            "{} every {}, timeout {}, threshold {}",
            self.strategy.name(),
            fmt(self.interval),
            fmt(self.timeout),
            self.threshold
        )
    }
}

/// The pace a detector here expects a member's heartbeats at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Pace {
    /// Time between two heartbeats.
    #[serde(with = "crate::config::serde_duration")]
    pub interval: Duration,
    /// Silence before the next heartbeat counts as missed.
    #[serde(with = "crate::config::serde_duration")]
    pub timeout: Duration,
    /// Misses that declare death.
    pub threshold: u32,
}

impl Pace {
    /// The pace of this node's own timing.
    pub fn own(config: &Config) -> Pace {
        Pace {
            interval: config.interval,
            timeout: config.timeout,
            threshold: config.threshold,
        }
    }

    fn of(timing: &Timing) -> Pace {
        Pace {
            interval: timing.interval,
            timeout: timing.timeout,
            threshold: timing.threshold,
        }
    }

    /// The slower of two paces, field by field.
    fn slower(self, other: Pace) -> Pace {
        Pace {
            interval: self.interval.max(other.interval),
            timeout: self.timeout.max(other.timeout),
            threshold: self.threshold.max(other.threshold),
        }
    }

    /// Silence at which a missed-heartbeat detector declares death.
    pub fn dead_after(&self) -> Duration {
        self.timeout + self.interval * self.threshold.saturating_sub(1)
    }
}

/// The pace this node's detector for member `name` expects, given the timing the member
/// announced (`None`: not heard yet, or another strategy: this node's own). See the
/// module documentation for the rule per strategy.
pub fn pace(own: &Config, me: &str, name: &str, announced: Option<&Timing>) -> Pace {
    let mine = Pace::own(own);
    let Some(theirs) = announced.filter(|t| t.strategy == own.kind()) else {
        return mine;
    };
    let member = Pace::of(theirs);
    match own.kind() {
        StrategyKind::Push | StrategyKind::Leader => member,
        StrategyKind::Ping => mine,
        StrategyKind::Gossip => {
            let hops = (own.timeout.saturating_sub(own.interval)).max(theirs.timeout.saturating_sub(theirs.interval));
            Pace {
                timeout: theirs.interval + hops,
                ..member
            }
        }
        StrategyKind::Pull => {
            let monitors = own.monitors();
            let is_monitor = |n: &str| monitors.iter().any(|m| m == n);
            match (is_monitor(me), is_monitor(name)) {
                (true, false) => mine,
                (false, true) => member,
                _ => mine.slower(member),
            }
        }
    }
}

/// A member's announced timing this node cannot work with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mismatch {
    /// The member runs another strategy: neither understands the other's rounds.
    Strategy,
    /// Leader strategy, voters on different timings: election timeouts and leases are
    /// derived from the timing, and a leader's lease is safe only if every voter waits
    /// at least the leader's election timeout before granting a vote to another; a
    /// faster voter also stands for election between a slower leader's heartbeats.
    Election,
}

impl Mismatch {
    /// The cause's name, as a metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mismatch::Strategy => "strategy",
            Mismatch::Election => "election",
        }
    }

    /// What an operator should change.
    pub fn fix(&self) -> &'static str {
        match self {
            Mismatch::Strategy => "run every node of a cluster with the same --strategy",
            Mismatch::Election => {
                "give every voter of a leader cluster the same --preset (or --interval, --timeout and --threshold)"
            }
        }
    }
}

/// What cannot work between this node's timing (`ours`) and a member's (`theirs`).
pub fn mismatch(ours: &Timing, theirs: &Timing, voter: bool) -> Option<Mismatch> {
    if ours.strategy != theirs.strategy {
        return Some(Mismatch::Strategy);
    }
    if ours.strategy == StrategyKind::Leader && voter && !ours.same_pace(theirs) {
        return Some(Mismatch::Election);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    #[test]
    fn a_timing_is_six_bytes_on_the_wire_and_round_trips() {
        let timing = Timing::of(&Config::preset(Preset::Web, StrategyKind::Push));
        let bytes = postcard::to_allocvec(&timing).unwrap();
        assert_eq!(bytes.len(), 6);
        assert_eq!(postcard::from_bytes::<Timing>(&bytes).unwrap(), timing);
    }

    #[test]
    fn an_implausible_timing_is_refused_on_decode() {
        let bad = [
            (5, 5, 3),
            (200, 100, 3),
            (200, 200, 0),
            (200, 200, 101),
            (4_000_000, 4_000_000, 3),
        ];
        for (interval_ms, timeout_ms, threshold) in bad {
            let wire = WireTiming {
                strategy: StrategyKind::Push,
                interval_ms,
                timeout_ms,
                threshold,
            };
            let bytes = postcard::to_allocvec(&wire).unwrap();
            assert!(
                postcard::from_bytes::<Timing>(&bytes).is_err(),
                "{interval_ms} {timeout_ms} {threshold}"
            );
        }
    }

    #[test]
    fn push_follows_the_member_gossip_adds_the_slower_hops_and_ping_keeps_its_own() {
        let fast = |s| Config::preset(Preset::LanFast, s);
        let web = |s| Timing::of(&Config::preset(Preset::Web, s));
        let push = pace(&fast(StrategyKind::Push), "a", "b", Some(&web(StrategyKind::Push)));
        assert_eq!(push.dead_after(), Duration::from_secs(31));
        let ping = pace(&fast(StrategyKind::Ping), "a", "b", Some(&web(StrategyKind::Ping)));
        assert_eq!(ping, Pace::own(&fast(StrategyKind::Ping)));
        let other = pace(&fast(StrategyKind::Push), "a", "b", Some(&web(StrategyKind::Ping)));
        assert_eq!(other, Pace::own(&fast(StrategyKind::Push)));
        // A lan-fast member judged by a web observer: its own interval, web's hops.
        let web_gossip = Config::preset(Preset::Web, StrategyKind::Gossip);
        let lan_fast = Timing::of(&fast(StrategyKind::Gossip));
        let gossip = pace(&web_gossip, "a", "b", Some(&lan_fast));
        assert_eq!(gossip.interval, Duration::from_millis(200));
        assert_eq!(gossip.timeout, Duration::from_millis(200) + Duration::from_secs(21));
    }

    #[test]
    fn only_another_strategy_or_mixed_leader_voters_cannot_work() {
        let t = |p, s| Timing::of(&Config::preset(p, s));
        let (web, fast) = (Preset::Web, Preset::LanFast);
        use StrategyKind::*;
        assert_eq!(mismatch(&t(web, Push), &t(fast, Push), true), None);
        assert_eq!(mismatch(&t(web, Push), &t(web, Ping), true), Some(Mismatch::Strategy));
        assert_eq!(
            mismatch(&t(web, Leader), &t(fast, Leader), true),
            Some(Mismatch::Election)
        );
        assert_eq!(mismatch(&t(web, Leader), &t(fast, Leader), false), None);
        assert_eq!(mismatch(&t(web, Gossip), &t(fast, Gossip), true), None);
    }
}
