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

/// NFD-S mapped onto Vitals' missed-heartbeat detector, in round values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knobs {
    /// `interval`: η rounded down to two significant digits (9.976 s → 9.9 s), lower
    /// still if the rounded tolerance needs it (see [`knobs`]).
    pub interval: Duration,
    /// `threshold`: the whole intervals in the silence tolerance.
    pub threshold: u32,
    /// `timeout`: the rest, so that `timeout + (threshold − 1)·interval` = `dead_after`.
    pub timeout: Duration,
    /// The silence tolerance: η + δ less the mean delay, rounded down to two significant
    /// digits.
    pub dead_after: Duration,
}

/// NFD-S, having last received heartbeat *i − 1* (sent at σ_{i−1}), suspects at the
/// freshness point τ_i = σ_{i−1} + η + δ = σ_{i−1} + T_D^U. Our detector declares death a
/// fixed silence after the last *arrival*, σ_{i−1} + D_{i−1}; taking the mean delay off
/// η + δ puts its verdict at NFD-S's freshness point on average (a heartbeat slower than
/// average moves it later by the difference, so T_D can exceed T_D^U by D − E(D)).
///
/// The values are rounded so that a person can type them, toward the safe side: the
/// tolerance down (detection only gets faster), the interval down to two significant
/// digits, then, while f(η) with the shorter tolerance misses T_MR^L, down by one unit
/// of its second digit (9.9 s, 9.8 s, …). `interval` = that η, `threshold` = the whole
/// intervals in the tolerance, `timeout` = the remainder plus one interval (≥ interval).
pub fn knobs(target: &Target, nfd: &NfdS) -> Knobs {
    let mean = target.latency.mean().as_secs_f64();
    let tolerance = round_down((nfd.eta + nfd.delta - mean).max(0.01));
    let shorter = Target {
        detect_within: tolerance.as_secs_f64() + mean,
        ..*target
    };
    let mut interval = round_down(nfd.eta).min(tolerance);
    while interval > Duration::from_millis(10)
        && recurrence(&shorter, interval.as_secs_f64()) < target.mistake_recurrence
    {
        interval = step_down(interval);
    }
    let whole = (tolerance.as_secs_f64() / interval.as_secs_f64() + 1e-9)
        .floor()
        .max(1.0) as u32;
    let threshold = whole.clamp(1, 100);
    let timeout = tolerance.saturating_sub(interval * (threshold - 1)).max(interval);
    Knobs {
        interval,
        threshold,
        timeout,
        dead_after: timeout + interval * (threshold - 1),
    }
}

/// `seconds` rounded down to two significant digits, at least 10 ms.
fn round_down(seconds: f64) -> Duration {
    let seconds = seconds.max(0.01);
    let unit = 10f64.powi(seconds.log10().floor() as i32 - 1);
    let units = (seconds / unit + 1e-9).floor();
    Duration::from_millis((units * unit * 1000.0).round() as u64)
}

/// The next round value below `d` (one unit of its second significant digit less).
fn step_down(d: Duration) -> Duration {
    let seconds = d.as_secs_f64();
    let unit = 10f64.powi((seconds * (1.0 - 1e-9)).log10().floor() as i32 - 1);
    round_down(seconds - unit).min(d.saturating_sub(Duration::from_millis(1)))
}

/// A duration as a person would type it: `450ms`, `1.2s`, `9.9s`, `30s`, `2m`.
pub fn typeable(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 || !d.subsec_micros().is_multiple_of(1000) {
        return vitals_core::config::serde_duration::format_duration(d);
    }
    if ms.is_multiple_of(60_000) {
        return format!("{}m", ms / 60_000);
    }
    let seconds = format!("{}.{:03}", ms / 1000, ms % 1000);
    format!("{}s", seconds.trim_end_matches('0').trim_end_matches('.'))
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
        assert!(average <= 30.0 && average > 29.0, "{k:?}");
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

    /// Whether `d` has at most two significant digits.
    fn round(d: Duration) -> bool {
        let ms = d.as_millis();
        let digits = ms.to_string();
        digits.trim_end_matches('0').len() <= 2
    }

    #[test]
    fn rounded_knobs_are_typeable_and_still_meet_the_target() {
        let targets = [
            chen(),
            Target {
                detect_within: 5.0,
                mistake_recurrence: 30.0 * 86_400.0,
                mistake_duration: 10.0,
                loss: 0.01,
                latency: Latency::Exponential(Duration::from_millis(1)),
            },
            Target {
                detect_within: 3.0,
                mistake_recurrence: 86_400.0,
                mistake_duration: 6.0,
                loss: 0.05,
                latency: Latency::Uniform(Duration::from_millis(1), Duration::from_millis(40)),
            },
        ];
        for target in targets {
            let nfd = configure(&target).unwrap();
            let k = knobs(&target, &nfd);
            assert!(round(k.interval) && round(k.dead_after), "{k:?}");
            assert!(k.interval.as_secs_f64() <= nfd.eta, "rounded down: {k:?} {nfd:?}");
            let mean = target.latency.mean().as_secs_f64();
            let detect_within = k.dead_after.as_secs_f64() + mean;
            assert!(detect_within <= target.detect_within + 1e-9, "{k:?}");
            let held = Target {
                detect_within,
                ..target
            };
            assert!(
                recurrence(&held, k.interval.as_secs_f64()) >= target.mistake_recurrence,
                "the rounded knobs must still meet T_MR: {k:?}"
            );
            assert_eq!(k.timeout + k.interval * (k.threshold - 1), k.dead_after);
        }
    }

    #[test]
    fn durations_print_as_people_type_them() {
        assert_eq!(typeable(Duration::from_millis(1249)), "1.249s");
        assert_eq!(typeable(Duration::from_millis(1200)), "1.2s");
        assert_eq!(typeable(Duration::from_millis(450)), "450ms");
        assert_eq!(typeable(Duration::from_secs(30)), "30s");
        assert_eq!(typeable(Duration::from_secs(120)), "2m");
        assert_eq!(round_down(1.249), Duration::from_millis(1200));
        assert_eq!(round_down(9.976), Duration::from_millis(9900));
        assert_eq!(round_down(0.4567), Duration::from_millis(450));
        assert_eq!(step_down(Duration::from_secs(1)), Duration::from_millis(990));
        assert_eq!(step_down(Duration::from_millis(9900)), Duration::from_millis(9800));
    }
}
