//! The network model: how long a datagram takes, whether it is lost, duplicated or
//! reordered, and which links a partition cuts. Owns only sampling from the simulator's
//! network RNG; it never sees a node and never decides what a node believes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use vitals_core::Rng;

/// A one-way latency distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Every datagram takes exactly this long.
    Constant(Duration),
    /// Uniform between the two bounds.
    Uniform(Duration, Duration),
    /// Exponential with this mean (Chen et al.'s model of a WAN).
    Exponential(Duration),
    /// A long-tailed mix: exponential with mean `base`, except that a fraction `tail_p` of
    /// datagrams is drawn from an exponential with the much larger mean `tail`.
    Mix {
        /// The usual mean.
        base: Duration,
        /// The fraction of datagrams in the tail.
        tail_p: f64,
        /// The tail's mean.
        tail: Duration,
    },
}

/// The quantile of an exponential that the checkers treat as its maximum: 1 − 10⁻⁶.
const EXP_BOUND_FACTOR: f64 = 13.815_510_557_964_274; // ln(10^6)

impl Latency {
    /// One sample.
    pub fn sample(&self, rng: &mut Rng) -> Duration {
        match *self {
            Latency::Constant(d) => d,
            Latency::Uniform(lo, hi) => lo + (hi.saturating_sub(lo)).mul_f64(rng.unit()),
            Latency::Exponential(mean) => exponential(mean, rng),
            Latency::Mix { base, tail_p, tail } => {
                if rng.unit() < tail_p {
                    exponential(tail, rng)
                } else {
                    exponential(base, rng)
                }
            }
        }
    }

    /// The mean latency.
    pub fn mean(&self) -> Duration {
        match *self {
            Latency::Constant(d) | Latency::Exponential(d) => d,
            Latency::Uniform(lo, hi) => (lo + hi) / 2,
            Latency::Mix { base, tail_p, tail } => base.mul_f64(1.0 - tail_p) + tail.mul_f64(tail_p),
        }
    }

    /// The variance, in seconds squared.
    pub fn variance_secs2(&self) -> f64 {
        match *self {
            Latency::Constant(_) => 0.0,
            Latency::Uniform(lo, hi) => (hi.as_secs_f64() - lo.as_secs_f64()).powi(2) / 12.0,
            Latency::Exponential(mean) => mean.as_secs_f64().powi(2),
            Latency::Mix { base, tail_p, tail } => {
                let (b, t) = (base.as_secs_f64(), tail.as_secs_f64());
                let second_moment = (1.0 - tail_p) * 2.0 * b * b + tail_p * 2.0 * t * t;
                second_moment - self.mean().as_secs_f64().powi(2)
            }
        }
    }

    /// `Pr(D > x)`.
    pub fn exceeds(&self, x: f64) -> f64 {
        let exp_tail = |mean: Duration| {
            let m = mean.as_secs_f64();
            if x <= 0.0 {
                1.0
            } else if m == 0.0 {
                0.0
            } else {
                (-x / m).exp()
            }
        };
        match *self {
            Latency::Constant(d) => f64::from(u8::from(d.as_secs_f64() > x)),
            Latency::Uniform(lo, hi) => {
                let (lo, hi) = (lo.as_secs_f64(), hi.as_secs_f64());
                if x < lo {
                    1.0
                } else if x >= hi {
                    0.0
                } else {
                    (hi - x) / (hi - lo)
                }
            }
            Latency::Exponential(mean) => exp_tail(mean),
            Latency::Mix { base, tail_p, tail } => (1.0 - tail_p) * exp_tail(base) + tail_p * exp_tail(tail),
        }
    }

    /// The smallest latency the distribution produces.
    pub fn min(&self) -> Duration {
        match *self {
            Latency::Constant(d) | Latency::Uniform(d, _) => d,
            Latency::Exponential(_) | Latency::Mix { .. } => Duration::ZERO,
        }
    }

    /// The latency the checkers take as the maximum: exact for bounded distributions, the
    /// 1 − 10⁻⁶ quantile for exponential tails.
    pub fn bound(&self) -> Duration {
        match *self {
            Latency::Constant(d) | Latency::Uniform(_, d) => d,
            Latency::Exponential(mean) => mean.mul_f64(EXP_BOUND_FACTOR),
            Latency::Mix { base, tail, .. } => base.max(tail).mul_f64(EXP_BOUND_FACTOR),
        }
    }
}

fn exponential(mean: Duration, rng: &mut Rng) -> Duration {
    let u = rng.unit();
    mean.mul_f64(-(1.0 - u).ln())
}

fn fmt_d(d: Duration) -> String {
    vitals_core::config::serde_duration::format_duration(d)
}

fn parse_d(text: &str) -> Result<Duration, String> {
    vitals_core::config::serde_duration::parse_duration(text)
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Latency::Constant(d) => write!(f, "{}", fmt_d(d)),
            Latency::Uniform(lo, hi) => write!(f, "uniform:{}..{}", fmt_d(lo), fmt_d(hi)),
            Latency::Exponential(mean) => write!(f, "exp:{}", fmt_d(mean)),
            Latency::Mix { base, tail_p, tail } => write!(f, "mix:{},{tail_p},{}", fmt_d(base), fmt_d(tail)),
        }
    }
}

impl FromStr for Latency {
    type Err = String;

    /// `1ms` (constant), `uniform:1ms..5ms`, `exp:20ms`, `mix:1ms,0.01,200ms`.
    fn from_str(s: &str) -> Result<Latency, String> {
        let bad = || format!("`{s}` is not a latency: write 1ms, uniform:1ms..5ms, exp:20ms or mix:1ms,0.01,200ms");
        let latency = match s.split_once(':') {
            None => Latency::Constant(parse_d(s)?),
            Some(("uniform", range)) => {
                let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
                let (lo, hi) = (parse_d(lo)?, parse_d(hi)?);
                if hi < lo {
                    return Err(format!("`{s}`: the upper bound is below the lower one"));
                }
                Latency::Uniform(lo, hi)
            }
            Some(("exp", mean)) => Latency::Exponential(parse_d(mean)?),
            Some(("mix", rest)) => {
                let parts: Vec<&str> = rest.split(',').collect();
                let [base, p, tail] = parts[..] else { return Err(bad()) };
                let tail_p: f64 = p.parse().map_err(|_| bad())?;
                if !(0.0..=1.0).contains(&tail_p) {
                    return Err(format!("`{s}`: the tail fraction must be between 0 and 1"));
                }
                Latency::Mix {
                    base: parse_d(base)?,
                    tail_p,
                    tail: parse_d(tail)?,
                }
            }
            Some(_) => return Err(bad()),
        };
        Ok(latency)
    }
}

/// A partition: the links between `side` and every other node are cut from `start` for
/// `duration`; one-way partitions cut only the datagrams sent from `side`.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// The node indices on one side.
    pub side: Vec<usize>,
    /// Whether only datagrams leaving `side` are dropped.
    pub one_way: bool,
    /// When the links are cut (from the start of the simulation).
    pub start: Duration,
    /// How long until it heals.
    pub duration: Duration,
}

impl Partition {
    /// Whether the partition cuts a datagram from `from` to `to` (when active).
    pub fn cuts(&self, side_of: &[bool], from: usize, to: usize) -> bool {
        let (a, b) = (side_of[from], side_of[to]);
        if self.one_way { a && !b } else { a != b }
    }
}

/// Everything about the network that is not a partition.
#[derive(Clone, Debug, PartialEq)]
pub struct NetModel {
    /// One-way latency.
    pub latency: Latency,
    /// Probability that a datagram is lost, on every link.
    pub loss: f64,
    /// Per-link overrides of the loss probability: (from, to, probability).
    pub link_loss: Vec<(usize, usize, f64)>,
    /// Changes of `loss` during the run: from each absolute instant (from the start of
    /// the simulation, in time order) the loss is the new probability.
    pub loss_steps: Vec<(Duration, f64)>,
    /// Probability that a datagram is delivered twice (the copy with its own latency).
    pub duplicate: f64,
    /// Probability that a datagram is held back by up to [`NetModel::reorder_window`],
    /// so that later ones overtake it.
    pub reorder: f64,
    /// The longest extra delay of a reordered datagram.
    pub reorder_window: Duration,
}

impl NetModel {
    /// A network with constant `latency` and nothing else.
    pub fn perfect(latency: Duration) -> NetModel {
        NetModel {
            latency: Latency::Constant(latency),
            loss: 0.0,
            link_loss: Vec::new(),
            loss_steps: Vec::new(),
            duplicate: 0.0,
            reorder: 0.0,
            reorder_window: Duration::from_millis(50),
        }
    }

    /// The loss probability of the link `from → to`.
    pub fn loss_on(&self, from: usize, to: usize) -> f64 {
        self.link_loss
            .iter()
            .find(|(f, t, _)| *f == from && *t == to)
            .map_or(self.loss, |(_, _, p)| *p)
    }

    /// Whether any link can lose a datagram.
    pub fn lossy(&self) -> bool {
        self.loss > 0.0 || self.highest_loss() > 0.0
    }

    /// The highest loss probability any link has at any time of the run.
    pub fn highest_loss(&self) -> f64 {
        let links = self.link_loss.iter().map(|l| l.2);
        let steps = self.loss_steps.iter().map(|s| s.1);
        links.chain(steps).fold(self.loss, f64::max)
    }

    /// The spread between the fastest and the slowest delivery the checkers expect.
    pub fn jitter_bound(&self) -> Duration {
        let reorder = if self.reorder > 0.0 {
            self.reorder_window
        } else {
            Duration::ZERO
        };
        self.latency.bound() + reorder - self.latency.min()
    }

    /// The longest delivery the checkers expect.
    pub fn delay_bound(&self) -> Duration {
        let reorder = if self.reorder > 0.0 {
            self.reorder_window
        } else {
            Duration::ZERO
        };
        self.latency.bound() + reorder
    }

    /// The delays of the copies of one datagram sent `from → to`: none if it is lost, two
    /// if it is duplicated. `clean`: only the latency applies (the cluster is forming).
    pub fn delays(&self, rng: &mut Rng, from: usize, to: usize, clean: bool, out: &mut Vec<Duration>) {
        out.clear();
        if clean {
            out.push(self.latency.sample(rng));
            return;
        }
        let loss = self.loss_on(from, to);
        if loss > 0.0 && rng.unit() < loss {
            return;
        }
        let copies = if self.duplicate > 0.0 && rng.unit() < self.duplicate {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = self.latency.sample(rng);
            if self.reorder > 0.0 && rng.unit() < self.reorder {
                delay += self.reorder_window.mul_f64(rng.unit());
            }
            out.push(delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_print_as_they_parse() {
        for text in ["1ms", "uniform:1ms..5ms", "exp:20ms", "mix:1ms,0.01,200ms"] {
            let latency: Latency = text.parse().unwrap();
            assert_eq!(latency.to_string(), text);
        }
        assert!("gauss:1ms".parse::<Latency>().is_err());
    }

    #[test]
    fn the_exponential_sample_mean_is_its_mean() {
        let mut rng = Rng::seeded(3);
        let latency = Latency::Exponential(Duration::from_millis(20));
        let n = 100_000;
        let total: f64 = (0..n).map(|_| latency.sample(&mut rng).as_secs_f64()).sum();
        let mean = total / f64::from(n);
        assert!((mean - 0.02).abs() < 0.0005, "{mean}");
    }

    #[test]
    fn a_one_way_partition_cuts_only_the_outbound_direction() {
        let p = Partition {
            side: vec![0],
            one_way: true,
            start: Duration::ZERO,
            duration: Duration::from_secs(1),
        };
        let side_of = [true, false];
        assert!(p.cuts(&side_of, 0, 1));
        assert!(!p.cuts(&side_of, 1, 0));
    }
}
