//! Staff pages: a person's card (`/v1/persons/{iin}`), their relatives on
//! a date (`/v1/persons/{iin}/relatives`) and one act (`/v1/acts/{act_id}`).
//!
//! Relatives are found by listing candidates along the graph and letting
//! the resolver confirm each one, so this page can never disagree with a
//! kinship check.

use super::family::{AsOf, path_iin};
use super::{AppState, Problem, Ready, SEQ_HEADER, as_of_or_today};
use crate::acts::Name;
use crate::graph::{Basis, FamilyGraph, PersonId, Role};
use crate::iin::Iin;
use crate::ledger::ActRecord;
use crate::resolve::{self, Claim};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeSet;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/persons/{iin}", get(card))
        .route("/v1/persons/{iin}/relatives", get(relatives))
        .route("/v1/acts/{act_id}", get(act))
}

#[derive(Debug, Serialize)]
pub struct ActView {
    pub seq: i64,
    pub act_id: String,
    pub kind: String,
    pub act: serde_json::Value,
    pub source: String,
    pub received_at: String,
    pub annulled_by: Option<String>,
}

impl From<ActRecord> for ActView {
    fn from(r: ActRecord) -> ActView {
        ActView {
            seq: r.seq,
            act: serde_json::from_str(&r.body).unwrap_or(serde_json::Value::String(r.body)),
            act_id: r.act_id,
            kind: r.kind,
            source: r.source,
            received_at: r.received_at,
            annulled_by: r.annulled_by,
        }
    }
}

#[derive(Debug, Serialize)]
struct NameView {
    since: NaiveDate,
    #[serde(flatten)]
    name: Name,
}

#[derive(Debug, Serialize)]
struct Card {
    iin: Iin,
    sex: &'static str,
    birth_date: NaiveDate,
    death_date: Option<NaiveDate>,
    names: Vec<NameView>,
    acts: Vec<ActView>,
}

fn unknown() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "person_unknown",
        "the registry has no record of this person",
    )
}

async fn card(Ready(reg): Ready, Path(iin): Path<String>) -> Result<Response, Problem> {
    let iin = path_iin(&iin)?;
    let (death, seq) = {
        let g = reg.graph().await;
        let p = g.person(iin).ok_or_else(unknown)?;
        (g.death(p), reg.applied_seq())
    };
    let names = reg.names(&[iin]).await?;
    let acts = reg.ledger().acts_of(iin.get() as i64).await?;
    let card = Card {
        iin,
        sex: iin.sex().as_str(),
        birth_date: iin.birth_date(),
        death_date: death,
        names: names
            .get(&iin)
            .map(|n| {
                n.0.iter()
                    .map(|(since, name)| NameView {
                        since: *since,
                        name: name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        acts: acts.into_iter().map(ActView::from).collect(),
    };
    Ok(([(SEQ_HEADER, seq.to_string())], Json(card)).into_response())
}

async fn act(Ready(reg): Ready, Path(act_id): Path<String>) -> Result<Json<ActView>, Problem> {
    if crate::acts::ActId::parse(&act_id).is_none() {
        return Err(Problem::bad_request(
            "invalid_act_id",
            "path act_id: must be 1-64 characters of A-Z a-z 0-9 - _ / .",
        ));
    }
    let rec = reg.ledger().act(&act_id).await?;
    rec.map(|r| Json(ActView::from(r))).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            "act_unknown",
            "no act with this act_id is recorded",
        )
    })
}

#[derive(Debug, Serialize)]
struct Relative {
    iin: Iin,
    /// How they are related: a claim name, or for in-laws the in-law kind.
    relation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    via: Option<&'static str>,
    /// For parents and children: the parent's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    basis: Option<Basis>,
    evidence: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Relatives {
    iin: Iin,
    as_of: NaiveDate,
    parents: Vec<Relative>,
    children: Vec<Relative>,
    spouse: Option<Relative>,
    siblings: Vec<Relative>,
    half_siblings: Vec<Relative>,
    grandparents: Vec<Relative>,
    grandchildren: Vec<Relative>,
    in_laws: Vec<Relative>,
}

struct Finder<'g> {
    g: &'g FamilyGraph,
    me: PersonId,
    on: NaiveDate,
}

impl Finder<'_> {
    /// `who` as the applicant of `claim` towards me, if it holds.
    fn confirm(&self, who: PersonId, claim: Claim) -> Option<Relative> {
        let v = resolve::check(self.g, Some(self.me), Some(who), claim, self.on);
        v.confirmed.then(|| Relative {
            iin: self.g.iin(who),
            relation: v.in_law.map_or(claim.name(), |k| k.name()),
            via: claim.via().map(Role::as_str),
            role: None,
            basis: None,
            evidence: v
                .evidence
                .iter()
                .map(|a| self.g.act_id(*a).to_owned())
                .collect(),
        })
    }

    fn all(&self, candidates: &BTreeSet<PersonId>, claim: Claim) -> Vec<Relative> {
        candidates
            .iter()
            .filter(|&&c| c != self.me)
            .filter_map(|&c| self.confirm(c, claim))
            .collect()
    }

    fn parents_of(&self, p: PersonId) -> impl Iterator<Item = PersonId> + '_ {
        self.g.parent_links(p).map(|l| l.parent)
    }

    fn children_of(&self, p: PersonId) -> impl Iterator<Item = PersonId> + '_ {
        self.g.children_ever(p)
    }

    fn spouses_of(&self, p: PersonId) -> impl Iterator<Item = PersonId> + '_ {
        self.g.marriages(p).map(|m| m.spouse)
    }

    fn build(&self) -> Relatives {
        let g = self.g;
        let me = self.me;
        let parents: BTreeSet<PersonId> = self.parents_of(me).collect();
        let children: BTreeSet<PersonId> = self.children_of(me).collect();
        let grandparents: BTreeSet<PersonId> =
            parents.iter().flat_map(|&p| self.parents_of(p)).collect();
        let grandchildren: BTreeSet<PersonId> =
            children.iter().flat_map(|&c| self.children_of(c)).collect();
        let siblings: BTreeSet<PersonId> =
            parents.iter().flat_map(|&p| self.children_of(p)).collect();
        let mut close = BTreeSet::new();
        for set in [
            &parents,
            &children,
            &grandparents,
            &grandchildren,
            &siblings,
        ] {
            close.extend(set.iter().copied());
        }
        let mut in_law_cands: BTreeSet<PersonId> =
            close.iter().flat_map(|&r| self.spouses_of(r)).collect();
        for s in self.spouses_of(me) {
            let sp: BTreeSet<PersonId> = self.parents_of(s).collect();
            let sc: BTreeSet<PersonId> = self.children_of(s).collect();
            in_law_cands.extend(sp.iter().flat_map(|&p| self.parents_of(p)));
            in_law_cands.extend(sp.iter().flat_map(|&p| self.children_of(p)));
            in_law_cands.extend(sc.iter().flat_map(|&c| self.children_of(c)));
            in_law_cands.extend(sp);
            in_law_cands.extend(sc);
        }

        let with_basis = |mut r: Relative, child: PersonId, parent: PersonId| {
            let role = self.role(parent);
            r.basis = g.parents_on(child, self.on).get(role).map(|l| l.basis);
            r.role = Some(role);
            r
        };
        let parents_v: Vec<Relative> = parents
            .iter()
            .filter_map(|&p| self.confirm(p, Claim::Parent).map(|r| with_basis(r, me, p)))
            .collect();
        let children_v: Vec<Relative> = children
            .iter()
            .filter_map(|&c| self.confirm(c, Claim::Child).map(|r| with_basis(r, c, me)))
            .collect();
        let full = self.all(&siblings, Claim::Sibling);
        let full_set: BTreeSet<Iin> = full.iter().map(|r| r.iin).collect();
        let half = [Role::Mother, Role::Father]
            .into_iter()
            .flat_map(|side| self.all(&siblings, Claim::HalfSibling(side)))
            .filter(|r| !full_set.contains(&r.iin))
            .collect();
        let sides = |claim: fn(Role) -> Claim, set: &BTreeSet<PersonId>| -> Vec<Relative> {
            [Role::Mother, Role::Father]
                .into_iter()
                .flat_map(|s| self.all(set, claim(s)))
                .collect()
        };
        Relatives {
            iin: g.iin(me),
            as_of: self.on,
            parents: parents_v,
            children: children_v,
            spouse: g
                .spouse_on(me, self.on)
                .and_then(|m| self.confirm(m.spouse, Claim::Spouse)),
            siblings: full,
            half_siblings: half,
            grandparents: sides(Claim::Grandparent, &grandparents),
            grandchildren: sides(Claim::Grandchild, &grandchildren),
            // Relatives by marriage who are not already listed by blood
            // (the check itself follows the table's letter: a man's own
            // child is also his wife's child).
            in_laws: {
                let by_blood: BTreeSet<PersonId> =
                    close.iter().copied().chain(self.spouses_of(me)).collect();
                let cands = in_law_cands.difference(&by_blood).copied().collect();
                self.all(&cands, Claim::InLaw)
            },
        }
    }

    fn role(&self, p: PersonId) -> Role {
        match self.g.iin(p).sex() {
            crate::iin::Sex::Female => Role::Mother,
            crate::iin::Sex::Male => Role::Father,
        }
    }
}

async fn relatives(
    Ready(reg): Ready,
    Path(iin): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<Response, Problem> {
    let iin = path_iin(&iin)?;
    let on = as_of_or_today(q.as_of.as_deref())?;
    let g = reg.graph().await;
    let me = g.person(iin).ok_or_else(unknown)?;
    let answer = Finder { g: &g, me, on }.build();
    let seq = reg.applied_seq();
    drop(g);
    Ok(([(SEQ_HEADER, seq.to_string())], Json(answer)).into_response())
}
