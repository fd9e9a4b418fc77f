//! The OpenAPI description of the HTTP API, generated with utoipa from the handlers'
//! `#[utoipa::path]` attributes and the shared types of [`crate::api`], served at
//! `GET /v1/openapi.json`. A copy is checked in as `docs/openapi.json`; a test fails when
//! it differs from what the code generates, and another when a route is not described.
//! Regenerate the copy with:
//!
//! ```sh
//! VITALS_BLESS=1 cargo test -p vitals-agent --lib openapi
//! ```

use axum::Json;
use axum::response::IntoResponse;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vitals agent HTTP API",
        description = "Membership, health, services and routing of a Vitals cluster as one agent sees it, a Consul-compatible read-only subset, and Prometheus discovery. Errors are JSON `{\"error\": ...}`. Writes need `Authorization: Bearer TOKEN` (reads too under `--api-auth all`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::lifecycle::members, super::lifecycle::join, super::lifecycle::force_leave,
        super::self_view, super::why, super::leader, super::leave, super::reach::reachability,
        super::links::links, super::links::tune,
        super::ui::page, super::ui::script, super::ui::style,
        super::healthz, super::readyz, super::metrics, serve,
        super::services::services, super::services::service, super::services::route,
        super::services::checks, super::services::report,
        super::discovery::prometheus_sd,
        super::consul::agent_self, super::consul::agent_members,
        super::consul::catalog_services, super::consul::health_service,
        super::events::events,
    ),
    components(schemas(api::NoSuchEndpoint, api::events::Gap, api::events::Lagged)),
    modifiers(&BearerToken),
    tags(
        (name = "members", description = "The cluster as this agent sees it"),
        (name = "services", description = "Services, checks and routing"),
        (name = "probes", description = "Liveness, readiness and metrics (no token needed for probes)"),
        (name = "prometheus", description = "Prometheus service discovery"),
        (name = "consul", description = "Consul's read-only API, in Consul's shapes"),
        (name = "events", description = "Verdict changes as Server-Sent Events"),
        (name = "meta", description = "This description"),
    ),
)]
struct Description;

/// Declares the bearer token the write endpoints need.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The OpenAPI document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    Description::openapi()
}

/// The OpenAPI document as pretty JSON with a final newline, as checked in.
pub fn pretty_json() -> String {
    let mut text = document().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// This description (OpenAPI 3.1).
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI description of this API", content_type = "application/json", body = Object)))]
pub(super) async fn serve() -> impl IntoResponse {
    Json(document())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use super::*;

    fn repository() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// `docs/openapi.json` is what the code generates (`VITALS_BLESS=1` rewrites it).
    #[test]
    fn openapi_checked_in_copy_matches_the_code() {
        let path = repository().join("docs/openapi.json");
        let generated = pretty_json();
        if std::env::var_os("VITALS_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("write docs/openapi.json");
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "docs/openapi.json differs from the API the code describes: regenerate it with \
             `VITALS_BLESS=1 cargo test -p vitals-agent --lib openapi` and commit it"
        );
    }

    /// The paths given to `.route("...")` in the HTTP module's sources.
    fn routed_paths() -> BTreeSet<String> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/daemon/http");
        let mut paths = BTreeSet::new();
        for file in std::fs::read_dir(&dir).expect("read the http module") {
            let source = std::fs::read_to_string(file.expect("list the http module").path()).unwrap_or_default();
            let literals = source.split(".route(\"").skip(1);
            let routed = literals.map(|piece| piece.split('"').next().unwrap_or_default());
            paths.extend(routed.filter(|path| path.starts_with('/')).map(String::from));
        }
        paths
    }

    /// Adding a route without describing it (or describing a path no route serves) fails.
    #[test]
    fn openapi_describes_every_route_and_only_routes() {
        let routed = routed_paths();
        assert!(routed.contains("/v1/members") && routed.contains("/v1/health/service/{name}"));
        let described: BTreeSet<String> = document().paths.paths.keys().cloned().collect();
        let undescribed: Vec<_> = routed.difference(&described).collect();
        assert!(
            undescribed.is_empty(),
            "routes without an OpenAPI description: {undescribed:?}: add #[utoipa::path] to the handler and list it in daemon/http/openapi.rs"
        );
        let unrouted: Vec<_> = described.difference(&routed).collect();
        assert!(unrouted.is_empty(), "described but not routed: {unrouted:?}");
    }

    /// Every operation says what it answers, and every schema it names is defined.
    #[test]
    fn openapi_references_resolve() {
        let text = pretty_json();
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let schemas = value["components"]["schemas"].as_object().expect("schemas");
        for piece in text.split("\"$ref\": \"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "{name} is referenced but not defined");
        }
        for (path, item) in value["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let ok = operation["responses"].as_object().is_some_and(|r| !r.is_empty());
                assert!(ok, "{method} {path} describes no response");
            }
        }
    }
}
