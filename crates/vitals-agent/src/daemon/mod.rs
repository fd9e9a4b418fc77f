//! The daemon: runs one agent. [`run`] binds the sockets, starts the node, the checks
//! and the servers, and wires them together; `driver` is the one task that owns the
//! node and its codec; the HTTP API ([`http`]), gRPC health ([`grpc`]) and
//! [`metrics`] serve what the driver publishes ([`snapshot`]); [`config`] turns files and
//! flags into validated [`Settings`].
//!
//! Owns every socket, task, timer and signal of the agent. Must never decide a member's
//! status (only the node does), and nothing here but the driver touches the node:
//! everything else reads the published snapshot or sends the driver a `Control`.

pub mod blocking;
mod boot;
pub mod config;
pub(crate) mod driver;
pub mod events;
pub mod exposition;
pub mod fault;
pub mod grpc;
pub mod hooks;
pub mod http;
pub mod join;
mod link_metrics;
pub mod metrics;
pub mod persist;
mod ratelimit;
mod reply;
pub mod snapshot;
mod systemd;
pub mod tuning;
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
    start(settings, Host::Daemon).await?.run_until(shutdown).await
}

/// Who runs the agent: the daemon owns its process (SIGHUP reloads the keyring); an
/// embedding program keeps its signals to itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    Daemon,
    Embedded,
}

/// A running agent: its driver task and what reads or commands it. Shared by [`run`]
/// and the embedding API (`crate::embed`).
pub(crate) struct Running {
    /// The snapshots the driver publishes.
    pub(crate) snapshot: watch::Receiver<Snapshot>,
    /// The event log.
    pub(crate) events: Arc<events::EventHub>,
    /// The embedding program's word about its own node.
    pub(crate) local: watch::Sender<checks::LocalHealth>,
    /// Tells the driver to leave the cluster and end.
    stop: Arc<Notify>,
    /// The driver; ends once the node has left (asked to, `POST /v1/leave`, or a failed join).
    driver: Option<tokio::task::JoinHandle<()>>,
    failure: Arc<std::sync::Mutex<Option<String>>>,
    stop_http: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Runs until `shutdown` completes or the driver ends by itself, then stops.
    pub(crate) async fn run_until(mut self, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
        if let Some(driver) = self.driver.as_mut() {
            tokio::select! {
                () = shutdown => {}
                _ = driver => { self.driver = None; }
            }
        }
        self.stop().await
    }

    /// Leaves the cluster (peers see `left`) and stops every task of the agent.
    pub(crate) async fn stop(mut self) -> Result<(), AgentError> {
        self.stop.notify_one();
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
        systemd::stopping();
        self.stop_http.notify_one();
        self.tasks.iter().for_each(|t| t.abort());
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        failure.map_or(Ok(()), |reason| Err(AgentError::JoinFailed(reason)))
    }
}

/// Binds the sockets and starts the node's driver, the checks and the servers.
pub(crate) async fn start(settings: Settings, host: Host) -> Result<Running, AgentError> {
    let (socket, listener, grpc_listener, codec) = open(&settings).await?;
    let context = Context {
        http: listener.local_addr().unwrap_or(settings.http),
        preset: settings.preset,
        seed: RandomState::new().build_hasher().finish(),
    };
    let (node, known) = start_node(&settings, context.seed);
    let (snapshot_tx, snapshot_rx) = watch::channel(Snapshot::of(&node, context, Instant::ZERO, None));
    let (controls_tx, controls_rx) = mpsc::channel(16);
    let (local, local_rx) = watch::channel(checks::LocalHealth::default());
    let (board, ttl, mut tasks) = start_checks(&settings, controls_tx.clone(), local_rx);
    let events = start_events(&settings, &board, &mut tasks);
    let (indexes_tx, indexes_rx) = watch::channel(self::blocking::Indexes::default());
    tasks.extend(grpc_listener.map(|listener| serve_grpc(listener, &settings, snapshot_rx.clone())));
    let join_failed = start_join(&settings, known, controls_tx.clone(), snapshot_rx.clone(), &mut tasks);
    let metrics = Arc::new(Metrics::new());
    tasks.extend(hooks::start(
        &settings.hooks,
        &events,
        snapshot_rx.clone(),
        Arc::clone(&metrics),
    ));
    let registry = exposition::registry(&metrics, &settings, snapshot_rx.clone(), board.clone());
    let epoch = tokio::time::Instant::now();
    let state = api_state(
        &settings,
        snapshot_rx.clone(),
        (board, ttl),
        controls_tx.clone(),
        Arc::clone(&events),
        indexes_rx,
        (Arc::new(registry), epoch),
    );
    let (leave, stop_http) = (Arc::clone(&state.leave), Arc::new(Notify::new()));
    let serving = http::serve(listener, http::router(state, settings.api_auth), Arc::clone(&stop_http));
    tasks.push(tokio::spawn(serving));
    if host == Host::Daemon {
        tasks.extend(daemon_tasks(&settings, controls_tx));
    }
    let driver = Driver {
        node,
        socket: Arc::new(socket),
        epoch,
        metrics,
        snapshot: snapshot_tx,
        context,
        published: driver::Published::default(),
        codec,
        limiter: ratelimit::RateLimiter::new(inbound_rate(settings.protocol.interval), 400.0),
        reply_budget: reply::ReplyBudget::default(),
        faults: settings.faults.clone(),
        join: join::JoinWatch::default(),
        refusals: join::RefusalLog::default(),
        events,
        unpublished: Vec::new(),
        indexes: (self::blocking::IndexKeeper::default(), indexes_tx),
    };
    Ok(Running::spawn(
        driver,
        controls_rx,
        (leave, join_failed),
        stop_http,
        tasks,
        local,
    ))
}

impl Running {
    /// Spawns the driver, to run until told to stop, asked to leave, or its join failed.
    fn spawn(
        driver: Driver,
        controls: mpsc::Receiver<Control>,
        (leave, join_failed): (Arc<Notify>, tokio::sync::oneshot::Receiver<String>),
        stop_http: Arc<Notify>,
        tasks: Vec<tokio::task::JoinHandle<()>>,
        local: watch::Sender<checks::LocalHealth>,
    ) -> Running {
        let (stop, failure) = (Arc::new(Notify::new()), Arc::default());
        let ends = ends_when(Arc::clone(&stop), leave, join_failed, Arc::clone(&failure));
        Running {
            snapshot: driver.snapshot.subscribe(),
            events: Arc::clone(&driver.events),
            local,
            stop,
            driver: Some(tokio::spawn(driver.run(controls, ends))),
            failure,
            stop_http,
            tasks,
        }
    }
}

/// What every HTTP handler reads.
fn api_state(
    settings: &Settings,
    snapshot: watch::Receiver<Snapshot>,
    (checks, ttl): (watch::Receiver<checks::Board>, checks::TtlInbox),
    controls: mpsc::Sender<Control>,
    events: Arc<events::EventHub>,
    indexes: watch::Receiver<blocking::Indexes>,
    (registry, epoch): (Arc<prometheus_client::registry::Registry>, tokio::time::Instant),
) -> http::ApiState {
    http::ApiState {
        snapshot,
        registry,
        leave: Arc::new(Notify::new()),
        token: settings.api_token.clone(),
        checks,
        ttl,
        services: Arc::new(settings.services.clone()),
        thresholds: Arc::new(settings.thresholds.clone()),
        panic_threshold: settings.panic_threshold,
        turns: Arc::default(),
        epoch,
        controls,
        events,
        streams: Arc::new(tokio::sync::Semaphore::new(http::MAX_STREAMS)),
        indexes,
    }
}

/// The event log, and the task that publishes this agent's own checks' changes to it.
fn start_events(
    settings: &Settings,
    board: &watch::Receiver<checks::Board>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Arc<events::EventHub> {
    let events = Arc::new(events::EventHub::start());
    let follow = events::follow_board(
        board.clone(),
        Arc::clone(&events),
        settings.name.clone(),
        settings.tags.clone(),
    );
    tasks.push(tokio::spawn(follow));
    events
}

/// Completes when the agent is told to stop, `POST /v1/leave` asks it to, or its join
/// failed for good (the reason is kept in `failure`).
async fn ends_when(
    stop: Arc<Notify>,
    leave: Arc<Notify>,
    join_failed: tokio::sync::oneshot::Receiver<String>,
    failure: Arc<std::sync::Mutex<Option<String>>>,
) {
    tokio::select! {
        () = stop.notified() => {}
        () = leave.notified() => {}
        Ok(reason) = join_failed => {
            *failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
        }
    }
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
    local: watch::Receiver<checks::LocalHealth>,
) -> (
    watch::Receiver<checks::Board>,
    checks::TtlInbox,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (board, ttl, mut tasks) = checks::start(&settings.checks);
    let (samples_tx, samples_rx) = mpsc::channel(4);
    let reporter = checks::Reporter {
        local,
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
    if let Some(target) = settings.auto_tune {
        // Settings::validate refused every strategy the node refuses.
        let _ = node.enable_auto_tune(Instant::ZERO, target);
    }
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

/// What only the daemon, owning its process, runs: the keyring's reload on SIGHUP and the
/// start-up code's release.
fn daemon_tasks(settings: &Settings, controls: mpsc::Sender<Control>) -> [tokio::task::JoinHandle<()>; 2] {
    [
        tokio::spawn(reload_keyring_on_sighup(settings.keys.clone(), controls)),
        tokio::spawn(trim_after_start()),
    ]
}

/// How long after start the daemon gives back its start-up code's pages: start-up (the
/// CLI, settings, runtime, router, sockets) is over by then, and so are the first join
/// rounds and health samples on a LAN.
const TRIM_AFTER: Duration = Duration::from_secs(10);

/// How much of the main thread's stack below the trim's own frame stays mapped. Deeper
/// pages are given back; a task that later reaches them (all run on this thread) gets
/// zeroed pages, which then stay, as any stack's growth does.
const STACK_MARGIN: usize = 32 * 1024;

/// Once start-up is over, unmaps the code and read-only data of the binary and of its
/// shared libraries so that only what the agent runs afterwards faults back in and stays
/// resident (`vitals_trim`; docs/DEPLOY.md "Footprint"), and gives back the
/// main thread's stack below [`STACK_MARGIN`] (this task runs on it: the daemon's runtime
/// is a current-thread one, `vitals agent`; on another thread it does nothing). Only the
/// daemon does it: an embedding program's pages are its own.
async fn trim_after_start() {
    tokio::time::sleep(TRIM_AFTER).await;
    match vitals_trim::startup_pages() {
        Ok(bytes) => tracing::debug!(bytes, "gave back the start-up code's pages"),
        Err(error) => tracing::debug!(%error, "cannot give back the start-up code's pages"),
    }
    match vitals_trim::stack_below(STACK_MARGIN) {
        Ok(Some(range)) => tracing::debug!(bytes = range.len(), "gave back the start-up stack's pages"),
        Ok(None) => tracing::debug!("not on the main thread: the stack is kept"),
        Err(error) => tracing::debug!(%error, "cannot give back the start-up stack's pages"),
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
