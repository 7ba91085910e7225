//! `POST /v1/acts`: one act (JSON) or many (NDJSON), each applied or
//! refused on its own. NDJSON bodies are streamed in batches, so a body of
//! any size costs bounded memory.

use super::{AppState, Problem, Ready, SEQ_HEADER};
use crate::registry::{Line, LineOutcome, LineSplitter, Registry};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lines per ledger transaction.
const BATCH_LINES: usize = 1000;
/// Largest body accepted as one `application/json` act.
const MAX_JSON_BODY: usize = 1 << 20;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/acts", post(post_acts))
}

#[derive(Debug, Default, Serialize)]
pub struct ActsAnswer {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, Serialize)]
pub struct Rejected {
    pub line: u64,
    pub act_id: Option<String>,
    pub code: &'static str,
    pub detail: String,
}

/// A request id unique within this process, for the refused records' source.
fn request_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    format!("{t}-{}", N.fetch_add(1, Ordering::Relaxed))
}

async fn post_acts(Ready(reg): Ready, headers: HeaderMap, body: Body) -> Result<Response, Problem> {
    let source = format!("http:{}", request_id());
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut answer = ActsAnswer::default();
    let mut split = LineSplitter::default();
    let mut pending = Vec::new();
    if json {
        let bytes = axum::body::to_bytes(body, MAX_JSON_BODY).await.map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("an application/json body may be at most {MAX_JSON_BODY} bytes; send many acts as application/x-ndjson"),
            )
        })?;
        // One (possibly pretty-printed) JSON act, or NDJSON sent as JSON.
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
            pending.push(Line::new(1, bytes.to_vec()));
        } else {
            split.push(&bytes, &mut pending);
        }
    } else {
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|_| {
                Problem::bad_request(
                    "body_unreadable",
                    "the request body could not be read to its end",
                )
            })?;
            split.push(&chunk, &mut pending);
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
