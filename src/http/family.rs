//! The family a housing check counts (`/v1/persons/{iin}/family`, and the
//! NDJSON batch `/v1/family:batch`) and who is registered in a dwelling
//! (`/v1/dwellings/{dwelling}/household`).

use super::checks::{as_of_field, iin_field, object};
use super::ndjson::{self, NdjsonAnswer};
use super::openapi::{BasisSchema, IinSchema, NameSchema};
use super::params::Params;
use super::{AppState, Problem, Ready, SEQ_HEADER, as_of_or_today};
use crate::access::Caller;
use crate::acts::Name;
use crate::graph::{Basis, FamilyGraph, PersonId};
use crate::iin::Iin;
use crate::registry::{Line, Names, Registry};
use crate::resolve;
use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(family_one))
        .routes(routes!(family_batch))
        .routes(routes!(household))
}

/// A person as a family answer shows them, on its `as_of`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonView {
    #[schema(value_type = IinSchema)]
    pub iin: Iin,
    /// From the IIN.
    #[schema(example = "female")]
    pub sex: &'static str,
    /// From the IIN.
    pub birth_date: NaiveDate,
    /// The date of death, when it is on or before `as_of`; null otherwise.
    #[schema(required = true)]
    pub death_date: Option<NaiveDate>,
    /// The name registered on `as_of`; null when no record names them.
    #[schema(value_type = Option<NameSchema>, required = true)]
    pub name: Option<Name>,
}

/// The spouse on `as_of`, with the marriage record.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpouseView {
    #[serde(flatten)]
    pub person: PersonView,
    /// The act_id of the marriage record.
    pub marriage_act: String,
    /// The date of the marriage.
    pub since: NaiveDate,
}

/// A legal child on `as_of`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChildView {
    #[serde(flatten)]
    pub person: PersonView,
    /// Under 18 on `as_of`.
    pub minor: bool,
    #[schema(value_type = BasisSchema)]
    pub basis: Basis,
    /// The act_ids of the record the link rests on.
    pub evidence: Vec<String>,
}

/// The family a housing check counts: the person, their spouse on that
/// date, and their legal children.
#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyAnswer {
    /// The date the family is read on.
    pub as_of: NaiveDate,
    pub person: PersonView,
    pub married: bool,
    /// Null when not married on `as_of`.
    #[schema(required = true)]
    pub spouse: Option<SpouseView>,
    /// Oldest first.
    pub children: Vec<ChildView>,
}

/// The family read from the graph, before names are added.
struct Skeleton {
    as_of: NaiveDate,
    person: PersonId,
    spouse: Option<(PersonId, String, NaiveDate)>,
    children: Vec<(PersonId, Basis, String)>,
}

fn skeleton(g: &FamilyGraph, p: PersonId, as_of: NaiveDate) -> Skeleton {
    let spouse = g
        .spouse_on(p, as_of)
        .map(|m| (m.spouse, g.act_id(m.act).to_owned(), m.since));
    let mut children: Vec<(PersonId, Basis, String)> = g
        .children_on(p, as_of)
        .map(|c| (c.child, c.basis, g.act_id(c.act).to_owned()))
        .collect();
    children.sort_by_key(|(c, _, _)| (g.birth_date(*c), g.iin(*c)));
    Skeleton {
        as_of,
        person: p,
        spouse,
        children,
    }
}

fn view(
    g: &FamilyGraph,
    p: PersonId,
    names: &HashMap<Iin, Arc<Names>>,
    on: NaiveDate,
) -> PersonView {
    let iin = g.iin(p);
    PersonView {
        iin,
        sex: iin.sex().as_str(),
        birth_date: iin.birth_date(),
        death_date: g.death_on(p, on),
        name: names.get(&iin).and_then(|n| n.on(on)).cloned(),
    }
}

fn is_minor(birth: NaiveDate, on: NaiveDate) -> bool {
    birth
        .checked_add_months(Months::new(18 * 12))
        .is_some_and(|adult| on < adult)
}

/// Reads the skeletons' names in one ledger query and builds the answers.
async fn dress(reg: &Registry, skeletons: Vec<Skeleton>) -> Result<Vec<FamilyAnswer>, Problem> {
    let iins = {
        let g = reg.graph();
        let mut iins = Vec::new();
        for s in &skeletons {
            iins.push(g.iin(s.person));
            iins.extend(s.spouse.as_ref().map(|(p, _, _)| g.iin(*p)));
            iins.extend(s.children.iter().map(|(c, _, _)| g.iin(*c)));
        }
        iins
    };
    let names = reg.names(&iins).await?;
    let g = reg.graph();
    Ok(skeletons
        .into_iter()
        .map(|s| FamilyAnswer {
            as_of: s.as_of,
            person: view(&g, s.person, &names, s.as_of),
            married: s.spouse.is_some(),
            spouse: s.spouse.map(|(p, act, since)| SpouseView {
                person: view(&g, p, &names, s.as_of),
                marriage_act: act,
                since,
            }),
            children: s
                .children
                .into_iter()
                .map(|(c, basis, act)| ChildView {
                    person: view(&g, c, &names, s.as_of),
                    minor: is_minor(g.birth_date(c), s.as_of),
                    basis,
                    evidence: vec![act],
                })
                .collect(),
        })
        .collect())
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
    Ready(reg): Ready,
    Path(iin): Path<String>,
    Params(q): Params<AsOf>,
) -> Result<Response, Problem> {
    let iin = path_iin(&iin)?;
    let as_of = as_of_or_today(q.as_of.as_deref())?;
    let (sk, seq) = {
        let g = reg.graph();
        let p = g.person(iin).ok_or_else(Problem::person_unknown)?;
        (skeleton(&g, p, as_of), reg.applied_seq())
    };
    let answer = dress(&reg, vec![sk]).await?.pop().expect("one answer");
    Ok(([(SEQ_HEADER, seq.to_string())], Json(answer)).into_response())
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
async fn family_batch(Ready(reg): Ready, caller: Caller, batch: ndjson::BatchBody) -> Response {
    let route = "POST /v1/family:batch";
    ndjson::stream(reg, caller, route, batch, |reg, lines| async move {
        family_chunk(&reg, lines).await
    })
    .await
}

async fn family_chunk(reg: &Registry, lines: Vec<Line>) -> Vec<NdjsonAnswer> {
    // Per line: an answer slot, or a skeleton to dress.
    let mut slots: Vec<Result<usize, NdjsonAnswer>> = Vec::with_capacity(lines.len());
    let mut skeletons = Vec::new();
    {
        let g = reg.graph();
        for l in &lines {
            let slot = ndjson::too_long(l).map(Err).unwrap_or_else(|| {
                let map = object(&l.bytes, &["iin", "as_of"]).map_err(NdjsonAnswer::error)?;
                let iin = iin_field(&map, "iin").map_err(NdjsonAnswer::error)?;
                let as_of = as_of_field(&map).map_err(NdjsonAnswer::error)?;
                let p = g
                    .person(iin)
                    .ok_or_else(|| NdjsonAnswer::error(Problem::person_unknown()))?;
                skeletons.push(skeleton(&g, p, as_of));
                Ok(skeletons.len() - 1)
            });
            slots.push(slot);
        }
    }
    let dressed = match dress(reg, skeletons).await {
        Ok(d) => d,
        Err(p) => {
            return lines
                .iter()
                .map(|_| NdjsonAnswer::error(p.clone()))
                .collect();
        }
    };
    let mut dressed: Vec<Option<FamilyAnswer>> = dressed.into_iter().map(Some).collect();
    slots
        .into_iter()
        .map(|s| match s {
            Ok(i) => NdjsonAnswer::ok(&dressed[i].take().expect("each used once")),
            Err(e) => e,
        })
        .collect()
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

/// A person registered in the dwelling.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Resident)]
struct ResidentView {
    #[schema(value_type = IinSchema)]
    iin: Iin,
    /// `permanent` or `temporary`.
    #[serde(rename = "type")]
    #[schema(example = "permanent")]
    kind: String,
    /// The start of the registration (`YYYY-MM-DD`).
    #[schema(format = Date, example = "2020-01-10")]
    since: String,
    /// Present only when `owner` is given: every claim of the table that
    /// holds with the resident as applicant ("child", "half_sibling via
    /// mother", ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    relations_to_owner: Option<Vec<String>>,
}

/// Who is registered in a dwelling on a date.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Household)]
struct HouseholdAnswer {
    #[schema(example = "21:320:045:112:17")]
    dwelling: String,
    as_of: NaiveDate,
    /// How many residents there are.
    registered: usize,
    residents: Vec<ResidentView>,
}

/// Every claim of the table that holds with `resident` as the applicant.
pub fn relations(
    g: &FamilyGraph,
    owner: Option<PersonId>,
    resident: Option<PersonId>,
    on: NaiveDate,
) -> Vec<String> {
    resolve::holding(g, owner, resident, on)
        .into_iter()
        .map(|(c, _)| match c.via() {
            Some(side) => format!("{} via {}", c.name(), side.as_str()),
            None => c.name().to_owned(),
        })
        .collect()
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
    Ready(reg): Ready,
    Path(dwelling): Path<String>,
    Params(q): Params<HouseholdQuery>,
) -> Result<Response, Problem> {
    let as_of = as_of_or_today(q.as_of.as_deref())?;
    let owner = q
        .owner
        .as_deref()
        .map(|s| {
            Iin::parse(s)
                .map_err(|e| Problem::bad_request("invalid_iin", format!("parameter owner: {e}")))
        })
        .transpose()?;
    let residents = reg.household(&dwelling, as_of).await?;
    let g = reg.graph();
    let owner_node = owner.and_then(|o| g.person(o));
    let residents: Vec<ResidentView> = residents
        .into_iter()
        .map(|r| ResidentView {
            iin: r.iin,
            kind: r.kind.as_str().to_owned(),
            since: r.since.to_string(),
            relations_to_owner: owner.map(|_| relations(&g, owner_node, g.person(r.iin), as_of)),
        })
        .collect();
    let seq = reg.applied_seq();
    drop(g);
    let answer = HouseholdAnswer {
        dwelling,
        as_of,
        registered: residents.len(),
        residents,
    };
    Ok(([(SEQ_HEADER, seq.to_string())], Json(answer)).into_response())
}
