//! Tuning: Chen, Toueg & Aguilera's configuration procedure for the NFD-S heartbeat
//! failure detector, and its mapping onto Vitals' knobs (interval, timeout, threshold).
//! Pure arithmetic on the QoS targets and the network's loss and delay distribution; it
//! never runs a simulation (the CLI confirms the pick with one).

use std::time::Duration;

use crate::net::Latency;

/// The QoS a user asks for, and what the network is like.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// T_D^U: the longest acceptable detection time, seconds.
    pub detect_within: f64,
    /// T_MR^L: the shortest acceptable mean time between two mistakes about one member
    /// by one observer, seconds.
    pub mistake_recurrence: f64,
    /// T_M^U: the longest acceptable mean mistake duration, seconds.
    pub mistake_duration: f64,
    /// p_L: the probability that a heartbeat is lost.
    pub loss: f64,
    /// The one-way delay distribution D.
    pub latency: Latency,
}

/// NFD-S parameters: send a heartbeat every `eta`; suspect when heartbeat *i* has not
/// arrived by its send time plus `delta` (the freshness point).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NfdS {
    /// η, the heartbeat interval, seconds.
    pub eta: f64,
    /// δ, the shift of the freshness points, seconds.
    pub delta: f64,
    /// η_max from step 1, seconds.
    pub eta_max: f64,
}

/// f(η) of step 2: the expected mistake recurrence time of NFD-S with interval η and
/// δ = T_D^U − η, `η / ∏_{j=1}^{⌈T_D^U/η⌉−1} [p_L + (1 − p_L)·Pr(D > T_D^U − jη)]`.
pub fn recurrence(target: &Target, eta: f64) -> f64 {
    // The arithmetic lives in the core, where auto-tune uses it too.
    vitals_core::adapt::recurrence(eta, target.detect_within, target.loss, |x| target.latency.exceeds(x))
}

/// Chen et al.'s procedure. Step 1: γ = (1 − p_L)(T_D^U)² / (V(D) + (T_D^U)²) and
/// η_max = min(γ·T_M^U, T_D^U). Step 2: the largest η ≤ η_max with f(η) ≥ T_MR^L (f is
/// not monotonic: scan down from η_max in steps of η_max/10⁵, then bisect the crossing).
/// Step 3: δ = T_D^U − η. `None` when no η meets the target.
pub fn configure(target: &Target) -> Option<NfdS> {
    let td = target.detect_within;
    let variance = target.latency.variance_secs2();
    let gamma = (1.0 - target.loss) * td * td / (variance + td * td);
    let eta_max = (gamma * target.mistake_duration).min(td);
    let ok = |eta: f64| recurrence(target, eta) >= target.mistake_recurrence;
    let steps = 100_000;
    let step = eta_max / f64::from(steps);
    let mut high = eta_max;
    if !ok(high) {
        let found = (1..steps).map(|i| eta_max - f64::from(i) * step).find(|&eta| ok(eta))?;
        // Bisect between `found` (ok) and the step above (not ok).
        let (mut lo, mut hi) = (found, found + step);
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if ok(mid) { lo = mid } else { hi = mid }
        }
        high = lo;
    }
    Some(NfdS {
        eta: high,
        delta: td - high,
        eta_max,
    })
}

/// NFD-S mapped onto Vitals' missed-heartbeat detector.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knobs {
    /// `interval` = η (rounded down to the millisecond).
    pub interval: Duration,
    /// `threshold`: the whole intervals in the silence tolerance.
    pub threshold: u32,
    /// `timeout`: the rest, so that `timeout + (threshold − 1)·interval` = `dead_after`.
    pub timeout: Duration,
    /// The silence tolerance: η + δ less the mean delay.
    pub dead_after: Duration,
}

/// NFD-S, having last received heartbeat *i − 1* (sent at σ_{i−1}), suspects at the
/// freshness point τ_i = σ_{i−1} + η + δ = σ_{i−1} + T_D^U. Our detector declares death a
/// fixed silence after the last *arrival*, σ_{i−1} + D_{i−1}; taking the mean delay off
/// η + δ puts its verdict at NFD-S's freshness point on average (a heartbeat slower than
/// average moves it later by the difference, so T_D can exceed T_D^U by D − E(D)).
/// `interval` = η, `threshold` = the whole intervals in the tolerance, `timeout` = the
/// remainder plus one interval (≥ interval).
pub fn knobs(target: &Target, nfd: &NfdS) -> Knobs {
    let interval = Duration::from_millis((nfd.eta * 1000.0).floor().max(10.0) as u64);
    let mean = target.latency.mean().as_secs_f64();
    let dead_after = Duration::from_secs_f64((nfd.eta + nfd.delta - mean).max(interval.as_secs_f64()));
    let whole = (dead_after.as_secs_f64() / interval.as_secs_f64()).floor().max(1.0) as u32;
    let threshold = whole.clamp(1, 100);
    let timeout = dead_after.saturating_sub(interval * (threshold - 1)).max(interval);
    let timeout = Duration::from_millis(timeout.as_millis() as u64);
    Knobs {
        interval,
        threshold,
        timeout,
        dead_after: timeout + interval * (threshold - 1),
    }
}

/// The `q` quantile of the delay, in seconds (by bisection on `Pr(D > x)`).
pub fn delay_quantile(latency: &Latency, q: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 1.0);
    while latency.exceeds(hi) > 1.0 - q && hi < 1e6 {
        hi *= 2.0;
    }
    for _ in 0..80 {
        let mid = (lo + hi) / 2.0;
        if latency.exceeds(mid) > 1.0 - q {
            lo = mid
        } else {
            hi = mid
        }
    }
    hi
}

/// Parses a rate like `1/month`, `2/day`, `1/week`, `1/year`, `1/h` into the mean time
/// between events, in seconds (a month is 30 days).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    vitals_core::adapt::parse_rate(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chen() -> Target {
        Target {
            detect_within: 30.0,
            mistake_recurrence: 30.0 * 86_400.0,
            mistake_duration: 60.0,
            loss: 0.01,
            latency: Latency::Exponential(Duration::from_millis(20)),
        }
    }

    #[test]
    fn chens_worked_example_gives_an_interval_of_9_97_seconds() {
        let nfd = configure(&chen()).unwrap();
        assert!((nfd.eta - 9.97).abs() / 9.97 < 0.05, "{nfd:?}");
        assert!((nfd.delta - 20.03).abs() / 20.03 < 0.05, "{nfd:?}");
        assert!((nfd.eta - 9.97).abs() < 0.02, "{nfd:?}");
    }

    #[test]
    fn the_mapped_knobs_stay_within_the_detection_bound() {
        let target = chen();
        let k = knobs(&target, &configure(&target).unwrap());
        let average = k.dead_after.as_secs_f64() + target.latency.mean().as_secs_f64();
        assert!(average <= 30.0 && average > 29.9, "{k:?}");
        assert!(
            k.dead_after > k.interval * 3 - Duration::from_millis(100),
            "two losses alone must not kill: {k:?}"
        );
        assert!(k.timeout >= k.interval);
    }

    #[test]
    fn rates_parse_as_mean_times_between_events() {
        assert_eq!(parse_rate("1/month"), Ok(2_592_000.0));
        assert_eq!(parse_rate("2/day"), Ok(43_200.0));
        assert!(parse_rate("often").is_err());
    }
}
