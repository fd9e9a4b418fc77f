//! `GET /v1/prometheus/sd[?service=NAME][&passing]`: the instances of services in the
//! format of Prometheus's HTTP service discovery (`http_sd_configs`): a list of
//! `{targets, labels}` groups, one per instance. Debian's Prometheus is built without
//! Consul discovery, so this is how it finds Vitals' services; any Prometheus (2.28 or
//! newer) reads it. Members that left are gone; `?passing` keeps, like Consul's, the
//! instances whose member is alive and whose checks pass. Read-only.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use vitals_core::{CheckStatus, Status};

use super::state::ApiState;
use crate::api::{SdQuery, SdTargetGroup};
use crate::daemon::snapshot::Snapshot;

/// The target groups `query` asks for, in service then member order.
pub(crate) fn target_groups(snapshot: &Snapshot, query: &SdQuery) -> Vec<SdTargetGroup> {
    let services = match query.service.as_deref().filter(|s| !s.is_empty()) {
        Some(service) => vec![service.to_string()],
        None => snapshot.service_names(),
    };
    let mut groups = Vec::new();
    for service in services {
        for instance in snapshot.instances(&service) {
            if instance.member_status == Status::Left {
                continue;
            }
            let passing = instance.member_status == Status::Alive && instance.status == CheckStatus::Passing;
            if query.only_passing() && !passing {
                continue;
            }
            let labels = BTreeMap::from([
                ("__meta_vitals_member".to_string(), instance.name.clone()),
                ("__meta_vitals_service".to_string(), service.clone()),
                (
                    "__meta_vitals_member_status".to_string(),
                    instance.member_status.as_str().to_string(),
                ),
                (
                    "__meta_vitals_check_status".to_string(),
                    instance.status.as_str().to_string(),
                ),
            ]);
            groups.push(SdTargetGroup {
                targets: vec![instance.addr.to_string()],
                labels,
            });
        }
    }
    groups
}

/// Prometheus's HTTP service discovery: one target group per instance of the services.
#[utoipa::path(get, path = "/v1/prometheus/sd", tag = "prometheus", params(SdQuery),
    responses((status = 200, description = "Target groups for `http_sd_configs` (an empty list when none)", body = Vec<SdTargetGroup>)))]
pub(super) async fn prometheus_sd(State(state): State<ApiState>, Query(query): Query<SdQuery>) -> impl IntoResponse {
    let snapshot = state.snapshot.borrow().clone();
    Json(target_groups(&snapshot, &query))
}
