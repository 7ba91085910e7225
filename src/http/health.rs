//! Liveness and readiness.

use super::{AppState, Problem, SEQ_HEADER};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    status: &'static str,
    /// The ledger sequence number the graph has applied.
    ledger_seq: i64,
}

/// Liveness
///
/// Answers as soon as the process serves HTTP, before the graph is built.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is up", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness
///
/// Ready only once the graph is built from the ledger.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "The graph is built; the service answers", body = Readiness),
        (status = 503, description = "`not_ready`: the graph is still being built from the ledger",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.registry() {
        Some(r) => {
            let seq = r.applied_seq();
            (
                [(SEQ_HEADER, seq.to_string())],
                Json(Readiness {
                    status: "ready",
                    ledger_seq: seq,
                }),
            )
                .into_response()
        }
        None => Problem::not_ready().into_response(),
    }
}
