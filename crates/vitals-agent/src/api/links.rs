//! `GET /v1/links` (what this agent measures of each peer it hears directly,
//! `vitals_core::links`) and `GET /v1/tune` (the Chen–Toueg–Aguilera recommendation
//! computed from the worst of them). Data only.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vitals_core::links::{LinkSummary, Quantiles, Spread};

/// Median and 99th percentile, milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuantilesMs {
    /// The median.
    pub p50: f64,
    /// The 99th percentile.
    pub p99: f64,
}

/// Inter-arrival statistics, milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpreadMs {
    /// The mean.
    pub mean: f64,
    /// The standard deviation.
    pub stddev: f64,
    /// The 99th percentile.
    pub p99: f64,
}

/// One peer this agent hears directly, over the sliding window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LinkView {
    /// The member's name.
    pub peer: String,
    /// The address its latest datagram came from.
    #[schema(value_type = String, example = "127.0.0.3:7946")]
    pub addr: SocketAddr,
    /// The span of the sliding window the figures cover, seconds (60, or less since the
    /// peer was first heard).
    pub window_s: f64,
    /// Datagrams received from the peer in the window.
    pub received: u64,
    /// 0..1: the share of the peer's numbered round messages (push heartbeats, pull
    /// polls, leader heartbeats) that did not arrive, from gaps in their sequence
    /// numbers; 0 under ping and gossip, which number none.
    pub loss: f64,
    /// Round trips of acknowledged rounds (push `--ack`, pull polls), if any.
    pub rtt_ms: Option<QuantilesMs>,
    /// One-way delay estimate: the round trips halved (clocks are not assumed in sync).
    pub delay_ms: Option<QuantilesMs>,
    /// Mean absolute difference of successive inter-arrival times.
    pub jitter_ms: f64,
    /// Inter-arrival times (per sequence step when the messages are numbered).
    pub interarrival_ms: Option<SpreadMs>,
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

impl From<Quantiles> for QuantilesMs {
    fn from(q: Quantiles) -> QuantilesMs {
        QuantilesMs {
            p50: ms(q.p50),
            p99: ms(q.p99),
        }
    }
}

impl From<Spread> for SpreadMs {
    fn from(s: Spread) -> SpreadMs {
        SpreadMs {
            mean: ms(s.mean),
            stddev: ms(s.stddev),
            p99: ms(s.p99),
        }
    }
}

impl From<&LinkSummary> for LinkView {
    fn from(link: &LinkSummary) -> LinkView {
        LinkView {
            peer: link.peer.clone(),
            addr: link.addr,
            window_s: (link.window.as_secs_f64() * 1e3).round() / 1e3,
            received: link.received,
            loss: (link.loss * 1e4).round() / 1e4,
            rtt_ms: link.rtt.map(Into::into),
            delay_ms: link.delay.map(Into::into),
            jitter_ms: ms(link.jitter),
            interarrival_ms: link.interarrival.map(Into::into),
        }
    }
}

/// The worst link: the highest loss, then the highest delay p99 (then the highest
/// inter-arrival spread, which stands for delay variation when no round trip is
/// measured). `None` when the list is empty.
pub fn worst(links: &[LinkView]) -> Option<&LinkView> {
    let key = |l: &LinkView| {
        (
            l.loss,
            l.delay_ms.map_or(0.0, |d| d.p99),
            l.interarrival_ms.map_or(0.0, |s| s.stddev),
        )
    };
    links
        .iter()
        .max_by(|a, b| key(a).partial_cmp(&key(b)).unwrap_or(std::cmp::Ordering::Equal))
}

/// `GET /v1/tune`'s query.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TuneQuery {
    /// T_D^U: every crash detected within this, e.g. `5s`.
    #[serde(rename = "detect-within")]
    pub detect_within: String,
    /// At most this many false positives per observer–member pair, e.g. `1/month`.
    pub mistakes: String,
}

/// `GET /v1/tune`: Chen, Toueg & Aguilera's NFD-S configuration for the measured worst
/// link, mapped onto this agent's knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TuneAnswer {
    /// The link whose figures were used.
    pub worst: LinkView,
    /// The loss probability used (the worst link's).
    pub loss: f64,
    /// The one-way delay model used, as `vitals sim --latency` writes it (e.g. `exp:1ms`).
    pub latency: String,
    /// η, the heartbeat interval NFD-S picks, seconds.
    pub eta_s: f64,
    /// δ, the shift of its freshness points, seconds.
    pub delta_s: f64,
    /// The recommended `--interval`.
    pub interval: String,
    /// The recommended `--threshold`.
    pub threshold: u32,
    /// The recommended `--timeout`.
    pub timeout: String,
    /// Silence after which a member is declared dead with these settings.
    pub dead_after: String,
    /// The mistake recurrence time NFD-S predicts, seconds.
    pub predicted_mistake_recurrence_s: f64,
    /// The same figures as flags for `vitals agent`.
    pub flags: String,
}
