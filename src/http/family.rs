//! The family a housing check counts (`/v1/persons/{iin}/family`, and the
//! NDJSON batch `/v1/family:batch`) and who is registered in a dwelling
//! (`/v1/dwellings/{dwelling}/household`).

use super::checks::{as_of_field, iin_field, object};
use super::ndjson::{self, NdjsonAnswer};
use super::openapi::IinSchema;
use super::params::Params;
use super::{AppState, Problem, as_of_or_today};
use crate::iin::Iin;
use crate::query::family::{self, FamilyAnswer, HouseholdAnswer};
use crate::query::{Answer, Reader};
use crate::registry::{Line, Registry};
use axum::extract::Path;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(family_one))
        .routes(routes!(family_batch))
        .routes(routes!(household))
}

pub fn path_iin(s: &str) -> Result<Iin, Problem> {
    Iin::parse(s).map_err(|e| Problem::bad_request("invalid_iin", format!("path iin: {e}")))
}

/// The `as_of` query parameter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOf {
    /// The date relations are evaluated on (`YYYY-MM-DD`); today in
    /// Kazakhstan when absent.
    #[param(value_type = NaiveDate, required = false, example = "2025-06-01")]
    pub as_of: Option<String>,
}

/// A person's family
///
/// The family a housing check counts: the person, their spouse on `as_of`,
/// and their legal children.
#[utoipa::path(
    get,
    path = "/v1/persons/{iin}/family",
    security(("api_key" = ["checks"])),
    tag = "family",
    params(("iin" = IinSchema, Path, description = "The person's IIN"), AsOf),
    responses(
        (status = 200, description = "The family on `as_of`", body = FamilyAnswer),
        (status = 400, description = "`invalid_iin` (path iin) or `invalid_date` (as_of)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`person_unknown`: the registry has no record of this person",
            body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the ledger failed",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn family_one(
    reader: Reader,
    Path(iin): Path<String>,
    Params(q): Params<AsOf>,
) -> Result<Answer<FamilyAnswer>, Problem> {
    let iin = path_iin(&iin)?;
    let as_of = as_of_or_today(q.as_of.as_deref())?;
    Ok(reader.family(iin, as_of).await?)
}

/// Families in bulk (NDJSON)
///
/// One `{"iin", "as_of"}` object per line, answered in order as a stream;
/// an unknown or invalid IIN gets a `LineError` line instead. Made for
/// queue-wide runs of tens of thousands of people.
#[utoipa::path(
    post,
    path = "/v1/family:batch",
    security(("api_key" = ["checks"])),
    tag = "family",
    request_body(
        description = "NDJSON: one `{\"iin\": IIN, \"as_of\": date (optional)}` object per line. \
            Blank lines are skipped but counted.",
        content = String,
        content_type = "application/x-ndjson",
        example = json!("{\"iin\":\"750101400219\"}\n{\"iin\":\"720415300125\",\"as_of\":\"2005-01-01\"}\n"),
    ),
    responses(
        (status = 200, description = "NDJSON, one line per request line in the same order: a `FamilyAnswer`, \
            or a `LineError` (`{\"line\": n, \"error\": Problem}`, e.g. `person_unknown`)",
            body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "`body_unreadable`: the body could not be read to its end",
            body = Problem, content_type = "application/problem+json"),
        (status = 408, description = "`body_timeout`: the body did not arrive within the batch read timeout",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`batch_too_large`: more bytes or lines than the batch caps; split it",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn family_batch(reader: Reader, batch: ndjson::BatchBody) -> Response {
    ndjson::stream(reader, batch, |reg, lines| async move {
        family_chunk(&reg, lines).await
    })
    .await
}

/// One line of a family batch: `{"iin", "as_of"}`, every field checked,
/// the first fault named.
pub fn parse_family_line(line: &[u8]) -> Result<(Iin, chrono::NaiveDate), Problem> {
    let map = object(line, &["iin", "as_of"])?;
    Ok((iin_field(&map, "iin")?, as_of_field(&map)?))
}

/// Answers a chunk of family lines: every family read from the graph
/// under one lock, then their names in one ledger query.
async fn family_chunk(reg: &Registry, lines: Vec<Line>) -> (Vec<NdjsonAnswer>, Vec<Iin>) {
    // Per line: an answer slot, or a skeleton to dress.
    let mut slots: Vec<Result<usize, NdjsonAnswer>> = Vec::with_capacity(lines.len());
    let mut skeletons = Vec::new();
    let mut revealed = Vec::new();
    {
        let g = reg.graph();
        for l in &lines {
            let slot = ndjson::too_long(l).map(Err).unwrap_or_else(|| {
                let (iin, as_of) = parse_family_line(&l.bytes).map_err(NdjsonAnswer::error)?;
                let Some(p) = g.person(iin) else {
                    // "Unknown" is an answer about them too.
                    revealed.push(iin);
                    return Err(NdjsonAnswer::error(Problem::person_unknown()));
                };
                skeletons.push(family::skeleton(&g, p, as_of));
                Ok(skeletons.len() - 1)
            });
            slots.push(slot);
        }
    }
    let dressed = match family::dress(reg, skeletons).await {
        Ok(d) => d,
        Err(e) => {
            let p = Problem::from(e);
            let answers = lines
                .iter()
                .map(|_| NdjsonAnswer::error(p.clone()))
                .collect();
            return (answers, revealed);
        }
    };
    for d in &dressed {
        revealed.extend(d.persons());
    }
    let mut dressed: Vec<Option<FamilyAnswer>> = dressed.into_iter().map(Some).collect();
    let answers = slots
        .into_iter()
        .map(|s| match s {
            Ok(i) => NdjsonAnswer::ok(&dressed[i].take().expect("each used once")),
            Err(e) => e,
        })
        .collect();
    (answers, revealed)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HouseholdQuery {
    /// The date of the registrations (`YYYY-MM-DD`); today in Kazakhstan
    /// when absent.
    #[param(value_type = NaiveDate, required = false, example = "2025-06-01")]
    as_of: Option<String>,
    /// The dwelling's owner: when given, each resident lists their
    /// relations to the owner.
    #[param(value_type = IinSchema, required = false)]
    owner: Option<String>,
}

/// A dwelling's household
///
/// Who is registered in the dwelling on `as_of`; with `owner`, each
/// resident's relations to the owner.
#[utoipa::path(
    get,
    path = "/v1/dwellings/{dwelling}/household",
    security(("api_key" = ["checks"])),
    tag = "family",
    params(
        ("dwelling" = String, Path, description = "The dwelling id (cadastral number or address id), as in residence records",
            example = "21:320:045:112:17"),
        HouseholdQuery,
    ),
    responses(
        (status = 200, description = "The residents on `as_of` (none for a dwelling nobody is registered in)", body = HouseholdAnswer),
        (status = 400, description = "`invalid_date` (as_of) or `invalid_iin` (owner)",
            body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the ledger failed",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn household(
    reader: Reader,
    Path(dwelling): Path<String>,
    Params(q): Params<HouseholdQuery>,
) -> Result<Answer<HouseholdAnswer>, Problem> {
    let as_of = as_of_or_today(q.as_of.as_deref())?;
    let owner = q
        .owner
        .as_deref()
        .map(|s| {
            Iin::parse(s)
                .map_err(|e| Problem::bad_request("invalid_iin", format!("parameter owner: {e}")))
        })
        .transpose()?;
    Ok(reader.household(dwelling, as_of, owner).await?)
}
