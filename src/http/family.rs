//! The family a housing check counts (`/v1/persons/{iin}/family`, and the
//! NDJSON batch `/v1/family:batch`) and who is registered in a dwelling
//! (`/v1/dwellings/{dwelling}/household`).

use super::checks::{as_of_field, iin_field, object};
use super::ndjson::{self, NdjsonAnswer};
use super::{AppState, Problem, Ready, SEQ_HEADER, as_of_or_today};
use crate::acts::Name;
use crate::graph::{Basis, FamilyGraph, PersonId};
use crate::iin::Iin;
use crate::registry::{Line, Names, Registry};
use crate::resolve::{self, Claim};
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/persons/{iin}/family", get(family_one))
        .route("/v1/family:batch", post(family_batch))
        .route("/v1/dwellings/{dwelling}/household", get(household))
}

#[derive(Debug, Serialize)]
pub struct PersonView {
    pub iin: Iin,
    pub sex: &'static str,
    pub birth_date: NaiveDate,
    pub death_date: Option<NaiveDate>,
    pub name: Option<Name>,
}

#[derive(Debug, Serialize)]
pub struct SpouseView {
    #[serde(flatten)]
    pub person: PersonView,
    pub marriage_act: String,
    pub since: NaiveDate,
}

#[derive(Debug, Serialize)]
pub struct ChildView {
    #[serde(flatten)]
    pub person: PersonView,
    pub minor: bool,
    pub basis: Basis,
    pub evidence: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct FamilyAnswer {
    pub as_of: NaiveDate,
    pub person: PersonView,
    pub married: bool,
    pub spouse: Option<SpouseView>,
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
        death_date: g.death(p),
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
    let g = reg.graph().await;
    let mut iins = Vec::new();
    for s in &skeletons {
        iins.push(g.iin(s.person));
        iins.extend(s.spouse.as_ref().map(|(p, _, _)| g.iin(*p)));
        iins.extend(s.children.iter().map(|(c, _, _)| g.iin(*c)));
    }
    drop(g);
    let names = reg.names(&iins).await?;
    let g = reg.graph().await;
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

fn person_unknown() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "person_unknown",
        "the registry has no record of this person",
    )
}

pub fn path_iin(s: &str) -> Result<Iin, Problem> {
    Iin::parse(s).map_err(|e| Problem::bad_request("invalid_iin", format!("path iin: {e}")))
}

#[derive(Debug, Deserialize)]
pub struct AsOf {
    pub as_of: Option<String>,
}

async fn family_one(
    Ready(reg): Ready,
    Path(iin): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<Response, Problem> {
    let iin = path_iin(&iin)?;
    let as_of = as_of_or_today(q.as_of.as_deref())?;
    let (sk, seq) = {
        let g = reg.graph().await;
        let p = g.person(iin).ok_or_else(person_unknown)?;
        (skeleton(&g, p, as_of), reg.applied_seq())
    };
    let answer = dress(&reg, vec![sk]).await?.pop().expect("one answer");
    Ok(([(SEQ_HEADER, seq.to_string())], Json(answer)).into_response())
}

async fn family_batch(Ready(reg): Ready, body: Body) -> Response {
    ndjson::stream(reg, body, |reg, lines| async move {
        family_chunk(&reg, lines).await
    })
}

async fn family_chunk(reg: &Registry, lines: Vec<Line>) -> Vec<NdjsonAnswer> {
    // Per line: an answer slot, or a skeleton to dress.
    let mut slots: Vec<Result<usize, NdjsonAnswer>> = Vec::with_capacity(lines.len());
    let mut skeletons = Vec::new();
    {
        let g = reg.graph().await;
        for l in &lines {
            let slot = ndjson::too_long(l).map(Err).unwrap_or_else(|| {
                let map = object(&l.bytes, &["iin", "as_of"]).map_err(NdjsonAnswer::error)?;
                let iin = iin_field(&map, "iin").map_err(NdjsonAnswer::error)?;
                let as_of = as_of_field(&map).map_err(NdjsonAnswer::error)?;
                let p = g
                    .person(iin)
                    .ok_or_else(|| NdjsonAnswer::error(person_unknown()))?;
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

#[derive(Debug, Deserialize)]
struct HouseholdQuery {
    as_of: Option<String>,
    owner: Option<String>,
}

#[derive(Debug, Serialize)]
struct ResidentView {
    iin: Iin,
    #[serde(rename = "type")]
    kind: String,
    since: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    relations_to_owner: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
struct HouseholdAnswer {
    dwelling: String,
    as_of: NaiveDate,
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
    Claim::ALL
        .into_iter()
        .filter(|&c| resolve::check(g, owner, resident, c, on).confirmed)
        .map(|c| match c.via() {
            Some(side) => format!("{} via {}", c.name(), side.as_str()),
            None => c.name().to_owned(),
        })
        .collect()
}

async fn household(
    Ready(reg): Ready,
    Path(dwelling): Path<String>,
    Query(q): Query<HouseholdQuery>,
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
    let h = reg
        .ledger()
        .household(&dwelling, &as_of.to_string())
        .await?;
    let g = reg.graph().await;
    let owner_node = owner.and_then(|o| g.person(o));
    let residents: Vec<ResidentView> = h
        .residents
        .into_iter()
        .map(|r| {
            let iin = Iin::from_u64_unchecked(r.iin as u64);
            ResidentView {
                iin,
                kind: r.kind,
                since: r.since,
                relations_to_owner: owner.map(|_| relations(&g, owner_node, g.person(iin), as_of)),
            }
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
