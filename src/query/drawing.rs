//! A person's family as a graph to draw (the staff page): everyone within
//! a degree on a date, with names, and every legal link among them —
//! parent links with what they rest on, marriages with how they ended.

use super::family::PersonView;
use super::schema::IinSchema;
use crate::graph::{FamilyGraph, MarriageEnd, PersonId};
use crate::iin::Iin;
use crate::resolve::relations;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::HashSet;
use utoipa::ToSchema;

/// One link to draw.
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawnLink {
    /// `parent` (from a parent to a child) or `marriage`.
    #[schema(example = "parent")]
    pub kind: &'static str,
    #[schema(value_type = IinSchema)]
    pub from: Iin,
    #[schema(value_type = IinSchema)]
    pub to: Iin,
    /// For a parent link: `birth`, `paternity` or `adoption`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "birth")]
    pub basis: Option<&'static str>,
    pub since: NaiveDate,
    /// For a marriage that had ended by `as_of`: when, and by `divorce`
    /// or `death`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "divorce")]
    pub ended_by: Option<&'static str>,
    pub act_id: String,
}

/// The family around a person, to draw.
#[derive(Debug, Serialize, ToSchema)]
pub struct Drawing {
    #[schema(value_type = IinSchema)]
    pub iin: Iin,
    pub as_of: NaiveDate,
    pub degree: u8,
    pub persons: Vec<PersonView>,
    pub links: Vec<DrawnLink>,
}

/// The skeleton: who, and the links (names are added by the reader).
pub struct Skeleton {
    pub persons: Vec<PersonId>,
    pub links: Vec<DrawnLink>,
}

pub fn skeleton(g: &FamilyGraph, me: PersonId, on: NaiveDate, degree: u8) -> Skeleton {
    let persons = relations::reach(g, me, on, degree);
    let shown: HashSet<PersonId> = persons.iter().copied().collect();
    let mut links = Vec::new();
    for &p in &persons {
        let parents = g.parents_on(p, on);
        for l in [parents.mother, parents.father].into_iter().flatten() {
            if shown.contains(&l.parent) {
                links.push(DrawnLink {
                    kind: "parent",
                    from: g.iin(l.parent),
                    to: g.iin(p),
                    basis: Some(l.basis.as_str()),
                    since: l.since,
                    until: None,
                    ended_by: None,
                    act_id: g.act_id(l.act).to_owned(),
                });
            }
        }
        for m in g.marriages(p).filter(|m| m.since <= on) {
            // Each marriage once, from the smaller IIN.
            if !shown.contains(&m.spouse) || g.iin(m.spouse) < g.iin(p) {
                continue;
            }
            let end = m.end.filter(|e| e.date() <= on);
            links.push(DrawnLink {
                kind: "marriage",
                from: g.iin(p),
                to: g.iin(m.spouse),
                basis: None,
                since: m.since,
                until: end.map(MarriageEnd::date),
                ended_by: end.map(|e| match e {
                    MarriageEnd::Divorce { .. } => "divorce",
                    MarriageEnd::Death { .. } => "death",
                }),
                act_id: g.act_id(m.act).to_owned(),
            });
        }
    }
    Skeleton { persons, links }
}
