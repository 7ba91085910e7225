//! The kinship check: the resolver's verdict on one claim, as the API
//! answers it, with the other claims that hold between the two.

use super::schema::{ClaimName, ReasonCode, ViaSide};
use crate::graph::{FamilyGraph, PersonId};
use crate::iin::Iin;
use crate::resolve::{self, Claim};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

/// A validated check request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    pub owner: Iin,
    pub applicant: Iin,
    pub claim: Claim,
    pub as_of: NaiveDate,
}

/// Another relation of the table that holds between the two.
#[derive(Debug, Serialize, ToSchema)]
pub struct Also {
    #[schema(value_type = ClaimName)]
    pub claim: &'static str,
    /// Present for claims that take one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ViaSide>)]
    pub via: Option<&'static str>,
    /// For in_law: which one it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "spouse_parent")]
    pub relation: Option<&'static str>,
}

/// The answer to a kinship check.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "confirmed": true,
    "claim": "half_sibling", "via": "mother", "as_of": "2025-06-01",
    "relation": "half_sibling",
    "evidence": ["B-1996-0417", "B-2001-0002"],
    "reason": null,
    "detail": "both birth records name mother 750101400219",
    "also": []
}))]
pub struct CheckAnswer {
    /// Whether the claim holds on `as_of`.
    pub confirmed: bool,
    /// The claim checked.
    #[schema(value_type = ClaimName)]
    pub claim: &'static str,
    /// The claim's `via`; null for claims that take none.
    #[schema(value_type = Option<ViaSide>, required = true)]
    pub via: Option<&'static str>,
    /// The date the relation was evaluated on.
    pub as_of: NaiveDate,
    /// When confirmed: the claim, or for in_law which one (spouse_parent,
    /// spouse_child, spouse_sibling, spouse_grandparent, spouse_grandchild,
    /// parent_spouse, child_spouse, sibling_spouse, grandparent_spouse,
    /// grandchild_spouse); null when not confirmed.
    #[schema(required = true)]
    pub relation: Option<&'static str>,
    /// The act_ids of every act record the answer rests on.
    pub evidence: Vec<String>,
    /// Why it is not confirmed; null when confirmed.
    #[schema(value_type = Option<ReasonCode>, required = true)]
    pub reason: Option<&'static str>,
    /// A sentence saying what holds or what is missing (it reaches
    /// citizens, who are told to get the act records brought up to date).
    pub detail: String,
    /// Other relations of the table that hold between the two, to point
    /// the applicant to the right choice.
    pub also: Vec<Also>,
}

fn claim_parts(c: Claim) -> (&'static str, Option<&'static str>) {
    (c.name(), c.via().map(|s| s.as_str()))
}

/// Answers a validated request from the graph.
pub fn answer(g: &FamilyGraph, r: &CheckRequest, revealed: &mut Vec<Iin>) -> CheckAnswer {
    let owner = g.person(r.owner);
    let applicant = g.person(r.applicant);
    let v = resolve::check(g, owner, applicant, r.claim, r.as_of);
    revealed.extend([r.owner, r.applicant]);
    revealed.extend(v.detail.named().map(|p| g.iin(p)));
    let also = match (owner, applicant) {
        (Some(o), Some(a)) if o != a => also_list(g, o, a, r.claim, r.as_of),
        _ => Vec::new(),
    };
    let (claim, via) = claim_parts(r.claim);
    CheckAnswer {
        confirmed: v.confirmed,
        claim,
        via,
        as_of: r.as_of,
        relation: v.confirmed.then(|| v.in_law.map_or(claim, |k| k.name())),
        evidence: v.evidence.iter().map(|a| g.act_id(*a).to_owned()).collect(),
        reason: v.reason.map(|r| r.code()),
        detail: v.detail.render(g, r.as_of),
        also,
    }
}

pub fn also_list(
    g: &FamilyGraph,
    o: PersonId,
    a: PersonId,
    except: Claim,
    on: NaiveDate,
) -> Vec<Also> {
    resolve::also(g, o, a, except, on)
        .into_iter()
        .map(|(c, k)| {
            let (claim, via) = claim_parts(c);
            Also {
                claim,
                via,
                relation: k.map(|k| k.name()),
            }
        })
        .collect()
}
