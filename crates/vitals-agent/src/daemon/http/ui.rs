//! `GET /ui`: the live dashboard (members, who hears whom, transitions, last failures,
//! services), plain HTML, CSS and JavaScript built into the binary with `include_str!`:
//! no CDN, no build step, nothing fetched but this agent's own API. The page itself holds
//! no cluster data, so it is served without a token; the API calls it makes carry the
//! token the operator types once (kept in the tab's sessionStorage, sent as a bearer
//! token, and as `?token=` on `GET /v1/events`, which `EventSource` opens without headers).

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::ApiState;

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/style.css");

/// The dashboard's routes (no token: they serve only the page's own files).
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/ui", get(page))
        .route("/ui/app.js", get(script))
        .route("/ui/style.css", get(style))
}

/// The dashboard page.
#[utoipa::path(get, path = "/ui", tag = "meta",
    responses((status = 200, description = "The live dashboard (HTML)", content_type = "text/html")))]
pub(super) async fn page() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX)
}

/// The dashboard's script.
#[utoipa::path(get, path = "/ui/app.js", tag = "meta",
    responses((status = 200, description = "The dashboard's JavaScript", content_type = "text/javascript")))]
pub(super) async fn script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The dashboard's style sheet.
#[utoipa::path(get, path = "/ui/style.css", tag = "meta",
    responses((status = 200, description = "The dashboard's CSS", content_type = "text/css")))]
pub(super) async fn style() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'",
            ),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_files() {
        for text in [INDEX, SCRIPT, STYLE] {
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "an outside URL"
            );
        }
        assert!(INDEX.contains("/ui/app.js") && INDEX.contains("/ui/style.css"));
        for path in [
            "/v1/members",
            "/v1/reachability",
            "/v1/events",
            "/v1/services",
            "/v1/leader",
        ] {
            assert!(SCRIPT.contains(path), "the script does not read {path}");
        }
    }
}
