//! `GET /v1/persons/{iin}/lookups`: who looked a person up, and why —
//! what a citizen portal shows the person. Newest first, paginated by
//! audit record id (`before`).

use super::family::path_iin;
use super::openapi::IinSchema;
use super::params::{Params, int_param};
use super::{AppState, Problem};
use crate::iin::Iin;
use crate::ledger::LookupRow;
use crate::query::{Answer, Reader};
use axum::extract::Path;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(lookups))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct LookupsQuery {
    /// List lookups older than this one (the previous page's
    /// `next_before`); the newest when absent.
    #[param(value_type = i64, required = false, minimum = 1)]
    before: Option<String>,
    /// Lookups per page, 1 to 500; 50 when absent.
    #[param(value_type = i64, required = false, minimum = 1, maximum = 500)]
    limit: Option<String>,
}

/// One answer that revealed the person.
#[derive(Debug, Serialize, ToSchema)]
struct Lookup {
    /// The audit record's id.
    id: i64,
    /// When the answer was given (UTC).
    at: chrono::DateTime<chrono::Utc>,
    /// The client that asked.
    #[schema(example = "astana-registration-portal")]
    client: String,
    /// The purpose it stated.
    #[schema(example = "astana-registration")]
    purpose: String,
    /// Its case reference, if it gave one.
    #[schema(required = true, example = "APP-2025-123")]
    case: Option<String>,
    /// Its consent reference, if it gave one.
    #[schema(required = true)]
    consent: Option<String>,
    /// The route that answered.
    #[schema(example = "POST /v1/checks/kinship")]
    route: String,
    /// What it answered: `confirmed`, `not_confirmed`, `answered`,
    /// `not_found`, or for a batch which lines (`lines 1-8192`).
    outcome: String,
}

/// One page of lookups, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LookupsPage)]
struct Page {
    #[schema(value_type = IinSchema)]
    iin: Iin,
    items: Vec<Lookup>,
    /// Pass as `before` for the next page; null on the last one.
    #[schema(required = true)]
    next_before: Option<i64>,
}

const MAX_LIMIT: i64 = 500;

/// Who looked a person up
///
/// Every answer that revealed this person — a check about them, their
/// family, a household they live in, their card — with the client that
/// asked, its stated purpose and references, newest first. A lookup is
/// listed as soon as its answer has been sent. Reading this list is itself
/// a lookup, and is listed too.
#[utoipa::path(
    get,
    path = "/v1/persons/{iin}/lookups",
    security(("api_key" = ["audit"])),
    tag = "audit",
    params(("iin" = IinSchema, Path, description = "The person's IIN"), LookupsQuery),
    responses(
        (status = 200, description = "A page of lookups", body = Page),
        (status = 400, description = "`invalid_iin` (path iin); `invalid_parameter`: before or limit is out of range",
            body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the ledger failed",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn lookups(
    reader: Reader,
    Path(iin): Path<String>,
    Params(p): Params<LookupsQuery>,
) -> Result<Answer<Page>, Problem> {
    let iin = path_iin(&iin)?;
    let before = match p.before.as_deref() {
        None => None,
        b => Some(int_param("before", b, 0, 1..=i64::MAX)?),
    };
    let limit = int_param("limit", p.limit.as_deref(), 50, 1..=MAX_LIMIT)? as u32;
    let rows = reader.lookups(iin, before, limit).await?;
    Ok(rows.map(|rows| page(iin, limit, rows)))
}

fn page(iin: Iin, limit: u32, rows: Vec<LookupRow>) -> Page {
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let items = rows
        .into_iter()
        .map(|r| Lookup {
            id: r.id,
            at: chrono::DateTime::from_timestamp_micros(r.at).unwrap_or_default(),
            client: r.client,
            purpose: r.purpose,
            case: r.case_ref,
            consent: r.consent_ref,
            route: r.route,
            outcome: r.outcome,
        })
        .collect();
    Page {
        iin,
        items,
        next_before,
    }
}
