//! Liveness and readiness.

use super::{AppState, Problem, SEQ_HEADER};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready only once the graph is built from the ledger.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.registry() {
        Some(r) => {
            let seq = r.applied_seq();
            (
                [(SEQ_HEADER, seq.to_string())],
                Json(json!({"status": "ready", "ledger_seq": seq})),
            )
                .into_response()
        }
        None => Problem::not_ready().into_response(),
    }
}
