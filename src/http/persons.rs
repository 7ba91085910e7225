//! Staff pages: a person's card (`/v1/persons/{iin}`), their relatives on
//! a date (`/v1/persons/{iin}/relatives`) and one act (`/v1/acts/{act_id}`).
//!
//! Relatives are found by listing candidates along the graph and letting
//! the resolver confirm each one, so this page can never disagree with a
//! kinship check.

use super::family::{AsOf, path_iin};
use super::openapi::{BasisSchema, IinSchema, NameSchema, RoleSchema, ViaSide};
use super::params::Params;
use super::{AppState, Problem, Ready, SEQ_HEADER, as_of_or_today};
use crate::acts::Name;
use crate::graph::{Basis, FamilyGraph, PersonId, Role};
use crate::iin::Iin;
use crate::ledger::ActRecord;
use crate::resolve::{self, Claim};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(card))
        .routes(routes!(relatives))
        .routes(routes!(act))
}

/// An act record as the ledger holds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActView {
    /// Its sequence number in the ledger.
    pub seq: i64,
    #[schema(example = "B-2001-0002")]
    pub act_id: String,
    #[schema(example = "birth")]
    pub kind: String,
    /// The record in its canonical form.
    #[schema(value_type = Object)]
    pub act: serde_json::Value,
    /// Where it came from: `<import file>:<line>` or
    /// `http:<request id>:<line>`.
    pub source: String,
    /// When it was recorded (RFC 3339, UTC).
    pub received_at: String,
    /// The act_id of the annulment that voided it; null if none did.
    #[schema(required = true)]
    pub annulled_by: Option<String>,
}

impl From<ActRecord> for ActView {
    fn from(r: ActRecord) -> ActView {
        ActView {
            seq: r.seq,
            act_id: r.act.act_id.to_string(),
            kind: r.act.kind().as_str().to_owned(),
            act: serde_json::to_value(&r.act).expect("acts serialize"),
            source: r.source,
            received_at: r.received_at,
            annulled_by: r.annulled_by,
        }
    }
}

/// A name and the date it was registered from.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DatedName)]
struct NameView {
    since: NaiveDate,
    #[serde(flatten)]
    #[schema(value_type = NameSchema)]
    name: Name,
}

/// A person's card: who they are and every act record that names them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PersonCard)]
struct Card {
    #[schema(value_type = IinSchema)]
    iin: Iin,
    /// From the IIN.
    #[schema(example = "female")]
    sex: &'static str,
    /// From the IIN.
    birth_date: NaiveDate,
    /// Null while alive.
    #[schema(required = true)]
    death_date: Option<NaiveDate>,
    /// Every registered name, oldest first.
    names: Vec<NameView>,
    /// Every act record that names them, by the act's date (a
    /// registration's `from`), then act_id.
    acts: Vec<ActView>,
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
async fn card(Ready(reg): Ready, Path(iin): Path<String>) -> Result<Response, Problem> {
    let iin = path_iin(&iin)?;
    let (death, seq) = {
        let g = reg.graph();
        let p = g.person(iin).ok_or_else(Problem::person_unknown)?;
        (g.death(p), reg.applied_seq())
    };
    let names = reg.names(&[iin]).await?;
    let mut acts = reg.ledger().acts_of(iin).await?;
    // By what the records say, not by when they arrived.
    acts.sort_by(|a, b| (a.act.date(), &a.act.act_id).cmp(&(b.act.date(), &b.act.act_id)));
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

/// A relative, confirmed by the same resolver as the kinship check.
#[derive(Debug, Serialize, ToSchema)]
struct Relative {
    #[schema(value_type = IinSchema)]
    iin: Iin,
    /// How they are related: a claim name, or for in-laws the in-law kind.
    #[schema(example = "half_sibling")]
    relation: &'static str,
    /// For claims that take one: through which parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ViaSide>)]
    via: Option<&'static str>,
    /// For parents and children: the parent's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RoleSchema>)]
    role: Option<Role>,
    /// For parents and children: what the link rests on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BasisSchema>)]
    basis: Option<Basis>,
    /// The act_ids of the records the relation rests on.
    evidence: Vec<String>,
}

/// A person's relatives on a date, by kind.
#[derive(Debug, Serialize, ToSchema)]
struct Relatives {
    #[schema(value_type = IinSchema)]
    iin: Iin,
    as_of: NaiveDate,
    parents: Vec<Relative>,
    children: Vec<Relative>,
    /// Null when not married on `as_of`.
    #[schema(required = true)]
    spouse: Option<Relative>,
    siblings: Vec<Relative>,
    /// Half siblings who are not also full siblings.
    half_siblings: Vec<Relative>,
    grandparents: Vec<Relative>,
    grandchildren: Vec<Relative>,
    /// Relatives by marriage not already listed by blood.
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
            let role = g.parent_role(parent);
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
        let by_iin = |mut v: Vec<Relative>| {
            v.sort_by_key(|r| (r.iin, r.via));
            v
        };
        Relatives {
            iin: g.iin(me),
            as_of: self.on,
            parents: by_iin(parents_v),
            children: by_iin(children_v),
            spouse: g
                .spouse_on(me, self.on)
                .and_then(|m| self.confirm(m.spouse, Claim::Spouse)),
            siblings: by_iin(full),
            half_siblings: by_iin(half),
            grandparents: by_iin(sides(Claim::Grandparent, &grandparents)),
            grandchildren: by_iin(sides(Claim::Grandchild, &grandchildren)),
            // Relatives by marriage who are not already listed by blood
            // (the check itself follows the table's letter: a man's own
            // child is also his wife's child).
            in_laws: {
                let by_blood: BTreeSet<PersonId> =
                    close.iter().copied().chain(self.spouses_of(me)).collect();
                let cands = in_law_cands.difference(&by_blood).copied().collect();
                by_iin(self.all(&cands, Claim::InLaw))
            },
        }
    }
}

/// A person's relatives
///
/// Everyone related to the person on `as_of`, by kind, each with the
/// evidence. Candidates are found along the graph and each is confirmed
/// by the resolver, so this page never disagrees with a kinship check.
#[utoipa::path(
    get,
    path = "/v1/persons/{iin}/relatives",
    security(("api_key" = ["investigate"])),
    tag = "staff",
    params(("iin" = IinSchema, Path, description = "The person's IIN"), AsOf),
    responses(
        (status = 200, description = "The relatives on `as_of`", body = Relatives),
        (status = 400, description = "`invalid_iin` (path iin) or `invalid_date` (as_of)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`person_unknown`: the registry has no record of this person",
            body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`not_ready`: the graph is still being built",
            body = Problem, content_type = "application/problem+json"),
    )
)]
async fn relatives(
    Ready(reg): Ready,
    Path(iin): Path<String>,
    Params(q): Params<AsOf>,
) -> Result<Response, Problem> {
    let iin = path_iin(&iin)?;
    let on = as_of_or_today(q.as_of.as_deref())?;
    let g = reg.graph();
    let me = g.person(iin).ok_or_else(Problem::person_unknown)?;
    let answer = Finder { g: &g, me, on }.build();
    let seq = reg.applied_seq();
    drop(g);
    Ok(([(SEQ_HEADER, seq.to_string())], Json(answer)).into_response())
}
