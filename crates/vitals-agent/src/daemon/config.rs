//! The agent's settings: what the TOML file and the command line may say ([`RawConfig`],
//! every field optional), merged (flags override the file) and validated into
//! [`Settings`]. A bad value is refused here, at start-up, with a message that names the
//! key and says how to fix it.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use vitals_core::seal::Keyring;
use vitals_core::{Config, DetectorKind, Preset, RoleError, Roles, StrategyConfig, StrategyKind, wire};
use zeroize::Zeroizing;

use super::fault::Faults;
use super::hooks::{HandlerSpec, Hooks, WebhookSpec};
use super::join::{RetryJoin, Seed};
use crate::health::services::{self, CheckSpec, RawCheck, RawService, RawThresholds, ServiceSpec, Thresholds};
use crate::parse::{SettingsError, opt_duration};

/// The environment variable that may hold the keyring (one base64 key per line or comma).
pub const KEYRING_ENV: &str = "VITALS_KEYRING";
/// The environment variable that may hold the HTTP API bearer token.
pub const API_TOKEN_ENV: &str = "VITALS_API_TOKEN";

/// Settings as written in a TOML file or given as flags; anything may be missing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Unique node name.
    pub name: Option<String>,
    /// Protocol (UDP) address to listen on.
    pub bind: Option<String>,
    /// Address peers should use, when `bind` is a wildcard.
    pub advertise: Option<String>,
    /// HTTP API address.
    pub http: Option<String>,
    /// Seeds to join through, `host[:port]` (port 7946 by default).
    pub join: Option<Vec<String>>,
    /// Wait after the first failed join attempt (doubling after each, up to 30 s).
    #[serde(default, with = "opt_duration")]
    pub retry_join_interval: Option<Duration>,
    /// Failed join attempts after which the agent exits (default: retry forever).
    pub retry_join_max: Option<u32>,
    /// Tags carried with this node's membership (`[tags]` table, or `--tag KEY=VALUE`).
    pub tags: Option<std::collections::BTreeMap<String, String>>,
    /// Directory for the agent's state (the members snapshot, `members.json`, and the
    /// last run's generation, `generation`).
    pub data_dir: Option<PathBuf>,
    /// The members snapshot file (overrides `data_dir`).
    pub snapshot: Option<PathBuf>,
    /// `push` or `pull`.
    pub strategy: Option<StrategyKind>,
    /// Acknowledge heartbeats (push).
    pub ack: Option<bool>,
    /// Monitor names (pull).
    pub monitors: Option<Vec<String>>,
    /// Voter names (leader; default: every member).
    pub voters: Option<Vec<String>>,
    /// Raft's election timeout T (leader; timers are drawn from [T, 2T]).
    #[serde(default, with = "opt_duration")]
    pub election_timeout: Option<Duration>,
    /// How long a leader acts after a majority acknowledged its heartbeats (leader).
    #[serde(default, with = "opt_duration")]
    pub lease: Option<Duration>,
    /// Bound on relative clock-rate drift between nodes that leases assume (leader).
    pub clock_drift: Option<f64>,
    /// Voters to know before the first election (leader; Consul's `bootstrap_expect`).
    pub bootstrap_expect: Option<u32>,
    /// Named timing preset.
    pub preset: Option<Preset>,
    /// Heartbeat interval.
    #[serde(default, with = "opt_duration")]
    pub interval: Option<Duration>,
    /// Silence before a heartbeat counts as missed.
    #[serde(default, with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Consecutive misses that declare death.
    pub threshold: Option<u32>,
    /// Pick the interval and threshold from measured loss and delay:
    /// `detect-within=5s,mistakes=1/month[,floor=100ms]` (push, missed detector).
    pub auto_tune: Option<String>,
    /// `missed` or `phi`.
    pub detector: Option<DetectorKind>,
    /// Phi accrual parameters.
    pub phi: Option<RawPhi>,
    /// Quorum-confirmed verdicts, push, pull, ping and gossip (`"majority"` or
    /// `{ at-least = N }`); refused for leader.
    pub quorum: Option<vitals_core::Quorum>,
    /// Push: `false` lets each node's own detector decide alone. Push's default is a
    /// majority's confirmation (`quorum = "majority"`), so that one broken link or one
    /// sick observer never removes a member the others hear.
    pub push_quorum: Option<bool>,
    /// Mass-failure brake: the largest fraction of the cluster declared dead per window.
    pub brake_fraction: Option<f64>,
    /// Flap damping: hold a flapping member's return back.
    pub flap_damping: Option<bool>,
    /// Ping: fast confirmation of suspicions (default on; `false` keeps Lifeguard's
    /// timeouts, for members that may pause for seconds).
    pub fast_confirm: Option<bool>,
    /// Ping: the watch ring (default on; `false` saves each node a heartbeat per interval
    /// and leaves a crash's first probe to chance).
    pub watch_ring: Option<bool>,
    /// Cluster label: nodes with different labels never accept each other's datagrams.
    pub cluster: Option<String>,
    /// File holding the keyring (one base64 key per line, the first is primary).
    pub keyring: Option<PathBuf>,
    /// File holding the HTTP API bearer token.
    pub api_token_file: Option<PathBuf>,
    /// `writes` (the token guards mutating endpoints) or `all` (reads too).
    pub api_auth: Option<ApiAuth>,
    /// The services this agent fronts (`[[services]]`, or `--service NAME=HOST:PORT`).
    pub services: Option<Vec<RawService>>,
    /// Node-level checks (`[[checks]]`).
    pub checks: Option<Vec<RawCheck>>,
    /// Allow `exec` checks (file only; there is no flag).
    pub enable_exec: Option<bool>,
    /// System thresholds that make the node `warning` or `critical`.
    pub thresholds: Option<RawThresholds>,
    /// Address of the gRPC Health Checking Protocol server (off when unset).
    pub grpc: Option<String>,
    /// Routing: below this fraction of healthy instances, route to every live one.
    pub panic_threshold: Option<f64>,
    /// Programs run on events, `[KIND[:FILTER]=]PROGRAM [ARGS...]` (`daemon::hooks`).
    pub event_handlers: Option<Vec<String>>,
    /// How long an event handler may run before it is killed (default 10 s).
    #[serde(default, with = "opt_duration")]
    pub event_handler_timeout: Option<Duration>,
    /// URLs each event is POSTed to as JSON (`http://` only).
    pub webhooks: Option<Vec<String>>,
}

/// Which HTTP endpoints require the bearer token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiAuth {
    /// Only endpoints that change something.
    #[default]
    Writes,
    /// Every endpoint but `/healthz` and `/readyz` (probes).
    All,
}

impl std::str::FromStr for ApiAuth {
    type Err = String;
    fn from_str(s: &str) -> Result<ApiAuth, String> {
        match s {
            "writes" => Ok(ApiAuth::Writes),
            "all" => Ok(ApiAuth::All),
            _ => Err(format!("unknown api-auth `{s}`; choose writes or all")),
        }
    }
}

/// The HTTP API bearer token. Never shown; compared in constant time.
#[derive(Clone, PartialEq)]
pub struct Token(Zeroizing<String>);

impl Token {
    /// Whether `candidate` is the token, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(redacted)")
    }
}

/// Where the keyring comes from.
#[derive(Clone, PartialEq)]
pub enum KeySource {
    /// No keyring: plaintext datagrams.
    None,
    /// A file, re-read on SIGHUP (key rotation).
    File(PathBuf),
    /// The `VITALS_KEYRING` environment variable's value.
    Env(String),
}

impl std::fmt::Debug for KeySource {
    /// Never shows key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::None => write!(f, "None"),
            KeySource::File(path) => write!(f, "File({})", path.display()),
            KeySource::Env(_) => write!(f, "Env({KEYRING_ENV})"),
        }
    }
}

/// Phi accrual settings, each optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPhi {
    /// Phi that declares death.
    pub threshold: Option<f64>,
    /// Samples kept.
    pub window: Option<usize>,
    /// Standard-deviation floor.
    #[serde(default, with = "opt_duration")]
    pub min_std_dev: Option<Duration>,
    /// Pause tolerated on top of the mean.
    #[serde(default, with = "opt_duration")]
    pub acceptable_pause: Option<Duration>,
}

/// The agent's validated settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Unique node name.
    pub name: String,
    /// Protocol (UDP) listen address.
    pub bind: SocketAddr,
    /// The address announced to peers.
    pub advertise: SocketAddr,
    /// HTTP API listen address.
    pub http: SocketAddr,
    /// Seeds, resolved again on every join attempt.
    pub join: Vec<Seed>,
    /// When to try joining again.
    pub retry_join: RetryJoin,
    /// Tags carried with this node's membership.
    pub tags: vitals_core::tags::Tags,
    /// Where the known members are kept, if anywhere.
    pub snapshot: Option<PathBuf>,
    /// The agent's state directory (`--data-dir`), where each run's generation is recorded.
    pub data_dir: Option<PathBuf>,
    /// The preset the timing started from.
    pub preset: Preset,
    /// The protocol configuration.
    pub protocol: Config,
    /// `--auto-tune`: the node picks its own interval and threshold toward this target,
    /// starting from `protocol`'s.
    pub auto_tune: Option<vitals_core::adapt::Target>,
    /// The cluster label.
    pub cluster: String,
    /// Where the keyring comes from.
    pub keys: KeySource,
    /// The HTTP API bearer token, if any.
    pub api_token: Option<Token>,
    /// Which endpoints the token guards.
    pub api_auth: ApiAuth,
    /// The services this agent fronts.
    pub services: Vec<ServiceSpec>,
    /// Every check, node-level and per service.
    pub checks: Vec<CheckSpec>,
    /// System thresholds.
    pub thresholds: Thresholds,
    /// gRPC health server address, if enabled.
    pub grpc: Option<SocketAddr>,
    /// Routing panic threshold in [0, 1] (default 0.5; 0 disables panic mode).
    pub panic_threshold: f64,
    /// Event handlers and webhooks.
    pub hooks: Hooks,
    /// Faults injected for tests (none in release builds: see [`Faults`]); set from
    /// hidden flags, never from the file.
    pub faults: Faults,
}

impl KeySource {
    /// A keyring file that other users may read or write: its path and mode.
    pub fn exposed_file(&self) -> Option<(&Path, u32)> {
        use std::os::unix::fs::PermissionsExt as _;
        let KeySource::File(path) = self else { return None };
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some((path.as_path(), mode))
    }

    /// Reads and parses the keyring; `None` for plaintext.
    pub fn load(&self) -> Result<Option<Keyring>, SettingsError> {
        let text = match self {
            KeySource::None => return Ok(None),
            KeySource::Env(text) => Zeroizing::new(text.clone()),
            KeySource::File(path) => {
                Zeroizing::new(std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    what: "keyring file (--keyring)",
                    path: path.display().to_string(),
                    source,
                })?)
            }
        };
        parse_keyring(&text).map(Some)
    }
}

/// Parses base64 keys, one per line (or comma-separated); `#` starts a comment.
pub fn parse_keyring(text: &str) -> Result<Keyring, SettingsError> {
    let mut secrets = Vec::new();
    for (i, word) in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split(','))
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let secret = base64::engine::general_purpose::STANDARD.decode(word).map_err(|_| {
            invalid(
                "keyring",
                format!("key {} is not valid base64 (make one with `vitals keygen`)", i + 1),
            )
        })?;
        secrets.push(secret);
    }
    let keyring = Keyring::new(&secrets).map_err(|e| invalid("keyring", e.to_string()));
    for secret in &mut secrets {
        zeroize::Zeroize::zeroize(secret);
    }
    keyring
}

fn invalid(key: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl RawConfig {
    /// Reads a TOML config file.
    pub fn from_file(path: &Path) -> Result<RawConfig, SettingsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            what: "config file",
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| SettingsError::Parse {
            path: shown,
            message: one_line(&e.to_string()),
        })
    }

    /// `self` with every setting that `flags` gives replaced by the flag's value.
    pub fn overridden_by(self, flags: RawConfig) -> RawConfig {
        let phi = match (self.phi, flags.phi) {
            (Some(file), Some(flag)) => Some(RawPhi {
                threshold: flag.threshold.or(file.threshold),
                window: flag.window.or(file.window),
                min_std_dev: flag.min_std_dev.or(file.min_std_dev),
                acceptable_pause: flag.acceptable_pause.or(file.acceptable_pause),
            }),
            (file, flag) => flag.or(file),
        };
        RawConfig {
            name: flags.name.or(self.name),
            bind: flags.bind.or(self.bind),
            advertise: flags.advertise.or(self.advertise),
            http: flags.http.or(self.http),
            join: flags.join.or(self.join),
            retry_join_interval: flags.retry_join_interval.or(self.retry_join_interval),
            retry_join_max: flags.retry_join_max.or(self.retry_join_max),
            tags: merge_tags(self.tags, flags.tags),
            data_dir: flags.data_dir.or(self.data_dir),
            snapshot: flags.snapshot.or(self.snapshot),
            strategy: flags.strategy.or(self.strategy),
            ack: flags.ack.or(self.ack),
            monitors: flags.monitors.or(self.monitors),
            voters: flags.voters.or(self.voters),
            election_timeout: flags.election_timeout.or(self.election_timeout),
            lease: flags.lease.or(self.lease),
            clock_drift: flags.clock_drift.or(self.clock_drift),
            bootstrap_expect: flags.bootstrap_expect.or(self.bootstrap_expect),
            preset: flags.preset.or(self.preset),
            interval: flags.interval.or(self.interval),
            timeout: flags.timeout.or(self.timeout),
            threshold: flags.threshold.or(self.threshold),
            auto_tune: flags.auto_tune.or(self.auto_tune),
            detector: flags.detector.or(self.detector),
            phi,
            quorum: flags.quorum.or(self.quorum),
            push_quorum: flags.push_quorum.or(self.push_quorum),
            brake_fraction: flags.brake_fraction.or(self.brake_fraction),
            flap_damping: flags.flap_damping.or(self.flap_damping),
            fast_confirm: flags.fast_confirm.or(self.fast_confirm),
            watch_ring: flags.watch_ring.or(self.watch_ring),
            cluster: flags.cluster.or(self.cluster),
            keyring: flags.keyring.or(self.keyring),
            api_token_file: flags.api_token_file.or(self.api_token_file),
            api_auth: flags.api_auth.or(self.api_auth),
            services: merge_services(self.services, flags.services),
            checks: flags.checks.or(self.checks),
            enable_exec: self.enable_exec,
            thresholds: flags.thresholds.or(self.thresholds),
            grpc: flags.grpc.or(self.grpc),
            panic_threshold: flags.panic_threshold.or(self.panic_threshold),
            event_handlers: flags.event_handlers.or(self.event_handlers),
            event_handler_timeout: flags.event_handler_timeout.or(self.event_handler_timeout),
            webhooks: flags.webhooks.or(self.webhooks),
        }
    }

    /// Validates every setting, filling defaults: preset `web`, strategy `push`, protocol
    /// on 127.0.0.1:7946, HTTP on 127.0.0.1:7947, cluster `default`, and the keyring and
    /// API token from the environment when no file names them.
    pub fn into_settings(self) -> Result<Settings, SettingsError> {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.trim().is_empty());
        self.into_settings_with(env(KEYRING_ENV), env(API_TOKEN_ENV))
    }

    /// [`RawConfig::into_settings`] with the environment's keyring and token given.
    pub fn into_settings_with(
        self,
        env_keyring: Option<String>,
        env_token: Option<String>,
    ) -> Result<Settings, SettingsError> {
        let name = self
            .name
            .clone()
            .ok_or_else(|| invalid("name", "missing: give every node a unique --name"))?;
        validate_name(&name)?;
        let bind = resolve("bind", self.bind.as_deref().unwrap_or("127.0.0.1:7946"))?;
        let advertise = self.advertise(bind)?;
        let http = resolve("http", self.http.as_deref().unwrap_or("127.0.0.1:7947"))?;
        let join = self
            .join
            .iter()
            .flatten()
            .map(|a| Seed::parse(a).map_err(|e| invalid("join", e)))
            .collect::<Result<_, _>>()?;
        let retry_join = self.retry_join()?;
        let tags = self.tags.clone().unwrap_or_default();
        vitals_core::tags::validate(&tags).map_err(|e| invalid("tag", e.to_string()))?;
        let preset = self.preset.unwrap_or(Preset::Web);
        let protocol = self.protocol(preset)?;
        let auto_tune = self.auto_tune(&protocol)?;
        let cluster = self.cluster.clone().unwrap_or_else(|| wire::DEFAULT_LABEL.to_string());
        validate_name(&cluster).map_err(|_| {
            invalid(
                "cluster",
                format!("`{cluster}` is not a valid cluster label: use letters, digits, `-`, `_` or `.`"),
            )
        })?;
        let keys = match (&self.keyring, env_keyring) {
            (Some(path), _) => KeySource::File(path.clone()),
            (None, Some(text)) => KeySource::Env(text),
            (None, None) => KeySource::None,
        };
        keys.load()?;
        let api_token = self.api_token(env_token)?;
        let api_auth = self.api_auth.unwrap_or_default();
        let (services, checks, grpc, panic_threshold) = self.health_settings()?;
        Ok(Settings {
            name,
            bind,
            advertise,
            http,
            join,
            retry_join,
            tags,
            snapshot: self
                .snapshot
                .clone()
                .or_else(|| self.data_dir.as_ref().map(|dir| dir.join("members.json"))),
            data_dir: self.data_dir.clone(),
            preset,
            protocol,
            auto_tune,
            cluster,
            keys,
            api_token,
            api_auth,
            services,
            checks,
            thresholds: self.thresholds.clone().unwrap_or_default().into_thresholds(),
            grpc,
            panic_threshold,
            hooks: self.hooks()?,
            faults: Faults::default(),
        })
    }

    /// `auto_tune`, parsed, and refused with what conflicts with it: the threshold and
    /// the timeout are what it picks, and only push with the missed-heartbeat detector
    /// has every observer follow a member's announced timing at once.
    fn auto_tune(&self, protocol: &Config) -> Result<Option<vitals_core::adapt::Target>, SettingsError> {
        let Some(text) = &self.auto_tune else { return Ok(None) };
        let target: vitals_core::adapt::Target = text.parse().map_err(|e: String| invalid("auto_tune", e))?;
        let fixed = [
            ("threshold", self.threshold.is_some()),
            ("timeout", self.timeout.is_some()),
        ];
        if let Some((key, _)) = fixed.iter().find(|(_, given)| *given) {
            return Err(invalid(
                "auto_tune",
                format!(
                    "--auto-tune picks the {key} itself: drop --{key} (--interval is kept as the starting and longest interval)"
                ),
            ));
        }
        if protocol.kind() != StrategyKind::Push || protocol.detector != DetectorKind::Missed {
            return Err(invalid(
                "auto_tune",
                "--auto-tune needs --strategy push with --detector missed (the observers of a push member follow its announced timing at once)",
            ));
        }
        Ok(Some(target))
    }

    /// Event handlers and webhooks, each checked (a handler's program must exist).
    fn hooks(&self) -> Result<Hooks, SettingsError> {
        let handlers = self
            .event_handlers
            .iter()
            .flatten()
            .map(|text| HandlerSpec::parse(text).map_err(|e| invalid("event-handler", e)))
            .collect::<Result<_, _>>()?;
        let webhooks = self
            .webhooks
            .iter()
            .flatten()
            .map(|url| WebhookSpec::parse(url).map_err(|e| invalid("webhook", e)))
            .collect::<Result<_, _>>()?;
        let timeout = self.event_handler_timeout.unwrap_or(super::hooks::DEFAULT_TIMEOUT);
        if timeout.is_zero() || timeout > Duration::from_secs(3600) {
            return Err(invalid(
                "event-handler-timeout",
                "give a duration from 1ms to 1h, like 10s",
            ));
        }
        Ok(Hooks {
            handlers,
            webhooks,
            timeout,
        })
    }

    /// Services, checks, the gRPC address and the panic threshold.
    #[allow(clippy::type_complexity)]
    fn health_settings(&self) -> Result<(Vec<ServiceSpec>, Vec<CheckSpec>, Option<SocketAddr>, f64), SettingsError> {
        let (services, checks) = services::validate(
            self.services.as_deref().unwrap_or_default(),
            self.checks.as_deref().unwrap_or_default(),
            self.enable_exec.unwrap_or(false),
        )?;
        let grpc = self.grpc.as_deref().map(|a| resolve("grpc", a)).transpose()?;
        let panic_threshold = self.panic_threshold.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&panic_threshold) {
            return Err(invalid(
                "panic_threshold",
                format!("{panic_threshold} is not a fraction: use 0 (never panic) to 1"),
            ));
        }
        Ok((services, checks, grpc, panic_threshold))
    }

    /// The address announced to peers: `--advertise`, or `bind` when it is not a wildcard.
    fn advertise(&self, bind: SocketAddr) -> Result<SocketAddr, SettingsError> {
        Ok(match &self.advertise {
            Some(addr) => match resolve("advertise", addr)? {
                wildcard if wildcard.ip().is_unspecified() || wildcard.port() == 0 => {
                    return Err(invalid(
                        "advertise",
                        format!(
                            "{wildcard} is not an address peers can reach: give this host's own address and port, e.g. 10.0.0.1:7946"
                        ),
                    ));
                }
                addr => addr,
            },
            None if bind.ip().is_unspecified() => {
                return Err(invalid(
                    "bind",
                    format!("{bind} is not an address peers can reach: bind a specific address or set --advertise"),
                ));
            }
            None => bind,
        })
    }

    fn retry_join(&self) -> Result<RetryJoin, SettingsError> {
        let mut retry = RetryJoin::default();
        if let Some(interval) = self.retry_join_interval {
            if interval < Duration::from_millis(10) || interval > Duration::from_secs(3600) {
                return Err(invalid(
                    "retry_join_interval",
                    "must be between 10ms and 1h (it doubles after each failed attempt, up to 30s)",
                ));
            }
            retry.interval = interval;
        }
        if self.retry_join_max == Some(0) {
            return Err(invalid(
                "retry_join_max",
                "0 attempts would never join: give at least 1, or leave it unset to retry forever",
            ));
        }
        retry.max = self.retry_join_max;
        Ok(retry)
    }

    fn api_token(&self, env_token: Option<String>) -> Result<Option<Token>, SettingsError> {
        let token = match &self.api_token_file {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                what: "API token file (--api-token-file)",
                path: path.display().to_string(),
                source,
            })?),
            None => env_token,
        };
        let token = token.map(|t| Token(Zeroizing::new(t.trim().to_string())));
        if token.as_ref().is_some_and(|t| t.0.len() < 16) {
            return Err(invalid(
                "api_token_file",
                "the API token must be at least 16 characters (make one with `vitals keygen`)",
            ));
        }
        if self.api_auth == Some(ApiAuth::All) && token.is_none() {
            return Err(invalid(
                "api_auth",
                format!("`all` needs a token: set --api-token-file or {API_TOKEN_ENV}"),
            ));
        }
        Ok(token)
    }

    fn protocol(&self, preset: Preset) -> Result<Config, SettingsError> {
        let strategy = self.strategy.unwrap_or(StrategyKind::Push);
        let interval = self.interval.unwrap_or(preset.interval());
        let threshold = self.threshold.unwrap_or(preset.threshold());
        let mut config = Config::with_timing(strategy, interval, threshold);
        config.timeout = self.timeout.unwrap_or(config.timeout);
        config.detector = self.detector.unwrap_or(config.detector);
        if let Some(phi) = &self.phi {
            config.phi.threshold = phi.threshold.unwrap_or(config.phi.threshold);
            config.phi.window = phi.window.unwrap_or(config.phi.window);
            config.phi.min_std_dev = phi.min_std_dev.unwrap_or(config.phi.min_std_dev);
            config.phi.acceptable_pause = phi.acceptable_pause.unwrap_or(config.phi.acceptable_pause);
        }
        config.strategy = self.strategy_config(&config)?;
        config.quorum = self.quorum.or(self.default_quorum(strategy)?);
        config.brake_fraction = self.brake_fraction.unwrap_or(config.brake_fraction);
        config.flap_damping = self.flap_damping.unwrap_or(false);
        if let Some(swim) = config.swim_mut() {
            swim.fast_confirm = self.fast_confirm.unwrap_or(swim.fast_confirm);
            swim.watch_ring = self.watch_ring.unwrap_or(swim.watch_ring);
        }
        config.validate().map_err(|e| invalid(key_of(&e), e.to_string()))?;
        Ok(config)
    }

    /// The strategy's own settings: the roles (ack, monitors, voters), refused with the
    /// fix when given for another strategy, and the leader's election timing (the
    /// election timeout derives from `config`'s detector timing, the lease from the
    /// election timeout).
    fn strategy_config(&self, config: &Config) -> Result<StrategyConfig, SettingsError> {
        let monitors = self.monitors.clone().unwrap_or_default();
        for monitor in &monitors {
            validate_name(monitor).map_err(|_| invalid("monitors", format!("`{monitor}` is not a valid node name")))?;
        }
        let voters = self.voters.clone().unwrap_or_default();
        for voter in &voters {
            validate_name(voter).map_err(|_| invalid("voters", format!("`{voter}` is not a valid node name")))?;
        }
        let roles = Roles {
            ack: self.ack.unwrap_or(false),
            monitors,
            voters,
            bootstrap_expect: self.bootstrap_expect,
        };
        let mut strategy = config.strategy.clone().with_roles(roles).map_err(|e| {
            let key = match e {
                RoleError::AckWithoutPush => "ack",
                RoleError::MonitorsWithoutPull => "monitors",
                RoleError::VotersWithoutLeader => "voters",
                RoleError::BootstrapWithoutLeader => "bootstrap_expect",
            };
            invalid(key, e.to_string())
        })?;
        if let StrategyConfig::Leader(leader) = &mut strategy {
            leader.clock_drift = self.clock_drift.unwrap_or(leader.clock_drift);
            leader.election_timeout = self.election_timeout.unwrap_or(config.dead_after());
            leader.lease = self
                .lease
                .unwrap_or(Config::default_lease(leader.election_timeout, leader.clock_drift));
        }
        Ok(strategy)
    }
}

/// The setting a protocol validation error is about.
fn key_of(error: &vitals_core::ConfigError) -> &'static str {
    use vitals_core::ConfigError as E;
    match error {
        E::IntervalTooShort(_) | E::IntervalTooLong(_) => "interval",
        E::ZeroThreshold | E::ThresholdTooHigh(_) => "threshold",
        E::TimeoutShorterThanInterval { .. } => "timeout",
        E::BadPhiThreshold(_) => "phi.threshold",
        E::BadPhiWindow(_) => "phi.window",
        E::ZeroMinStdDev => "phi.min_std_dev",
        E::PullWithoutMonitors => "monitors",
        E::BadProbeTimeout { .. } => "swim.probe_timeout",
        E::ZeroSwimMultiplier => "swim",
        E::TooManyIndirectProbes(_) => "swim.indirect_probes",
        E::DuplicateVoter(_) => "voters",
        E::BadBootstrapExpect { .. } => "bootstrap_expect",
        E::ElectionTimeoutTooShort { .. } => "election_timeout",
        E::BadLease { .. } => "lease",
        E::BadClockDrift(_) => "clock_drift",
        E::BadBrake(_) => "brake_fraction",
        E::QuorumNotSupported(_) | E::ZeroQuorum | E::QuorumAboveMonitors { .. } | E::QuorumAboveCap(_) => "quorum",
        E::BadGossipFanout(_) => "gossip.fanout",
        E::BadDigestBudget(_) => "gossip.digest_budget",
    }
}

/// The node's own name, by the rule every datagram's names are held to
/// (`wire::is_valid_name`), so that no agent starts with a name its peers would refuse.
fn validate_name(name: &str) -> Result<(), SettingsError> {
    if wire::is_valid_name(name, wire::MAX_NAME_LEN) {
        return Ok(());
    }
    Err(invalid(
        "name",
        format!(
            "{name:?} is not a valid node name: use 1 to {} ASCII letters, digits, `.`, `-`, `_` or `:` \
             (no spaces or control characters), e.g. the host name",
            wire::MAX_NAME_LEN
        ),
    ))
}

fn resolve(key: &'static str, text: &str) -> Result<SocketAddr, SettingsError> {
    let mut addrs = text.to_socket_addrs().map_err(|e| {
        invalid(
            key,
            format!("`{text}` is not HOST:PORT ({e}); write e.g. 127.0.0.1:7946"),
        )
    })?;
    addrs
        .next()
        .ok_or_else(|| invalid(key, format!("`{text}` resolves to no address")))
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The file's services, with the flags' added (a flag naming a file's service replaces
/// its address and keeps its checks).
/// The file's tags with the flags' on top (a flag replaces the file's value for its key).
fn merge_tags(
    file: Option<std::collections::BTreeMap<String, String>>,
    flags: Option<std::collections::BTreeMap<String, String>>,
) -> Option<std::collections::BTreeMap<String, String>> {
    let Some(flags) = flags else { return file };
    let mut merged = file.unwrap_or_default();
    merged.extend(flags);
    Some(merged)
}

fn merge_services(file: Option<Vec<RawService>>, flags: Option<Vec<RawService>>) -> Option<Vec<RawService>> {
    let Some(flags) = flags else { return file };
    let mut merged = file.unwrap_or_default();
    for flag in flags {
        match merged.iter_mut().find(|s| s.name == flag.name) {
            Some(existing) => existing.addr = flag.addr,
            None => merged.push(flag),
        }
    }
    Some(merged)
}

impl RawConfig {
    /// The quorum when none is named: push confirms a death with a majority of its
    /// observers unless `push_quorum = false` (see README, "Why push confirms").
    fn default_quorum(&self, strategy: StrategyKind) -> Result<Option<vitals_core::Quorum>, SettingsError> {
        match (self.push_quorum, strategy) {
            (Some(false), _) if self.quorum.is_some() => Err(invalid(
                "push_quorum",
                "`push_quorum = false` contradicts `quorum`: drop one of them".to_string(),
            )),
            (None | Some(true), StrategyKind::Push) => Ok(Some(vitals_core::Quorum::Majority)),
            _ => Ok(None),
        }
    }
}

pub use crate::parse::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    fn named() -> RawConfig {
        RawConfig {
            name: Some("n1".into()),
            ..RawConfig::default()
        }
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn durations_take_compound_units_and_a_bare_number_gets_a_hint() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("fast").unwrap_err().contains("not a duration"));
        let file: Result<RawConfig, _> = toml::from_str("interval = \"1m 30s\"");
        assert_eq!(file.unwrap().interval, Some(Duration::from_secs(90)));
        let error = toml::from_str::<RawConfig>("interval = 10").unwrap_err().to_string();
        assert!(error.contains("write \"10s\""), "{error}");
    }

    #[test]
    fn a_keyring_comes_from_the_environment_when_no_file_is_named() {
        let settings = named().into_settings_with(Some(format!("{KEY}\n")), None).unwrap();
        assert!(matches!(settings.keys, KeySource::Env(_)));
        assert!(settings.keys.load().unwrap().is_some());
        assert_eq!(named().into_settings_with(None, None).unwrap().keys, KeySource::None);
        assert!(
            !format!("{:?}", settings.keys).contains(KEY),
            "key material must never be shown"
        );
    }

    #[test]
    fn bad_keyrings_are_refused_naming_the_key() {
        let message = named()
            .into_settings_with(Some("not base64!".into()), None)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("invalid `keyring`: key 1 is not valid base64"),
            "{message}"
        );
        let message = named()
            .into_settings_with(Some("AAAA".into()), None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("keys are 32 bytes"), "{message}");
        let message = named()
            .into_settings_with(Some("# only a comment".into()), None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("holds no key"), "{message}");
    }

    #[test]
    fn a_keyring_file_may_hold_comments_and_several_keys() {
        let keyring = parse_keyring(&format!("# primary\n{KEY}\n\n{KEY} # old\n")).unwrap();
        assert_eq!(keyring.ids().len(), 2);
    }

    #[test]
    fn api_tokens_must_be_long_enough_and_all_needs_one() {
        let short = named().into_settings_with(None, Some("short".into())).unwrap_err();
        assert!(short.to_string().contains("at least 16"));
        let raw = RawConfig {
            api_auth: Some(ApiAuth::All),
            ..named()
        };
        assert!(
            raw.into_settings_with(None, None)
                .unwrap_err()
                .to_string()
                .contains("`all` needs a token")
        );
        let settings = named()
            .into_settings_with(None, Some("0123456789abcdef".into()))
            .unwrap();
        let token = settings.api_token.unwrap();
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcdeF"));
        assert!(!format!("{token:?}").contains("0123"));
    }

    #[test]
    fn a_cluster_label_is_validated() {
        let raw = RawConfig {
            cluster: Some("prod west".into()),
            ..named()
        };
        assert!(
            raw.into_settings_with(None, None)
                .unwrap_err()
                .to_string()
                .starts_with("invalid `cluster`")
        );
        assert_eq!(named().into_settings_with(None, None).unwrap().cluster, "default");
    }

    #[test]
    fn defaults_are_the_web_preset_with_push() {
        let settings = named().into_settings_with(None, None).unwrap();
        assert_eq!(settings.preset, Preset::Web);
        assert_eq!(settings.protocol.interval, Duration::from_secs(10));
        assert_eq!(settings.protocol.kind(), StrategyKind::Push);
        assert_eq!(settings.http.to_string(), "127.0.0.1:7947");
    }

    #[test]
    fn auto_tune_is_parsed_and_refused_with_what_it_would_override() {
        let settings = |extra: &str| {
            let file: RawConfig = toml::from_str(&format!("name = \"a\"\n{extra}")).unwrap();
            file.into_settings_with(None, None).map_err(|e| e.to_string())
        };
        let tuned = settings("auto_tune = \"detect-within=5s,mistakes=1/month\"\ninterval = \"1s\"").unwrap();
        assert_eq!(tuned.auto_tune.unwrap().detect_within, Duration::from_secs(5));
        assert_eq!(settings("").unwrap().auto_tune, None);
        let refusals = [
            ("auto_tune = \"detect-within=5s\"", "mistakes"),
            (
                "auto_tune = \"detect-within=5s,mistakes=1/month\"\nthreshold = 4",
                "drop --threshold",
            ),
            (
                "auto_tune = \"detect-within=5s,mistakes=1/month\"\ntimeout = \"20s\"",
                "drop --timeout",
            ),
            (
                "auto_tune = \"detect-within=5s,mistakes=1/month\"\nstrategy = \"ping\"",
                "--strategy push",
            ),
            (
                "auto_tune = \"detect-within=5s,mistakes=1/month\"\ndetector = \"phi\"",
                "--detector missed",
            ),
        ];
        for (extra, fix) in refusals {
            let error = settings(extra).unwrap_err();
            assert!(error.contains("auto_tune") && error.contains(fix), "{extra}: {error}");
        }
    }

    #[test]
    fn push_confirms_deaths_with_a_majority_unless_turned_off() {
        let quorum = |extra: &str| {
            let file: RawConfig = toml::from_str(&format!("name = \"a\"\n{extra}")).unwrap();
            file.into_settings_with(None, None)
                .map(|s| s.protocol.quorum)
                .map_err(|e| e.to_string())
        };
        assert_eq!(quorum("strategy = \"push\""), Ok(Some(vitals_core::Quorum::Majority)));
        assert_eq!(quorum("push_quorum = false"), Ok(None));
        assert_eq!(quorum("strategy = \"ping\""), Ok(None));
        assert_eq!(quorum("strategy = \"leader\""), Ok(None));
        let both = quorum("push_quorum = false\nquorum = \"majority\"").unwrap_err();
        assert!(both.contains("drop one"), "{both}");
    }

    #[test]
    fn fast_confirmation_is_on_for_ping_unless_the_file_or_a_flag_turns_it_off() {
        let ping = |extra: &str| {
            let file: RawConfig = toml::from_str(&format!("name = \"a\"\nstrategy = \"ping\"\n{extra}")).unwrap();
            file.into_settings_with(None, None)
                .unwrap()
                .protocol
                .swim()
                .expect("ping")
                .fast_confirm
        };
        assert!(ping(""));
        assert!(!ping("fast_confirm = false"));
        let flags = RawConfig {
            fast_confirm: Some(false),
            ..RawConfig::default()
        };
        let file: RawConfig = toml::from_str("name = \"a\"\nstrategy = \"ping\"\nfast_confirm = true").unwrap();
        let settings = file.overridden_by(flags).into_settings_with(None, None).unwrap();
        assert!(!settings.protocol.swim().expect("ping").fast_confirm);
    }

    #[test]
    fn the_watch_ring_is_on_for_ping_unless_the_file_or_a_flag_turns_it_off() {
        let ping = |extra: &str, flags: RawConfig| {
            let file: RawConfig = toml::from_str(&format!("name = \"a\"\nstrategy = \"ping\"\n{extra}")).unwrap();
            let settings = file.overridden_by(flags).into_settings_with(None, None).unwrap();
            settings.protocol.swim().expect("ping").watch_ring
        };
        assert!(ping("", RawConfig::default()));
        assert!(!ping("watch_ring = false", RawConfig::default()));
        let off = RawConfig {
            watch_ring: Some(false),
            ..RawConfig::default()
        };
        assert!(!ping("watch_ring = true", off));
    }

    #[test]
    fn flags_override_the_file() {
        let file: RawConfig =
            toml::from_str("name = \"file\"\ninterval = \"2s\"\nthreshold = 5\n[phi]\nthreshold = 10.0\nwindow = 50\n")
                .unwrap();
        let flags = RawConfig {
            name: Some("flag".into()),
            interval: Some(Duration::from_secs(1)),
            phi: Some(RawPhi {
                threshold: Some(12.0),
                ..RawPhi::default()
            }),
            ..RawConfig::default()
        };
        let settings = file.overridden_by(flags).into_settings_with(None, None).unwrap();
        assert_eq!(settings.name, "flag");
        assert_eq!(settings.protocol.interval, Duration::from_secs(1));
        assert_eq!(settings.protocol.threshold, 5);
        assert_eq!(settings.protocol.phi.threshold, 12.0);
        assert_eq!(settings.protocol.phi.window, 50);
    }

    #[test]
    fn a_missing_name_is_refused_naming_the_key() {
        let message = RawConfig::default()
            .into_settings_with(None, None)
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("invalid `name`"), "{message}");
    }

    #[test]
    fn validation_errors_name_the_key() {
        let raw = RawConfig {
            timeout: Some(Duration::from_secs(1)),
            ..named()
        };
        let message = raw.into_settings_with(None, None).unwrap_err().to_string();
        assert!(
            message.starts_with("invalid `timeout`: timeout 1s is shorter than interval 10s"),
            "{message}"
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let error = toml::from_str::<RawConfig>("name = \"a\"\nintervall = \"1s\"\n").unwrap_err();
        assert!(error.to_string().contains("unknown field `intervall`"), "{error}");
    }

    #[test]
    fn event_handlers_and_webhooks_come_from_the_file_and_bad_ones_are_refused() {
        let text = "name = \"a\"\nevent_handlers = [\"member:dead=/bin/sh -c true\"]\n\
                    webhooks = [\"http://127.0.0.1:9000/v\"]\nevent_handler_timeout = \"2s\"\n";
        let raw: RawConfig = toml::from_str(text).unwrap();
        let hooks = raw.into_settings_with(None, None).unwrap().hooks;
        assert_eq!(hooks.handlers[0].filter.as_deref(), Some("dead"));
        assert_eq!(hooks.webhooks[0].path, "/v");
        assert_eq!(hooks.timeout, Duration::from_secs(2));
        let raw: RawConfig = toml::from_str("name = \"a\"\nwebhooks = [\"ftp://x\"]").unwrap();
        let refused = raw.into_settings_with(None, None).unwrap_err().to_string();
        assert!(
            refused.starts_with("invalid `webhook`") && refused.contains("use http://"),
            "{refused}"
        );
    }

    #[test]
    fn the_documented_example_file_is_valid() {
        let raw: RawConfig = toml::from_str(include_str!("../../../../examples/agent.toml")).unwrap();
        let settings = raw.into_settings_with(None, None).unwrap();
        assert_eq!(settings.name, "node-1");
        let mut push = Config::preset(Preset::Web, StrategyKind::Push);
        push.quorum = Some(vitals_core::Quorum::Majority); // push's default in the agent
        assert_eq!(settings.protocol, push);
        assert_eq!(settings.services[0].name, "web");
        assert_eq!(settings.checks.len(), 2);
        assert_eq!(settings.panic_threshold, 0.5);
    }

    #[test]
    fn service_flags_add_to_the_files_services_and_bad_values_name_their_key() {
        let file: RawConfig = toml::from_str(
            "name = \"a\"\n[[services]]\nname = \"web\"\naddr = \"127.0.0.1:1\"\n[[services.checks]]\nkind = \"tcp\"\n",
        )
        .unwrap();
        let flags = RawConfig {
            services: Some(vec![
                "web=127.0.0.1:2".parse().unwrap(),
                "db=127.0.0.1:3".parse().unwrap(),
            ]),
            ..RawConfig::default()
        };
        let settings = file.overridden_by(flags).into_settings_with(None, None).unwrap();
        assert_eq!(settings.services.len(), 2);
        assert_eq!(settings.services[0].addr.port(), 2);
        assert_eq!(settings.checks.len(), 1, "the file's checks are kept");
        let raw = RawConfig {
            panic_threshold: Some(1.5),
            ..named()
        };
        let message = raw.into_settings_with(None, None).unwrap_err().to_string();
        assert!(message.starts_with("invalid `panic_threshold`"), "{message}");
    }

    #[test]
    fn leader_settings_derive_from_the_timing_and_are_validated_naming_the_key() {
        let raw = RawConfig {
            strategy: Some(StrategyKind::Leader),
            preset: Some(Preset::LanFast),
            voters: Some(vec!["n1".into(), "n2".into(), "n3".into()]),
            ..named()
        };
        let settings = raw.clone().into_settings_with(None, None).unwrap();
        let leader = settings.protocol.leader().expect("leader settings");
        assert_eq!(leader.voters.len(), 3);
        assert_eq!(leader.election_timeout, Duration::from_millis(620));
        assert!(leader.lease < Duration::from_millis(620));
        let bad = RawConfig {
            lease: Some(Duration::from_millis(700)),
            ..raw.clone()
        };
        let message = bad.into_settings_with(None, None).unwrap_err().to_string();
        assert!(message.starts_with("invalid `lease`"), "{message}");
        let bad = RawConfig {
            election_timeout: Some(Duration::from_millis(300)),
            ..raw.clone()
        };
        let message = bad.into_settings_with(None, None).unwrap_err().to_string();
        assert!(message.starts_with("invalid `election_timeout`"), "{message}");
        let pushy = RawConfig {
            strategy: Some(StrategyKind::Push),
            ..raw
        };
        let message = pushy.into_settings_with(None, None).unwrap_err().to_string();
        assert!(message.starts_with("invalid `voters`"), "{message}");
        let file: RawConfig =
            toml::from_str("name = \"a\"\nstrategy = \"leader\"\nvoters = [\"a\"]\nlease = \"20s\"\n").unwrap();
        assert_eq!(
            file.into_settings_with(None, None)
                .unwrap()
                .protocol
                .leader()
                .expect("leader")
                .lease,
            Duration::from_secs(20)
        );
    }

    #[test]
    fn a_wildcard_bind_needs_an_advertised_address() {
        let raw = RawConfig {
            bind: Some("0.0.0.0:7946".into()),
            ..named()
        };
        assert!(
            raw.clone()
                .into_settings_with(None, None)
                .unwrap_err()
                .to_string()
                .contains("--advertise")
        );
        let raw = RawConfig {
            advertise: Some("10.1.2.3:7946".into()),
            ..raw
        };
        assert_eq!(
            raw.into_settings_with(None, None).unwrap().advertise.to_string(),
            "10.1.2.3:7946"
        );
    }
}
