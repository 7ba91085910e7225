//! `GET /v1/relations`: every relation path between two persons, named in
//! Russian, Kazakh and English (the staff's relation finder), answered by
//! `query::relations`.

use super::Problem;
use super::openapi::IinSchema;
use super::params::{Params, int_param};
use super::{AppState, as_of_or_today};
use crate::iin::Iin;
use crate::query::relations::Relations;
use crate::query::{Answer, Reader};
use crate::resolve::relations::{DEFAULT_DEGREE, MAX_DEGREE};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(relations))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pair {
    /// The person asked about (ego): the names say what `b` is to them.
    #[param(value_type = IinSchema)]
    pub a: Option<String>,
    /// The relative (alter).
    #[param(value_type = IinSchema)]
    pub b: Option<String>,
    /// The date links are taken on (`YYYY-MM-DD`); today in Kazakhstan
    /// when absent.
    #[param(value_type = chrono::NaiveDate, required = false, example = "2025-06-01")]
    pub as_of: Option<String>,
    /// How far to look: births counted along a path (1-6, default 4 —
    /// first cousins, great-uncles and aunts, grand-nephews and nieces,
    /// and their in-laws).
    #[param(value_type = u8, required = false, example = 4)]
    pub max_degree: Option<String>,
}

/// A degree query parameter (`name`), checked.
pub fn degree(name: &str, s: Option<&str>) -> Result<u8, Problem> {
    let d = int_param(
        name,
        s,
        i64::from(DEFAULT_DEGREE),
        1..=i64::from(MAX_DEGREE),
    )?;
    Ok(d as u8)
}

fn query_iin(name: &str, s: Option<&str>) -> Result<Iin, Problem> {
    let s = s.ok_or_else(|| {
        Problem::bad_request("missing_field", format!("field {name}: required (an IIN)"))
    })?;
    Iin::parse(s).map_err(|e| Problem::bad_request("invalid_iin", format!("field {name}: {e}")))
}

/// How two persons are related
///
/// Every path between `a` and `b` through legal parent, child and spouse
/// links in force on `as_of`, up to `max_degree`, shortest first: the
/// people along it, each link's kind, dates and act record, and what `b`
/// is to `a` in Russian, Kazakh and English. Two paths through a mother
/// and a father are one full relation; a half relation has one.
#[utoipa::path(
    get,
    path = "/v1/relations",
    security(("api_key" = ["investigate"])),
    tag = "staff",
    params(Pair),
    responses(
        (status = 200, description = "The relations (none: not related within the degree)", body = Relations),
        (status = 400, description = "`missing_field` or `invalid_iin` (a, b), `invalid_date` (as_of), `invalid_parameter` (max_degree)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`person_unknown`: the registry has no record of one of them",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn relations(reader: Reader, Params(q): Params<Pair>) -> Result<Answer<Relations>, Problem> {
    let a = query_iin("a", q.a.as_deref())?;
    let b = query_iin("b", q.b.as_deref())?;
    let on = as_of_or_today(q.as_of.as_deref())?;
    let degree = degree("max_degree", q.max_degree.as_deref())?;
    Ok(reader.relations(a, b, on, degree).await?)
}
