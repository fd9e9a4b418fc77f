//! The command line: argument definitions only. Parsing errors name the flag (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vitals_agent::daemon::config::{ApiAuth, RawConfig, RawPhi, parse_duration};
use vitals_agent::health::services::RawService;
use vitals_agent::routing::Policy;
use vitals_core::{DetectorKind, Preset, StrategyKind};

use crate::choice;
use crate::client::{AgentAddr, Api};

const EXAMPLES: &str = "\
Examples:
  vitals demo                                         a live 5-node demo on this machine
  vitals agent --name web-1 --bind 10.0.0.1:7946 --join 10.0.0.2:7946
  vitals members --http http://127.0.0.1:7947         the members an agent knows
  vitals links --http 127.0.0.1:7947                  loss, delays and jitter it measures
  vitals matrix --http http://127.0.0.1:7947          who hears whom
  VITALS_HTTP_ADDR=localhost:7947 vitals why node-5   why it holds node-5 suspect or dead
  vitals completions bash > /etc/bash_completion.d/vitals

Environment:
  VITALS_HTTP_ADDR, VITALS_HTTP_TOKEN   the agent API address and token for client commands
  VITALS_KEYRING, VITALS_API_TOKEN      the agent's cluster keys and API token
  RUST_LOG                              log filter, e.g. info or vitals_agent=debug

Exit status: 0 success, 1 runtime failure (agent unreachable, socket busy, ...), 2 usage
error (a bad flag, value or config file; the message names it).";

/// Heartbeats, health checks and failure detection for distributed systems.
#[derive(Debug, Parser)]
#[command(name = "vitals", version = crate::version(), about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Log lines as text or as JSON objects (one per line); RUST_LOG filters them.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "VITALS_LOG_FORMAT")]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How log lines are written (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// How to reach an agent's HTTP API: every client command and `vitals proxy`.
#[derive(Debug, Args)]
#[command(next_help_heading = "Agent API")]
pub(crate) struct ApiArgs {
    /// The agent's HTTP API: HOST:PORT, http://HOST:PORT or a name like localhost:7947.
    #[arg(
        long,
        value_name = "ADDR",
        env = "VITALS_HTTP_ADDR",
        default_value = "127.0.0.1:7947"
    )]
    pub(crate) http: AgentAddr,
    /// Bearer token for an agent started with --api-token-file [env: VITALS_HTTP_TOKEN].
    #[arg(long, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// File holding the bearer token (instead of --token).
    #[arg(long, value_name = "FILE", conflicts_with = "token")]
    pub(crate) token_file: Option<PathBuf>,
}

impl ApiArgs {
    /// The address and the token: --token, else --token-file, else `VITALS_HTTP_TOKEN`
    /// (a flag always wins over the environment).
    pub(crate) fn api(&self) -> anyhow::Result<Api> {
        let token = match (&self.token, &self.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| crate::usage(format!("cannot read --token-file {}: {e}", path.display())))?;
                Some(text.trim().to_string())
            }
            (None, None) => std::env::var("VITALS_HTTP_TOKEN").ok().filter(|t| !t.is_empty()),
        };
        Ok(Api {
            addr: self.http.clone(),
            token,
        })
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the agent on this machine.
    Agent(Box<AgentArgs>),
    /// Show the members an agent knows, like `serf members`.
    Members(MembersArgs),
    /// Show the leader an agent knows (strategy leader).
    Leader(LeaderArgs),
    /// Show who hears whom (the reachability matrix), each unreachable pair classified.
    Matrix(MatrixArgs),
    /// Show what an agent measures of each peer it hears directly: loss, delays, jitter.
    Links(crate::links::LinksArgs),
    /// Ask a running agent to join (more of) a cluster through these seeds.
    Join(crate::lifecycle::JoinCmdArgs),
    /// Ask a running agent to leave the cluster and stop.
    Leave(crate::lifecycle::LeaveArgs),
    /// Remove a dead member from every member's list at once (refused for a live member).
    ForceLeave(crate::lifecycle::ForceLeaveArgs),
    /// Explain why an agent holds a member suspect or dead (accusers, probes, detector, history).
    Why(WhyArgs),
    /// Start a local cluster, crash a node, and watch it being detected.
    Demo(DemoArgs),
    /// Print a new random cluster key (base64) for a keyring file.
    Keygen,
    /// Simulate a cluster on virtual time and report detection time, mistakes and overhead.
    Sim(Box<crate::sim::SimArgs>),
    /// Recommend interval, threshold and strategy for a detection-time and false-positive target.
    Tune(crate::tune::TuneArgs),
    /// Ask an agent which instance of a service to use now.
    Route(RouteArgs),
    /// A TCP proxy for one service that follows an agent's view and fails over.
    Proxy(ProxyArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `vitals man > vitals.1`.
    Man,
}

/// `vitals agent`: flags override the config file, key by key.
#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Unique name of this node.
    #[arg(help_heading = "Node", long)]
    pub(crate) name: Option<String>,
    /// UDP address for heartbeats [default: 127.0.0.1:7946].
    #[arg(help_heading = "Node", long, value_name = "HOST:PORT")]
    pub(crate) bind: Option<String>,
    /// Address peers should use, when --bind is a wildcard address.
    #[arg(help_heading = "Node", long, value_name = "HOST:PORT")]
    pub(crate) advertise: Option<String>,
    /// Address of the HTTP API, as HOST:PORT or http://HOST:PORT [default: 127.0.0.1:7947].
    #[arg(help_heading = "Node", long, value_name = "HOST:PORT", value_parser = listen_addr)]
    pub(crate) http: Option<String>,
    /// Seed nodes to join through, HOST[:PORT] (port 7946 by default; names are resolved on every attempt).
    #[arg(help_heading = "Node", long, value_name = "HOST[:PORT],...", value_delimiter = ',')]
    pub(crate) join: Option<Vec<String>>,
    #[command(flatten)]
    pub(crate) joining: crate::joining::JoinArgs,
    /// How liveness information flows [default: push].
    #[arg(help_heading = "Strategy", long, value_parser = choice::strategy())]
    pub(crate) strategy: Option<StrategyKind>,
    /// Acknowledge every heartbeat: measure round trips, detect a broken outbound path (push).
    #[arg(help_heading = "Strategy", long)]
    pub(crate) ack: bool,
    /// The nodes that poll the others (pull).
    #[arg(help_heading = "Strategy", long, value_name = "NAME,...", value_delimiter = ',')]
    pub(crate) monitor: Option<Vec<String>>,
    /// The nodes that vote in leader elections (leader) [default: every member].
    #[arg(help_heading = "Strategy", long, value_name = "NAME,...", value_delimiter = ',')]
    pub(crate) voters: Option<Vec<String>>,
    /// Raft's election timeout T; timers are drawn from [T, 2T] (leader)
    /// [default: timeout + (threshold - 1) x interval].
    #[arg(help_heading = "Strategy", long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) election_timeout: Option<Duration>,
    /// How long a leader acts after a majority acknowledged its heartbeats (leader)
    /// [default: 90% of T x (1 - drift) / (1 + drift)].
    #[arg(help_heading = "Strategy", long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) lease: Option<Duration>,
    /// Bound on the clock-rate drift between two nodes that leases assume, as a fraction (leader) [default: 0.05].
    #[arg(help_heading = "Strategy", long, value_name = "FRACTION")]
    pub(crate) clock_drift: Option<f64>,
    /// No election before this many voters are known, e.g. 3 for a cluster of three
    /// started one node at a time (leader; Consul's name) [default: none].
    #[arg(help_heading = "Strategy", long, value_name = "N")]
    pub(crate) bootstrap_expect: Option<u32>,
    /// Timing preset [default: web].
    #[arg(help_heading = "Timing and detection", long, value_parser = choice::preset())]
    pub(crate) preset: Option<Preset>,
    /// Time between heartbeats, e.g. 200ms, 1s, 2m (overrides the preset).
    #[arg(help_heading = "Timing and detection", long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) interval: Option<Duration>,
    /// Silence before a heartbeat counts as missed; at least the interval [default: the interval plus a tenth].
    #[arg(help_heading = "Timing and detection", long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
    /// Consecutive missed heartbeats that declare a node dead [default: 3].
    #[arg(
        help_heading = "Timing and detection",
        long,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub(crate) threshold: Option<u32>,
    /// Pick the interval and threshold from what this agent measures (push, missed
    /// detector), starting from --interval: detect-within=5s,mistakes=1/month[,floor=100ms].
    #[arg(help_heading = "Timing and detection", long, value_name = "TARGET")]
    pub(crate) auto_tune: Option<String>,
    /// How silence becomes a verdict [default: missed].
    #[arg(help_heading = "Timing and detection", long, value_parser = choice::detector())]
    pub(crate) detector: Option<DetectorKind>,
    /// Phi that declares a node dead, with --detector phi [default: 8].
    #[arg(
        help_heading = "Timing and detection",
        long,
        value_name = "PHI",
        allow_negative_numbers = true
    )]
    pub(crate) phi_threshold: Option<f64>,
    /// Fault injection for tests (hidden flags; only in builds with the agent's
    /// `fault-injection` feature, which the tests enable).
    #[command(flatten)]
    pub(crate) faults: vitals_agent::daemon::fault::Faults,
    /// Declare a member dead only when a majority of its observers accuse it (push, pull:
    /// of the monitors, ping, gossip), and alive only once a majority hear it (not ping).
    /// Not for leader.
    #[arg(help_heading = "Strategy", long)]
    pub(crate) quorum: bool,
    /// Like --quorum, with this many accusers instead of a majority.
    #[arg(help_heading = "Strategy", long, value_name = "N")]
    pub(crate) quorum_size: Option<u32>,
    /// Push: let each node's own detector decide alone. Push's default is --quorum, so
    /// that one broken link or one sick observer never removes a member the others hear.
    #[arg(help_heading = "Strategy", long, conflicts_with_all = ["quorum", "quorum_size"])]
    pub(crate) no_push_quorum: bool,
    /// Flap damping: a member that keeps dying and returning is held down until it settles.
    #[arg(help_heading = "Strategy", long)]
    pub(crate) flap_damping: bool,
    /// Ping: no fast confirmation; suspicions end on Lifeguard's timeouts only, so a member
    /// paused for up to the suspicion timeout (seconds) is never declared dead.
    #[arg(help_heading = "Strategy", long)]
    pub(crate) no_fast_confirm: bool,
    /// Ping: no watch ring (no heartbeat to a watcher each interval, about 60 B/s per node
    /// less); a crash then waits for a random first probe.
    #[arg(help_heading = "Strategy", long)]
    pub(crate) no_watch_ring: bool,
    /// Mass-failure brake: at most this fraction of the cluster declared dead per window [default: off].
    #[arg(help_heading = "Strategy", long, value_name = "FRACTION")]
    pub(crate) brake_fraction: Option<f64>,
    /// Cluster label: agents with different labels never accept each other [default: default].
    #[arg(help_heading = "Node", long, value_name = "NAME")]
    pub(crate) cluster: Option<String>,
    /// Keyring file: one base64 key per line, the first is used to send (SIGHUP reloads it).
    /// Or set VITALS_KEYRING. Without a key, heartbeats travel in plaintext.
    #[arg(help_heading = "Security", long, value_name = "FILE")]
    pub(crate) keyring: Option<PathBuf>,
    /// File holding the HTTP API bearer token (or set VITALS_API_TOKEN).
    #[arg(help_heading = "Security", long, value_name = "FILE")]
    pub(crate) api_token_file: Option<PathBuf>,
    /// Which endpoints need the token [default: writes].
    #[arg(help_heading = "Security", long, value_name = "WHICH", value_parser = choice::api_auth())]
    pub(crate) api_auth: Option<ApiAuth>,
    /// A service this agent fronts, NAME=HOST:PORT (repeatable; checks go in the config file).
    #[arg(
        help_heading = "Services and checks",
        long = "service",
        value_name = "NAME=HOST:PORT"
    )]
    pub(crate) services: Vec<RawService>,
    /// Serve the gRPC Health Checking Protocol (grpc.health.v1) on this address [default: off].
    #[arg(help_heading = "Services and checks", long, value_name = "HOST:PORT")]
    pub(crate) grpc: Option<String>,
    /// Route to every live instance when fewer than this fraction are healthy [default: 0.5].
    #[arg(
        help_heading = "Services and checks",
        long,
        value_name = "FRACTION",
        allow_negative_numbers = true
    )]
    pub(crate) panic_threshold: Option<f64>,
    /// Run a program on events: [KIND[:STATUS]=]PROGRAM [ARGS...], KIND member, leader,
    /// check, service or * (repeatable; e.g. member:dead=/usr/local/bin/page). The event
    /// is in VITALS_* environment variables, the members on standard input.
    #[arg(help_heading = "Events", long = "event-handler", value_name = "SPEC")]
    pub(crate) event_handlers: Vec<String>,
    /// How long an event handler may run before it is killed [default: 10s].
    #[arg(help_heading = "Events", long, value_name = "DUR", value_parser = parse_duration)]
    pub(crate) event_handler_timeout: Option<std::time::Duration>,
    /// POST each event as JSON to this http:// URL, with retries (repeatable).
    #[arg(help_heading = "Events", long = "webhook", value_name = "URL")]
    pub(crate) webhooks: Vec<String>,
    /// TOML file with the same settings (flags win).
    #[arg(help_heading = "Node", long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// `--http` of the agent: the same forms client commands accept (`http://` is dropped).
fn listen_addr(text: &str) -> Result<String, String> {
    text.parse::<AgentAddr>().map(|addr| addr.to_string())
}

impl AgentArgs {
    /// The settings these flags give (absent flags stay unset).
    pub(crate) fn to_raw(&self) -> RawConfig {
        self.joining.apply(RawConfig {
            name: self.name.clone(),
            bind: self.bind.clone(),
            advertise: self.advertise.clone(),
            http: self.http.clone(),
            join: self.join.clone(),
            strategy: self.strategy,
            ack: self.ack.then_some(true),
            monitors: self.monitor.clone(),
            voters: self.voters.clone(),
            election_timeout: self.election_timeout,
            lease: self.lease,
            clock_drift: self.clock_drift,
            bootstrap_expect: self.bootstrap_expect,
            preset: self.preset,
            interval: self.interval,
            timeout: self.timeout,
            threshold: self.threshold,
            auto_tune: self.auto_tune.clone(),
            detector: self.detector,
            phi: self.phi_threshold.map(|t| RawPhi {
                threshold: Some(t),
                ..RawPhi::default()
            }),
            quorum: match (self.quorum_size, self.quorum) {
                (Some(n), _) => Some(vitals_core::Quorum::AtLeast(n)),
                (None, true) => Some(vitals_core::Quorum::Majority),
                (None, false) => None,
            },
            push_quorum: self.no_push_quorum.then_some(false),
            brake_fraction: self.brake_fraction,
            flap_damping: self.flap_damping.then_some(true),
            fast_confirm: self.no_fast_confirm.then_some(false),
            watch_ring: self.no_watch_ring.then_some(false),
            cluster: self.cluster.clone(),
            keyring: self.keyring.clone(),
            api_token_file: self.api_token_file.clone(),
            api_auth: self.api_auth,
            services: (!self.services.is_empty()).then(|| self.services.clone()),
            grpc: self.grpc.clone(),
            panic_threshold: self.panic_threshold,
            event_handlers: (!self.event_handlers.is_empty()).then(|| self.event_handlers.clone()),
            event_handler_timeout: self.event_handler_timeout,
            webhooks: (!self.webhooks.is_empty()).then(|| self.webhooks.clone()),
            ..RawConfig::default()
        })
    }
}

/// `vitals route`.
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  vitals route web --policy least-loaded    # web-2 10.0.0.2:8080 score=0.93 status=passing"
)]
pub(crate) struct RouteArgs {
    /// The service to route to.
    pub(crate) service: String,
    /// How to choose among healthy instances.
    #[arg(long, default_value = "weighted", value_parser = choice::policy())]
    pub(crate) policy: Policy,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Print the raw JSON answer.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `vitals proxy`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  vitals proxy --listen 0.0.0.0:8000 --service web --metrics 127.0.0.1:8001")]
pub(crate) struct ProxyArgs {
    /// Where clients connect.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) listen: std::net::SocketAddr,
    /// The service to proxy.
    #[arg(long)]
    pub(crate) service: String,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// How to choose among healthy instances.
    #[arg(long, default_value = "weighted", value_parser = choice::policy())]
    pub(crate) policy: Policy,
    /// Route to every live instance when fewer than this fraction are healthy.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5)]
    pub(crate) panic_threshold: f64,
    /// The proxy follows the agent's view with blocking queries (it hears of a change as
    /// the agent does); this is how long it waits before asking again when the agent
    /// does not answer, or between reads from an agent too old to block.
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_duration)]
    pub(crate) refresh: Duration,
    /// Time a connect to a target may take before the next one is tried.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    pub(crate) connect_timeout: Duration,
    /// Serve Prometheus metrics (connections per target) on this address.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) metrics: Option<std::net::SocketAddr>,
}

/// `vitals members`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  vitals members --http http://10.0.0.1:7947 --token-file /etc/vitals/token")]
pub(crate) struct MembersArgs {
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Only members with one of these statuses: alive, suspect, dead, left.
    #[arg(long, value_name = "STATUS,...", value_delimiter = ',')]
    pub(crate) status: Vec<String>,
    /// Only members with this tag (repeatable: every one must match).
    #[arg(long, value_name = "KEY=VALUE")]
    pub(crate) tag: Vec<String>,
    /// Print the raw JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `vitals leader`.
#[derive(Debug, Args)]
pub(crate) struct LeaderArgs {
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Print the raw JSON instead of a line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `vitals matrix`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  vitals matrix --http localhost:7947")]
pub(crate) struct MatrixArgs {
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Print the raw JSON (`GET /v1/reachability`) instead of the grid.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `vitals why`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  vitals why node-5 --http localhost:7947")]
pub(crate) struct WhyArgs {
    /// The member to explain.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Print the raw JSON instead of an explanation.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `vitals demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How many agents to start (2 to 50).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(2..=50))]
    pub(crate) nodes: u8,
    /// How liveness information flows (with pull, node-1 is the monitor).
    #[arg(long, default_value = "push", value_parser = choice::strategy())]
    pub(crate) strategy: StrategyKind,
    /// Acknowledge heartbeats (push).
    #[arg(long)]
    pub(crate) ack: bool,
    /// How silence becomes a verdict.
    #[arg(long, default_value = "missed", value_parser = choice::detector())]
    pub(crate) detector: DetectorKind,
    /// The first three octets of the loopback addresses the agents use.
    #[arg(long, value_name = "A.B.C", default_value = "127.0.0")]
    pub(crate) subnet: String,
    /// Run the scenario once (crash, detect, restart) and exit, without a live table.
    #[arg(long)]
    pub(crate) once: bool,
}
