//! The standard gRPC Health Checking Protocol (grpc.health.v1 Check and Watch, via
//! tonic-health) on `--grpc HOST:PORT`, so Envoy, Kubernetes gRPC probes and
//! grpc-health-probe work against the agent unchanged.
//!
//! Service `""` is the node: SERVING while it is joined, has not left and its own checks
//! are not critical. Each service this agent fronts is SERVING while the node is and the
//! service's checks are not critical. Reads the published snapshot only; never touches
//! the node.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use vitals_core::CheckStatus;

use super::snapshot::Snapshot;

/// What the health service answers for the node and for each of `services`.
pub fn statuses(snapshot: &Snapshot, services: &[String]) -> Vec<(String, ServingStatus)> {
    let serving = |ok: bool| {
        if ok {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }
    };
    let own = snapshot.own();
    let node_ok =
        snapshot.me.joined && !snapshot.me.left && own.and_then(|m| m.check_status) != Some(CheckStatus::Critical);
    let mut out = vec![(String::new(), serving(node_ok))];
    for name in services {
        let service_ok = own
            .and_then(|m| m.health.as_ref()?.checks.as_ref()?.service(name).map(|s| s.status))
            .is_some_and(|s| s != CheckStatus::Critical);
        out.push((name.clone(), serving(node_ok && service_ok)));
    }
    out
}

/// Serves grpc.health.v1 on `listener` until `stop`, following `snapshot`.
pub(crate) async fn serve(
    listener: TcpListener,
    mut snapshot: watch::Receiver<Snapshot>,
    services: Vec<String>,
    stop: Arc<Notify>,
) {
    let (reporter, service) = tonic_health::server::health_reporter();
    let follow = async move {
        let mut last = Vec::new();
        loop {
            let now = statuses(&snapshot.borrow_and_update(), &services);
            if now != last {
                apply(&reporter, &now).await;
                last = now;
            }
            if snapshot.changed().await.is_err() {
                return;
            }
        }
    };
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, async move { stop.notified().await });
    tokio::select! {
        () = follow => {}
        result = server => if let Err(error) = result {
            tracing::error!(%error, "the gRPC health server stopped");
        },
    }
}

async fn apply(reporter: &HealthReporter, statuses: &[(String, ServingStatus)]) {
    for (name, status) in statuses {
        reporter.set_service_status(name, *status).await;
        tracing::debug!(service = %name, ?status, "gRPC health status");
    }
}

/// Binds the gRPC health listener.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
