//! The recommendation from live data (`GET /v1/tune`, `vitals tune --from`): the worst
//! measured link ([`crate::api::links::worst`]) turned into the network model of Chen,
//! Toueg & Aguilera's NFD-S procedure (`vitals_sim::tune`, pure arithmetic: no
//! simulation runs here), and its answer mapped onto Vitals' knobs.
//!
//! The delay model is an exponential (Chen et al.'s WAN model; `--latency exp:MEAN`):
//! from round trips when the link has them, with the mean that covers both the measured
//! median (mean·ln 2) and 99th percentile (mean·ln 100) of the one-way estimate; without
//! round trips, from the inter-arrival spread, which is the difference of two delays
//! (variance 2σ², and an exponential's σ is its mean), so mean = stddev / √2. Never below
//! 0.1 ms. Only the delay's spread matters to the procedure (a constant part shifts
//! every freshness point alike).

use std::time::Duration;

use vitals_core::config::serde_duration::format_duration;
use vitals_sim::Latency;
use vitals_sim::tune::{self, Knobs, NfdS, Target};

use crate::api::links::{LinkView, TuneAnswer, worst};

/// The smallest delay mean the model takes.
const MIN_MEAN: Duration = Duration::from_micros(100);

/// The delay model of one measured link (module docs).
pub fn latency_of(link: &LinkView) -> Latency {
    let mean_ms = match (link.delay_ms, link.interarrival_ms) {
        (Some(delay), _) => (delay.p50 / std::f64::consts::LN_2).max(delay.p99 / 100f64.ln()),
        (None, Some(spread)) => spread.stddev / std::f64::consts::SQRT_2,
        (None, None) => 0.0,
    };
    let mean = Duration::from_micros((mean_ms * 1e3).round() as u64).max(MIN_MEAN);
    Latency::Exponential(mean)
}

/// What the procedure was asked and answered for the worst link.
#[derive(Clone, Debug)]
pub struct Recommendation {
    /// The worst link.
    pub worst: LinkView,
    /// The target, with the worst link's loss and delay model.
    pub target: Target,
    /// NFD-S's parameters.
    pub nfd: NfdS,
    /// Vitals' knobs.
    pub knobs: Knobs,
}

/// Runs the procedure on the worst of `links` for `detect_within` and at most one false
/// positive per `mistake_recurrence` seconds per pair (mistakes corrected within twice
/// `detect_within` on average). `pull`: members learn a monitor's verdict one interval
/// later, which is left out of the detection time (as `vitals tune` does). The error
/// says what to change.
pub fn recommend(
    links: &[LinkView],
    detect_within: Duration,
    mistake_recurrence: f64,
    pull: bool,
) -> Result<Recommendation, String> {
    let worst =
        worst(links).ok_or("no link measured yet: this agent hears no peer directly; try again once it has joined")?;
    let mut target = Target {
        detect_within: detect_within.as_secs_f64(),
        mistake_recurrence,
        mistake_duration: 2.0 * detect_within.as_secs_f64(),
        loss: worst.loss.min(0.99),
        latency: latency_of(worst),
    };
    let no_fit = || {
        format!(
            "detect within {} and at most one mistake per {mistake_recurrence:.0} s cannot both be met at the measured loss {} of the link to {}: allow a longer detection time or more false positives",
            format_duration(detect_within),
            worst.loss,
            worst.peer
        )
    };
    let mut nfd = tune::configure(&target).ok_or_else(no_fit)?;
    if pull {
        target.detect_within -= nfd.eta;
        nfd = tune::configure(&target).ok_or_else(no_fit)?;
    }
    let knobs = tune::knobs(&target, &nfd);
    Ok(Recommendation {
        worst: worst.clone(),
        target,
        nfd,
        knobs,
    })
}

impl Recommendation {
    /// The answer `GET /v1/tune` serves.
    pub fn answer(&self) -> TuneAnswer {
        let f = format_duration;
        let k = &self.knobs;
        TuneAnswer {
            worst: self.worst.clone(),
            loss: self.target.loss,
            latency: self.target.latency.to_string(),
            eta_s: self.nfd.eta,
            delta_s: self.nfd.delta,
            interval: f(k.interval),
            threshold: k.threshold,
            timeout: f(k.timeout),
            dead_after: f(k.dead_after),
            predicted_mistake_recurrence_s: tune::recurrence(&self.target, self.nfd.eta),
            flags: format!(
                "--interval {} --threshold {} --timeout {}",
                f(k.interval),
                k.threshold,
                f(k.timeout)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::links::{QuantilesMs, SpreadMs};

    fn link(peer: &str, loss: f64, delay: Option<(f64, f64)>, stddev: f64) -> LinkView {
        LinkView {
            peer: peer.into(),
            addr: "127.0.0.2:7946".parse().unwrap(),
            window_s: 60.0,
            received: 60,
            loss,
            rtt_ms: delay.map(|(p50, p99)| QuantilesMs {
                p50: p50 * 2.0,
                p99: p99 * 2.0,
            }),
            delay_ms: delay.map(|(p50, p99)| QuantilesMs { p50, p99 }),
            jitter_ms: 0.0,
            interarrival_ms: Some(SpreadMs {
                mean: 1000.0,
                stddev,
                p99: 1000.0,
            }),
        }
    }

    #[test]
    fn the_worst_link_is_the_lossiest_then_the_slowest() {
        let links = [
            link("a", 0.01, Some((1.0, 5.0)), 1.0),
            link("b", 0.05, Some((0.5, 1.0)), 1.0),
            link("c", 0.05, Some((0.5, 2.0)), 1.0),
        ];
        let r = recommend(&links, Duration::from_secs(5), 30.0 * 86_400.0, false).unwrap();
        assert_eq!(r.worst.peer, "c");
        assert_eq!(r.target.loss, 0.05);
        // p99 2 ms / ln 100 = 0.434 ms beats p50 0.5 ms / ln 2 = 0.721 ms: 0.721 ms.
        assert_eq!(r.target.latency, Latency::Exponential(Duration::from_micros(721)));
    }

    #[test]
    fn more_loss_means_a_shorter_interval() {
        let at = |loss| {
            let r = recommend(
                &[link("a", loss, None, 2.0)],
                Duration::from_secs(5),
                30.0 * 86_400.0,
                false,
            )
            .unwrap();
            assert_eq!(r.target.latency, Latency::Exponential(Duration::from_micros(1414)));
            r.knobs.interval
        };
        assert!(at(0.10) < at(0.001), "{:?} vs {:?}", at(0.10), at(0.001));
    }

    #[test]
    fn no_link_measured_is_refused_with_the_fix() {
        let none = recommend(&[], Duration::from_secs(5), 1e6, false).unwrap_err();
        assert!(none.contains("no link measured"), "{none}");
    }
}
