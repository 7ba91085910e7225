//! `GET /v1/quality`: suspicious facts in the ledger that are not
//! refusals, for staff to open and fix (`query::quality`).

use super::params::{Params, int_param};
use super::{AppState, Problem, as_of_or_today};
use crate::query::quality::{Findings, KINDS};
use crate::query::{Answer, Reader};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(quality))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct QualityQuery {
    /// Only findings of this kind: `no_father`, `over_110_alive`,
    /// `spouse_unknown`, `crowded_dwelling`.
    #[param(value_type = String, required = false, example = "no_father")]
    kind: Option<String>,
    /// Go on from here (the previous page's `next`); crowded dwellings
    /// are listed on the first page only (no `after`).
    #[param(value_type = i64, required = false, minimum = 0)]
    after: Option<String>,
    /// Findings per page, about: 1 to 1000; 100 when absent.
    #[param(value_type = i64, required = false, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The date facts are judged on; today in Kazakhstan when absent.
    #[param(value_type = chrono::NaiveDate, required = false, example = "2025-06-01")]
    as_of: Option<String>,
    /// A dwelling is crowded with more permanent residents than this (15).
    #[param(value_type = i64, required = false, minimum = 1, maximum = 100000)]
    min_residents: Option<String>,
}

/// Data-quality findings
///
/// Facts that are not refusals but look wrong or incomplete, each with the
/// act records to open: a birth record that names no father with no
/// paternity record after it, a person over 110 with no death record, a
/// spouse known from nothing but the marriage record, a dwelling with
/// implausibly many permanent residents. A page at a time.
#[utoipa::path(
    get,
    path = "/v1/quality",
    security(("api_key" = ["investigate"])),
    tag = "staff",
    params(QualityQuery),
    responses(
        (status = 200, description = "A page of findings", body = Findings),
        (status = 400, description = "`invalid_parameter` (kind, after, limit, min_residents) or `invalid_date` (as_of)",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn quality(
    reader: Reader,
    Params(q): Params<QualityQuery>,
) -> Result<Answer<Findings>, Problem> {
    if let Some(k) = q.kind.as_deref()
        && !KINDS.contains(&k)
    {
        return Err(Problem::bad_request(
            "invalid_parameter",
            format!("parameter kind: must be one of {}", KINDS.join(", ")),
        ));
    }
    let after = match q.after.as_deref() {
        None => None,
        s => Some(int_param("after", s, 0, 0..=i64::MAX)? as u64),
    };
    let limit = int_param("limit", q.limit.as_deref(), 100, 1..=1000)? as usize;
    let min = int_param("min_residents", q.min_residents.as_deref(), 15, 1..=100_000)?;
    let on = as_of_or_today(q.as_of.as_deref())?;
    Ok(reader
        .quality(after, limit, q.kind.as_deref(), on, min)
        .await?)
}
