//! Joining a cluster: seeds given as `host[:port]` ([`Seed`]), resolved again on every
//! attempt (so a DNS round-robin or a Kubernetes headless Service works), attempts
//! spaced by a doubling backoff ([`RetryJoin`]), a WARN with the concrete reason after
//! each failed attempt, and a give-up after `retry_join_max` attempts.
//!
//! Owns the schedule and the name resolution only. The protocol (the join request, and
//! its re-sending each interval to the addresses last resolved) stays in the core; the
//! driver tells what it refused from a seed address ([`JoinWatch`]). Never touches the
//! node: it hands the driver a [`Control::Join`] and reads the published snapshot.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::driver::Control;
use super::snapshot::Snapshot;

/// The port a seed without one is assumed to listen on (memberlist's and Serf's, and
/// the agent's default `--bind` port).
pub const DEFAULT_PORT: u16 = 7946;

/// The longest wait between two join attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long one seed's name resolution may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A seed as written: a host name or address and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seed {
    /// Host name or IP address.
    pub host: String,
    /// UDP port.
    pub port: u16,
}

impl Seed {
    /// Parses `host`, `host:port`, `a.b.c.d[:port]`, `[v6]:port` or a bare IPv6 address;
    /// without a port, [`DEFAULT_PORT`].
    pub fn parse(text: &str) -> Result<Seed, String> {
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(Seed {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }
        if let Ok(ip) = text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(Seed {
                host: ip.to_string(),
                port: DEFAULT_PORT,
            });
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("`{text}`: `{port}` is not a port (1-65535)"))?;
                (host, port)
            }
            None => (text, DEFAULT_PORT),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || "-._".contains(c);
        if host.is_empty() || port == 0 || !host.chars().all(valid) {
            return Err(format!(
                "`{text}` is not HOST[:PORT]; write e.g. 10.0.0.2:7946 or seed.example.com (port {DEFAULT_PORT} by default)"
            ));
        }
        Ok(Seed {
            host: host.to_string(),
            port,
        })
    }

    /// Every address the seed resolves to now.
    pub(crate) async fn resolve(&self) -> Result<Vec<SocketAddr>, String> {
        let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
        match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(addrs)) => {
                let addrs: Vec<SocketAddr> = addrs.collect();
                if addrs.is_empty() {
                    Err(format!("cannot resolve seed `{self}`: no address"))
                } else {
                    Ok(addrs)
                }
            }
            Ok(Err(error)) => Err(format!("cannot resolve seed `{self}`: {error}")),
            Err(_) => Err(format!(
                "cannot resolve seed `{self}`: no answer within {RESOLVE_TIMEOUT:?}"
            )),
        }
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// When to try joining again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryJoin {
    /// The wait after the first attempt; it doubles after each failure, up to
    /// [`MAX_BACKOFF`] (or this interval, if longer).
    pub interval: Duration,
    /// Attempts after which the agent gives up and exits (`None`: never).
    pub max: Option<u32>,
}

impl Default for RetryJoin {
    fn default() -> RetryJoin {
        RetryJoin {
            interval: Duration::from_secs(1),
            max: None,
        }
    }
}

impl RetryJoin {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self.interval.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        doubled.min(MAX_BACKOFF.max(self.interval))
    }
}

/// One join attempt, as the joiner hands it to the driver.
#[derive(Debug)]
pub(crate) struct Attempt {
    /// 1-based.
    pub(crate) number: u32,
    /// Every address the seeds resolved to.
    pub(crate) addrs: Vec<SocketAddr>,
    /// Seeds that could not be resolved, with why.
    pub(crate) unresolved: Vec<String>,
}

/// What the driver knows of the join under way: the attempt, and the last datagram it
/// refused from a seed address.
#[derive(Debug, Default)]
pub(crate) struct JoinWatch {
    attempt: Option<Attempt>,
    refused: Option<(SocketAddr, &'static str)>,
    /// A seed's own word: why it refused the join (`Message::Refused`, or a refusal
    /// notice), kept across attempts until the node joins.
    told: Option<(SocketAddr, String)>,
}

impl JoinWatch {
    /// A new attempt starts: what was refused before no longer counts.
    pub(crate) fn start(&mut self, attempt: Attempt) {
        self.attempt = Some(attempt);
        self.refused = None;
    }

    /// The driver refused a datagram from `src` for `reason` (a `DecodeError::reason`).
    pub(crate) fn refused(&mut self, src: SocketAddr, reason: &'static str) {
        if self.attempt.as_ref().is_some_and(|a| a.addrs.contains(&src)) && explain(reason).is_some() {
            self.refused = Some((src, reason));
        }
    }

    /// A seed refused the join and said why. Returns whether that is news (so that the
    /// caller logs it once, not on every re-sent join).
    pub(crate) fn told(&mut self, by: SocketAddr, why: String) -> bool {
        let new = self.told.as_ref().is_none_or(|(at, said)| *at != by || *said != why);
        self.told = Some((by, why));
        new
    }

    /// Whether `src` is one of the addresses the join under way was sent to.
    pub(crate) fn is_seed(&self, src: SocketAddr) -> bool {
        self.attempt.as_ref().is_some_and(|a| a.addrs.contains(&src))
    }

    /// Why the node has not joined yet (`None` when no attempt was made).
    pub(crate) fn reason(&self) -> Option<String> {
        let attempt = self.attempt.as_ref()?;
        if let Some((src, reason)) = self.refused {
            let why = explain(reason).unwrap_or(reason);
            return Some(format!("seed {src} answers, but its datagrams are refused: {why}"));
        }
        if let Some((by, why)) = &self.told {
            return Some(format!("seed {by} refused the join: {why}"));
        }
        let mut text = if attempt.addrs.is_empty() {
            String::from("no seed could be resolved")
        } else {
            let addrs: Vec<String> = attempt.addrs.iter().map(ToString::to_string).collect();
            format!(
                "no answer from seed {} (attempt {}): is an agent running there, with the same keyring, \
                 --cluster label and a compatible version? (the seed logs what it refuses)",
                addrs.join(", "),
                attempt.number
            )
        };
        for unresolved in &attempt.unresolved {
            text.push_str("; ");
            text.push_str(unresolved);
        }
        Some(text)
    }
}

/// What a refusal means to an operator, for the refusals that say something about the
/// sender's configuration (`None` for noise: malformed, replayed, rate-limited...).
pub(crate) fn explain(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "unknown_key" | "forged" => "sealed with a key this node's keyring does not hold (give both the same keyring)",
        "encrypted" => "sealed, but this node has no keyring (give both the same keyring)",
        "plaintext" => "plaintext, but this node has a keyring (give both the same keyring)",
        "wrong_cluster" => "another cluster label (give both the same --cluster)",
        "unsupported_version" => "an incompatible version of the vitals protocol (upgrade the older agent)",
        _ => return None,
    })
}

/// What a seed's refusal notice (`vitals_core::wire::notice`) means to this node's
/// operator: the notice names what the seed refused in this node's datagrams.
pub(crate) fn explain_notice(reason: &str, version: u8) -> String {
    match reason {
        "plaintext" => "this node sends plaintext, but the seed has a keyring (give both the same keyring)".into(),
        "encrypted" => "this node seals its datagrams, but the seed has no keyring (give both the same keyring)".into(),
        "wrong_cluster" => "the seed has another cluster label (give both the same --cluster)".into(),
        "unsupported_version" => format!(
            "the seed speaks wire version {version}, this node {} (upgrade the older agent)",
            vitals_core::wire::VERSION
        ),
        _ => "the seed cannot authenticate this node's datagrams: another key, another --cluster label, \
              or an address the seed neither binds nor advertises (give both the same keyring and label, \
              and join the seed's advertised address)"
            .into(),
    }
}

/// How often refusal notices are sent: at most one per source per second and
/// [`NoticeBudget::PER_SECOND`] in all, so that spoofed datagrams can turn a node into
/// neither an amplifier (a notice is smaller than what it answers) nor a flood.
#[derive(Debug, Default)]
pub(crate) struct NoticeBudget {
    last: std::collections::HashMap<SocketAddr, vitals_core::Instant>,
    second: Option<vitals_core::Instant>,
    sent: u32,
}

impl NoticeBudget {
    const PER_SECOND: u32 = 20;
    const PER_SOURCE: Duration = Duration::from_secs(1);
    const CAPACITY: usize = 256;

    /// Whether a notice to `src` may go now; counts it if so.
    pub(crate) fn allow(&mut self, now: vitals_core::Instant, src: SocketAddr) -> bool {
        if self.second.is_none_or(|start| now - start >= Duration::from_secs(1)) {
            self.second = Some(now);
            self.sent = 0;
            self.last.retain(|_, at| now - *at < Self::PER_SOURCE);
        }
        let recent = self.last.get(&src).is_some_and(|&at| now - at < Self::PER_SOURCE);
        if recent || self.sent >= Self::PER_SECOND || self.last.len() >= Self::CAPACITY {
            return false;
        }
        self.sent += 1;
        self.last.insert(src, now);
        true
    }
}

/// Remembers when each source's refused datagrams were last reported, so a WARN names a
/// misconfigured peer once a minute at most (bounded: a flood of spoofed sources only
/// fills the table, and a full table reports nothing new).
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    last: std::collections::HashMap<SocketAddr, vitals_core::Instant>,
    /// Refusal notices sent lately (their rate limit).
    pub(crate) notices: NoticeBudget,
}

impl RefusalLog {
    const CAPACITY: usize = 256;
    const EVERY: Duration = Duration::from_secs(60);

    /// Logs a WARN for a datagram from `src` refused for `reason`, unless one was logged
    /// for `src` within the last minute or the reason is noise.
    pub(crate) fn note(&mut self, now: vitals_core::Instant, src: SocketAddr, reason: &'static str) {
        let Some(why) = explain(reason) else { return };
        if self.due(now, src) {
            tracing::warn!(%src, reason, "refused datagrams from {src}: {why}");
        }
    }

    /// Whether a WARN about `src` is due (none in the last minute); records it if so.
    pub(crate) fn due(&mut self, now: vitals_core::Instant, src: SocketAddr) -> bool {
        if self.last.get(&src).is_some_and(|&at| now - at < Self::EVERY) {
            return false;
        }
        if self.last.len() >= Self::CAPACITY {
            self.last.retain(|_, at| now - *at < Self::EVERY);
            if self.last.len() >= Self::CAPACITY {
                return false;
            }
        }
        self.last.insert(src, now);
        true
    }
}

/// Runs the join (through the seeds and the members `known` from the snapshot) until the node has joined (`Ok`) or `retry.max` attempts failed (`Err`
/// with the last reason). Each failed attempt is a WARN with its reason.
pub(crate) async fn run(
    seeds: Vec<Seed>,
    known: Vec<SocketAddr>,
    retry: RetryJoin,
    controls: mpsc::Sender<Control>,
    mut snapshot: watch::Receiver<Snapshot>,
) -> Result<(), String> {
    for number in 1.. {
        let mut addrs = known.clone();
        let mut unresolved = Vec::new();
        for seed in &seeds {
            match seed.resolve().await {
                Ok(found) => {
                    for addr in found {
                        if !addrs.contains(&addr) {
                            addrs.push(addr);
                        }
                    }
                }
                Err(error) => unresolved.push(error),
            }
        }
        let attempt = Attempt {
            number,
            addrs,
            unresolved,
        };
        if controls.send(Control::Join(attempt)).await.is_err() {
            return Ok(()); // the driver stopped
        }
        let wait = retry.backoff(number);
        let joined = tokio::time::timeout(wait, snapshot.wait_for(|s| s.me.joined))
            .await
            .is_ok();
        if joined {
            tracing::info!(attempt = number, "joined through the seeds");
            return Ok(());
        }
        let reason = snapshot.borrow().me.join_problem.clone().unwrap_or_default();
        if retry.max.is_some_and(|max| number >= max) {
            return Err(format!("gave up joining after {number} attempts: {reason}"));
        }
        tracing::warn!(attempt = number, retry_in = ?retry.backoff(number + 1), "cannot join: {reason}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_with_a_default_port() {
        let seed = |text| Seed::parse(text).map(|s| s.to_string());
        assert_eq!(seed("10.0.0.2:8000"), Ok("10.0.0.2:8000".into()));
        assert_eq!(seed("10.0.0.2"), Ok("10.0.0.2:7946".into()));
        assert_eq!(seed("seed.example.com"), Ok("seed.example.com:7946".into()));
        assert_eq!(seed("localhost:9000"), Ok("localhost:9000".into()));
        assert_eq!(seed("[::1]:9000"), Ok("[::1]:9000".into()));
        assert_eq!(seed("::1"), Ok("[::1]:7946".into()));
        assert!(seed("host:port").is_err());
        assert!(seed("host:0").is_err());
        assert!(seed("").is_err());
        assert!(seed("a b:1").is_err());
    }

    #[tokio::test]
    async fn a_seed_named_by_dns_stands_for_every_address_of_the_name() {
        let seeds = Seed::parse("localhost:7946").unwrap().resolve().await.unwrap();
        assert!(seeds.contains(&"127.0.0.1:7946".parse().unwrap()), "{seeds:?}");
        let one = Seed::parse("10.0.0.2:7946").unwrap().resolve().await.unwrap();
        assert_eq!(one, vec!["10.0.0.2:7946".parse::<SocketAddr>().unwrap()]);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let retry = RetryJoin::default();
        let waits: Vec<u64> = (1..=7).map(|n| retry.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        let long = RetryJoin {
            interval: Duration::from_secs(60),
            max: None,
        };
        assert_eq!(long.backoff(3), Duration::from_secs(60));
    }

    #[test]
    fn notices_are_rate_limited_per_source_and_in_all() {
        let mut budget = NoticeBudget::default();
        let at = |ms| vitals_core::Instant::from_duration(Duration::from_millis(ms));
        let src = |i: u16| SocketAddr::from(([127, 0, 0, 1], i));
        assert!(budget.allow(at(0), src(1)));
        assert!(!budget.allow(at(500), src(1)), "one per source per second");
        assert!(budget.allow(at(1_000), src(1)));
        let sent = (2..100).filter(|&i| budget.allow(at(1_100), src(i))).count();
        assert_eq!(
            sent as u32,
            NoticeBudget::PER_SECOND - 1,
            "at most PER_SECOND in a second"
        );
    }

    #[test]
    fn a_refusal_from_a_seed_is_the_reason() {
        let seed: SocketAddr = "127.0.0.1:7946".parse().unwrap();
        let mut watch = JoinWatch::default();
        assert_eq!(watch.reason(), None);
        watch.start(Attempt {
            number: 2,
            addrs: vec![seed],
            unresolved: vec![],
        });
        assert!(
            watch
                .reason()
                .unwrap()
                .starts_with("no answer from seed 127.0.0.1:7946 (attempt 2)")
        );
        watch.refused("127.0.0.9:7946".parse().unwrap(), "wrong_cluster");
        watch.refused(seed, "replayed");
        assert!(
            watch.reason().unwrap().starts_with("no answer"),
            "not from a seed, or noise"
        );
        watch.refused(seed, "wrong_cluster");
        assert!(watch.reason().unwrap().contains("another cluster label"));
    }
}
