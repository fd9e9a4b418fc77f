//! Failure detectors: pure functions of arrival times. A detector is fed the arrival time
//! of each heartbeat from one member and answers, for any `now`, how suspicious the
//! silence is and when its verdict will next change. It never sends or schedules anything.

use std::collections::VecDeque;
use std::time::Duration;

use crate::config::{Config, DetectorKind, PhiConfig, StrategyConfig};
use crate::time::Instant;
use crate::timing::Pace;

/// What a detector concludes about one member at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Heard from recently enough.
    Alive,
    /// Late, but not yet dead.
    Suspect,
    /// Silent for too long.
    Dead,
}

/// One member's detector, of the kind the configuration names.
#[derive(Clone, Debug)]
pub enum Detector {
    /// Counts consecutive missed heartbeats.
    Missed(MissedHeartbeats),
    /// Phi accrual over the inter-arrival history (boxed: it is large, and a member's
    /// record should stay small).
    Phi(Box<PhiAccrual>),
}

impl Detector {
    /// A detector for a member last heard from (or first expected) at `now`.
    pub fn new(config: &Config, now: Instant) -> Detector {
        Detector::paced(config, Pace::own(config), now)
    }

    /// A detector of `config`'s kind for a member expected at `pace` (its announced
    /// timing, see `timing.rs`). Phi keeps this node's threshold and window; its
    /// standard-deviation floor and acceptable pause scale with the member's interval.
    ///
    /// Under push, pull and leader the missed-heartbeats detector suspects at the second
    /// miss in a row, not the first: under pull a missed heartbeat is a lost round trip
    /// (at 10 % loss a fifth of the polls go unanswered; two in a row, one in 27), and
    /// under push and leader one lost datagram in ten made every observer show a healthy
    /// member suspect 60 times a minute (the simulator at 10 % loss; 8 at the second
    /// miss). Gossip keeps the first: its counters arrive through several relays, so
    /// one lost datagram rarely delays them. Death comes at the same miss everywhere.
    pub fn paced(config: &Config, pace: Pace, now: Instant) -> Detector {
        let misses_to_suspect = match config.strategy {
            StrategyConfig::Pull { .. } | StrategyConfig::Push { .. } | StrategyConfig::Leader(_) => 2,
            _ => 1,
        };
        match config.detector {
            DetectorKind::Missed => Detector::Missed(MissedHeartbeats::suspecting(pace, now, misses_to_suspect)),
            DetectorKind::Phi => {
                let phi = scaled_phi(config, pace);
                Detector::Phi(Box::new(PhiAccrual::new(&phi, pace.interval, now)))
            }
        }
    }

    /// A heartbeat arrived at `now`.
    pub fn arrival(&mut self, now: Instant) {
        match self {
            Detector::Missed(d) => d.arrival(now),
            Detector::Phi(d) => d.arrival(now),
        }
    }

    /// The verdict at `now`.
    pub fn verdict(&self, now: Instant) -> Verdict {
        match self {
            Detector::Missed(d) => d.verdict(now),
            Detector::Phi(d) => d.verdict(now),
        }
    }

    /// The first instant after the last arrival at which the verdict is worse than it is
    /// at `now`; `None` once it is `Dead`.
    pub fn next_change(&self, now: Instant) -> Option<Instant> {
        match self {
            Detector::Missed(d) => d.next_change(now),
            Detector::Phi(d) => d.next_change(now),
        }
    }

    /// The last arrival this detector counted (a heartbeat, a poll's reply, a relayed
    /// answer): other messages from the member do not move it.
    pub fn last_arrival(&self) -> Instant {
        match self {
            Detector::Missed(d) => d.last,
            Detector::Phi(d) => d.last,
        }
    }

    /// The detector's reading at `now`: missed heartbeats, or phi.
    pub fn level(&self, now: Instant) -> f64 {
        match self {
            Detector::Missed(d) => f64::from(d.misses(now)),
            Detector::Phi(d) => d.phi(now),
        }
    }

    /// Silence since the last arrival at which this detector declares death (its
    /// effective timeout).
    pub fn dead_after(&self) -> Duration {
        match self {
            Detector::Missed(d) => d.dead_at - d.last,
            Detector::Phi(d) => d.silence_for(d.config.threshold),
        }
    }
}

/// `config`'s phi parameters for a member expected at `pace`: the floor and the pause
/// scaled by the ratio of the intervals, plus any timeout the member's pace adds beyond
/// the scaled one (gossip's hop allowance).
fn scaled_phi(config: &Config, pace: Pace) -> PhiConfig {
    let mut phi = config.phi.clone();
    if pace.interval != config.interval {
        let scale = pace.interval.as_secs_f64() / config.interval.as_secs_f64().max(1e-6);
        phi.min_std_dev = phi.min_std_dev.mul_f64(scale);
        let extra = pace.timeout.saturating_sub(config.timeout.mul_f64(scale));
        phi.acceptable_pause = phi.acceptable_pause.mul_f64(scale) + extra;
    }
    phi
}

/// Dead after `threshold` consecutive misses: a heartbeat is missed when none arrives
/// within `timeout` of the previous one, and each further `interval` of silence is one
/// more miss. Suspect half an interval after the first miss (so a heartbeat that is
/// merely a little late does not raise a suspicion). One miss never kills when
/// `threshold` > 1.
///
/// Its settings are held in microseconds, so that a member's whole detector fits in one
/// cache line with its tag (see the record layout in `members`).
#[derive(Clone, Debug)]
pub struct MissedHeartbeats {
    last: Instant,
    suspect_at: Instant,
    dead_at: Instant,
    timeout_us: u64,
    interval_us: u64,
    suspect_after_us: u64,
    dead_after_us: u64,
}

impl MissedHeartbeats {
    /// A detector whose last heartbeat was at `now`.
    pub fn new(config: &Config, now: Instant) -> MissedHeartbeats {
        MissedHeartbeats::paced(Pace::own(config), now)
    }

    /// A detector expecting heartbeats at `pace`, whose last heartbeat was at `now`.
    pub fn paced(config: Pace, now: Instant) -> MissedHeartbeats {
        MissedHeartbeats::suspecting(config, now, 1)
    }

    /// [`MissedHeartbeats::paced`], suspecting half an interval after the `misses`-th miss
    /// in a row (never after death).
    pub fn suspecting(config: Pace, now: Instant, misses: u32) -> MissedHeartbeats {
        let dead_after = config.dead_after();
        let later = config.interval * misses.saturating_sub(1);
        let suspect_after = (config.timeout + later + config.interval / 2).min(dead_after);
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut detector = MissedHeartbeats {
            last: now,
            suspect_at: now,
            dead_at: now,
            timeout_us: micros(config.timeout),
            interval_us: micros(config.interval),
            suspect_after_us: micros(suspect_after),
            dead_after_us: micros(dead_after),
        };
        detector.arrival(now);
        detector
    }

    fn arrival(&mut self, now: Instant) {
        self.last = self.last.max(now);
        let after = |us: u64| Instant::from_micros(self.last.as_micros().saturating_add(us));
        self.suspect_at = after(self.suspect_after_us);
        self.dead_at = after(self.dead_after_us);
    }

    fn verdict(&self, now: Instant) -> Verdict {
        if now >= self.dead_at {
            Verdict::Dead
        } else if now >= self.suspect_at {
            Verdict::Suspect
        } else {
            Verdict::Alive
        }
    }

    fn next_change(&self, now: Instant) -> Option<Instant> {
        match self.verdict(now) {
            Verdict::Alive => Some(self.suspect_at),
            Verdict::Suspect => Some(self.dead_at),
            Verdict::Dead => None,
        }
    }

    /// Heartbeats due but not received at `now`.
    pub fn misses(&self, now: Instant) -> u32 {
        let silence = now.as_micros().saturating_sub(self.last.as_micros());
        if silence < self.timeout_us {
            return 0;
        }
        let extra = (silence - self.timeout_us) / self.interval_us.max(1);
        u32::try_from(extra + 1).unwrap_or(u32::MAX)
    }
}

/// The phi accrual failure detector (Hayashibara et al., 2004) as Akka implements it:
/// inter-arrival times are modelled as a normal distribution, and
/// `phi = -log10(P(a heartbeat arrives later than now))`, with Akka's logistic
/// approximation of the normal CDF. Suspect at `threshold / 2`, dead at `threshold`.
#[derive(Clone, Debug)]
pub struct PhiAccrual {
    config: PhiConfig,
    last: Instant,
    intervals_us: VecDeque<f64>,
    sum: f64,
    sum_squares: f64,
}

impl PhiAccrual {
    /// A detector whose history is seeded, as Akka's is, with two samples around the
    /// expected interval (first estimate ± a quarter of it).
    pub fn new(config: &PhiConfig, interval: Duration, now: Instant) -> PhiAccrual {
        let mut detector = PhiAccrual {
            config: config.clone(),
            last: now,
            intervals_us: VecDeque::with_capacity(config.window.min(64)),
            sum: 0.0,
            sum_squares: 0.0,
        };
        let mean = interval.as_micros() as f64;
        detector.record(mean - mean / 4.0);
        detector.record(mean + mean / 4.0);
        detector
    }

    fn record(&mut self, interval_us: f64) {
        if self.intervals_us.len() == self.config.window
            && let Some(old) = self.intervals_us.pop_front()
        {
            self.sum -= old;
            self.sum_squares -= old * old;
        }
        self.intervals_us.push_back(interval_us);
        self.sum += interval_us;
        self.sum_squares += interval_us * interval_us;
    }

    fn arrival(&mut self, now: Instant) {
        if now > self.last {
            self.record((now - self.last).as_micros() as f64);
            self.last = now;
        }
    }

    fn mean_and_std_dev(&self) -> (f64, f64) {
        let n = self.intervals_us.len() as f64;
        let mean = self.sum / n;
        let variance = (self.sum_squares / n - mean * mean).max(0.0);
        let std_dev = variance.sqrt().max(self.config.min_std_dev.as_micros() as f64);
        (mean + self.config.acceptable_pause.as_micros() as f64, std_dev)
    }

    fn phi_after(&self, silence_us: f64) -> f64 {
        let (mean, std_dev) = self.mean_and_std_dev();
        let y = (silence_us - mean) / std_dev;
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        if silence_us > mean {
            -(e / (1.0 + e)).log10()
        } else {
            -(1.0 - 1.0 / (1.0 + e)).log10()
        }
    }

    /// Phi at `now`.
    pub fn phi(&self, now: Instant) -> f64 {
        self.phi_after((now - self.last).as_micros() as f64)
    }

    /// The shortest silence at which phi reaches `level` (phi grows with silence, so a
    /// bisection over whole microseconds finds it).
    fn silence_for(&self, level: f64) -> Duration {
        let (mut low, mut high) = (0u64, 1u64 << 20);
        while self.phi_after(high as f64) < level && high < (1u64 << 50) {
            high *= 2;
        }
        while low < high {
            let mid = low + (high - low) / 2;
            if self.phi_after(mid as f64) >= level {
                high = mid
            } else {
                low = mid + 1
            }
        }
        Duration::from_micros(high)
    }

    fn verdict(&self, now: Instant) -> Verdict {
        let phi = self.phi(now);
        if phi >= self.config.threshold {
            Verdict::Dead
        } else if phi >= self.config.threshold / 2.0 {
            Verdict::Suspect
        } else {
            Verdict::Alive
        }
    }

    fn next_change(&self, now: Instant) -> Option<Instant> {
        let level = match self.verdict(now) {
            Verdict::Alive => self.config.threshold / 2.0,
            Verdict::Suspect => self.config.threshold,
            Verdict::Dead => return None,
        };
        Some(self.last + self.silence_for(level))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Preset, StrategyKind};

    fn at(millis: u64) -> Instant {
        Instant::from_micros(millis * 1000)
    }

    fn lan_fast(detector: DetectorKind) -> Config {
        let mut config = Config::preset(Preset::LanFast, StrategyKind::Push);
        config.detector = detector;
        config
    }

    /// Lan-fast's missed-heartbeats detector suspecting at the first miss (as gossip's
    /// does; push, pull and leader suspect at the second, `Detector::paced`).
    fn first_miss(now: Instant) -> Detector {
        Detector::Missed(MissedHeartbeats::new(&lan_fast(DetectorKind::Missed), now))
    }

    #[test]
    fn one_missed_heartbeat_never_kills() {
        let d = first_miss(at(0));
        // Interval 200 ms, threshold 3: one miss is a 400 ms gap.
        assert_eq!(d.verdict(at(399)), Verdict::Suspect);
        assert_ne!(d.verdict(at(599)), Verdict::Dead);
    }

    #[test]
    fn threshold_consecutive_misses_kill() {
        // Interval 200 ms, timeout 220 ms: the first miss 220 ms after the last arrival,
        // each further interval of silence one more.
        let d = first_miss(at(0));
        assert_eq!(d.level(at(219)), 0.0);
        assert_eq!(d.level(at(220)), 1.0);
        assert_eq!(d.verdict(at(319)), Verdict::Alive);
        assert_eq!(d.verdict(at(320)), Verdict::Suspect);
        assert_eq!(d.verdict(at(620)), Verdict::Dead);
        assert_eq!(d.level(at(620)), 3.0);
    }

    #[test]
    fn the_third_heartbeat_sent_on_time_is_not_racing_its_deadline() {
        // Heartbeats due at 200, 400 and 600 ms: with only the first two lost, the third
        // arriving on time (or a little late) must still find the member alive.
        let mut d = first_miss(at(0));
        assert_ne!(d.verdict(at(600)), Verdict::Dead);
        assert_ne!(d.verdict(at(615)), Verdict::Dead);
        d.arrival(at(615));
        assert_eq!(d.verdict(at(615)), Verdict::Alive);
    }

    #[test]
    fn under_push_pull_and_leader_one_miss_raises_no_suspicion_two_do_and_death_comes_as_at_the_first() {
        let mut pull = Config::preset(Preset::LanFast, StrategyKind::Pull);
        pull.strategy = crate::config::StrategyConfig::Pull {
            monitors: vec!["m".into()],
        };
        let first = first_miss(at(0));
        // lan-fast: interval 200 ms, timeout 220 ms, threshold 3.
        assert_eq!(
            first.verdict(at(320)),
            Verdict::Suspect,
            "at the first miss: half an interval after it"
        );
        let push = Config::preset(Preset::LanFast, StrategyKind::Push);
        let leader = Config::preset(Preset::LanFast, StrategyKind::Leader);
        for config in [pull, push, leader] {
            let d = Detector::new(&config, at(0));
            let kind = config.strategy.kind();
            assert_eq!(d.verdict(at(519)), Verdict::Alive, "{kind:?}: not after the first");
            assert_eq!(
                d.verdict(at(520)),
                Verdict::Suspect,
                "{kind:?}: half an interval after the second"
            );
            assert_eq!(first.next_change(at(520)), d.next_change(at(520)), "the same death");
        }
    }

    #[test]
    fn an_arrival_resets_the_missed_count() {
        let mut d = first_miss(at(0));
        d.arrival(at(500));
        assert_eq!(d.verdict(at(600)), Verdict::Alive);
        assert_eq!(d.next_change(at(600)), Some(at(820)));
    }

    #[test]
    fn next_change_names_the_instant_the_verdict_worsens() {
        let d = first_miss(at(0));
        assert_eq!(d.next_change(at(0)), Some(at(320)));
        assert_eq!(d.next_change(at(320)), Some(at(620)));
        assert_eq!(d.next_change(at(620)), None);
    }

    #[test]
    fn phi_rises_with_silence_and_crosses_the_threshold_near_threshold_intervals() {
        let mut d = Detector::new(&lan_fast(DetectorKind::Phi), at(0));
        for beat in 1..=50 {
            d.arrival(at(beat * 200));
        }
        let last = 50 * 200;
        assert!(d.level(at(last + 100)) < 0.5);
        assert!(d.level(at(last + 500)) < d.level(at(last + 600)));
        let dead_after = d.dead_after();
        assert!(
            dead_after > Duration::from_millis(500) && dead_after < Duration::from_millis(700),
            "{dead_after:?}"
        );
        assert_eq!(d.verdict(at(last) + dead_after), Verdict::Dead);
        assert_ne!(
            d.verdict(at(last) + (dead_after - Duration::from_micros(1))),
            Verdict::Dead
        );
    }

    #[test]
    fn phi_adapts_to_a_jittery_sender() {
        let config = lan_fast(DetectorKind::Phi);
        let mut steady = Detector::new(&config, at(0));
        let mut jittery = Detector::new(&config, at(0));
        let mut t = 0;
        for beat in 0..100u64 {
            steady.arrival(at(beat * 200));
            t += if beat % 2 == 0 { 50 } else { 350 };
            jittery.arrival(at(t));
        }
        assert!(jittery.dead_after() > steady.dead_after());
    }

    #[test]
    fn phi_next_change_agrees_with_the_verdict() {
        let mut d = Detector::new(&lan_fast(DetectorKind::Phi), at(0));
        d.arrival(at(200));
        let suspect_at = d.next_change(at(200)).unwrap();
        assert_eq!(d.verdict(suspect_at), Verdict::Suspect);
        assert_eq!(
            d.verdict(Instant::from_micros(suspect_at.as_micros() - 1)),
            Verdict::Alive
        );
    }
}
