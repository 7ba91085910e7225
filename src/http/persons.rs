//! Staff pages: a person's card (`/v1/persons/{iin}`), their relatives on
//! a date (`/v1/persons/{iin}/relatives`) and one act (`/v1/acts/{act_id}`),
//! answered by `query::persons` and `query::relatives`.

use super::Problem;
use super::family::path_iin;
use super::openapi::IinSchema;
use super::params::Params;
use super::{AppState, as_of_or_today};
use crate::query::persons::{ActView, Card};
use crate::query::relatives::Relatives;
use crate::query::{Answer, Reader};
use axum::extract::Path;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The `as_of` and `max_degree` query parameters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfDegree {
    /// The date relations are evaluated on (`YYYY-MM-DD`); today in
    /// Kazakhstan when absent.
    #[param(value_type = chrono::NaiveDate, required = false, example = "2025-06-01")]
    pub as_of: Option<String>,
    /// How far `by_name` looks: births counted along a path (1-6,
    /// default 4).
    #[param(value_type = u8, required = false, example = 4)]
    pub max_degree: Option<String>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(card))
        .routes(routes!(relatives))
        .routes(routes!(act))
        .routes(routes!(gedcom))
        .routes(routes!(drawing))
}

/// A person's card
///
/// Who the person is (from the IIN and the ledger), their names over time,
/// and every act record that names them.
#[utoipa::path(
    get,
    path = "/v1/persons/{iin}",
    security(("api_key" = ["investigate"])),
    tag = "staff",
    params(("iin" = IinSchema, Path, description = "The person's IIN")),
    responses(
        (status = 200, description = "The card", body = Card),
        (status = 400, description = "`invalid_iin` (path iin)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`person_unknown`: the registry has no record of this person",
            body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the ledger failed",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn card(reader: Reader, Path(iin): Path<String>) -> Result<Answer<Card>, Problem> {
    Ok(reader.card(path_iin(&iin)?).await?)
}

/// One act record
///
/// The record as the ledger holds it, and the annulment that voided it if
/// any.
#[utoipa::path(
    get,
    path = "/v1/acts/{act_id}",
    security(("api_key" = ["investigate"])),
    tag = "staff",
    params(("act_id" = String, Path, description = "The act record's act_id: 1-64 characters of A-Z a-z 0-9 - _ / . \
        (a `/` in it is sent percent-encoded as %2F)", example = "B-2001-0002")),
    responses(
        (status = 200, description = "The act record", body = ActView),
        (status = 400, description = "`invalid_act_id` (path act_id)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`act_unknown`: no act with this act_id is recorded",
            body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: the ledger failed",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the ledger cannot be reached (with `Retry-After`)",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn act(reader: Reader, Path(act_id): Path<String>) -> Result<Answer<ActView>, Problem> {
    if crate::acts::ActId::parse(&act_id).is_none() {
        return Err(Problem::bad_request(
            "invalid_act_id",
            "path act_id: must be 1-64 characters of A-Z a-z 0-9 - _ / .",
        ));
    }
    Ok(reader.act(&act_id).await?)
}

/// The `as_of` and `degree` query parameters of the GEDCOM export.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// The date links are taken on (`YYYY-MM-DD`); today in Kazakhstan
    /// when absent.
    #[param(value_type = chrono::NaiveDate, required = false, example = "2025-06-01")]
    pub as_of: Option<String>,
    /// Whom to include: everyone within this degree (births counted along
    /// the path, 1-6, default 4), with their spouses.
    #[param(value_type = u8, required = false, example = 2)]
    pub degree: Option<String>,
}

/// A person's family as GEDCOM 7
///
/// The person and everyone within `degree` on `as_of` (the relation
/// finder's reach), as a GEDCOM 7.0 file: individuals with their IIN
/// (`REFN`, type IIN), names over time, sex, birth and death; a family per
/// couple with marriage and divorce; children linked by birth or by
/// adoption (`PEDI`, `ADOP`); every event citing its act record.
#[utoipa::path(
    get,
    path = "/v1/persons/{iin}/gedcom",
    security(("api_key" = ["investigate"])),
    tag = "staff",
    params(("iin" = IinSchema, Path, description = "The person's IIN"), ExportParams),
    responses(
        (status = 200, description = "The GEDCOM 7 file", body = String,
            content_type = "text/vnd.familysearch.gedcom"),
        (status = 400, description = "`invalid_iin` (path iin), `invalid_date` (as_of) or `invalid_parameter` (degree)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`person_unknown`: the registry has no record of this person",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built; `database_unavailable`: the names cannot be read",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn gedcom(
    reader: Reader,
    Path(iin): Path<String>,
    Params(q): Params<ExportParams>,
) -> Result<Answer<crate::query::gedcom::Gedcom>, Problem> {
    let iin = path_iin(&iin)?;
    let on = as_of_or_today(q.as_of.as_deref())?;
    let degree = super::relations::degree("degree", q.degree.as_deref())?;
    Ok(reader.gedcom(iin, on, degree).await?)
}

/// A person's family, to draw
///
/// The person and everyone within `degree` on `as_of`, with names,
/// sex, birth and death; every legal link among them: parent links (from
/// the parent, with what they rest on) and marriages (with how they had
/// ended by `as_of`), each with its act record. What the staff page draws.
#[utoipa::path(
    get,
    path = "/v1/persons/{iin}/graph",
    security(("api_key" = ["investigate"])),
    tag = "staff",
    params(("iin" = IinSchema, Path, description = "The person's IIN"), ExportParams),
    responses(
        (status = 200, description = "The persons and links", body = crate::query::drawing::Drawing),
        (status = 400, description = "`invalid_iin` (path iin), `invalid_date` (as_of) or `invalid_parameter` (degree)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`person_unknown`: the registry has no record of this person",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn drawing(
    reader: Reader,
    Path(iin): Path<String>,
    Params(q): Params<ExportParams>,
) -> Result<Answer<crate::query::drawing::Drawing>, Problem> {
    let iin = path_iin(&iin)?;
    let on = as_of_or_today(q.as_of.as_deref())?;
    let degree = super::relations::degree("degree", q.degree.as_deref())?;
    Ok(reader.drawing(iin, on, degree).await?)
}

/// A person's relatives
///
/// Everyone related to the person on `as_of`, by kind, each with the
/// evidence. Candidates are found along the graph and each is confirmed
/// by the resolver, so this page never disagrees with a kinship check.
/// `by_name` groups everyone within `max_degree` by what they are to the
/// person, in Russian, Kazakh and English (the relation finder).
#[utoipa::path(
    get,
    path = "/v1/persons/{iin}/relatives",
    security(("api_key" = ["investigate"])),
    tag = "staff",
    params(("iin" = IinSchema, Path, description = "The person's IIN"), AsOfDegree),
    responses(
        (status = 200, description = "The relatives on `as_of`", body = Relatives),
        (status = 400, description = "`invalid_iin` (path iin), `invalid_date` (as_of) or `invalid_parameter` (max_degree)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`person_unknown`: the registry has no record of this person",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn relatives(
    reader: Reader,
    Path(iin): Path<String>,
    Params(q): Params<AsOfDegree>,
) -> Result<Answer<Relatives>, Problem> {
    let iin = path_iin(&iin)?;
    let on = as_of_or_today(q.as_of.as_deref())?;
    let degree = super::relations::degree("max_degree", q.max_degree.as_deref())?;
    Ok(reader.relatives(iin, on, degree).await?)
}
