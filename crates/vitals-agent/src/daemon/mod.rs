//! The daemon: runs one agent. [`run`] binds the sockets, starts the node, the checks
//! and the servers, and wires them together; `driver` is the one task that owns the
//! node and its codec; the HTTP API ([`http`]), gRPC health ([`grpc`]) and
//! [`metrics`] serve what the driver publishes ([`snapshot`]); [`config`] turns files and
//! flags into validated [`Settings`].
//!
//! Owns every socket, task, timer and signal of the agent. Must never decide a member's
//! status (only the node does), and nothing here but the driver touches the node:
//! everything else reads the published snapshot or sends the driver a `Control`.

mod boot;
pub mod config;
pub(crate) mod driver;
pub mod exposition;
pub mod fault;
pub mod grpc;
pub mod http;
pub mod join;
pub mod metrics;
pub mod persist;
mod ratelimit;
pub mod snapshot;
mod systemd;
mod wallclock;

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Notify, mpsc, watch};
use vitals_core::seal::Keyring;
use vitals_core::wire::Codec;
use vitals_core::{Command, Instant, Node, Peer};

use self::config::{KeySource, Settings};
use self::driver::{Control, Driver};
use self::metrics::Metrics;
use self::snapshot::{Context, Snapshot};
use crate::SettingsError;
use crate::health::{checks, system};

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A socket could not be bound.
    #[error("cannot bind the {what} to {addr}: {source}; choose another --{key}")]
    Bind {
        /// Which socket.
        what: &'static str,
        /// The setting that names its address.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The keyring could not be loaded.
    #[error(transparent)]
    Keyring(#[from] SettingsError),
    /// No seed let the node join within `retry_join_max` attempts.
    #[error("{0}")]
    JoinFailed(String),
}

/// Runs the agent until `shutdown` completes (or `POST /v1/leave`); then announces that
/// the node leaves (so peers mark it `left`, not `dead`) and returns.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()> + Send) -> Result<(), AgentError> {
    let (socket, listener, grpc_listener, codec) = open(&settings).await?;
    let seed = RandomState::new().build_hasher().finish();
    let context = Context {
        http: settings.http,
        preset: settings.preset,
        seed,
    };
    let (node, known) = start_node(&settings, seed);

    let metrics = Arc::new(Metrics::new());
    let (snapshot_tx, snapshot_rx) = watch::channel(Snapshot::of(&node, context, Instant::ZERO));
    let (controls_tx, controls_rx) = mpsc::channel(16);
    let leave = Arc::new(Notify::new());
    let stop_http = Arc::new(Notify::new());
    let epoch = tokio::time::Instant::now();
    let (board, ttl, mut tasks) = start_checks(&settings, controls_tx.clone());
    tasks.extend(grpc_listener.map(|listener| serve_grpc(listener, &settings, snapshot_rx.clone())));
    let join_failed = start_join(&settings, known, controls_tx.clone(), snapshot_rx.clone(), &mut tasks);
    let registry = exposition::registry(&metrics, &settings, snapshot_rx.clone(), board.clone());
    let state = http::ApiState {
        snapshot: snapshot_rx,
        registry: Arc::new(registry),
        leave: Arc::clone(&leave),
        token: settings.api_token.clone(),
        checks: board,
        ttl,
        services: Arc::new(settings.services.clone()),
        thresholds: Arc::new(settings.thresholds.clone()),
        panic_threshold: settings.panic_threshold,
        turns: Arc::default(),
        epoch,
        controls: controls_tx.clone(),
    };
    tasks.extend([
        tokio::spawn(reload_keyring_on_sighup(settings.keys.clone(), controls_tx)),
        tokio::spawn(http::serve(
            listener,
            http::router(state, settings.api_auth),
            Arc::clone(&stop_http),
        )),
    ]);
    let driver = Driver {
        node,
        socket: Arc::new(socket),
        epoch,
        metrics,
        snapshot: snapshot_tx,
        context,
        published_at: Instant::ZERO,
        codec,
        limiter: ratelimit::RateLimiter::new(inbound_rate(settings.protocol.interval), 400.0),
        reply_budget: None,
        faults: settings.faults.clone(),
        join: join::JoinWatch::default(),
        refusals: join::RefusalLog::default(),
    };
    let mut failure = None;
    let stop = async {
        tokio::select! {
            () = shutdown => {}
            () = leave.notified() => {}
            Ok(reason) = join_failed => failure = Some(reason),
        }
    };
    driver.run(controls_rx, stop).await;
    systemd::stopping();
    stop_http.notify_one();
    tasks.iter().for_each(|t| t.abort());
    failure.map_or(Ok(()), |reason| Err(AgentError::JoinFailed(reason)))
}

/// Serves gRPC health on `listener` (the task is aborted when the agent stops).
fn serve_grpc(
    listener: TcpListener,
    settings: &Settings,
    snapshot: watch::Receiver<Snapshot>,
) -> tokio::task::JoinHandle<()> {
    let names = settings.services.iter().map(|s| s.name.clone()).collect();
    tokio::spawn(grpc::serve(listener, snapshot, names, Arc::new(Notify::new())))
}

/// Starts joining through the seeds and the `known` members, if any, and keeping the
/// members snapshot; the receiver hears why, if the agent gives up.
fn start_join(
    settings: &Settings,
    known: Vec<SocketAddr>,
    controls: mpsc::Sender<Control>,
    snapshot: watch::Receiver<Snapshot>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> tokio::sync::oneshot::Receiver<String> {
    let (failed_tx, failed) = tokio::sync::oneshot::channel();
    if let Some(path) = settings.snapshot.clone() {
        tasks.push(tokio::spawn(persist::keep(path, snapshot.clone())));
    }
    if !settings.join.is_empty() || !known.is_empty() {
        let joining = join::run(settings.join.clone(), known, settings.retry_join, controls, snapshot);
        tasks.push(tokio::spawn(async move {
            if let Err(reason) = joining.await {
                let _ = failed_tx.send(reason);
            }
        }));
    }
    failed
}

/// The node's datagram codec, keyed when a keyring is configured (warns loudly if not).
fn codec(settings: &Settings) -> Result<Codec, AgentError> {
    let keyring = settings.keys.load()?;
    if let Some((path, mode)) = settings.keys.exposed_file() {
        tracing::warn!(
            "the keyring file {} can be read by other users (mode {mode:04o}): anyone on this host can forge heartbeats; \
             run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    if keyring.is_none() {
        tracing::warn!(
            "NO KEYRING: heartbeats travel in plaintext and anyone who can reach {} can forge them; \
             set --keyring FILE or VITALS_KEYRING (make a key with `vitals keygen`)",
            settings.bind
        );
    }
    let boot = boot::start(settings.data_dir.as_deref());
    Ok(Codec::new(&settings.cluster, keyring, boot).with_local(vec![settings.bind, settings.advertise]))
}

async fn bind_grpc(settings: &Settings) -> Result<Option<TcpListener>, AgentError> {
    let Some(addr) = settings.grpc else { return Ok(None) };
    grpc::bind(addr).await.map(Some).map_err(|source| AgentError::Bind {
        what: "gRPC health listener",
        key: "grpc",
        addr,
        source,
    })
}

/// Starts the checks, the health sampler and the reporter that hands their fused result
/// to the driver.
fn start_checks(
    settings: &Settings,
    controls: mpsc::Sender<Control>,
) -> (
    watch::Receiver<checks::Board>,
    checks::TtlInbox,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (board, ttl, mut tasks) = checks::start(&settings.checks);
    let (samples_tx, samples_rx) = mpsc::channel(4);
    let reporter = checks::Reporter {
        board: board.clone(),
        samples: samples_rx,
        services: settings.services.clone(),
        thresholds: settings.thresholds.clone(),
        tags: settings.tags.clone(),
        controls,
    };
    tasks.push(tokio::spawn(reporter.run()));
    let period = system::sample_period(settings.protocol.interval);
    tasks.push(tokio::spawn(sample_health(samples_tx, period)));
    (board, ttl, tasks)
}

/// Datagrams per second one source may send: generous for a peer (a few messages per
/// interval, more while joining), small against a flood.
fn inbound_rate(interval: Duration) -> f64 {
    200.0_f64.max(40.0 / interval.as_secs_f64())
}

/// Binds every socket and loads the keyring; then tells systemd the agent is ready.
async fn open(settings: &Settings) -> Result<(UdpSocket, TcpListener, Option<TcpListener>, Codec), AgentError> {
    let (socket, listener) = bind(settings).await?;
    let grpc_listener = bind_grpc(settings).await?;
    let codec = codec(settings)?;
    systemd::ready();
    Ok((socket, listener, grpc_listener, codec))
}

async fn bind(settings: &Settings) -> Result<(UdpSocket, TcpListener), AgentError> {
    let socket = UdpSocket::bind(settings.bind)
        .await
        .map_err(|source| AgentError::Bind {
            what: "protocol (UDP) socket",
            key: "bind",
            addr: settings.bind,
            source,
        })?;
    let listener = TcpListener::bind(settings.http)
        .await
        .map_err(|source| AgentError::Bind {
            what: "HTTP listener",
            key: "http",
            addr: settings.http,
            source,
        })?;
    Ok((socket, listener))
}

/// The node, and the members it knew before a restart (from the snapshot).
fn start_node(settings: &Settings, seed: u64) -> (Node, Vec<SocketAddr>) {
    let me = Peer {
        name: settings.name.clone(),
        addr: settings.advertise,
        incarnation: 0,
    };
    let mut node = Node::new(me, settings.protocol.clone(), seed, Instant::ZERO);
    let known = settings.snapshot.as_deref().map(persist::load).unwrap_or_default();
    if settings.join.is_empty() && known.is_empty() {
        node.handle_command(Instant::ZERO, Command::Join(Vec::new())); // a new cluster
    }
    tracing::info!(
        name = %settings.name, bind = %settings.bind, http = %settings.http, cluster = %settings.cluster,
        strategy = settings.protocol.kind().name(),
        interval = %vitals_core::config::serde_duration::format_duration(settings.protocol.interval),
        threshold = settings.protocol.threshold, seed,
        join = %settings.join.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        "vitals agent started"
    );
    (node, known)
}

/// Samples health every `period` and hands it to the check reporter, which adds the
/// check results and passes it to the node. A sample takes tens of microseconds
/// (`system`), so it runs here: a thread of its own would cost more memory than it saves.
async fn sample_health(samples: mpsc::Sender<vitals_core::Health>, period: Duration) {
    let Some(mut sampler) = system::Sampler::new() else {
        tracing::warn!("cannot read this system's health: heartbeats will carry none");
        return;
    };
    loop {
        let health = sampler.sample();
        if samples.send(health).await.is_err() {
            return;
        }
        tokio::time::sleep(period).await;
    }
}

/// On SIGHUP, re-reads the keyring file and hands it to the driver (key rotation: add the
/// new key everywhere, then make it primary everywhere, then remove the old one).
async fn reload_keyring_on_sighup(keys: KeySource, controls: mpsc::Sender<Control>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match keys.load() {
            Ok(Some(keyring)) => {
                let _ = controls.send(Control::Rekey(keyring)).await;
            }
            Ok(None) => tracing::warn!("SIGHUP: no keyring file is configured; nothing to reload"),
            Err(error) => tracing::error!(%error, "SIGHUP: keeping the current keyring"),
        }
    }
}

/// A fresh random key, base64-encoded, for a keyring file.
pub fn keygen() -> String {
    use base64::Engine as _;
    let mut key = zeroize::Zeroizing::new([0u8; vitals_core::seal::KEY_LEN]);
    getrandom::fill(key.as_mut()).expect("the OS random source is available");
    base64::engine::general_purpose::STANDARD.encode(key.as_ref())
}

/// Loads a keyring the way the agent does (for tools and tests).
pub fn load_keyring(text: &str) -> Result<Keyring, SettingsError> {
    config::parse_keyring(text)
}
