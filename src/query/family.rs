//! The family a housing check counts — the person, their spouse on the
//! date, their legal children with the 18-year minor rule — and who is
//! registered in a dwelling.

use super::schema::{BasisSchema, IinSchema, NameSchema};
use crate::acts::Name;
use crate::graph::{Basis, FamilyGraph, PersonId};
use crate::iin::Iin;
use crate::ledger::LedgerError;
use crate::registry::{Names, Registry};
use crate::resolve;
use chrono::{Months, NaiveDate};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::ToSchema;

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
    /// The name registered on `as_of`; null when no record names them, or
    /// when it could not be read (then `name_unavailable` says so).
    #[schema(value_type = Option<NameSchema>, required = true)]
    pub name: Option<Name>,
    /// Present (true) only when the name could not be read: the database
    /// is out of reach and it was not cached. The family itself is read
    /// from memory and complete.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[schema(required = false)]
    pub name_unavailable: bool,
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
pub struct Skeleton {
    as_of: NaiveDate,
    person: PersonId,
    spouse: Option<(PersonId, String, NaiveDate)>,
    children: Vec<(PersonId, Basis, String)>,
}

pub fn skeleton(g: &FamilyGraph, p: PersonId, as_of: NaiveDate) -> Skeleton {
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

pub(super) fn view(
    g: &FamilyGraph,
    p: PersonId,
    names: &HashMap<Iin, Arc<Names>>,
    on: NaiveDate,
) -> PersonView {
    let iin = g.iin(p);
    let known = names.get(&iin);
    PersonView {
        iin,
        sex: iin.sex().as_str(),
        birth_date: iin.birth_date(),
        death_date: g.death_on(p, on),
        name: known.and_then(|n| n.on(on)).cloned(),
        // Every person asked for is in a complete map.
        name_unavailable: known.is_none(),
    }
}

fn is_minor(birth: NaiveDate, on: NaiveDate) -> bool {
    birth
        .checked_add_months(Months::new(18 * 12))
        .is_some_and(|adult| on < adult)
}

/// Reads the skeletons' names in one ledger query and builds the answers.
pub async fn dress(
    reg: &Registry,
    skeletons: Vec<Skeleton>,
) -> Result<Vec<FamilyAnswer>, LedgerError> {
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
    // From the cache alone while the ledger is out of reach: the family
    // is in memory, only the names are not.
    let names = reg.names_or_cached(&iins).await?;
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

/// A person registered in the dwelling.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Resident)]
pub struct ResidentView {
    #[schema(value_type = IinSchema)]
    pub iin: Iin,
    /// `permanent` or `temporary`.
    #[serde(rename = "type")]
    #[schema(example = "permanent")]
    pub kind: String,
    /// The start of the registration (`YYYY-MM-DD`).
    #[schema(format = Date, example = "2020-01-10")]
    pub since: String,
    /// Present only when `owner` is given: every claim of the table that
    /// holds with the resident as applicant ("child", "half_sibling via
    /// mother", ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relations_to_owner: Option<Vec<String>>,
}

/// Who is registered in a dwelling on a date.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Household)]
pub struct HouseholdAnswer {
    #[schema(example = "21:320:045:112:17")]
    pub dwelling: String,
    pub as_of: NaiveDate,
    /// How many residents there are.
    pub registered: usize,
    pub residents: Vec<ResidentView>,
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

impl FamilyAnswer {
    /// Everyone the answer shows.
    pub fn persons(&self) -> impl Iterator<Item = Iin> + '_ {
        std::iter::once(self.person.iin)
            .chain(self.spouse.as_ref().map(|s| s.person.iin))
            .chain(self.children.iter().map(|c| c.person.iin))
    }
}

/// The residents of `dwelling` on `as_of`; with `owner`, each one's
/// relations to the owner. With the seq the graph was read at.
pub async fn household(
    reg: &Registry,
    dwelling: String,
    as_of: NaiveDate,
    owner: Option<Iin>,
) -> Result<(HouseholdAnswer, i64), LedgerError> {
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
    Ok((answer, seq))
}
