//! The temporal family graph: who was whose legal parent and spouse, when.
//!
//! Sized for the whole country (25M persons, ~45M links) in about 2 GiB:
//! * one petgraph node per person, weighted by a packed `u64` (IIN + date of
//!   death), `u32` indices throughout;
//! * one edge per legal-parent link (parent → child) or marriage (spouse →
//!   spouse), weighted by a single `u32`: the link kind in the top bits and a
//!   handle into [`ActTable`] (act id + date) below;
//! * an IIN → node index that stores only node ids (the IIN lives in the
//!   node), and a small map from a marriage to the divorce that ended it.
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
mod journal;

pub use apply::Target;
pub use journal::Journal;

use crate::iin::Iin;
use chrono::NaiveDate;
use hashbrown::{HashMap, HashTable};
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::{Directed, Direction, Graph};
use std::hash::BuildHasher;

type Ix = u32;

/// A person in the graph (dense, stable for the life of the graph).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(Ix);

impl PersonId {
    fn node(self) -> NodeIndex<Ix> {
        NodeIndex::new(self.0 as usize)
    }
}

/// A recorded act that has an effect on links (birth, paternity, adoption,
/// marriage, divorce), as an index into the [`ActTable`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActHandle(u32);

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

/// What an edge means. `BirthRecord` is a self-loop kept only for a birth
/// record that names no parent, so the record is still known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum LinkKind {
    MotherBirth = 0,
    FatherBirth = 1,
    FatherPaternity = 2,
    MotherAdoption = 3,
    FatherAdoption = 4,
    Marriage = 5,
    BirthRecord = 6,
}

impl LinkKind {
    const ALL: [LinkKind; 7] = [
        LinkKind::MotherBirth,
        LinkKind::FatherBirth,
        LinkKind::FatherPaternity,
        LinkKind::MotherAdoption,
        LinkKind::FatherAdoption,
        LinkKind::Marriage,
        LinkKind::BirthRecord,
    ];

    pub fn parent(role: Role, basis: Basis) -> LinkKind {
        match (role, basis) {
            (Role::Mother, Basis::Birth) => LinkKind::MotherBirth,
            (Role::Father, Basis::Birth) => LinkKind::FatherBirth,
            (_, Basis::Paternity) => LinkKind::FatherPaternity,
            (Role::Mother, Basis::Adoption) => LinkKind::MotherAdoption,
            (Role::Father, Basis::Adoption) => LinkKind::FatherAdoption,
        }
    }

    /// Role and basis of a legal-parent link; `None` for the others.
    pub fn parent_link(self) -> Option<(Role, Basis)> {
        match self {
            LinkKind::MotherBirth => Some((Role::Mother, Basis::Birth)),
            LinkKind::FatherBirth => Some((Role::Father, Basis::Birth)),
            LinkKind::FatherPaternity => Some((Role::Father, Basis::Paternity)),
            LinkKind::MotherAdoption => Some((Role::Mother, Basis::Adoption)),
            LinkKind::FatherAdoption => Some((Role::Father, Basis::Adoption)),
            LinkKind::Marriage | LinkKind::BirthRecord => None,
        }
    }

    fn is_birth_record(self) -> bool {
        matches!(
            self,
            LinkKind::MotherBirth | LinkKind::FatherBirth | LinkKind::BirthRecord
        )
    }
}

/// Edge weight: kind in the top 4 bits, act handle in the low 28.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Link(u32);

const HANDLE_BITS: u32 = 28;
const HANDLE_MASK: u32 = (1 << HANDLE_BITS) - 1;

impl Link {
    fn new(kind: LinkKind, act: ActHandle) -> Link {
        assert!(act.0 <= HANDLE_MASK, "act table full");
        Link(((kind as u32) << HANDLE_BITS) | act.0)
    }
    fn kind(self) -> LinkKind {
        LinkKind::ALL[(self.0 >> HANDLE_BITS) as usize]
    }
    fn act(self) -> ActHandle {
        ActHandle(self.0 & HANDLE_MASK)
    }
}

/// Node weight: the IIN (< 2^40) in the low bits, the date of death as days
/// since 1800-01-01 plus one in the top 24 bits (0 = no death recorded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PersonW(u64);

const IIN_BITS: u32 = 40;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1800, 1, 1).expect("valid")
}

fn day_number(d: NaiveDate) -> u64 {
    (d - epoch()).num_days() as u64 + 1
}

impl PersonW {
    fn new(iin: Iin) -> PersonW {
        PersonW(iin.get())
    }
    fn iin(self) -> Iin {
        Iin::from_u64_unchecked(self.0 & ((1 << IIN_BITS) - 1))
    }
    fn death_raw(self) -> u64 {
        self.0 >> IIN_BITS
    }
    fn death(self) -> Option<NaiveDate> {
        match self.death_raw() {
            0 => None,
            n => Some(epoch() + chrono::Days::new(n - 1)),
        }
    }
    fn with_death_raw(self, raw: u64) -> PersonW {
        PersonW((self.0 & ((1 << IIN_BITS) - 1)) | (raw << IIN_BITS))
    }
}

/// Act ids and dates of the acts links rest on, in one arena.
#[derive(Default, Clone)]
struct ActTable {
    bytes: Vec<u8>,
    ends: Vec<u32>,
    dates: Vec<NaiveDate>,
}

impl ActTable {
    fn push(&mut self, id: &str, date: NaiveDate) -> ActHandle {
        let h = ActHandle(self.dates.len() as u32);
        self.bytes.extend_from_slice(id.as_bytes());
        self.ends
            .push(u32::try_from(self.bytes.len()).expect("act id arena over 4 GiB"));
        self.dates.push(date);
        h
    }
    fn pop(&mut self) {
        self.ends.pop();
        self.dates.pop();
        self.bytes
            .truncate(self.ends.last().copied().unwrap_or(0) as usize);
    }
    fn id(&self, h: ActHandle) -> &str {
        let i = h.0 as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        std::str::from_utf8(&self.bytes[start..self.ends[i] as usize]).expect("act ids are ASCII")
    }
    fn date(&self, h: ActHandle) -> NaiveDate {
        self.dates[h.0 as usize]
    }
    fn len(&self) -> usize {
        self.dates.len()
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

/// The family graph. Cheap to query from many threads behind a read lock.
pub struct FamilyGraph {
    g: Graph<PersonW, Link, Directed, Ix>,
    index: HashTable<Ix>,
    hasher: foldhash::fast::FixedState,
    acts: ActTable,
    /// marriage act → the divorce act that ended it
    divorces: HashMap<ActHandle, ActHandle, foldhash::fast::FixedState>,
}

impl Default for FamilyGraph {
    fn default() -> Self {
        Self::with_capacity(0, 0, 0)
    }
}

impl FamilyGraph {
    /// An empty graph with room for this many persons, links and acts, so a
    /// full load does not pay for (or double its memory in) regrowth.
    pub fn with_capacity(persons: usize, links: usize, acts: usize) -> Self {
        let mut at = ActTable::default();
        at.bytes.reserve(acts * 12);
        at.ends.reserve(acts);
        at.dates.reserve(acts);
        FamilyGraph {
            g: Graph::with_capacity(persons, links),
            index: HashTable::with_capacity(persons),
            hasher: foldhash::fast::FixedState::with_seed(0x006b_696e_7368_6970),
            acts: at,
            divorces: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(7)),
        }
    }

    pub fn person_count(&self) -> usize {
        self.g.node_count()
    }

    pub fn link_count(&self) -> usize {
        self.g.edge_count()
    }

    pub fn act_count(&self) -> usize {
        self.acts.len()
    }

    /// Approximate bytes held by the graph's own arrays (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let nodes = self.g.capacity().0 * (size_of::<PersonW>() + 2 * size_of::<Ix>());
        let edges = self.g.capacity().1 * (size_of::<Link>() + 4 * size_of::<Ix>());
        let index = self.index.capacity() * (size_of::<Ix>() + 1);
        let acts = self.acts.bytes.capacity()
            + self.acts.ends.capacity() * 4
            + self.acts.dates.capacity() * 4;
        let divorces = self.divorces.capacity() * 9;
        nodes + edges + index + acts + divorces
    }

    pub fn person(&self, iin: Iin) -> Option<PersonId> {
        let h = self.hasher.hash_one(iin.get());
        self.index
            .find(h, |&n| self.g[NodeIndex::new(n as usize)].iin() == iin)
            .map(|&n| PersonId(n))
    }

    /// The IIN of the `i`-th person added (for sampling in benchmarks).
    pub fn iin_at(&self, i: u64) -> Iin {
        self.g[NodeIndex::new(i as usize)].iin()
    }

    /// Everyone linked to `p` by a parent link or a marriage, any date.
    pub fn neighbours(&self, p: PersonId) -> impl Iterator<Item = PersonId> + '_ {
        self.edges(p, Direction::Incoming)
            .chain(self.edges(p, Direction::Outgoing))
            .map(|(o, _, _)| o)
            .filter(move |&o| o != p)
    }

    pub fn iin(&self, p: PersonId) -> Iin {
        self.g[p.node()].iin()
    }

    /// The role `p` would hold as a parent, by the sex in the IIN.
    pub fn parent_role(&self, p: PersonId) -> Role {
        match self.iin(p).sex() {
            crate::iin::Sex::Female => Role::Mother,
            crate::iin::Sex::Male => Role::Father,
        }
    }

    pub fn birth_date(&self, p: PersonId) -> NaiveDate {
        self.iin(p).birth_date()
    }

    pub fn death(&self, p: PersonId) -> Option<NaiveDate> {
        self.g[p.node()].death()
    }

    pub fn act_id(&self, h: ActHandle) -> &str {
        self.acts.id(h)
    }

    pub fn act_date(&self, h: ActHandle) -> NaiveDate {
        self.acts.date(h)
    }

    fn edges(
        &self,
        p: PersonId,
        dir: Direction,
    ) -> impl Iterator<Item = (PersonId, LinkKind, ActHandle)> + '_ {
        use petgraph::visit::EdgeRef;
        self.g.edges_directed(p.node(), dir).map(move |e| {
            let other = if dir == Direction::Incoming {
                e.source()
            } else {
                e.target()
            };
            (
                PersonId(other.index() as Ix),
                e.weight().kind(),
                e.weight().act(),
            )
        })
    }

    fn link_since(&self, child: PersonId, basis: Basis, act: ActHandle) -> NaiveDate {
        match basis {
            Basis::Adoption => self.acts.date(act),
            Basis::Birth | Basis::Paternity => self.birth_date(child),
        }
    }

    /// Every parent link of `child` ever recorded (not annulled), any date.
    pub fn parent_links(&self, child: PersonId) -> impl Iterator<Item = ParentLink> + '_ {
        self.edges(child, Direction::Incoming)
            .filter_map(move |(parent, kind, act)| {
                let (role, basis) = kind.parent_link()?;
                Some(ParentLink {
                    parent,
                    role,
                    basis,
                    act,
                    since: self.link_since(child, basis, act),
                })
            })
    }

    /// The legal mother and father of `child` on `d`: per role, of the links
    /// that have started by `d`, the one that started last; on the same day,
    /// adoption over paternity over birth record (two links of one basis
    /// starting on one day are refused when recorded).
    pub fn parents_on(&self, child: PersonId, d: NaiveDate) -> Parents {
        let mut out = Parents::default();
        let born = self.birth_date(child);
        if d < born {
            return out;
        }
        for (parent, kind, act) in self.edges(child, Direction::Incoming) {
            let Some((role, basis)) = kind.parent_link() else {
                continue;
            };
            let since = if basis == Basis::Adoption {
                self.acts.date(act)
            } else {
                born
            };
            if since > d {
                continue;
            }
            let slot = match role {
                Role::Mother => &mut out.mother,
                Role::Father => &mut out.father,
            };
            if slot.is_none_or(|s| (s.since, s.basis) < (since, basis)) {
                *slot = Some(ParentLink {
                    parent,
                    role,
                    basis,
                    act,
                    since,
                });
            }
        }
        out
    }

    /// The legal children of `parent` on `d`.
    pub fn children_on(
        &self,
        parent: PersonId,
        d: NaiveDate,
    ) -> impl Iterator<Item = ChildLink> + '_ {
        self.edges(parent, Direction::Outgoing)
            .filter_map(move |(child, kind, act)| {
                let (role, basis) = kind.parent_link()?;
                let current = self.parents_on(child, d).get(role)?;
                (current.act == act && current.parent == parent).then_some(ChildLink {
                    child,
                    role,
                    basis,
                    act,
                    since: current.since,
                })
            })
    }

    /// Every child `parent` has a parent link to (not annulled), any date.
    pub fn children_ever(&self, parent: PersonId) -> impl Iterator<Item = PersonId> + '_ {
        self.edges(parent, Direction::Outgoing)
            .filter(|(_, k, _)| k.parent_link().is_some())
            .map(|(c, _, _)| c)
    }

    /// Every marriage of `p` ever recorded (not annulled).
    pub fn marriages(&self, p: PersonId) -> impl Iterator<Item = MarriageLink> + '_ {
        let out = self.edges(p, Direction::Outgoing);
        let inc = self.edges(p, Direction::Incoming);
        out.chain(inc)
            .filter(|(_, kind, _)| *kind == LinkKind::Marriage)
            .map(move |(spouse, _, act)| {
                let divorce = self.divorces.get(&act).map(|&d| MarriageEnd::Divorce {
                    act: d,
                    date: self.acts.date(d),
                });
                // When both die on one day, the marriage counts as ended by
                // the spouse's death (`min_by_key` keeps the first minimum),
                // from either side: that is what the in-law rule needs.
                let deaths = [spouse, p]
                    .into_iter()
                    .filter_map(|x| self.death(x).map(|date| MarriageEnd::Death { of: x, date }));
                let end = divorce.into_iter().chain(deaths).min_by_key(|e| e.date());
                MarriageLink {
                    spouse,
                    act,
                    since: self.acts.date(act),
                    end,
                }
            })
    }

    /// The spouse of `p` on `d` (at most one marriage is in force at a
    /// time: records that would break this are refused).
    pub fn spouse_on(&self, p: PersonId, d: NaiveDate) -> Option<MarriageLink> {
        self.marriages(p).find(|m| m.active_on(d))
    }

    /// The divorce that ended `marriage`, if one is recorded.
    pub fn divorce_of(&self, marriage: ActHandle) -> Option<ActHandle> {
        self.divorces.get(&marriage).copied()
    }

    /// The date of death as an answer on `d` shows it: only once it has
    /// happened.
    pub fn death_on(&self, p: PersonId, d: NaiveDate) -> Option<NaiveDate> {
        self.death(p).filter(|&x| x <= d)
    }

    /// The birth record of `p` (not annulled), if one is recorded.
    pub fn birth_record(&self, p: PersonId) -> Option<ActHandle> {
        self.edges(p, Direction::Incoming)
            .find(|(_, k, _)| k.is_birth_record())
            .map(|(_, _, a)| a)
    }

    fn ensure_person(&mut self, iin: Iin, j: &mut Journal) -> PersonId {
        if let Some(p) = self.person(iin) {
            return p;
        }
        let n = self.g.add_node(PersonW::new(iin));
        let h = self.hasher.hash_one(iin.get());
        let (g, hasher) = (&self.g, &self.hasher);
        self.index.insert_unique(h, n.index() as Ix, |&m| {
            hasher.hash_one(g[NodeIndex::new(m as usize)].iin().get())
        });
        j.push(journal::Undo::PersonAdded);
        PersonId(n.index() as Ix)
    }

    fn add_link(
        &mut self,
        from: PersonId,
        to: PersonId,
        kind: LinkKind,
        act: ActHandle,
        j: &mut Journal,
    ) {
        let link = Link::new(kind, act);
        self.g.add_edge(from.node(), to.node(), link);
        j.push(journal::Undo::LinkAdded { from, to, link });
    }

    fn find_edge(&self, from: PersonId, to: PersonId, link: Link) -> Option<EdgeIndex<Ix>> {
        use petgraph::visit::EdgeRef;
        self.g
            .edges_directed(from.node(), Direction::Outgoing)
            .find(|e| e.target() == to.node() && *e.weight() == link)
            .map(|e| e.id())
    }

    /// Removes every link touching `p` that rests on `act`.
    fn remove_links_of_act(&mut self, p: PersonId, act: ActHandle, j: &mut Journal) {
        use petgraph::visit::EdgeRef;
        loop {
            let found = [Direction::Incoming, Direction::Outgoing]
                .into_iter()
                .find_map(|dir| {
                    self.g
                        .edges_directed(p.node(), dir)
                        .find(|e| e.weight().act() == act)
                        .map(|e| {
                            (
                                PersonId(e.source().index() as Ix),
                                PersonId(e.target().index() as Ix),
                                *e.weight(),
                                e.id(),
                            )
                        })
                });
            let Some((from, to, link, id)) = found else {
                break;
            };
            self.g.remove_edge(id);
            j.push(journal::Undo::LinkRemoved { from, to, link });
        }
    }

    fn set_death(&mut self, p: PersonId, date: Option<NaiveDate>, j: &mut Journal) {
        let w = &mut self.g[p.node()];
        j.push(journal::Undo::Death {
            person: p,
            raw: w.death_raw(),
        });
        *w = w.with_death_raw(date.map_or(0, day_number));
    }

    fn push_act(&mut self, id: &str, date: NaiveDate, j: &mut Journal) -> ActHandle {
        j.push(journal::Undo::ActPushed);
        self.acts.push(id, date)
    }

    fn set_divorce(&mut self, marriage: ActHandle, divorce: Option<ActHandle>, j: &mut Journal) {
        let old = match divorce {
            Some(d) => self.divorces.insert(marriage, d),
            None => self.divorces.remove(&marriage),
        };
        j.push(journal::Undo::Divorce { marriage, old });
    }

    /// A canonical, order-independent picture of the graph, for comparing
    /// two graphs built different ways.
    pub fn canonical(&self) -> Canonical {
        use petgraph::visit::EdgeRef;
        let persons = self
            .g
            .node_weights()
            .map(|w| (w.iin().get(), w.death()))
            .collect();
        let links = self
            .g
            .edge_references()
            .map(|e| {
                let (a, b) = (
                    self.g[e.source()].iin().get(),
                    self.g[e.target()].iin().get(),
                );
                let act = e.weight().act();
                (
                    a,
                    b,
                    e.weight().kind(),
                    self.acts.id(act).to_owned(),
                    self.acts.date(act),
                )
            })
            .collect();
        let divorces = self
            .divorces
            .iter()
            .map(|(m, d)| (self.acts.id(*m).to_owned(), self.acts.id(*d).to_owned()))
            .collect();
        Canonical {
            persons,
            links,
            divorces,
        }
    }
}

/// See [`FamilyGraph::canonical`].
#[derive(Debug, PartialEq, Eq)]
pub struct Canonical {
    pub persons: std::collections::BTreeMap<u64, Option<NaiveDate>>,
    pub links: std::collections::BTreeSet<(u64, u64, LinkKind, String, NaiveDate)>,
    pub divorces: std::collections::BTreeSet<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_stay_compact() {
        assert_eq!(std::mem::size_of::<PersonW>(), 8);
        assert_eq!(std::mem::size_of::<Link>(), 4);
        // petgraph adds two u32 "next" indices per node and four u32 per edge.
        assert_eq!(
            std::mem::size_of::<petgraph::graph::Node<PersonW, Ix>>(),
            16
        );
        assert_eq!(std::mem::size_of::<petgraph::graph::Edge<Link, Ix>>(), 20);
    }

    #[test]
    fn packed_death_round_trips() {
        let iin = Iin::parse("720415300125").unwrap();
        let w = PersonW::new(iin);
        assert_eq!(w.death(), None);
        let d = NaiveDate::from_ymd_opt(2019, 1, 15).unwrap();
        let w = w.with_death_raw(day_number(d));
        assert_eq!((w.iin(), w.death()), (iin, Some(d)));
        assert_eq!(w.with_death_raw(0).death(), None);
    }

    #[test]
    fn act_table_pops_exactly() {
        let mut t = ActTable::default();
        let d = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        let a = t.push("B-1", d);
        let b = t.push("M-22", d);
        assert_eq!((t.id(a), t.id(b)), ("B-1", "M-22"));
        t.pop();
        let c = t.push("X", d);
        assert_eq!((c, t.id(c), t.bytes.len()), (b, "X", 4));
    }
}
