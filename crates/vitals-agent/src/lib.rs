//! # vitals-agent: the Vitals daemon
//!
//! Drives one [`vitals_core::Node`] with real time and real sockets: heartbeats over UDP,
//! an HTTP API (axum), Prometheus metrics, and health samples from `sysinfo`. It is the
//! only crate that knows about tokio, sockets, HTTP and Prometheus; the protocol itself
//! lives in `vitals-core`, and this crate must never decide a member's status.
//!
//! One task (the driver) owns the node; HTTP handlers read a snapshot it publishes.

pub mod config;
mod driver;
pub mod health;
mod http;
pub mod metrics;
pub mod snapshot;

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use vitals_core::{Command, Instant, Node, Peer};

pub use config::{RawConfig, Settings, SettingsError};

use crate::driver::Driver;
use crate::metrics::Metrics;
use crate::snapshot::{Context, Snapshot};

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
    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
}

/// Runs the agent until `shutdown` completes; then announces that the node leaves (so
/// peers mark it `left`, not `dead`) and returns.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()> + Send) -> Result<(), AgentError> {
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
    let seed = RandomState::new().build_hasher().finish();
    let context = Context {
        http: settings.http,
        preset: settings.preset,
        seed,
    };
    let me = Peer {
        name: settings.name.clone(),
        addr: settings.advertise,
        incarnation: 0,
    };
    let mut node = Node::new(me, settings.protocol.clone(), seed, Instant::ZERO);
    node.handle_command(Instant::ZERO, Command::Join(settings.join.clone()));
    tracing::info!(
        name = %settings.name, bind = %settings.bind, http = %settings.http, strategy = ?settings.protocol.strategy,
        interval = ?settings.protocol.interval, threshold = settings.protocol.threshold, seed, "vitals agent started"
    );

    let metrics = Arc::new(Metrics::new());
    let registry = Arc::new(metrics.registry());
    let (snapshot_tx, snapshot_rx) = watch::channel(Snapshot::of(&node, context, Instant::ZERO));
    let (commands_tx, commands_rx) = mpsc::channel(16);
    let sampler = tokio::spawn(sample_health(
        commands_tx,
        health::sample_period(settings.protocol.interval),
    ));
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let app = http::router(http::ApiState {
        snapshot: snapshot_rx,
        registry,
    });
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { http_stopped.await.unwrap_or(()) })
            .await
    });

    let driver = Driver {
        node,
        socket: Arc::new(socket),
        epoch: tokio::time::Instant::now(),
        metrics,
        snapshot: snapshot_tx,
        context,
        published_at: Instant::ZERO,
    };
    driver.run(commands_rx, shutdown).await;
    sampler.abort();
    let _ = stop_http.send(());
    match server.await {
        Ok(result) => result.map_err(AgentError::Http),
        Err(_) => Ok(()),
    }
}

/// Samples health on a blocking thread every `period` and hands it to the node.
async fn sample_health(commands: mpsc::Sender<Command>, period: std::time::Duration) {
    let Some(mut sampler) = health::Sampler::new() else {
        tracing::warn!("cannot read this system's health: heartbeats will carry none");
        return;
    };
    loop {
        let Ok((returned, health)) = tokio::task::spawn_blocking(move || {
            let health = sampler.sample();
            (sampler, health)
        })
        .await
        else {
            return;
        };
        sampler = returned;
        if commands.send(Command::SetHealth(health)).await.is_err() {
            return;
        }
        tokio::time::sleep(period).await;
    }
}
