//! A person's relatives on a date, by kind. Candidates are listed along
//! the graph and each is confirmed by the resolver, so this answer can
//! never disagree with a kinship check.

use super::schema::{BasisSchema, IinSchema, RoleSchema, ViaSide};
use crate::graph::{Basis, FamilyGraph, PersonId, Role};
use crate::iin::Iin;
use crate::resolve::{self, Claim};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// A relative, confirmed by the same resolver as the kinship check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Relative {
    #[schema(value_type = IinSchema)]
    pub iin: Iin,
    /// How they are related: a claim name, or for in-laws the in-law kind.
    #[schema(example = "half_sibling")]
    pub relation: &'static str,
    /// For claims that take one: through which parent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ViaSide>)]
    pub via: Option<&'static str>,
    /// For parents and children: the parent's role.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RoleSchema>)]
    pub role: Option<Role>,
    /// For parents and children: what the link rests on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BasisSchema>)]
    pub basis: Option<Basis>,
    /// The act_ids of the records the relation rests on.
    pub evidence: Vec<String>,
}

/// A person's relatives on a date, by kind.
#[derive(Debug, Serialize, ToSchema)]
pub struct Relatives {
    #[schema(value_type = IinSchema)]
    pub iin: Iin,
    pub as_of: NaiveDate,
    pub parents: Vec<Relative>,
    pub children: Vec<Relative>,
    /// Null when not married on `as_of`.
    #[schema(required = true)]
    pub spouse: Option<Relative>,
    pub siblings: Vec<Relative>,
    /// Half siblings who are not also full siblings.
    pub half_siblings: Vec<Relative>,
    pub grandparents: Vec<Relative>,
    pub grandchildren: Vec<Relative>,
    /// Relatives by marriage not already listed by blood.
    pub in_laws: Vec<Relative>,
    /// The degree `by_name` goes to.
    pub max_degree: u8,
    /// Everyone within `max_degree` by relation name (the relation
    /// finder's names in Russian, Kazakh and English), closest first.
    pub by_name: Vec<super::relations::NameGroup>,
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
            max_degree: 0,
            by_name: Vec::new(),
        }
    }
}

/// Everyone related to `me` on `on`, by kind.
pub fn find(g: &FamilyGraph, me: PersonId, on: NaiveDate) -> Relatives {
    Finder { g, me, on }.build()
}

impl Relatives {
    /// Everyone the answer shows.
    pub fn persons(&self) -> impl Iterator<Item = Iin> + '_ {
        let lists = [
            &self.parents,
            &self.children,
            &self.siblings,
            &self.half_siblings,
            &self.grandparents,
            &self.grandchildren,
            &self.in_laws,
        ];
        std::iter::once(self.iin)
            .chain(self.spouse.iter().map(|s| s.iin))
            .chain(lists.into_iter().flatten().map(|r| r.iin))
            .chain(
                self.by_name
                    .iter()
                    .flat_map(|g| &g.relatives)
                    .map(|m| m.person.iin),
            )
    }
}
