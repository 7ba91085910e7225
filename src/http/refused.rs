//! `GET /v1/refused`: refused records with their reasons, oldest first,
//! paginated by id (`after`), optionally for one `code`.

use super::openapi::{RefusalCode, RefusedRowSchema};
use super::params::{Params, int_param};
use super::{AppState, Problem};
use crate::acts::Code;
use crate::ledger::RefusedRow;
use crate::query::{Answer, Reader};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RefusedQuery {
    /// List records with an id greater than this (the previous page's
    /// `next_after`); 0 when absent.
    #[param(value_type = i64, required = false, minimum = 0)]
    after: Option<String>,
    /// Records per page, 1 to 1000; 100 when absent.
    #[param(value_type = i64, required = false, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Only records refused with this code.
    #[param(value_type = RefusalCode, required = false)]
    code: Option<String>,
}

/// One page of refused records, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RefusedPage)]
struct Page {
    #[schema(value_type = Vec<RefusedRowSchema>)]
    items: Vec<RefusedRow>,
    /// Pass as `after` for the next page; null on the last one.
    #[schema(required = true)]
    next_after: Option<i64>,
}

const MAX_LIMIT: i64 = 1000;

/// Refused records
///
/// The records `POST /v1/acts` and imports refused, with their reasons and
/// raw lines, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/refused",
    security(("api_key" = ["investigate"])),
    tag = "acts",
    params(RefusedQuery),
    responses(
        (status = 200, description = "A page of refused records", body = Page),
        (status = 400, description = "`invalid_parameter`: after, limit or code is out of range",
            body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the ledger failed",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list(reader: Reader, Params(p): Params<RefusedQuery>) -> Result<Answer<Page>, Problem> {
    let after = int_param("after", p.after.as_deref(), 0, 0..=i64::MAX)?;
    let limit = int_param("limit", p.limit.as_deref(), 100, 1..=MAX_LIMIT)?;
    if let Some(c) = p.code.as_deref()
        && Code::from_code(c).is_none()
    {
        return Err(Problem::bad_request(
            "invalid_parameter",
            "parameter code: is not a refusal code (see docs/ERRORS.md)",
        ));
    }
    let rows = reader.refused(after, limit, p.code.as_deref()).await?;
    Ok(rows.map(|items| {
        let next_after = (items.len() as i64 == limit)
            .then(|| items.last().map(|r| r.id))
            .flatten();
        Page { items, next_after }
    }))
}
