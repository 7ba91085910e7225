//! Answers of the relation finder (`resolve::relations`): every path
//! between two persons, and a person's relatives grouped by name, as the
//! API shows them — each person along a path with sex and birth year, each
//! link with its kind, dates and act.

use super::schema::IinSchema;
use crate::graph::{FamilyGraph, PersonId};
use crate::iin::Iin;
use crate::resolve::relations::{self, Ended, LinkKind, Names, Relation, Step};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use utoipa::ToSchema;

/// A person along a path.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathPerson {
    #[schema(value_type = IinSchema)]
    pub iin: Iin,
    #[schema(example = "male")]
    pub sex: &'static str,
    #[schema(example = 1975)]
    pub birth_year: i32,
    /// Set when the person had died by `as_of`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub death_year: Option<i32>,
}

/// How a marriage on a path had ended by `as_of`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkEnd {
    /// `divorce` or `death`.
    #[schema(example = "divorce")]
    pub by: &'static str,
    pub date: NaiveDate,
    /// The divorce record; none for a death.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act_id: Option<String>,
}

/// One link of a path, from `persons[i]` to `persons[i + 1]`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathLink {
    /// `parent` (to a legal parent), `child` or `spouse`.
    #[schema(example = "parent")]
    pub to: &'static str,
    /// What it rests on: `birth`, `paternity`, `adoption` or `marriage`.
    #[schema(example = "birth")]
    pub kind: &'static str,
    pub act_id: String,
    /// From when it counts: the birth, the adoption, the wedding.
    pub since: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<LinkEnd>,
}

/// One path from the first person to the second.
#[derive(Debug, Serialize, ToSchema)]
pub struct PathView {
    pub persons: Vec<PathPerson>,
    pub links: Vec<PathLink>,
}

/// One relation: a path, or the two paths of a full relation (through
/// the mother and through the father of a common ancestor couple).
#[derive(Debug, Serialize, ToSchema)]
pub struct RelationView {
    /// The steps from the first person: `U` to a legal parent, `D` to a
    /// legal child, `S` to a spouse (`UUD`: a parent's sibling).
    #[schema(example = "UD")]
    pub shape: String,
    /// Civil-law degree: births counted along the path.
    #[schema(example = 2)]
    pub degree: u8,
    /// Through both of a couple (full siblings, full cousins); false for
    /// a half relation and for relations with no common ancestor.
    pub full: bool,
    /// What the second person is to the first.
    pub names: Names,
    /// Every act record along the paths.
    pub evidence: Vec<String>,
    pub paths: Vec<PathView>,
}

/// Every relation between two persons on a date.
#[derive(Debug, Serialize, ToSchema)]
pub struct Relations {
    #[schema(value_type = IinSchema)]
    pub a: Iin,
    #[schema(value_type = IinSchema)]
    pub b: Iin,
    pub as_of: NaiveDate,
    pub max_degree: u8,
    /// Shortest first; empty when they are not related within the degree.
    pub relations: Vec<RelationView>,
}

/// A person's relatives by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct RelativesByName {
    #[schema(value_type = IinSchema)]
    pub iin: Iin,
    pub as_of: NaiveDate,
    pub max_degree: u8,
    /// Closest first.
    pub groups: Vec<NameGroup>,
}

/// Everyone the person has by one relation name.
#[derive(Debug, Serialize, ToSchema)]
pub struct NameGroup {
    pub names: Names,
    #[schema(example = "UD")]
    pub shape: String,
    pub degree: u8,
    pub relatives: Vec<GroupMember>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMember {
    #[serde(flatten)]
    pub person: PathPerson,
    /// The act records along the paths to them.
    pub evidence: Vec<String>,
}

fn person(g: &FamilyGraph, p: PersonId, on: NaiveDate) -> PathPerson {
    let iin = g.iin(p);
    PathPerson {
        iin,
        sex: iin.sex().as_str(),
        birth_year: g.birth_date(p).year(),
        death_year: g.death_on(p, on).map(|d| d.year()),
    }
}

fn evidence(g: &FamilyGraph, r: &Relation) -> Vec<String> {
    let mut acts: Vec<String> = r
        .paths
        .iter()
        .flat_map(|p| p.acts())
        .map(|a| g.act_id(a).to_owned())
        .collect();
    acts.sort();
    acts.dedup();
    acts
}

fn view(g: &FamilyGraph, on: NaiveDate, r: &Relation) -> RelationView {
    RelationView {
        shape: r.shape.clone(),
        degree: r.degree,
        full: r.full,
        names: r.names.clone(),
        evidence: evidence(g, r),
        paths: r
            .paths
            .iter()
            .map(|p| PathView {
                persons: p.persons.iter().map(|&x| person(g, x, on)).collect(),
                links: p
                    .links
                    .iter()
                    .map(|l| PathLink {
                        to: match l.step {
                            Step::Up => "parent",
                            Step::Down => "child",
                            Step::Spouse => "spouse",
                        },
                        kind: match l.kind {
                            LinkKind::Parent(b) => b.as_str(),
                            LinkKind::Marriage => "marriage",
                        },
                        act_id: g.act_id(l.act).to_owned(),
                        since: l.since,
                        ended: l.ended.map(|e| match e {
                            Ended::Divorce { act, date } => LinkEnd {
                                by: "divorce",
                                date,
                                act_id: Some(g.act_id(act).to_owned()),
                            },
                            Ended::Death { date, .. } => LinkEnd {
                                by: "death",
                                date,
                                act_id: None,
                            },
                        }),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Every relation between `a` and `b` on `on`.
pub fn between(
    g: &FamilyGraph,
    a: PersonId,
    b: PersonId,
    on: NaiveDate,
    max_degree: u8,
) -> Relations {
    Relations {
        a: g.iin(a),
        b: g.iin(b),
        as_of: on,
        max_degree,
        relations: relations::between(g, a, b, on, max_degree)
            .iter()
            .map(|r| view(g, on, r))
            .collect(),
    }
}

/// Everyone related to `me` on `on`, grouped by relation name.
pub fn by_name(g: &FamilyGraph, me: PersonId, on: NaiveDate, max_degree: u8) -> RelativesByName {
    let mut groups: Vec<NameGroup> = Vec::new();
    for r in relations::all_of(g, me, on, max_degree) {
        let member = GroupMember {
            person: person(g, r.alter, on),
            evidence: evidence(g, &r),
        };
        match groups.iter_mut().find(|x| x.names == r.names) {
            // A relative twice under one name (double cousins) once.
            Some(x)
                if x.relatives
                    .iter()
                    .any(|m| m.person.iin == member.person.iin) => {}
            Some(x) => x.relatives.push(member),
            None => groups.push(NameGroup {
                names: r.names.clone(),
                shape: r.shape.clone(),
                degree: r.degree,
                relatives: vec![member],
            }),
        }
    }
    RelativesByName {
        iin: g.iin(me),
        as_of: on,
        max_degree,
        groups,
    }
}

impl Relations {
    /// Everyone the answer shows.
    pub fn persons(&self) -> impl Iterator<Item = Iin> + '_ {
        [self.a, self.b].into_iter().chain(
            self.relations
                .iter()
                .flat_map(|r| &r.paths)
                .flat_map(|p| &p.persons)
                .map(|p| p.iin),
        )
    }
}

impl RelativesByName {
    pub fn persons(&self) -> impl Iterator<Item = Iin> + '_ {
        std::iter::once(self.iin).chain(
            self.groups
                .iter()
                .flat_map(|g| &g.relatives)
                .map(|m| m.person.iin),
        )
    }
}
