//! `POST /v1/acts`: one act (JSON) or many (NDJSON), each applied or
//! refused on its own. An NDJSON body is read whole within the batch caps
//! (`ndjson::BatchBody`), then applied in transactions of `BATCH_LINES`.

use super::ndjson::BatchBody;
use super::{AppState, Problem, Ready, SEQ_HEADER};
use crate::registry::{Line, LineOutcome, LineSplitter, Registry};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Lines per ledger transaction.
const BATCH_LINES: usize = 1000;
/// Largest body accepted as one `application/json` act.
const MAX_JSON_BODY: usize = 1 << 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(post_acts))
}

/// What became of the records of one request.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct ActsAnswer {
    /// Records applied.
    pub accepted: u64,
    /// Records already recorded with the same meaning: nothing to do.
    pub duplicates: u64,
    /// Records refused, each kept with its reason (see `GET /v1/refused`).
    pub rejected: Vec<Rejected>,
}

/// A refused record of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    /// Its line in the body, counting from 1 (blank lines are counted).
    pub line: u64,
    /// Its act_id, when it could be read.
    #[schema(required = true)]
    pub act_id: Option<String>,
    #[schema(value_type = super::openapi::RefusalCode)]
    pub code: &'static str,
    /// A sentence naming the field at fault.
    pub detail: String,
}

/// A request id unique within this process, for the refused records' source.
fn request_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    format!("{t}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// Write act records
///
/// One act (`application/json`) or many (`application/x-ndjson`, one per
/// line), each applied or refused on its own; a refused record is kept with
/// its reason. Sending the same records again accepts nothing: each is a
/// duplicate (compared by meaning, not by bytes). An NDJSON body is read
/// whole within the batch caps (64 MiB, 1,000,000 lines by default), then
/// applied in transactions of 1000 lines.
#[utoipa::path(
    post,
    path = "/v1/acts",
    security(("api_key" = ["acts:write"])),
    tag = "acts",
    request_body(
        description = "One act record as JSON (at most 1 MiB), or many as NDJSON: one record \
            per line in the civil-act interchange format, blank lines skipped but counted.",
        content(
            (super::openapi::ActInput = "application/json"),
            (String = "application/x-ndjson", example = json!(
                "{\"kind\":\"marriage\",\"act_id\":\"M-1998-0001\",\"date\":\"1998-06-20\",\"spouses\":[\"720415300125\",\"750101400219\"]}\n{\"kind\":\"divorce\",\"act_id\":\"R-2006-0003\",\"date\":\"2006-11-02\",\"marriage_act\":\"M-1998-0001\"}\n"
            )),
        ),
    ),
    responses(
        (status = 200, description = "Each record applied, already recorded, or refused with its reason", body = ActsAnswer,
            example = json!({"accepted": 2, "duplicates": 0, "rejected": [{"line": 3, "act_id": "X-1", "code": "invalid_iin", "detail": "field child: check digit is 4, expected 7"}]})),
        (status = 400, description = "`body_unreadable`: the body could not be read to its end",
            body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "`body_timeout`: an NDJSON body did not arrive within the batch read timeout",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`body_too_large`: an application/json body over 1 MiB; send many acts as NDJSON. \
            `batch_too_large`: an NDJSON body over the batch caps (bytes or lines); nothing of it is applied",
            body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the ledger failed; records of the failed transaction were not applied",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn post_acts(
    Ready(reg): Ready,
    State(state): State<AppState>,
    caller: crate::access::Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    // Which client sent the records, and in which request.
    let source = format!("http:{}:{}", caller.client.name, request_id());
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut answer = ActsAnswer::default();
    let mut split = LineSplitter::default();
    let mut pending = Vec::new();
    if json {
        let bytes = super::small_body(
            body,
            MAX_JSON_BODY,
            "send many acts as application/x-ndjson",
        )
        .await?;
        // One (possibly pretty-printed) JSON act, or NDJSON sent as JSON.
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
            pending.push(Line::new(1, bytes.to_vec()));
        } else {
            split.push(&bytes, &mut pending);
        }
    } else {
        // Read whole first (within the batch caps), so a body over a cap
        // applies nothing, and a client that writes everything before it
        // reads is served like any other.
        let batch = BatchBody::read(state.batches(), "/v1/acts", &headers, body).await?;
        for piece in batch.bytes.chunks(super::ndjson::FEED) {
            split.push(piece, &mut pending);
            if pending.len() >= BATCH_LINES {
                flush(&reg, &mut pending, &source, &mut answer).await?;
            }
        }
    }
    split.finish(&mut pending);
    flush(&reg, &mut pending, &source, &mut answer).await?;
    let seq = reg.applied_seq().to_string();
    Ok(([(SEQ_HEADER, seq)], Json(answer)).into_response())
}

async fn flush(
    reg: &Registry,
    pending: &mut Vec<Line>,
    source: &str,
    answer: &mut ActsAnswer,
) -> Result<(), Problem> {
    if pending.is_empty() {
        return Ok(());
    }
    let outcomes = reg.ingest(pending, source).await?;
    for (line, o) in pending.iter().zip(outcomes) {
        match o {
            LineOutcome::Accepted { .. } => answer.accepted += 1,
            LineOutcome::Duplicate { .. } => answer.duplicates += 1,
            LineOutcome::Refused {
                act_id,
                code,
                detail,
            } => answer.rejected.push(Rejected {
                line: line.no,
                act_id,
                code: code.as_str(),
                detail,
            }),
        }
    }
    pending.clear();
    Ok(())
}
