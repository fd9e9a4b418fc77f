//! Auto-tune (`--auto-tune detect-within=5s,mistakes=1/month`): the controller that picks
//! the interval and missed-heartbeat threshold a node runs with from what it measures of
//! its links, so that crashes are detected within the target and false positives stay
//! below it, as loss and delay change.
//!
//! Sans-IO and pure: the host (the node) hands it one [`Figures`] per window and applies
//! the [`Change`] it returns. The arithmetic is Chen, Toueg & Aguilera's ([`recurrence`],
//! the mistake recurrence of NFD-S, shared with `vitals tune`); the policy is:
//!
//! - **What is picked** ([`Controller::ideal`]): the longest interval on a ladder of
//!   round values from the starting interval (the operator's bandwidth budget, never
//!   exceeded) down to the floor, and at it the smallest threshold (at least 2: one lost
//!   heartbeat never kills) whose mistake recurrence meets the target, provided the
//!   silence tolerance plus the mean delay fits within `detect-within`. So on a clean
//!   network the threshold comes down (faster detection), under loss it goes up, and the
//!   interval is shortened only when the threshold alone cannot meet both targets.
//! - **Slowly, with hysteresis** ([`Controller::observe`]): a change toward safety
//!   (the running timing misses the target at the measured figures) is made after
//!   [`RAISE_AFTER`] windows in a row (after one if it misses by [`GROSS_MISS`] times); a change toward speed or economy only after
//!   [`RELAX_AFTER`] windows in a row in which even twice the measured loss would allow
//!   it (the band). At most one step per window; the interval moves by at most a factor
//!   [`MAX_RATIO`] per step and the threshold comes down by at most one per step.
//!
//! **Invariant:** the interval is never below the floor nor above the starting interval,
//! the silence tolerance never exceeds `detect-within` (unless even the floor cannot meet
//! it, then the floor and the largest threshold that fits are used, and the reason says
//! so), and every step is bounded as above (unit-tested).

use std::time::Duration;

use serde::Serialize;

use crate::config::serde_duration::{format_duration, parse_duration};
use crate::timing::Pace;

/// Windows in a row the running timing must miss the target before it is made safer.
pub const RAISE_AFTER: u32 = 2;
/// A window in which the running timing misses the mistake target by this factor or
/// more makes it safer at once (a loss step, not noise: at 0.1 % loss and 180 heartbeats
/// a window, a figure that far off is all but impossible).
pub const GROSS_MISS: f64 = 100.0;
/// Windows in a row a faster or cheaper timing must be safe, at twice the measured loss,
/// before it is adopted.
pub const RELAX_AFTER: u32 = 6;
/// The largest factor by which one step changes the interval.
pub const MAX_RATIO: u32 = 2;
/// The smallest threshold auto-tune picks: one lost heartbeat never kills.
pub const MIN_THRESHOLD: u32 = 2;
/// The largest threshold auto-tune picks (the wire's bound).
pub const MAX_THRESHOLD: u32 = 100;
/// The loss assumed before anything is measured, when the starting timing is outside
/// the bounds and a first timing must be picked at once.
pub const PRIOR_LOSS: f64 = 0.01;
/// The default floor of the interval.
pub const DEFAULT_FLOOR: Duration = Duration::from_millis(100);
/// The lowest loss the estimate is allowed to claim (a window without loss does not
/// prove a loss-free link).
pub const MIN_LOSS: f64 = 1e-4;

/// The round intervals auto-tune chooses among (besides the starting interval).
const LADDER_MS: [u64; 15] = [
    10, 20, 50, 100, 200, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000,
];

/// What the operator asks for: `detect-within=5s,mistakes=1/month[,floor=200ms]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Target {
    /// T_D^U: every crash detected within this.
    #[serde(with = "crate::config::serde_duration")]
    pub detect_within: Duration,
    /// T_MR^L: the mean time between two mistakes about one member by one observer, at
    /// least this many seconds.
    pub mistake_recurrence_s: f64,
    /// The interval is never shorter than this.
    #[serde(with = "crate::config::serde_duration")]
    pub floor: Duration,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(text: &str) -> Result<Target, String> {
        const FORM: &str =
            "write detect-within=DURATION,mistakes=N/PERIOD[,floor=DURATION], like detect-within=5s,mistakes=1/month";
        let (mut detect, mut mistakes, mut floor) = (None, None, DEFAULT_FLOOR);
        for part in text.split(',').map(str::trim) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("--auto-tune `{text}`: `{part}` has no `=`; {FORM}"))?;
            let bad = |e: String| format!("--auto-tune `{text}`: {key}: {e}; {FORM}");
            match key.trim() {
                "detect-within" => detect = Some(parse_duration(value.trim()).map_err(bad)?),
                "mistakes" => mistakes = Some(parse_rate(value.trim()).map_err(bad)?),
                "floor" => floor = parse_duration(value.trim()).map_err(bad)?,
                other => return Err(format!("--auto-tune `{text}`: unknown key `{other}`; {FORM}")),
            }
        }
        let (Some(detect_within), Some(mistake_recurrence_s)) = (detect, mistakes) else {
            return Err(format!(
                "--auto-tune `{text}`: both detect-within and mistakes are needed; {FORM}"
            ));
        };
        if floor < Duration::from_millis(10) || detect_within < floor * MIN_THRESHOLD {
            return Err(format!(
                "--auto-tune `{text}`: detect-within must be at least {MIN_THRESHOLD} floors (floor {}, at least 10ms)",
                format_duration(floor)
            ));
        }
        Ok(Target {
            detect_within,
            mistake_recurrence_s,
            floor,
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "detect-within={},mistakes={},floor={}",
            format_duration(self.detect_within),
            rate_text(self.mistake_recurrence_s),
            format_duration(self.floor)
        )
    }
}

/// Parses a rate like `1/month`, `2/day`, `1/week`, `1/year`, `1/h` into the mean time
/// between events, in seconds (a month is 30 days).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let bad = || format!("`{text}` is not a rate: write 1/month, 2/day, 1/week, 1/year or 1/h");
    let (count, unit) = text.split_once('/').ok_or_else(bad)?;
    let count: f64 = count.trim().parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "s" | "second" => 1.0,
        "m" | "minute" => 60.0,
        "h" | "hour" => 3600.0,
        "d" | "day" => 86_400.0,
        "week" => 7.0 * 86_400.0,
        "month" => 30.0 * 86_400.0,
        "year" => 365.0 * 86_400.0,
        _ => return Err(bad()),
    };
    if !(count > 0.0 && count.is_finite()) {
        return Err(format!("`{text}`: the count must be above zero"));
    }
    Ok(seconds / count)
}

fn rate_text(seconds: f64) -> String {
    let units = [
        ("year", 365.0 * 86_400.0),
        ("month", 30.0 * 86_400.0),
        ("day", 86_400.0),
        ("h", 3600.0),
    ];
    let (unit, per) = units
        .iter()
        .find(|(_, s)| seconds >= *s * 0.999)
        .copied()
        .unwrap_or(("s", 1.0));
    format!("{}/{unit}", per / seconds)
}

/// f(η) of Chen et al.'s step 2: the expected mistake recurrence time (seconds) of NFD-S
/// with interval `eta` and detection time `detect` (δ = detect − η), for loss `loss` and
/// the delay tail `exceeds(x) = Pr(D > x)`:
/// `η / ∏_{j=1}^{⌈detect/η⌉−1} [p_L + (1 − p_L)·Pr(D > detect − jη)]`.
pub fn recurrence(eta: f64, detect: f64, loss: f64, exceeds: impl Fn(f64) -> f64) -> f64 {
    let k = (detect / eta).ceil() as u64;
    let mut product = 1.0;
    for j in 1..k {
        let x = detect - j as f64 * eta;
        product *= loss + (1.0 - loss) * exceeds(x);
    }
    if product <= 0.0 { f64::INFINITY } else { eta / product }
}

/// What a node measured of its links over one window: the worst link's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    /// The fraction of heartbeats lost (0..1).
    pub loss: f64,
    /// The mean one-way delay.
    #[serde(with = "crate::config::serde_duration")]
    pub delay_mean: Duration,
    /// The 99th percentile of the one-way delay.
    #[serde(with = "crate::config::serde_duration")]
    pub delay_p99: Duration,
}

impl Figures {
    /// `Pr(D > x)`, modelled as an exponential tail no lighter than the mean or the p99
    /// say (the p99 of an exponential is ln(100) means).
    fn exceeds(&self, x: f64) -> f64 {
        let mean = self
            .delay_mean
            .as_secs_f64()
            .max(self.delay_p99.as_secs_f64() / 100f64.ln());
        if x <= 0.0 {
            1.0
        } else if mean <= 0.0 {
            0.0
        } else {
            (-x / mean).exp()
        }
    }

    fn with_loss(self, loss: f64) -> Figures {
        Figures { loss, ..self }
    }
}

/// Why a timing was picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The operator's starting timing, not changed yet.
    Start,
    /// The running timing missed the mistake target at the measured figures.
    TooManyMistakes,
    /// The running timing's silence tolerance plus the measured delay exceeded
    /// detect-within.
    TooSlow,
    /// A faster detection (or fewer heartbeats) met the target with margin.
    RoomToSpare,
    /// Even the floor cannot meet both targets: the floor and the largest threshold
    /// that fits within detect-within.
    Unreachable,
}

impl Reason {
    /// The reason's name, as a log word and a metric label.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::TooManyMistakes => "too_many_mistakes",
            Reason::TooSlow => "too_slow",
            Reason::RoomToSpare => "room_to_spare",
            Reason::Unreachable => "unreachable",
        }
    }
}

/// A change of timing the node must apply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Change {
    /// The timing before.
    pub from: Pace,
    /// The timing from now on.
    pub to: Pace,
    /// Why.
    pub reason: Reason,
    /// The figures it was decided on.
    pub figures: Figures,
}

/// The controller: one per node with `--auto-tune`.
#[derive(Clone, Debug)]
pub struct Controller {
    target: Target,
    /// The starting interval: the ceiling.
    ceiling: Duration,
    current: Pace,
    /// Why the current timing is in force, and the figures of the last window.
    reason: Reason,
    last: Option<Figures>,
    /// Windows in a row the current timing missed the target.
    unsafe_windows: u32,
    /// The loss of the last windows (at most [`RELAX_AFTER`]) since the last change, all
    /// of which the current timing met the target in.
    calm: std::collections::VecDeque<f64>,
    changes: u64,
}

impl Controller {
    /// A controller starting from `start` (the node's configured timing), or, if that
    /// does not fit within the bounds, from the ideal at [`PRIOR_LOSS`].
    pub fn new(target: Target, start: Pace) -> Controller {
        let mut controller = Controller {
            target,
            ceiling: start
                .interval
                .min(target.detect_within / MIN_THRESHOLD)
                .max(target.floor),
            current: start,
            reason: Reason::Start,
            last: None,
            unsafe_windows: 0,
            calm: std::collections::VecDeque::new(),
            changes: 0,
        };
        let prior = Figures::default().with_loss(PRIOR_LOSS);
        let within = start.interval <= controller.ceiling && start.interval >= target.floor;
        if !(within && controller.fits(&start, &prior)) {
            (controller.current, controller.reason) = (controller.ideal(&prior).0, Reason::TooSlow);
        }
        controller
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The timing in force.
    pub fn current(&self) -> Pace {
        self.current
    }

    /// Why the timing in force was picked.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The figures of the last window, if any.
    pub fn last_figures(&self) -> Option<Figures> {
        self.last
    }

    /// How many changes were made.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The mean time between mistakes (seconds) `pace` gives at `figures`.
    pub fn recurrence_of(pace: &Pace, figures: &Figures) -> f64 {
        let loss = figures.loss.clamp(MIN_LOSS, 0.999);
        let detect = pace.dead_after().as_secs_f64() + figures.delay_mean.as_secs_f64();
        recurrence(pace.interval.as_secs_f64(), detect, loss, |x| figures.exceeds(x))
    }

    /// Whether `pace` meets both targets at `figures`.
    fn meets(&self, pace: &Pace, figures: &Figures) -> bool {
        self.fits(pace, figures) && Controller::recurrence_of(pace, figures) >= self.target.mistake_recurrence_s
    }

    /// Whether the silence tolerance plus the mean delay is within detect-within.
    fn fits(&self, pace: &Pace, figures: &Figures) -> bool {
        pace.dead_after() + figures.delay_mean <= self.target.detect_within
    }

    /// The candidate intervals, longest first: the ceiling, then the ladder below it
    /// down to the floor.
    fn intervals(&self) -> Vec<Duration> {
        let mut out = vec![self.ceiling];
        let ladder = LADDER_MS.iter().rev().map(|&ms| Duration::from_millis(ms));
        out.extend(ladder.filter(|&d| d < self.ceiling && d >= self.target.floor));
        out
    }

    /// The timing the figures call for, regardless of where the node is now (see the
    /// module documentation), with its reason.
    pub fn ideal(&self, figures: &Figures) -> (Pace, Reason) {
        for interval in self.intervals() {
            let found = (MIN_THRESHOLD..=MAX_THRESHOLD)
                .map(|threshold| pace(interval, threshold))
                .take_while(|p| self.fits(p, figures))
                .find(|p| self.meets(p, figures));
            if let Some(p) = found {
                return (p, Reason::RoomToSpare);
            }
        }
        let floor = *self.intervals().last().unwrap_or(&self.ceiling);
        let threshold = (MIN_THRESHOLD..=MAX_THRESHOLD)
            .take_while(|&t| self.fits(&pace(floor, t), figures))
            .last()
            .unwrap_or(MIN_THRESHOLD);
        (pace(floor, threshold), Reason::Unreachable)
    }

    /// One window's figures: returns the change to apply, if any (at most one per window).
    pub fn observe(&mut self, figures: Figures) -> Option<Change> {
        self.last = Some(figures);
        if !self.meets(&self.current, &figures) {
            self.calm.clear();
            self.unsafe_windows += 1;
            let gross =
                Controller::recurrence_of(&self.current, &figures) * GROSS_MISS < self.target.mistake_recurrence_s;
            if self.unsafe_windows < RAISE_AFTER && !gross {
                return None;
            }
            let (ideal, reason) = self.ideal(&figures);
            let reason = match reason {
                Reason::Unreachable => reason,
                _ if !self.fits(&self.current, &figures) => Reason::TooSlow,
                _ => Reason::TooManyMistakes,
            };
            return self.step_to(ideal, reason, figures);
        }
        self.unsafe_windows = 0;
        if self.calm.len() == RELAX_AFTER as usize {
            self.calm.pop_front();
        }
        self.calm.push_back(figures.loss);
        if self.calm.len() < RELAX_AFTER as usize {
            return None;
        }
        // The band: relax only to what twice the loss of the calm windows would allow.
        let pooled = self.calm.iter().sum::<f64>() / self.calm.len() as f64;
        let banded = figures.with_loss((pooled * 2.0).min(0.999));
        let (ideal, _) = self.ideal(&banded);
        let better = ideal.dead_after() < self.current.dead_after() || ideal.interval > self.current.interval;
        if !(better && self.meets(&ideal, &banded)) {
            return None;
        }
        self.step_to(ideal, Reason::RoomToSpare, figures)
    }

    /// Moves toward `ideal` by one bounded step.
    fn step_to(&mut self, ideal: Pace, reason: Reason, figures: Figures) -> Option<Change> {
        let from = self.current;
        let lowest = (from.interval / MAX_RATIO).max(self.target.floor);
        let highest = (from.interval * MAX_RATIO).min(self.ceiling);
        let interval = ideal.interval.clamp(lowest, highest);
        let threshold = if interval == ideal.interval {
            ideal.threshold
        } else {
            // Part of the way: the tolerance the ideal asks for (not more), at this interval.
            let whole = ideal.dead_after().as_micros() / interval.as_micros().max(1);
            u32::try_from(whole).unwrap_or(MAX_THRESHOLD)
        };
        let threshold = if reason == Reason::RoomToSpare {
            threshold.max(from.threshold.saturating_sub(1))
        } else {
            threshold
        };
        let to = pace(interval, threshold.clamp(MIN_THRESHOLD, MAX_THRESHOLD));
        self.unsafe_windows = 0;
        self.calm.clear();
        if to == from {
            return None;
        }
        self.current = to;
        self.reason = reason;
        self.changes += 1;
        Some(Change {
            from,
            to,
            reason,
            figures,
        })
    }
}

/// Own rounds per measurement window.
pub const WINDOW_ROUNDS: u32 = 20;

/// The node's side of auto-tune: the controller and the window being measured.
///
/// Until the per-peer link table feeds it the worst link's figures, the window's figure
/// is the loss over every member it expects heartbeats from: heartbeats received against
/// those due at each member held alive, at its announced interval (a crashed member
/// counts as loss until it is suspected, half an interval after its first miss). Push only, where
/// every member sends this node a heartbeat each of its rounds.
#[derive(Clone, Debug)]
pub struct AutoTune {
    controller: Controller,
    rounds: u32,
    received: u64,
    expected: f64,
    last_round: Option<crate::time::Instant>,
}

impl AutoTune {
    /// Auto-tune toward `target` from the node's configured timing `start`.
    pub fn new(target: Target, start: Pace) -> AutoTune {
        AutoTune {
            controller: Controller::new(target, start),
            rounds: 0,
            received: 0,
            expected: 0.0,
            last_round: None,
        }
    }

    /// The controller (target, timing in force, reason, last figures).
    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// A heartbeat from a member arrived.
    pub(crate) fn heard(&mut self) {
        self.received += 1;
    }

    /// One of this node's rounds began at `now`; `per_second` is how many heartbeats a
    /// second the members up send it. Closes the window every [`WINDOW_ROUNDS`] rounds
    /// and returns the change its figures call for, if any.
    pub(crate) fn round(&mut self, now: crate::time::Instant, per_second: f64) -> Option<Change> {
        if let Some(last) = self.last_round {
            self.expected += per_second * (now - last).as_secs_f64();
        }
        self.last_round = Some(now);
        self.rounds += 1;
        if self.rounds < WINDOW_ROUNDS {
            return None;
        }
        let figures = Figures {
            loss: if self.expected >= 1.0 {
                (1.0 - self.received as f64 / self.expected).clamp(0.0, 1.0)
            } else {
                0.0
            },
            ..Figures::default()
        };
        (self.rounds, self.received, self.expected) = (0, 0, 0.0);
        self.controller.observe(figures)
    }
}

/// The missed-heartbeat timing of `threshold` misses at `interval` (the default timeout,
/// [`crate::config::arrival_timeout`]).
fn pace(interval: Duration, threshold: u32) -> Pace {
    Pace {
        interval,
        timeout: crate::config::arrival_timeout(interval),
        threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        "detect-within=8s,mistakes=1/month".parse().unwrap()
    }

    fn at(loss: f64) -> Figures {
        Figures {
            loss,
            delay_mean: Duration::from_millis(1),
            delay_p99: Duration::from_millis(2),
        }
    }

    fn start() -> Pace {
        pace(Duration::from_secs(1), 3)
    }

    #[test]
    fn targets_parse_print_back_and_refuse_what_cannot_work() {
        let t = target();
        assert_eq!(t.detect_within, Duration::from_secs(8));
        assert_eq!(t.mistake_recurrence_s, 2_592_000.0);
        assert_eq!(t.to_string().parse::<Target>().unwrap(), t);
        for bad in [
            "",
            "detect-within=5s",
            "mistakes=1/month",
            "detect-within=5s,mistakes=often",
            "x=1",
        ] {
            let error = bad.parse::<Target>().unwrap_err();
            assert!(error.contains("--auto-tune"), "{error}");
        }
        assert!(
            "detect-within=100ms,mistakes=1/day,floor=100ms"
                .parse::<Target>()
                .is_err()
        );
    }

    #[test]
    fn the_ideal_raises_the_threshold_under_loss_and_shortens_the_interval_only_when_it_must() {
        let c = Controller::new(target(), start());
        let (clean, _) = c.ideal(&at(0.001));
        assert_eq!((clean.interval, clean.threshold), (Duration::from_secs(1), 3));
        let (lossy, _) = c.ideal(&at(0.05));
        assert_eq!(lossy.interval, Duration::from_secs(1));
        assert!(lossy.threshold > 3, "{lossy:?}");
        let (very, reason) = c.ideal(&at(0.3));
        assert!(very.interval < Duration::from_secs(1), "{very:?}");
        assert_eq!(reason, Reason::RoomToSpare);
        assert!(very.dead_after() <= Duration::from_secs(8));
    }

    #[test]
    fn the_interval_never_leaves_the_floor_and_the_ceiling() {
        let t: Target = "detect-within=2s,mistakes=1/year,floor=250ms".parse().unwrap();
        let mut c = Controller::new(t, start());
        for _ in 0..50 {
            c.observe(at(0.5));
            assert!(c.current().interval >= Duration::from_millis(250));
            if c.changes() > 0 {
                assert!(c.current().dead_after() <= Duration::from_secs(2), "{:?}", c.current());
            }
        }
        assert_eq!(c.reason(), Reason::Unreachable);
        for _ in 0..200 {
            c.observe(at(0.0));
            assert!(c.current().interval <= Duration::from_secs(1));
        }
        // Back up from the floor, as far as 2 s (1 ms of delay included) allows.
        assert_eq!(c.current().interval, Duration::from_millis(500));
    }

    #[test]
    fn a_starting_timing_outside_the_bounds_is_replaced_at_once() {
        // The web preset (10 s, threshold 3) cannot detect within 5 s.
        let t: Target = "detect-within=5s,mistakes=1/month".parse().unwrap();
        let c = Controller::new(t, pace(Duration::from_secs(10), 3));
        assert_eq!(c.reason(), Reason::TooSlow);
        assert!(c.current().interval <= Duration::from_millis(2500));
        assert!(c.current().dead_after() <= Duration::from_secs(5));
        assert_eq!(Controller::new(target(), start()).current(), start());
    }

    #[test]
    fn one_bad_window_changes_nothing_and_two_make_it_safer() {
        let mut c = Controller::new(target(), start());
        // 0.8 %: threshold 3 misses a month by less than a factor of 100.
        let (bad, good) = (at(0.01), at(0.001));
        assert!(Controller::recurrence_of(&start(), &bad) * GROSS_MISS > 2_592_000.0);
        assert_eq!(c.observe(bad), None);
        assert_eq!(c.observe(good), None, "a good window resets the count");
        assert_eq!(c.observe(bad), None);
        let change = c.observe(bad).expect("two bad windows in a row");
        assert_eq!(change.reason, Reason::TooManyMistakes);
        assert!(change.to.dead_after() > change.from.dead_after());
        assert!(Controller::recurrence_of(&change.to, &bad) >= 2_592_000.0);
        // A gross miss (5 %) acts on its first window.
        let mut c = Controller::new(target(), start());
        assert!(c.observe(at(0.05)).is_some());
    }

    #[test]
    fn relaxing_waits_for_six_calm_windows_and_comes_down_one_step_at_a_time() {
        let mut c = Controller::new(target(), pace(Duration::from_secs(1), 7));
        let mut changes = Vec::new();
        for window in 0..40 {
            if let Some(change) = c.observe(at(0.001)) {
                changes.push((window, change));
            }
        }
        assert_eq!(changes[0].0, RELAX_AFTER as usize - 1, "{changes:?}");
        for pair in changes.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= RELAX_AFTER as usize, "{changes:?}");
        }
        for (_, change) in &changes {
            assert_eq!(change.reason, Reason::RoomToSpare);
            assert_eq!(
                change.to.threshold + 1,
                change.from.threshold,
                "one step down at a time"
            );
        }
        // Down to what twice the measured loss allows (the band), no further.
        assert_eq!(c.current(), c.ideal(&at(0.002)).0);
    }

    #[test]
    fn a_step_changes_the_interval_by_at_most_a_factor_of_two() {
        let t: Target = "detect-within=2s,mistakes=1/year,floor=10ms".parse().unwrap();
        let mut c = Controller::new(t, pace(Duration::from_secs(1), 2));
        let mut last = c.current();
        for _ in 0..20 {
            if let Some(change) = c.observe(at(0.4)) {
                assert!(change.to.interval * MAX_RATIO >= last.interval, "{change:?}");
                last = change.to;
            }
        }
        assert!(last.interval < Duration::from_millis(500), "{last:?}");
    }

    #[test]
    fn a_loss_estimate_hovering_at_a_boundary_does_not_flap() {
        let mut c = Controller::new(target(), start());
        let mut changes = 0;
        for window in 0..200 {
            let loss = if window % 2 == 0 { 0.02 } else { 0.03 };
            changes += u32::from(c.observe(at(loss)).is_some());
        }
        assert!(changes <= 2, "{changes} changes");
    }

    #[test]
    fn chens_recurrence_matches_the_worked_example() {
        // Chen et al.: p_L = 0.01, D exponential with mean 20 ms, T_D^U = 30 s: η ≈ 9.97 s
        // gives about a month between mistakes.
        let exceeds = |x: f64| (-x / 0.02).exp();
        let f = recurrence(9.97, 30.0, 0.01, exceeds);
        assert!(f >= 2_592_000.0 * 0.9, "{f}");
        assert!(recurrence(10.5, 30.0, 0.01, exceeds) < 2_592_000.0);
    }
}
