//! The published, read-only picture of the node that HTTP handlers serve. The driver
//! rebuilds it after inputs that changed something (beyond 100 members, at most once per
//! refresh: `driver::hold`); readers never touch the node. It holds what costs O(members)
//! to build, never what costs O(members²) (the reachability matrix, each member's `why`:
//! asked of the driver, `driver::Question`).

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vitals_core::{CheckStatus, Config, Health, Instant, Node, Preset, Role, Stats, Status, score};

use crate::api::links::LinkView;
use crate::routing::Instance;

/// One row of `GET /v1/members` (the CLI reads it back with the same type).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Unique name.
    pub name: String,
    /// Protocol address.
    #[schema(value_type = String, example = "10.0.0.1:7946")]
    pub addr: SocketAddr,
    /// `alive`, `suspect`, `dead` or `left`.
    pub status: Status,
    /// The incarnation the status is about.
    pub incarnation: u64,
    /// Milliseconds since this node last heard from the member directly (0 for itself).
    pub last_heard_ms: Option<u64>,
    /// Milliseconds since the status last changed.
    pub status_age_ms: u64,
    /// The member's last reported health (with its checks and services, if any).
    pub health: Option<Health>,
    /// The member's tags (`--tag KEY=VALUE`), as its health last carried them.
    pub tags: vitals_core::tags::Tags,
    /// The member's own check status (node-level checks and system thresholds).
    pub check_status: Option<CheckStatus>,
    /// The health score in [0, 1]: liveness × checks × headroom (`vitals_core::score`).
    pub score: f64,
    /// Latest measured round-trip time, where measured.
    pub rtt_ms: Option<f64>,
    /// This node's detector for the member, where it judges the member itself.
    pub detector: Option<DetectorView>,
    /// Whether this row is the node serving the request.
    pub is_self: bool,
}

/// A detector's reading.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DetectorView {
    /// Missed heartbeats, or phi.
    pub level: f64,
    /// Silence after which the member is declared dead (the effective timeout).
    pub timeout_ms: f64,
}

/// `GET /v1/self`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SelfView {
    /// The node's name.
    pub name: String,
    /// The address peers use.
    #[schema(value_type = String)]
    pub addr: SocketAddr,
    /// The HTTP API address.
    #[schema(value_type = String)]
    pub http: SocketAddr,
    /// Current incarnation.
    pub incarnation: u64,
    /// `push`, `pull` or `leader`.
    pub strategy: vitals_core::StrategyKind,
    /// The preset the timing started from.
    pub preset: Preset,
    /// The effective protocol configuration (durations as text, like `200ms` or `1s 500ms`;
    /// the keys of the agent's TOML file).
    #[schema(value_type = Object)]
    pub config: Config,
    /// Whether the node is part of a cluster.
    pub joined: bool,
    /// Not joined yet: why (no answer from the seeds, refused datagrams, unresolved names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_problem: Option<String>,
    /// Whether the node has left.
    pub left: bool,
    /// Push with ack: whether nobody acknowledges this node.
    pub isolated: bool,
    /// Why `--quorum-size` cannot be reached with the members up now, if it cannot.
    pub unreachable_quorum: Option<String>,
    /// The seed of the node's random generator (replays its choices).
    pub seed: u64,
    /// Counters of dropped and refuted inputs.
    pub stats: Stats,
}

/// Everything the HTTP API serves about the node.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// The node itself.
    pub me: SelfView,
    /// Every member, the node included.
    pub members: Vec<MemberView>,
    /// Leader strategy: what the node knows of leadership (`None` for other strategies).
    pub leader: Option<LeaderView>,
    /// `GET /v1/links`: what the node measures of each peer it hears directly (read at
    /// most once a second; snapshots in between share the last reading).
    pub links: Arc<Vec<crate::api::links::LinkView>>,
    /// When the picture was taken, on the node's clock (not served; dates are derived from it).
    #[serde(skip)]
    pub taken_at: Instant,
    /// The blocking queries' indexes for this picture (`daemon::blocking`; set by the driver).
    #[serde(skip)]
    pub indexes: super::blocking::Indexes,
}

/// `GET /v1/leader`, as published (the handler adds the lease's remaining time).
#[derive(Clone, Debug, Serialize)]
pub struct LeaderView {
    /// The leader of `term` as this node knows it (`null` during an election).
    pub leader: Option<String>,
    /// The node's current term.
    pub term: u64,
    /// The voters, in name order.
    pub voters: Vec<String>,
    /// This node's role: follower, pre-candidate, candidate, leader or observer.
    pub role: Role,
    /// Whether a leader elected by a majority is known. `false`: no leader quorum; the
    /// node shows its own detectors' verdicts about every member until there is one.
    pub quorum: bool,
    /// When this node leads: the end of its lease, on the node's clock (not served).
    #[serde(skip)]
    pub lease_until: Option<Instant>,
    /// Why this node does not stand for election now (`--bootstrap-expect` not reached,
    /// or no seed answered its join); `null` when it may.
    pub held: Option<String>,
}

/// Facts about the agent that the node does not hold.
#[derive(Clone, Copy, Debug)]
pub struct Context {
    /// The HTTP API address.
    pub http: SocketAddr,
    /// The preset the timing started from.
    pub preset: Preset,
    /// The node's random seed.
    pub seed: u64,
}

impl Snapshot {
    /// The picture of `node` at `now`, with `links` when given (the last reading), else
    /// the links read now.
    pub fn of(node: &Node, context: Context, now: Instant, links: Option<Arc<Vec<LinkView>>>) -> Snapshot {
        let me = node.me();
        let config = node.config().clone();
        let own = node.members().me();
        let members = node
            .members()
            .readings(now)
            .map(|(m, reading)| member_view(node.config(), own, m, reading, now))
            .collect();
        Snapshot {
            me: SelfView {
                name: me.name.clone(),
                addr: me.addr,
                http: context.http,
                incarnation: me.incarnation,
                strategy: config.kind(),
                preset: context.preset,
                config,
                joined: node.is_joined(),
                join_problem: None,
                left: node.has_left(),
                isolated: node.is_isolated(),
                unreachable_quorum: node.unreachable_quorum().map(|q| q.to_string()),
                seed: context.seed,
                stats: node.stats(),
            },
            members,
            links: links.unwrap_or_else(|| Arc::new(node.links(now).iter().map(Into::into).collect())),
            taken_at: now,
            indexes: super::blocking::Indexes::default(),
            leader: node.leadership(now).map(|l| LeaderView {
                leader: l.leader,
                term: l.term,
                voters: l.voters,
                role: l.role,
                quorum: l.quorum,
                lease_until: l.lease_until,
                held: l.held,
            }),
        }
    }
}

impl Snapshot {
    /// Every instance of `service` among the members, scored.
    pub fn instances(&self, service: &str) -> Vec<Instance> {
        self.members
            .iter()
            .filter_map(|m| {
                let health = m.health.as_ref()?;
                let entry = health.checks.as_ref()?.service(service)?;
                let suspicion = m
                    .detector
                    .as_ref()
                    .map_or(0.0, |d| score::suspicion(&self.me.config, d.level));
                Some(Instance {
                    name: m.name.clone(),
                    addr: entry.addr,
                    member_status: m.status,
                    status: score::instance_status(Some(health), entry),
                    score: score::instance_score(m.status, suspicion, Some(health), entry),
                    weight: entry.weight,
                    free: score::free_fraction(Some(health)),
                })
            })
            .collect()
    }

    /// The names of every service any member announces, sorted.
    pub fn service_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .members
            .iter()
            .filter_map(|m| m.health.as_ref()?.checks.as_ref())
            .flat_map(|c| c.services.iter().map(|s| s.name.clone()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// This node's own row.
    pub fn own(&self) -> Option<&MemberView> {
        self.members.iter().find(|m| m.is_self)
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn member_view(
    config: &Config,
    me: &vitals_core::Member,
    m: &vitals_core::Member,
    reading: Option<(f64, std::time::Duration)>,
    now: Instant,
) -> MemberView {
    let is_self = std::ptr::eq(m, me);
    let detector = reading.map(|(level, timeout)| DetectorView {
        level: if level.is_finite() { level } else { f64::MAX },
        timeout_ms: timeout.as_secs_f64() * 1e3,
    });
    let suspicion = detector.as_ref().map_or(0.0, |d| score::suspicion(config, d.level));
    MemberView {
        name: m.name.clone(),
        addr: m.addr,
        status: m.shown(),
        incarnation: m.incarnation,
        last_heard_ms: if is_self {
            Some(0)
        } else {
            m.last_heard.map(|t| millis(now - t))
        },
        status_age_ms: millis(now - m.since),
        tags: m.health.as_ref().map(|h| h.tags.clone()).unwrap_or_default(),
        health: m.health.clone(),
        check_status: score::node_status(m.health.as_ref()),
        score: score::member_score(m.shown(), suspicion, m.health.as_ref()),
        rtt_ms: m.rtt.map(|d| d.as_secs_f64() * 1e3),
        detector,
        is_self,
    }
}
