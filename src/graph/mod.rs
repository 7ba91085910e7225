//! The temporal family graph: who was whose legal parent and spouse, when.
//!
//! Sized for the whole country (25M persons, ~45M parent links, ~9M
//! marriages) in about 2 GiB; `store` holds the arrays (what a snapshot
//! saves), `query` the questions asked of them, `apply` the rules that
//! records are judged by before they change anything.
//!
//! Dates are not stored on links: a birth or paternity link counts from the
//! child's birth (in the IIN), an adoption or marriage from its act's date.
//! Of several links for one role, the one that started last wins, which is
//! exactly "adoption replaces the role from its date"; on a tie of dates the
//! rule decides (adoption over paternity over the birth record), never the
//! order in which records arrived. A marriage ends at its divorce or at
//! either spouse's death, both looked up when asked.
//!
//! This module is the one place that decides "legal parent / child / spouse
//! on date D". Mutations go through a [`Journal`] so a batch whose ledger
//! write fails can be rolled back exactly.

mod apply;
mod index;
mod journal;
mod pages;
mod query;
mod snapshot;
mod store;

pub use apply::Target;
pub use journal::Journal;
pub use pages::advise_vec as advise_huge_pages;
pub use snapshot::{FORMAT as SNAPSHOT_FORMAT, SnapshotError, SnapshotMeta};
pub use store::{Batch, FamilyGraph, LinkKind};

use chrono::NaiveDate;
use petgraph::graph::NodeIndex;
use store::Ix;

/// A person in the graph (dense, stable for the life of the graph).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(Ix);

impl PersonId {
    pub(crate) fn node(self) -> NodeIndex<Ix> {
        NodeIndex::new(self.0 as usize)
    }
}

/// A recorded act that has an effect on links (birth, paternity, adoption,
/// marriage, divorce), as an index into the [`ActTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActHandle(pub(crate) u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Mother,
    Father,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Mother => "mother",
            Role::Father => "father",
        }
    }
}

/// On what a legal-parent link rests. The order is the tie rule: of two
/// links for one role starting on the same day, the greater one holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Birth,
    Paternity,
    Adoption,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Birth => "birth",
            Basis::Paternity => "paternity",
            Basis::Adoption => "adoption",
        }
    }
}

impl LinkKind {
    pub fn parent(role: Role, basis: Basis) -> LinkKind {
        match (role, basis) {
            (Role::Mother, Basis::Birth) => LinkKind::MotherBirth,
            (Role::Father, Basis::Birth) => LinkKind::FatherBirth,
            (_, Basis::Paternity) => LinkKind::FatherPaternity,
            (Role::Mother, Basis::Adoption) => LinkKind::MotherAdoption,
            (Role::Father, Basis::Adoption) => LinkKind::FatherAdoption,
        }
    }

    /// Role and basis of a legal-parent link; `None` for a bare birth record.
    pub fn parent_link(self) -> Option<(Role, Basis)> {
        match self {
            LinkKind::MotherBirth => Some((Role::Mother, Basis::Birth)),
            LinkKind::FatherBirth => Some((Role::Father, Basis::Birth)),
            LinkKind::FatherPaternity => Some((Role::Father, Basis::Paternity)),
            LinkKind::MotherAdoption => Some((Role::Mother, Basis::Adoption)),
            LinkKind::FatherAdoption => Some((Role::Father, Basis::Adoption)),
            LinkKind::BirthRecord => None,
        }
    }
}

/// A legal parent on some date, with the act it rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentLink {
    pub parent: PersonId,
    pub role: Role,
    pub basis: Basis,
    pub act: ActHandle,
    /// From when the link counts: the child's birth, or the adoption date.
    pub since: NaiveDate,
}

/// Both legal parents of a person on some date.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parents {
    pub mother: Option<ParentLink>,
    pub father: Option<ParentLink>,
}

impl Parents {
    pub fn get(&self, role: Role) -> Option<ParentLink> {
        match role {
            Role::Mother => self.mother,
            Role::Father => self.father,
        }
    }
}

/// A legal child on some date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildLink {
    pub child: PersonId,
    pub role: Role,
    pub basis: Basis,
    pub act: ActHandle,
    pub since: NaiveDate,
}

/// A marriage, with how and when it ended (if it did).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarriageLink {
    pub spouse: PersonId,
    pub act: ActHandle,
    pub since: NaiveDate,
    pub end: Option<MarriageEnd>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarriageEnd {
    Divorce { act: ActHandle, date: NaiveDate },
    Death { of: PersonId, date: NaiveDate },
}

impl MarriageEnd {
    pub fn date(self) -> NaiveDate {
        match self {
            MarriageEnd::Divorce { date, .. } | MarriageEnd::Death { date, .. } => date,
        }
    }
}

impl MarriageLink {
    pub fn active_on(&self, d: NaiveDate) -> bool {
        self.since <= d && self.end.is_none_or(|e| d < e.date())
    }
}

/// See [`FamilyGraph::canonical`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Canonical {
    pub persons: std::collections::BTreeMap<u64, Option<NaiveDate>>,
    pub links: std::collections::BTreeSet<(u64, u64, LinkKind, String, NaiveDate)>,
    /// (lower IIN, higher IIN, act id, date)
    pub marriages: std::collections::BTreeSet<(u64, u64, String, NaiveDate)>,
    pub divorces: std::collections::BTreeSet<(String, String)>,
}

impl Canonical {
    /// A digest of the whole picture: two graphs with the same digest are
    /// the same graph (to 64 bits). Stable within one build of the
    /// service, which is what comparing replicas needs.
    pub fn digest(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}
