//! `GET /v1/refused`: refused records with their reasons, oldest first,
//! paginated by id (`after`), optionally for one `code`.

use super::{AppState, Problem, Ready};
use crate::acts::Code;
use crate::ledger::RefusedRow;
use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/refused", get(list))
}

#[derive(Debug, Deserialize)]
struct Params {
    after: Option<String>,
    limit: Option<String>,
    code: Option<String>,
}

#[derive(Debug, Serialize)]
struct Page {
    items: Vec<RefusedRow>,
    /// Pass as `after` for the next page; null on the last one.
    next_after: Option<i64>,
}

const MAX_LIMIT: i64 = 1000;

async fn list(Ready(reg): Ready, Query(p): Query<Params>) -> Result<Json<Page>, Problem> {
    let after = match p.after.as_deref() {
        None => 0,
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            Problem::bad_request(
                "invalid_parameter",
                "parameter after: must be a non-negative integer",
            )
        })?,
    };
    let limit = match p.limit.as_deref() {
        None => 100,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Problem::bad_request(
                    "invalid_parameter",
                    format!("parameter limit: must be an integer from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    if let Some(c) = p.code.as_deref()
        && Code::from_code(c).is_none()
    {
        return Err(Problem::bad_request(
            "invalid_parameter",
            "parameter code: is not a refusal code (see docs/ERRORS.md)",
        ));
    }
    let items = reg
        .ledger()
        .refused(after, limit, p.code.as_deref())
        .await?;
    let next_after = (items.len() as i64 == limit)
        .then(|| items.last().map(|r| r.id))
        .flatten();
    Ok(Json(Page { items, next_after }))
}
