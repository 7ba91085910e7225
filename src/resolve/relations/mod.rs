//! The relation finder: every path between two persons through legal
//! parent, child and spouse links in force on a date, up to a civil-law
//! degree (births counted along the path), each named in Russian, Kazakh
//! and English (`names.rs`, words from the tables in `terms/`).
//!
//! A path is blood segments (up to a common ancestor, then down: `U…D…`)
//! joined by spouse steps (`S`, at most two, never two in a row): a
//! spouse's blood relative, a blood relative's spouse, a child's spouse's
//! parent, a parent's spouse's child. A spouse step counts while the
//! marriage is in force, or ended by a death (affinity stays, as in the
//! in-law rule); a marriage ended by divorce is only ever the whole path
//! ("former husband"). A spouse step that only goes round a legal link (a
//! mother's husband who is the father, a wife's child who is one's own)
//! is left out: the direct link is the relation. Two paths that differ
//! only in the common ancestor (the mother and the father) are one full
//! relation; one such path alone is a half relation.

mod names;

pub use names::Names;

use crate::graph::{ActHandle, Basis, FamilyGraph, MarriageEnd, PersonId, Role};
use chrono::NaiveDate;

/// The degree when none is asked for: first cousins, great-uncles and
/// aunts, grand-nephews and nieces, and their in-laws.
pub const DEFAULT_DEGREE: u8 = 4;

/// The largest degree that can be asked for (the search grows with it).
pub const MAX_DEGREE: u8 = 6;

/// Spouse steps in one path, at most.
const MAX_SPOUSES: u8 = 2;

/// A step from one person to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// To a legal parent.
    Up,
    /// To a legal child.
    Down,
    /// To a spouse.
    Spouse,
}

impl Step {
    fn letter(self) -> char {
        match self {
            Step::Up => 'U',
            Step::Down => 'D',
            Step::Spouse => 'S',
        }
    }
}

/// What a link rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkKind {
    Parent(Basis),
    Marriage,
}

/// How a marriage on a path had ended by the date asked about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ended {
    Divorce { act: ActHandle, date: NaiveDate },
    Death { of: PersonId, date: NaiveDate },
}

/// One link of a path, from `persons[i]` to `persons[i + 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    pub step: Step,
    pub kind: LinkKind,
    /// For parent links, the parent's role.
    pub role: Option<Role>,
    /// The act the link rests on (birth, paternity, adoption, marriage).
    pub act: ActHandle,
    /// From when it counts.
    pub since: NaiveDate,
    pub ended: Option<Ended>,
}

/// One path from ego (first) to alter (last).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    pub persons: Vec<PersonId>,
    pub links: Vec<Link>,
}

impl Path {
    /// The steps as letters: `UUD` is a parent's sibling.
    pub fn shape(&self) -> String {
        self.links.iter().map(|l| l.step.letter()).collect()
    }

    /// Births counted along the path.
    pub fn degree(&self) -> u8 {
        self.links.iter().filter(|l| l.step != Step::Spouse).count() as u8
    }

    /// The acts along the path: each link's, and the divorce that ended a
    /// marriage on it.
    pub fn acts(&self) -> impl Iterator<Item = ActHandle> + '_ {
        self.links.iter().flat_map(|l| {
            let end = match l.ended {
                Some(Ended::Divorce { act, .. }) => Some(act),
                _ => None,
            };
            std::iter::once(l.act).chain(end)
        })
    }

    /// Indexes of common ancestors: persons reached up and left down.
    fn apexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.links
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0].step == Step::Up && w[1].step == Step::Down)
            .map(|(i, _)| i + 1)
    }

    /// The path with its common ancestors blanked: two paths with the same
    /// key differ only in them (the two parents).
    fn key(&self) -> (Vec<Option<PersonId>>, String) {
        let mut persons: Vec<Option<PersonId>> = self.persons.iter().copied().map(Some).collect();
        for i in self.apexes() {
            persons[i] = None;
        }
        (persons, self.shape())
    }
}

/// One relation between ego and alter: a path, or the two paths of a full
/// relation (through the mother and through the father), with its names.
#[derive(Clone, Debug)]
pub struct Relation {
    pub alter: PersonId,
    pub shape: String,
    pub degree: u8,
    /// Through both parents of a common ancestor couple; false for a half
    /// relation (one common parent) and for relations without one.
    pub full: bool,
    pub names: Names,
    pub paths: Vec<Path>,
}

/// Every relation between `a` and `b` on `on`, up to `max_degree`,
/// shortest first.
pub fn between(
    g: &FamilyGraph,
    a: PersonId,
    b: PersonId,
    on: NaiveDate,
    max_degree: u8,
) -> Vec<Relation> {
    if a == b {
        return Vec::new();
    }
    relations(g, a, Some(b), on, max_degree)
}

/// Every relation of `a` on `on` up to `max_degree`, shortest first.
pub fn all_of(g: &FamilyGraph, a: PersonId, on: NaiveDate, max_degree: u8) -> Vec<Relation> {
    relations(g, a, None, on, max_degree)
}

/// `a`, then everyone related to `a` on `on` up to `max_degree`, each
/// once, by IIN: who a family drawing or export shows (the paths are not
/// grouped or named).
pub fn reach(g: &FamilyGraph, a: PersonId, on: NaiveDate, max_degree: u8) -> Vec<PersonId> {
    let mut alters: Vec<PersonId> = paths(g, a, None, on, max_degree)
        .into_iter()
        .filter_map(|p| p.persons.last().copied())
        .collect();
    alters.sort_unstable_by_key(|&p| g.iin(p));
    alters.dedup();
    std::iter::once(a).chain(alters).collect()
}

fn relations(
    g: &FamilyGraph,
    a: PersonId,
    b: Option<PersonId>,
    on: NaiveDate,
    max_degree: u8,
) -> Vec<Relation> {
    group(g, on, paths(g, a, b, on, max_degree))
}

/// Every path from `a` (to `b` only, when given).
fn paths(
    g: &FamilyGraph,
    a: PersonId,
    b: Option<PersonId>,
    on: NaiveDate,
    max_degree: u8,
) -> Vec<Path> {
    let mut search = Search {
        g,
        on,
        max_degree: max_degree.min(MAX_DEGREE),
        target: b,
        found: Vec::new(),
        persons: vec![a],
        links: Vec::new(),
    };
    search.walk(Walk::default());
    search.found
}

/// Where a walk is in the grammar.
#[derive(Clone, Copy, Default)]
struct Walk {
    degree: u8,
    spouses: u8,
    /// The current blood segment has gone down: no more steps up in it.
    down: bool,
    /// The last step was to a spouse.
    spouse_last: bool,
    /// The path is a divorced marriage: nothing may follow.
    closed: bool,
}

struct Search<'g> {
    g: &'g FamilyGraph,
    on: NaiveDate,
    max_degree: u8,
    target: Option<PersonId>,
    found: Vec<Path>,
    persons: Vec<PersonId>,
    links: Vec<Link>,
}

impl Search<'_> {
    fn here(&self) -> PersonId {
        *self.persons.last().expect("a walk starts at ego")
    }

    fn walk(&mut self, w: Walk) {
        let here = self.here();
        if !self.links.is_empty() && self.target.is_none_or(|t| t == here) {
            self.found.push(Path {
                persons: self.persons.clone(),
                links: self.links.clone(),
            });
        }
        if w.closed || Some(here) == self.target {
            return;
        }
        let (g, on) = (self.g, self.on);
        if w.degree < self.max_degree {
            if !w.down {
                let parents = g.parents_on(here, on);
                for p in [parents.mother, parents.father].into_iter().flatten() {
                    let link = Link {
                        step: Step::Up,
                        kind: LinkKind::Parent(p.basis),
                        role: Some(p.role),
                        act: p.act,
                        since: p.since,
                        ended: None,
                    };
                    self.go(
                        p.parent,
                        link,
                        Walk {
                            degree: w.degree + 1,
                            spouse_last: false,
                            ..w
                        },
                    );
                }
            }
            // `g` is the graph's reference, not `self`: no copy needed.
            for c in g.children_on(here, on) {
                // Through a spouse to the spouse's child who is one's own:
                // the direct link is the relation.
                if w.spouse_last && self.is_parent_of(self.before(), c.child) {
                    continue;
                }
                let link = Link {
                    step: Step::Down,
                    kind: LinkKind::Parent(c.basis),
                    role: Some(c.role),
                    act: c.act,
                    since: c.since,
                    ended: None,
                };
                self.go(
                    c.child,
                    link,
                    Walk {
                        degree: w.degree + 1,
                        down: true,
                        spouse_last: false,
                        ..w
                    },
                );
            }
        }
        if w.spouse_last || w.spouses >= MAX_SPOUSES {
            return;
        }
        for m in g.marriages(here).filter(|m| m.since <= on) {
            let ended = m.end.filter(|e| e.date() <= on).map(|e| match e {
                MarriageEnd::Divorce { act, date } => Ended::Divorce { act, date },
                MarriageEnd::Death { of, date } => Ended::Death { of, date },
            });
            let divorced = matches!(ended, Some(Ended::Divorce { .. }));
            // A divorce ends affinity: a former spouse is only the whole path.
            if divorced && !self.links.is_empty() {
                continue;
            }
            // Through a parent to that parent's spouse who is one's other
            // parent: the direct link is the relation.
            if self.links.last().is_some_and(|l| l.step == Step::Up)
                && self.is_parent_of(m.spouse, self.before())
            {
                continue;
            }
            let link = Link {
                step: Step::Spouse,
                kind: LinkKind::Marriage,
                role: None,
                act: m.act,
                since: m.since,
                ended,
            };
            self.go(
                m.spouse,
                link,
                Walk {
                    spouses: w.spouses + 1,
                    down: false,
                    spouse_last: true,
                    closed: divorced,
                    ..w
                },
            );
        }
    }

    /// The person before the current one.
    fn before(&self) -> PersonId {
        self.persons[self.persons.len() - 2]
    }

    fn is_parent_of(&self, parent: PersonId, child: PersonId) -> bool {
        let p = self.g.parents_on(child, self.on);
        [p.mother, p.father]
            .into_iter()
            .flatten()
            .any(|l| l.parent == parent)
    }

    fn go(&mut self, to: PersonId, link: Link, w: Walk) {
        if self.persons.contains(&to) {
            return;
        }
        self.persons.push(to);
        self.links.push(link);
        self.walk(w);
        self.persons.pop();
        self.links.pop();
    }
}

/// Paths into relations: those differing only in the common ancestor are
/// one (full) relation; each is named; shortest first.
fn group(g: &FamilyGraph, on: NaiveDate, paths: Vec<Path>) -> Vec<Relation> {
    // Each key made once (it allocates), not at every comparison.
    let mut keyed: Vec<_> = paths.into_iter().map(|p| (p.key(), p)).collect();
    keyed.sort_by(|x, y| x.0.cmp(&y.0));
    let mut out: Vec<Relation> = Vec::new();
    let mut last_key = None;
    for (key, p) in keyed {
        // Only paths through a common ancestor merge (two marriages of one
        // couple are two relations: husband, and former husband).
        if last_key.as_ref() == Some(&key)
            && p.apexes().next().is_some()
            && let Some(r) = out.last_mut()
        {
            r.paths.push(p);
            r.full = true;
            continue;
        }
        last_key = Some(key);
        out.push(Relation {
            alter: *p.persons.last().expect("a path has an end"),
            shape: p.shape(),
            degree: p.degree(),
            full: false,
            names: Names::default(),
            paths: vec![p],
        });
    }
    for r in &mut out {
        // The mother's path first, for a stable answer.
        r.paths
            .sort_by_key(|p| p.apexes().map(|i| p.links[i - 1].role).collect::<Vec<_>>());
        r.names = names::name(g, on, r);
    }
    out.sort_by(|x, y| {
        (x.paths[0].links.len(), x.degree, &x.shape, g.iin(x.alter)).cmp(&(
            y.paths[0].links.len(),
            y.degree,
            &y.shape,
            g.iin(y.alter),
        ))
    });
    out
}
