//! Data-quality findings for staff: facts in the ledger that are not
//! refusals but look wrong or incomplete, each with the act ids to open.
//!
//! * `no_father`: a birth record names no father, and no paternity record
//!   (or adoption by a father) followed;
//! * `over_110_alive`: a person over 110 on the date with no death record;
//! * `spouse_unknown`: a person known only from one marriage record (no
//!   birth record, parents, children, other act);
//! * `crowded_dwelling`: more persons permanently registered at one
//!   dwelling on the date than `min_residents`.
//!
//! Persons are scanned a slice at a time under the graph's read lock (a
//! whole country would hold it for a second), resumable with a cursor.

use super::schema::IinSchema;
use crate::graph::{FamilyGraph, PersonId, Role};
use crate::iin::Iin;
use chrono::{Months, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

/// Crowded dwellings listed (on the first page), most crowded first.
pub const DWELLINGS: usize = 1000;

/// Persons looked at per hold of the read lock.
pub const SLICE: u64 = 65_536;

/// What kinds of finding there are.
pub const KINDS: [&str; 4] = [
    "no_father",
    "over_110_alive",
    "spouse_unknown",
    "crowded_dwelling",
];

/// One suspicious fact.
#[derive(Debug, Serialize, ToSchema)]
pub struct Finding {
    #[schema(example = "no_father")]
    pub kind: &'static str,
    /// What is suspicious, for a clerk.
    #[schema(example = "the birth record names no father, and no paternity record followed")]
    pub detail: String,
    /// The persons concerned.
    #[schema(value_type = Vec<IinSchema>)]
    pub persons: Vec<Iin>,
    /// For `crowded_dwelling`: the dwelling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dwelling: Option<String>,
    /// The act records to open.
    pub acts: Vec<String>,
}

/// A page of findings.
#[derive(Debug, Serialize, ToSchema)]
pub struct Findings {
    pub as_of: NaiveDate,
    pub items: Vec<Finding>,
    /// Pass as `after` for the next page; absent when everyone was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
    /// True when more dwellings are crowded than the first page lists
    /// (1,000, most crowded first): raise `min_residents` to see the rest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub more_dwellings: bool,
}

/// The person findings of the persons `from..` (one slice at most, and
/// no further once `out` and `unknown_spouses` hold `limit`), `kind` only
/// if given; the next person to look at, if any.
pub fn scan(
    g: &FamilyGraph,
    from: u64,
    on: NaiveDate,
    kind: Option<&str>,
    limit: usize,
    out: &mut Vec<Finding>,
    unknown_spouses: &mut Vec<(Iin, String)>,
) -> Option<u64> {
    let wants = |k: &str| kind.is_none_or(|x| x == k);
    let old = on.checked_sub_months(Months::new(110 * 12));
    let end = from + SLICE;
    let mut i = from;
    while i < end && out.len() + unknown_spouses.len() < limit {
        let p = g.person_at(i)?;
        i += 1;
        if wants("no_father") {
            no_father(g, p, on, out);
        }
        if wants("over_110_alive")
            && old.is_some_and(|o| g.birth_date(p) <= o)
            && g.death(p).is_none()
        {
            out.push(Finding {
                kind: "over_110_alive",
                detail: format!(
                    "born {}, over 110 on {on}, and no death record",
                    g.birth_date(p)
                ),
                persons: vec![g.iin(p)],
                dwelling: None,
                acts: g
                    .birth_record(p)
                    .map(|a| g.act_id(a).to_owned())
                    .into_iter()
                    .collect(),
            });
        }
        if wants("spouse_unknown")
            && let Some(act) = only_a_spouse(g, p)
        {
            unknown_spouses.push((g.iin(p), act));
        }
    }
    g.person_at(i).map(|_| i)
}

fn no_father(g: &FamilyGraph, p: PersonId, on: NaiveDate, out: &mut Vec<Finding>) {
    let Some(birth) = g.birth_record(p) else {
        return;
    };
    if g.birth_date(p) > on || g.parent_links(p).any(|l| l.role == Role::Father) {
        return;
    }
    out.push(Finding {
        kind: "no_father",
        detail: "the birth record names no father, and no paternity record or adoption followed"
            .into(),
        persons: vec![g.iin(p)],
        dwelling: None,
        acts: vec![g.act_id(birth).to_owned()],
    });
}

/// The one marriage `p` is known from, when the graph knows nothing else
/// of them (the ledger is asked about other acts).
fn only_a_spouse(g: &FamilyGraph, p: PersonId) -> Option<String> {
    let mut marriages = g.marriages(p);
    let m = marriages.next()?;
    let alone = marriages.next().is_none()
        && g.birth_record(p).is_none()
        && g.parent_links(p).next().is_none()
        && g.children_ever(p).next().is_none()
        && g.death(p).is_none();
    alone.then(|| g.act_id(m.act).to_owned())
}

impl Findings {
    pub fn persons(&self) -> impl Iterator<Item = Iin> + '_ {
        self.items.iter().flat_map(|f| f.persons.iter().copied())
    }
}
