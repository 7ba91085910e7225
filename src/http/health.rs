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
        .routes(routes!(graph_digest))
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

#[derive(Debug, Serialize, ToSchema)]
pub struct GraphDigest {
    /// The ledger sequence number the graph reflects.
    ledger_seq: i64,
    persons: usize,
    links: usize,
    /// 16 hex digits: two replicas at the same `ledger_seq` with the same
    /// digest hold the same graph.
    #[schema(example = "9c1f04e2b7a3d5e8")]
    digest: String,
}

/// Graph digest
///
/// A digest of the whole graph (persons, links, marriages, divorces) and
/// the ledger seq it reflects, to compare replicas. It walks every person
/// and link: milliseconds on a small ledger, seconds at country size,
/// during which writes wait.
#[utoipa::path(
    get,
    path = "/v1/graph/digest",
    security(("api_key" = [])),
    tag = "health",
    responses(
        (status = 200, description = "The digest and what it covers", body = GraphDigest),
        (status = 503, description = "`not_ready`: the graph is still being built from the ledger",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn graph_digest(super::Ready(reg): super::Ready) -> Response {
    let answer = tokio::task::spawn_blocking(move || {
        let g = reg.graph();
        GraphDigest {
            // The seq moves under the graph's write lock: read under the
            // read lock, it is the one this graph reflects.
            ledger_seq: reg.applied_seq(),
            persons: g.person_count(),
            links: g.link_count(),
            digest: format!("{:016x}", g.canonical().digest()),
        }
    })
    .await;
    match answer {
        Ok(d) => ([(SEQ_HEADER, d.ledger_seq.to_string())], Json(d)).into_response(),
        Err(e) => Problem::internal(&e).into_response(),
    }
}
