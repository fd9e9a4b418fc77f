//! Link measurements: what this node measures of each peer it hears directly, over a
//! sliding window ([`WINDOW`]), for `/v1/links`, the metrics and `vitals tune --from`.
//!
//! [`Links`] owns, per peer (by name, at most [`MAX_LINKS`] peers): the datagrams
//! received, the loss rate, round-trip times, a one-way delay estimate, jitter and
//! inter-arrival statistics. The node feeds it every envelope it accepts
//! ([`Links::heard`], with the time passed in) and every answered probe
//! ([`Links::round_trip`]); it never reads a clock, a socket or a random number.
//!
//! **Where the loss comes from.** The wire's sequence number (`wire::Frame::seq`) counts
//! every datagram a node sends, to any destination, so its gaps as one receiver sees them
//! are mostly datagrams sent to others: it says nothing about one link. The per-round
//! counters do: a push heartbeat (`Message::Heartbeat::seq`), a pull monitor's poll
//! (`Message::Poll::seq`) and a leader's heartbeat (`Message::LeaderHeartbeat::seq`)
//! each go to every member every round with the same number, one higher than the
//! round before. A gap in them is a round's message this node did not receive. Ping's
//! watch ring numbers its heartbeat by round too (to the one member that watches the
//! sender, `strategy/ping/ring.rs`), so a ping node measures the link from the member it
//! watches. Ping probes (random targets) and gossip digests (random fan-out) carry no such
//! counter: on the other links of those strategies loss is 0 and `sequenced` is false
//! (nothing was measured).
//! Rules: a number above the highest one counts the numbers skipped as lost; one below
//! it within [`REORDER`] that was missing is a late arrival, not a loss (it takes its loss
//! back); number 1, or one further behind than [`REORDER`], is a restarted sender (a new
//! stream, nothing lost); a jump of more than [`RESYNC`] is a resynchronisation (the
//! sender held this node down and sent it nothing), not a loss.
//!
//! **Delays.** Round trips come from the acknowledged rounds (push `--ack`: `Ack`; pull:
//! `PollReply`); clocks are not assumed synchronised, so the one-way delay is the round
//! trip halved. Inter-arrival times are per sequence step when the peer's messages are
//! numbered (so a loss does not show up as a doubled interval), else between successive
//! datagrams; jitter is the mean absolute difference of successive inter-arrival times.
//!
//! **Invariant:** bounded memory per peer (fixed buckets for counts, fixed rings of
//! [`SAMPLES`] for times; O(1) per datagram) and a bounded number of peers; the table
//! only observes: nothing here changes a status, a verdict or what the node sends.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::Instant;

/// The span the figures cover.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The window's buckets of counts: a count leaves the window a bucket at a time.
const BUCKETS: u64 = 12;
/// The span of one bucket.
const BUCKET_US: u64 = WINDOW.as_micros() as u64 / BUCKETS;
/// The timing samples (round trips, inter-arrival times) kept per peer.
pub const SAMPLES: usize = 64;
/// How far behind the highest sequence number a late arrival is still recognised.
pub const REORDER: u64 = 64;
/// A forward jump of more than this many numbers is a resynchronisation, not a loss.
pub const RESYNC: u64 = 1024;
/// The most peers measured; beyond, the peer heard least recently is forgotten.
pub const MAX_LINKS: usize = 16_384;

/// Counts of one bucket of the window.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Which bucket of time (instant / `BUCKET_US`) the counts belong to.
    epoch: u64,
    received: u32,
    /// Numbered round messages received (each number once).
    numbered: u32,
    /// Numbers skipped, less late arrivals (may dip below 0 in a bucket).
    lost: i32,
}

/// A fixed ring of timed samples (µs), the oldest overwritten.
#[derive(Clone, Debug)]
struct Ring {
    at: [u64; SAMPLES],
    value: [u32; SAMPLES],
    len: usize,
    next: usize,
}

impl Default for Ring {
    fn default() -> Ring {
        Ring {
            at: [0; SAMPLES],
            value: [0; SAMPLES],
            len: 0,
            next: 0,
        }
    }
}

impl Ring {
    fn push(&mut self, now: Instant, value: Duration) {
        self.at[self.next] = now.as_micros();
        self.value[self.next] = u32::try_from(value.as_micros()).unwrap_or(u32::MAX);
        self.next = (self.next + 1) % SAMPLES;
        self.len = (self.len + 1).min(SAMPLES);
    }

    /// The samples taken since `since`, oldest first.
    fn since(&self, since: u64) -> Vec<u32> {
        let start = (self.next + SAMPLES - self.len) % SAMPLES;
        (0..self.len)
            .map(|i| (start + i) % SAMPLES)
            .filter(|&i| self.at[i] >= since)
            .map(|i| self.value[i])
            .collect()
    }
}

/// The numbered stream of one sender: the highest number and which of the [`REORDER`]
/// below it arrived.
#[derive(Clone, Copy, Debug)]
struct Stream {
    top: u64,
    /// Bit `i`: number `top - i` arrived.
    seen: u64,
    /// When `top` arrived.
    top_at: Instant,
}

/// What one sequence number did to the stream.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The next numbers: `skipped` were lost on the way; `gap` numbers since the last.
    Ahead { skipped: u64, gap: u64 },
    /// A missing number arrived late: not a loss after all.
    Late,
    /// Seen before.
    Duplicate,
    /// A new stream (restart, resynchronisation): nothing lost, nothing to compare.
    Restart,
}

impl Stream {
    fn start(seq: u64, now: Instant) -> Stream {
        Stream {
            top: seq,
            seen: 1,
            top_at: now,
        }
    }

    fn step(&mut self, seq: u64, now: Instant) -> Step {
        if seq > self.top && seq - self.top <= RESYNC {
            let gap = seq - self.top;
            self.seen = if gap >= 64 { 0 } else { self.seen << gap };
            self.seen |= 1;
            self.top = seq;
            self.top_at = now;
            return Step::Ahead { skipped: gap - 1, gap };
        }
        let back = self.top.saturating_sub(seq);
        if seq > self.top || seq == 1 || back >= REORDER {
            *self = Stream::start(seq, now);
            return Step::Restart;
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            return Step::Duplicate;
        }
        self.seen |= bit;
        Step::Late
    }
}

/// What this node measures of one peer.
#[derive(Clone, Debug)]
struct Link {
    addr: SocketAddr,
    first: Instant,
    last: Instant,
    buckets: [Bucket; BUCKETS as usize],
    stream: Option<Stream>,
    interarrival: Ring,
    rtt: Ring,
}

impl Link {
    fn new(addr: SocketAddr, now: Instant) -> Link {
        Link {
            addr,
            first: now,
            last: now,
            buckets: [Bucket::default(); BUCKETS as usize],
            stream: None,
            interarrival: Ring::default(),
            rtt: Ring::default(),
        }
    }

    fn bucket(&mut self, now: Instant) -> &mut Bucket {
        let epoch = now.as_micros() / BUCKET_US;
        let bucket = &mut self.buckets[(epoch % BUCKETS) as usize];
        if bucket.epoch != epoch {
            *bucket = Bucket {
                epoch,
                ..Bucket::default()
            };
        }
        bucket
    }

    fn heard(&mut self, now: Instant, seq: Option<u64>) {
        self.bucket(now).received += 1;
        let previous = self.last;
        self.last = self.last.max(now);
        let Some(seq) = seq else {
            // A numbered peer's other messages (acks, opinions) are not its rounds.
            if self.stream.is_none() && now > previous {
                self.interarrival.push(now, now - previous);
            }
            return;
        };
        let Some(stream) = &mut self.stream else {
            self.stream = Some(Stream::start(seq, now));
            self.bucket(now).numbered += 1;
            return;
        };
        let top_at = stream.top_at;
        let step = stream.step(seq, now);
        let bucket = self.bucket(now);
        match step {
            Step::Ahead { skipped, gap } => {
                bucket.numbered += 1;
                bucket.lost = bucket.lost.saturating_add(i32::try_from(skipped).unwrap_or(i32::MAX));
                self.interarrival.push(now, now.saturating_since(top_at) / gap as u32);
            }
            Step::Late => {
                bucket.numbered += 1;
                bucket.lost -= 1;
            }
            Step::Restart => bucket.numbered += 1,
            Step::Duplicate => {}
        }
    }

    fn summary(&self, peer: &str, now: Instant) -> LinkSummary {
        let oldest = (now.as_micros() / BUCKET_US).saturating_sub(BUCKETS - 1);
        let (received, numbered, lost) = self
            .buckets
            .iter()
            .filter(|b| b.epoch >= oldest && b.epoch <= now.as_micros() / BUCKET_US)
            .fold((0u64, 0u64, 0i64), |(r, n, l), b| {
                (
                    r + u64::from(b.received),
                    n + u64::from(b.numbered),
                    l + i64::from(b.lost),
                )
            });
        let lost = lost.max(0) as u64;
        let since = now.as_micros().saturating_sub(WINDOW.as_micros() as u64);
        let rtts = self.rtt.since(since);
        let gaps = self.interarrival.since(since);
        LinkSummary {
            peer: peer.to_string(),
            addr: self.addr,
            window: now.saturating_since(self.first).min(WINDOW),
            received,
            loss: if numbered + lost == 0 {
                0.0
            } else {
                lost as f64 / (numbered + lost) as f64
            },
            sequenced: self.stream.is_some(),
            rtt: Quantiles::of(&rtts, 1),
            delay: Quantiles::of(&rtts, 2),
            jitter: jitter(&gaps),
            interarrival: Spread::of(&gaps),
        }
    }
}

/// Median and 99th percentile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantiles {
    /// The median.
    pub p50: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
}

impl Quantiles {
    /// The quantiles of `samples` (µs), each divided by `divisor`; `None` when empty.
    fn of(samples: &[u32], divisor: u32) -> Option<Quantiles> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let rank = |q: f64| {
            let index = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
            Duration::from_micros(u64::from(sorted[index] / divisor))
        };
        (!sorted.is_empty()).then(|| Quantiles {
            p50: rank(0.5),
            p99: rank(0.99),
        })
    }
}

/// Mean, standard deviation and 99th percentile of inter-arrival times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The mean.
    pub mean: Duration,
    /// The (population) standard deviation.
    pub stddev: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
}

impl Spread {
    fn of(samples: &[u32]) -> Option<Spread> {
        let quantiles = Quantiles::of(samples, 1)?;
        let n = samples.len() as f64;
        let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / n;
        let variance = samples.iter().map(|&s| (f64::from(s) - mean).powi(2)).sum::<f64>() / n;
        Some(Spread {
            mean: Duration::from_secs_f64(mean / 1e6),
            stddev: Duration::from_secs_f64(variance.sqrt() / 1e6),
            p99: quantiles.p99,
        })
    }
}

/// The mean absolute difference of successive samples (µs).
fn jitter(samples: &[u32]) -> Duration {
    if samples.len() < 2 {
        return Duration::ZERO;
    }
    let total: u64 = samples.windows(2).map(|w| u64::from(w[0].abs_diff(w[1]))).sum();
    Duration::from_micros(total / (samples.len() as u64 - 1))
}

/// One peer's figures over the window (`/v1/links`).
#[derive(Clone, Debug, PartialEq)]
pub struct LinkSummary {
    /// The peer's name.
    pub peer: String,
    /// The address its latest datagram came from.
    pub addr: SocketAddr,
    /// The span the figures cover: [`WINDOW`], or less since the peer was first heard.
    pub window: Duration,
    /// Datagrams received from the peer in the window.
    pub received: u64,
    /// Of the peer's numbered round messages in the window, lost / (arrived + lost), 0..1.
    pub loss: f64,
    /// Whether the peer's messages carry a round number (else `loss` measured nothing).
    pub sequenced: bool,
    /// Round trips of acknowledged rounds, if any in the window.
    pub rtt: Option<Quantiles>,
    /// One-way delay estimate: the round trips halved.
    pub delay: Option<Quantiles>,
    /// Mean absolute difference of successive inter-arrival times.
    pub jitter: Duration,
    /// Inter-arrival times (per sequence step when numbered), if any in the window.
    pub interarrival: Option<Spread>,
}

/// The link table: one [`Link`] per peer heard directly, by name.
#[derive(Clone, Debug, Default)]
pub struct Links {
    links: BTreeMap<String, Link>,
}

impl Links {
    /// `peer` sent a datagram from `addr`, received at `now`; `seq` is its round number
    /// when the message carries one ([`round_number`]).
    pub fn heard(&mut self, now: Instant, peer: &str, addr: SocketAddr, seq: Option<u64>) {
        if !self.links.contains_key(peer) {
            if self.links.len() >= MAX_LINKS {
                self.forget_stalest();
            }
            self.links.insert(peer.to_string(), Link::new(addr, now));
        }
        if let Some(link) = self.links.get_mut(peer) {
            link.addr = addr;
            link.heard(now, seq);
        }
    }

    /// A probe to `peer` was answered after `rtt`.
    pub fn round_trip(&mut self, now: Instant, peer: &str, rtt: Duration) {
        if let Some(link) = self.links.get_mut(peer) {
            link.rtt.push(now, rtt);
        }
    }

    /// Forgets `peer` (reaped, or no longer a member).
    pub fn forget(&mut self, peer: &str) {
        self.links.remove(peer);
    }

    fn forget_stalest(&mut self) {
        let stalest = self
            .links
            .iter()
            .min_by_key(|(_, link)| link.last)
            .map(|(name, _)| name.clone());
        if let Some(name) = stalest {
            self.links.remove(&name);
        }
    }

    /// The figures of every peer heard within the window, in name order.
    pub fn summaries(&self, now: Instant) -> Vec<LinkSummary> {
        let since = now.as_micros().saturating_sub(WINDOW.as_micros() as u64);
        self.links
            .iter()
            .filter(|(_, link)| link.last.as_micros() >= since)
            .map(|(name, link)| link.summary(name, now))
            .collect()
    }

    /// How many peers are measured.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether no peer is measured.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// The round number a message carries, if it is one every member gets each round (see
/// the module docs).
pub fn round_number(message: &crate::Message) -> Option<u64> {
    use crate::Message;
    match message {
        Message::Heartbeat { seq, .. } | Message::Poll { seq, .. } | Message::LeaderHeartbeat { seq, .. } => Some(*seq),
        _ => None,
    }
}

#[cfg(test)]
#[path = "links/tests.rs"]
mod tests;
