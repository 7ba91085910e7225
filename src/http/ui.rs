//! `/ui`: the staff page, embedded in the binary (its JavaScript
//! dependencies from npm, pinned in `ui/package-lock.json` and copied into
//! `ui/vendor/`; no CDN). The page holds no personal data: everything it
//! shows it asks the API for with the clerk's key and purpose.

use super::AppState;
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../../ui/index.html");
const APP: &str = include_str!("../../ui/app.js");
const STYLE: &str = include_str!("../../ui/style.css");
const CYTOSCAPE: &str = include_str!("../../ui/vendor/cytoscape.min.js");
const DAGRE: &str = include_str!("../../ui/vendor/cytoscape-dagre.min.js");

/// Scripts only from here (none inline, no eval); cytoscape sets inline
/// styles on its canvases; the API is same-origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|| async { page("text/html; charset=utf-8", INDEX) }),
        )
        .route("/ui/app.js", get(|| async { page(JS, APP) }))
        .route(
            "/ui/style.css",
            get(|| async { page("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/ui/vendor/cytoscape.min.js",
            get(|| async { page(JS, CYTOSCAPE) }),
        )
        .route(
            "/ui/vendor/cytoscape-dagre.min.js",
            get(|| async { page(JS, DAGRE) }),
        )
}

const JS: &str = "text/javascript; charset=utf-8";

fn page(ctype: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
