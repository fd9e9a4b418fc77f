//! Explanations: "why is X suspect (or dead)?" gathered from what this node holds — the
//! member's status and incarnation history, its failure detector's reading and effective
//! timeout, the accusers of a suspicion and how long it has left, this node's own last
//! failed probe of it (direct and indirect evidence), this node's own local health, and
//! under a quorum (push, pull, gossip with `--quorum`) the observers whose current
//! accusations and vouches this node counts, with the quorum they must reach.
//! Read-only: building an explanation never changes anything.

use std::time::Duration;

use serde::Serialize;

use crate::members::Transition;
use crate::message::{Incarnation, Status};

/// Why a member has the status it has, as one node sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Why {
    /// The member.
    pub name: String,
    /// Its status here.
    pub status: Status,
    /// The incarnation the status is about.
    pub incarnation: Incarnation,
    /// Milliseconds since the status changed.
    pub status_age_ms: u64,
    /// Milliseconds since this node last heard from it directly.
    pub last_heard_ms: Option<u64>,
    /// This node's detector for it (strategies that judge heartbeats).
    pub detector: Option<DetectorReading>,
    /// A suspicion this node holds (strategy ping).
    pub suspicion: Option<SuspicionEvidence>,
    /// This node's own last failed probe of it (strategy ping).
    pub failed_probe: Option<ProbeEvidence>,
    /// This node's own local health: Lifeguard's awareness (0 is healthy), which scales
    /// its probe period and timeouts.
    pub local_awareness: Option<u32>,
    /// The opinions counted for it (push, pull, gossip with a quorum).
    pub quorum: Option<QuorumEvidence>,
    /// The quorum this node's verdicts need is out of reach with the members up now:
    /// nobody can be declared dead (or, under push, pull and gossip, admitted alive).
    pub unreachable_quorum: Option<crate::config::UnreachableQuorum>,
    /// Whether the mass-failure brake holds its death verdict back.
    pub held_by_brake: bool,
    /// Whether flap damping holds its return back.
    pub damped: bool,
    /// Held in doubt here (ping, pull): shown other than `status` (`members/doubt.rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doubt: Option<DoubtEvidence>,
    /// Leader strategy: whether this node knows a leader elected by a majority (`false`:
    /// no leader quorum, so the status is this node's own detectors' verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader_quorum: Option<bool>,
    /// Its last status changes, oldest first (the incarnation history).
    pub history: Vec<Transition>,
    /// Asked about this node itself: the timing it runs with, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<TimingInForce>,
}

/// The timing a node runs with, and why (`--auto-tune` or the configuration).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimingInForce {
    /// The heartbeat interval, milliseconds.
    pub interval_ms: u64,
    /// Silence before the first miss, milliseconds.
    pub timeout_ms: u64,
    /// Misses that declare death.
    pub threshold: u32,
    /// `configured`, or auto-tune's reason for the last change (`start`,
    /// `too_many_mistakes`, `too_slow`, `room_to_spare`, `unreachable`).
    pub reason: String,
    /// The auto-tune target, if auto-tune is on.
    pub target: Option<String>,
    /// The loss auto-tune measured over its last window.
    pub measured_loss: Option<f64>,
    /// How many changes auto-tune has made.
    pub changes: u64,
}

/// Why a member is held in doubt: it keeps coming back from trouble, so users and
/// routing see it `suspect` (or `dead`, held down) while the protocol goes on underneath.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DoubtEvidence {
    /// What users and routing see: `suspect`, or `dead` when held down.
    pub shown: Status,
    /// Pull: declared dead twice within about a minute, so shown `dead` even after it
    /// refuted.
    pub held_down: bool,
    /// Pull, at a monitor: it came back from the dead on its own word before answering
    /// two of this node's polls in a row, so it is shown `dead` until it does (a
    /// restarted or healed member does within two intervals; a sick one rarely).
    pub awaiting_answers: bool,
    /// Pull, at a monitor: the share of this node's polls it answered (an average over
    /// about 16). Doubted below 0.4, released at 0.75 or more.
    pub answer_rate: Option<f64>,
    /// Milliseconds until it may be shown as it is, if it stays out of trouble (and,
    /// under pull, answers well by then).
    pub release_in_ms: u64,
}

/// A failure detector's reading.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetectorReading {
    /// Missed heartbeats, or phi.
    pub level: f64,
    /// Silence after which the member is declared dead (the effective timeout).
    pub timeout_ms: f64,
}

/// The evidence behind a suspicion.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuspicionEvidence {
    /// The members that failed their own probes of it.
    pub accusers: Vec<String>,
    /// Milliseconds since the suspicion began.
    pub age_ms: u64,
    /// The suspicion timeout with the accusers known so far (Lifeguard: it shrinks as
    /// confirmations arrive).
    pub timeout_ms: u64,
    /// Accusers a death verdict needs (1 without a quorum).
    pub quorum: usize,
}

/// This node's own failed probe.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeEvidence {
    /// Milliseconds since the probe's period ended without an ack.
    pub ms_ago: u64,
    /// The members asked to probe it indirectly (none answered with an ack).
    pub asked: Vec<String>,
    /// How many of them answered with a nack (they are alive but got no ack either).
    pub nacks: u32,
    /// This node's awareness at the time (how sick it was itself).
    pub awareness: u32,
}

/// Quorum-confirmed verdicts (push, pull and gossip with `--quorum`): the opinions about
/// the member's current incarnation that count here now.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuorumEvidence {
    /// The observers whose detector declares it dead (this node's own word included),
    /// by name.
    pub accusers: Vec<ObserverReport>,
    /// The observers that hear it. Others repeat a vouch only for a while after their
    /// word changed, or when asked, so a member settled long ago shows few or none.
    pub vouchers: Vec<ObserverReport>,
    /// Its observers (push, gossip: the members held up; pull: the monitors), itself
    /// excluded.
    pub observers: usize,
    /// Accusers a death verdict needs (and vouchers its admission needs).
    pub needed: usize,
    /// How long another observer's report counts after it arrived.
    pub window_ms: u64,
    /// Whether a quorum has vouched for this incarnation (a new or returning member stays
    /// suspect until then).
    pub admitted: bool,
}

/// One observer's opinion, as counted.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObserverReport {
    /// The observer.
    pub observer: String,
    /// Milliseconds since its latest report arrived; for this node's own word, since the
    /// word last changed.
    pub ms_ago: u64,
    /// Whether this is this node's own word.
    pub own: bool,
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
