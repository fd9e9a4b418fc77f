//! `vitals proxy`: a TCP (L4) failover proxy for one service. It follows an agent's view
//! of the service with blocking queries (`GET /v1/services/NAME?index=N&wait=10s`: the
//! agent answers as soon as an instance's status changes, and at least every
//! [`WATCH_WAIT`], so scores stay fresh too), sends each new connection
//! to a target chosen by [`pick`](crate::routing::pick), retries the connect on another instance
//! when one refuses (and ejects the refuser for [`EJECT`]), and exports connection counts
//! per target on `/metrics`.
//!
//! **Invariant:** an instance the agent marks down (suspect, dead, left, critical) gets
//! no new connection once the agent's answer to the watch arrives. It never decides health itself beyond the
//! short ejection of an instance that just refused a connection.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::routing::{self as route, Instance, Policy};

/// How long an instance that refused a connection gets no new one.
pub const EJECT: Duration = Duration::from_secs(2);
/// How long one blocking query may wait for a change.
pub const WATCH_WAIT: Duration = Duration::from_secs(10);
/// Most instances one connection tries.
pub const MAX_ATTEMPTS: usize = 3;

/// The proxy's settings.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// The service proxied.
    pub service: String,
    /// The agent's HTTP API.
    pub agent: SocketAddr,
    /// The bearer token the agent's API wants, if any.
    pub token: Option<String>,
    /// How to choose a target.
    pub policy: Policy,
    /// Panic threshold (as the agent's).
    pub panic_threshold: f64,
    /// How long to wait before asking again after the agent did not answer (and between
    /// reads from an agent that does not block: one older than blocking queries).
    pub refresh: Duration,
    /// Time a connect to a target may take.
    pub connect_timeout: Duration,
    /// Where to serve `/metrics`, if anywhere.
    pub metrics: Option<SocketAddr>,
}

/// A label naming a target.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabel {
    /// The member name.
    pub target: String,
}

/// The proxy's metrics.
#[derive(Debug, Default)]
pub struct ProxyMetrics {
    /// Connections forwarded, by target.
    pub connections: Family<TargetLabel, Counter>,
    /// Connections open now, by target.
    pub active: Family<TargetLabel, Gauge>,
    /// Connects that failed, by target.
    pub connect_failures: Family<TargetLabel, Counter>,
    /// Client connections closed because no target could be reached.
    pub unrouted: Counter,
}

impl ProxyMetrics {
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("vitals_proxy");
        r.register(
            "connections",
            "Connections forwarded, by target",
            self.connections.clone(),
        );
        r.register("active_connections", "Connections open, by target", self.active.clone());
        r.register(
            "connect_failures",
            "Connects to a target that failed",
            self.connect_failures.clone(),
        );
        r.register(
            "unrouted",
            "Client connections no target could take",
            self.unrouted.clone(),
        );
        r
    }
}

/// Why the proxy could not run.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}; choose another --{flag}")]
    Bind {
        /// The flag naming the address.
        flag: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

struct Proxy {
    settings: ProxySettings,
    view: watch::Receiver<Vec<Instance>>,
    ejected: Mutex<BTreeMap<SocketAddr, Instant>>,
    metrics: ProxyMetrics,
    turn: std::sync::atomic::AtomicU64,
}

/// Runs the proxy until `shutdown` completes.
pub async fn run(settings: ProxySettings, shutdown: impl std::future::Future<Output = ()>) -> Result<(), ProxyError> {
    let bind = |flag, addr| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|source| ProxyError::Bind { flag, addr, source })
    };
    let listener = bind("listen", settings.listen).await?;
    let metrics_listener = match settings.metrics {
        Some(addr) => Some(bind("metrics", addr).await?),
        None => None,
    };
    let (view_tx, view) = watch::channel(Vec::new());
    let follow = tokio::spawn(follow(settings.clone(), view_tx));
    let proxy = Arc::new(Proxy {
        settings,
        view,
        ejected: Mutex::default(),
        metrics: ProxyMetrics::default(),
        turn: Default::default(),
    });
    let stop = Arc::new(Notify::new());
    let served = metrics_listener.map(|l| {
        let router = Router::new()
            .route("/metrics", get(crate::daemon::http::metrics))
            .with_state(crate::daemon::http::MetricsState(Arc::new(proxy.metrics.registry())));
        tokio::spawn(crate::daemon::http::serve(l, router, Arc::clone(&stop)))
    });
    tracing::info!(listen = %proxy.settings.listen, service = %proxy.settings.service, agent = %proxy.settings.agent, "proxy started");
    tokio::select! {
        () = accept(Arc::clone(&proxy), listener) => {}
        () = shutdown => {}
    }
    follow.abort();
    stop.notify_one();
    if let Some(task) = served {
        task.abort();
    }
    Ok(())
}

/// Follows the agent's view of the service with blocking queries; keeps the last view
/// while the agent does not answer, and asks again after `refresh`.
async fn follow(settings: ProxySettings, view: watch::Sender<Vec<Instance>>) {
    let mut index = 0;
    loop {
        let path = format!(
            "/v1/services/{}?index={index}&wait={}s",
            settings.service,
            WATCH_WAIT.as_secs()
        );
        let answer = tokio::time::timeout(
            WATCH_WAIT + Duration::from_secs(5),
            crate::health::probe::http_get_indexed(settings.agent, &path, settings.token.as_deref()),
        )
        .await;
        let blocked = match answer {
            Ok(Ok((status, next, body))) => {
                read_view(status, &body, &view);
                let blocked = status != 401 && next.is_some();
                index = next.unwrap_or(0);
                blocked
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot reach the agent; keeping the last view");
                false
            }
            Err(_) => {
                tracing::warn!("the agent did not answer in time; keeping the last view");
                false
            }
        };
        if !blocked {
            tokio::time::sleep(settings.refresh).await;
        }
    }
}

/// Takes in one answer of the agent's about the service.
fn read_view(status: u16, body: &[u8], view: &watch::Sender<Vec<Instance>>) {
    match status {
        200 => match serde_json::from_slice::<Vec<Instance>>(body) {
            Ok(instances) => {
                view.send_if_modified(|v| std::mem::replace(v, instances.clone()) != instances);
            }
            Err(error) => tracing::warn!(%error, "unexpected answer from the agent"),
        },
        404 => {
            view.send_replace(Vec::new());
        }
        401 => tracing::warn!("the agent wants its API token: give it with --token or --token-file"),
        status => tracing::warn!(status, "the agent refused the service view"),
    }
}

async fn accept(proxy: Arc<Proxy>, listener: TcpListener) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        tokio::spawn(Arc::clone(&proxy).forward(client));
    }
}

impl Proxy {
    fn is_ejected(&self, addr: SocketAddr, now: Instant) -> bool {
        let ejected = self.ejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        ejected.get(&addr).is_some_and(|until| *until > now)
    }

    fn eject(&self, addr: SocketAddr) {
        let mut ejected = self.ejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        ejected.retain(|_, until| *until > now);
        ejected.insert(addr, now + EJECT);
    }

    /// The next target for a connection that already tried `tried`.
    fn choose(&self, tried: &[SocketAddr]) -> Option<Instance> {
        let now = Instant::now();
        let fresh: Vec<Instance> = self
            .view
            .borrow()
            .iter()
            .filter(|i| !tried.contains(&i.addr))
            .cloned()
            .collect();
        let not_ejected: Vec<Instance> = fresh
            .iter()
            .filter(|i| !self.is_ejected(i.addr, now))
            .cloned()
            .collect();
        let pool = if not_ejected.iter().any(Instance::is_healthy) {
            not_ejected
        } else {
            fresh
        };
        let turn = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let random = getrandom::u64().unwrap_or(0) as f64 / (u64::MAX as f64 + 1.0);
        let s = &self.settings;
        route::pick(&s.service, &pool, s.policy, s.panic_threshold, turn, random)
            .ok()
            .map(|r| r.target)
    }

    async fn connect(&self) -> Option<(TcpStream, Instance)> {
        let mut tried = Vec::new();
        while tried.len() < MAX_ATTEMPTS {
            let target = self.choose(&tried)?;
            let label = TargetLabel {
                target: target.name.clone(),
            };
            match tokio::time::timeout(self.settings.connect_timeout, TcpStream::connect(target.addr)).await {
                Ok(Ok(stream)) => return Some((stream, target)),
                Ok(Err(error)) => tracing::debug!(target = %target.addr, %error, "connect failed; trying another"),
                Err(_) => tracing::debug!(target = %target.addr, "connect timed out; trying another"),
            }
            self.metrics.connect_failures.get_or_create(&label).inc();
            self.eject(target.addr);
            tried.push(target.addr);
        }
        None
    }

    async fn forward(self: Arc<Self>, mut client: TcpStream) {
        let Some((mut upstream, target)) = self.connect().await else {
            self.metrics.unrouted.inc();
            return;
        };
        let _ = upstream.set_nodelay(true);
        let label = TargetLabel { target: target.name };
        self.metrics.connections.get_or_create(&label).inc();
        self.metrics.active.get_or_create(&label).inc();
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        self.metrics.active.get_or_create(&label).dec();
    }
}
