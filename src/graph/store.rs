//! The graph's storage: the arrays a snapshot saves, and the primitive
//! mutations that `apply` builds records from (each one journaled so a
//! batch can be undone exactly). No rules live here, and no dates are
//! interpreted beyond packing them.
//!
//! * persons are petgraph nodes weighted by a 24-byte [`PersonW`]: the
//!   packed IIN, the date of death, the head of the person's marriage
//!   list, and the parents their birth record names ([`BirthParents`]) — a copy of
//!   their incoming links kept so that most checks read a person's parents
//!   from the person's own record instead of walking a linked list;
//! * legal-parent links are petgraph edges (parent → child) weighted by a
//!   4-byte [`Link`]: the link kind and a handle into the act table;
//! * marriages live in their own arena, each record on both spouses'
//!   lists, so finding a person's marriages never walks their children;
//! * an IIN → node index (`index.rs`), the act table (act ids and dates of the acts links rest on),
//!   and a small map from a marriage to the divorce that ended it.

use super::index::IinIndex;
use super::journal::Undo;
use super::{ActHandle, Journal, PersonId};
use crate::iin::Iin;
use chrono::NaiveDate;
use hashbrown::HashMap;
use petgraph::graph::{EdgeIndex, NodeIndex};
use petgraph::{Directed, Direction, Graph};

pub(super) type Ix = u32;
/// "No marriage" in the marriage lists.
pub(super) const NONE: Ix = Ix::MAX;

/// What a parent link means. `BirthRecord` is a self-loop kept only for a
/// birth record that names no parent, so the record is still known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum LinkKind {
    MotherBirth = 0,
    FatherBirth = 1,
    FatherPaternity = 2,
    MotherAdoption = 3,
    FatherAdoption = 4,
    BirthRecord = 5,
}

impl LinkKind {
    const ALL: [LinkKind; 6] = [
        LinkKind::MotherBirth,
        LinkKind::FatherBirth,
        LinkKind::FatherPaternity,
        LinkKind::MotherAdoption,
        LinkKind::FatherAdoption,
        LinkKind::BirthRecord,
    ];

    pub(super) fn is_birth_record(self) -> bool {
        matches!(
            self,
            LinkKind::MotherBirth | LinkKind::FatherBirth | LinkKind::BirthRecord
        )
    }
}

/// Edge weight: kind in the top 4 bits, act handle in the low 28.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Link(pub(super) u32);

const HANDLE_BITS: u32 = 28;
const HANDLE_MASK: u32 = (1 << HANDLE_BITS) - 1;

impl Link {
    pub(super) fn new(kind: LinkKind, act: ActHandle) -> Link {
        assert!(act.0 <= HANDLE_MASK, "act table full");
        Link(((kind as u32) << HANDLE_BITS) | act.0)
    }
    pub(super) fn kind(self) -> LinkKind {
        LinkKind::ALL[(self.0 >> HANDLE_BITS) as usize]
    }
    pub(super) fn act(self) -> ActHandle {
        ActHandle(self.0 & HANDLE_MASK)
    }
}

/// Node weight: the packed IIN (`Iin::pack`), the date of death as days
/// since 1800-01-01 plus one (0 = none recorded), the first marriage
/// of the person's list in the marriage arena, and [`BirthParents`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(super) struct PersonW {
    pub(super) iin: u32,
    pub(super) death: u32,
    pub(super) marriages: Ix,
    pub(super) birth: BirthParents,
}

/// A person's incoming parent links, inline, when they are the simple case
/// (most people): nothing but the links of one birth record. Then a check
/// knows the parents from the person's record — one cache miss — where
/// walking petgraph's list of incoming edges costs one more per link. For
/// anyone else (a paternity or adoption, two birth records) it says
/// [`BirthParents::WALK`] and queries walk the links. Derived from the links, never
/// saved: every change of a person's incoming links updates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(super) struct BirthParents {
    /// The birth record's act, `NONE` when the person has no incoming link.
    pub(super) act: u32,
    pub(super) mother: Ix,
    pub(super) father: Ix,
}

impl BirthParents {
    /// No incoming link at all.
    pub(super) const EMPTY: BirthParents = BirthParents {
        act: NONE,
        mother: NONE,
        father: NONE,
    };
    /// Links other than one birth record's: walk them.
    pub(super) const WALK: BirthParents = BirthParents {
        act: NONE,
        mother: 0,
        father: 0,
    };

    pub(super) fn is_walk(self) -> bool {
        self == BirthParents::WALK
    }

    /// With one more incoming link, from `from`. Order-independent: the
    /// result is `WALK` exactly when the links are not one birth record's.
    pub(super) fn with(self, from: Ix, link: Link) -> BirthParents {
        let act = link.act().0;
        if self.is_walk() || (self.act != NONE && self.act != act) {
            return BirthParents::WALK;
        }
        let mut b = BirthParents { act, ..self };
        let slot = match link.kind() {
            LinkKind::MotherBirth => &mut b.mother,
            LinkKind::FatherBirth => &mut b.father,
            // A birth record naming no parent adds only this self-loop.
            LinkKind::BirthRecord if self.act == NONE => return b,
            _ => return BirthParents::WALK,
        };
        if *slot != NONE {
            return BirthParents::WALK;
        }
        *slot = from;
        b
    }
}

/// How much an array full to capacity grows by: a sixteenth (at least a
/// little), not the doubling a `Vec` would do — at whole-country size that
/// would be a gigabyte at once for one more record.
fn step(len: usize) -> usize {
    (len / 16).max(1024)
}

pub(super) fn day_number(d: NaiveDate) -> u32 {
    (d - crate::iin::packed_epoch()).num_days() as u32 + 1
}

pub(super) fn from_day_number(n: u32) -> Option<NaiveDate> {
    (n != 0).then(|| crate::iin::date_from_day(n - 1))
}

impl PersonW {
    fn new(iin: Iin) -> PersonW {
        PersonW {
            iin: iin.pack(),
            death: 0,
            marriages: NONE,
            birth: BirthParents::EMPTY,
        }
    }
    pub(super) fn death(self) -> Option<NaiveDate> {
        from_day_number(self.death)
    }
    /// Days since 1800-01-01 of the birth (orders like the date).
    pub(super) fn born(self) -> u32 {
        self.iin >> 15
    }
    pub(super) fn birth_date(self) -> NaiveDate {
        crate::iin::date_from_day(self.born())
    }
}

/// One marriage, threaded on both spouses' lists (`next[i]` continues the
/// list of `spouses[i]`). A record taken back by an annulment keeps its
/// slot with no spouses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(super) struct MarriageRec {
    pub(super) spouses: [Ix; 2],
    pub(super) next: [Ix; 2],
    pub(super) act: ActHandle,
}

/// Act ids and dates of the acts links rest on, in one arena.
#[derive(Default, Clone)]
pub(super) struct ActTable {
    pub(super) bytes: Vec<u8>,
    pub(super) ends: Vec<u32>,
    pub(super) dates: Vec<NaiveDate>,
}

impl ActTable {
    fn push(&mut self, id: &str, date: NaiveDate) -> ActHandle {
        let h = ActHandle(self.dates.len() as u32);
        if self.dates.len() == self.dates.capacity() {
            let n = step(self.dates.len());
            self.dates.reserve_exact(n);
            self.ends.reserve_exact(n);
            super::pages::advise_vec(&self.dates);
        }
        if self.bytes.capacity() - self.bytes.len() < id.len() {
            self.bytes.reserve_exact(step(self.bytes.len()));
        }
        self.bytes.extend_from_slice(id.as_bytes());
        self.ends
            .push(u32::try_from(self.bytes.len()).expect("act id arena over 4 GiB"));
        self.dates.push(date);
        h
    }
    pub(super) fn pop(&mut self) {
        self.ends.pop();
        self.dates.pop();
        self.bytes
            .truncate(self.ends.last().copied().unwrap_or(0) as usize);
    }
    pub(super) fn id(&self, h: ActHandle) -> &str {
        let i = h.0 as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        std::str::from_utf8(&self.bytes[start..self.ends[i] as usize]).expect("act ids are ASCII")
    }
    pub(super) fn date(&self, h: ActHandle) -> NaiveDate {
        self.dates[h.0 as usize]
    }
    pub(super) fn len(&self) -> usize {
        self.dates.len()
    }
}

/// Marriage act → the divorce that ended it, with one bit per act handle
/// saying whether the map holds it: most marriages have no divorce, and
/// the bits (4 MiB at whole-country size, so they stay in the cache) answer
/// that without the map's cache miss on every marriage a check reads.
#[derive(Clone)]
pub(super) struct Divorces {
    map: HashMap<ActHandle, ActHandle, foldhash::fast::FixedState>,
    marked: Vec<u64>,
}

impl Default for Divorces {
    fn default() -> Self {
        Divorces {
            map: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(7)),
            marked: Vec::new(),
        }
    }
}

impl Divorces {
    pub(super) fn insert(&mut self, m: ActHandle, d: ActHandle) -> Option<ActHandle> {
        let (w, bit) = (m.0 as usize / 64, 1u64 << (m.0 % 64));
        if self.marked.len() <= w {
            self.marked.resize(w + 1 + w / 16, 0);
        }
        self.marked[w] |= bit;
        self.map.insert(m, d)
    }

    pub(super) fn remove(&mut self, m: &ActHandle) -> Option<ActHandle> {
        if let Some(x) = self.marked.get_mut(m.0 as usize / 64) {
            *x &= !(1u64 << (m.0 % 64));
        }
        self.map.remove(m)
    }

    #[inline]
    pub(super) fn get(&self, m: &ActHandle) -> Option<&ActHandle> {
        let set = self
            .marked
            .get(m.0 as usize / 64)
            .is_some_and(|x| x & (1u64 << (m.0 % 64)) != 0);
        if set { self.map.get(m) } else { None }
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn reserve(&mut self, n: usize) {
        self.map.reserve(n);
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&ActHandle, &ActHandle)> + '_ {
        self.map.iter()
    }

    pub(super) fn capacity_bytes(&self) -> usize {
        self.map.capacity() * 9 + self.marked.capacity() * 8
    }
}

/// What a writer's records change that readers must not see before the
/// ledger has committed them: deaths set or taken back, links and
/// marriages annulled, divorces recorded or taken back. (What records add
/// — persons, acts, links, marriages — is added at once and hidden by the
/// watermarks instead.)
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Person → raw death day (0 = none).
    pub(super) deaths: HashMap<PersonId, u32, foldhash::fast::FixedState>,
    pub(super) removed: Vec<Removal>,
    /// The acts of `removed`, for the writer's queries.
    pub(super) removed_acts: hashbrown::HashSet<ActHandle, foldhash::fast::FixedState>,
    /// Marriage act → its divorce (or none).
    pub(super) divorces: HashMap<ActHandle, Option<ActHandle>, foldhash::fast::FixedState>,
}

/// A link or marriage an annulment takes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Removal {
    Links(PersonId, ActHandle),
    Marriage(Ix),
}

/// A write in progress beside readers: what it changes (`Pending`) and
/// the watermarks readers see until it is published.
#[derive(Debug, Default)]
pub struct Batch {
    pub(super) pending: Pending,
    /// (acts, persons) before the batch: readers see those below.
    pub(super) boundary: Option<(u32, u32)>,
}

/// The family graph. Cheap to query from many threads behind a read lock.
pub struct FamilyGraph {
    pub(super) g: Graph<PersonW, Link, Directed, Ix>,
    pub(super) marriages: Vec<MarriageRec>,
    /// Marriage records taken back (slots without spouses).
    pub(super) dead_marriages: usize,
    pub(super) index: IinIndex,
    pub(super) acts: ActTable,
    /// marriage act → the divorce act that ended it
    pub(super) divorces: Divorces,
    /// Queries see acts with a handle below this and persons below
    /// `see_persons`: everything, except between the steps of a deferred
    /// write, when readers must not see what it added.
    pub(super) see_acts: u32,
    pub(super) see_persons: u32,
    /// Set while a deferred write is judging records: the writer's own
    /// changes, which its queries take into account.
    pub(super) pending: Option<Box<Pending>>,
}

impl Default for FamilyGraph {
    fn default() -> Self {
        Self::with_capacity(0, 0, 0)
    }
}

impl FamilyGraph {
    /// An empty graph with room for this many persons, links (parent links
    /// and marriages together) and acts, so a full load does not pay for
    /// (or double its memory in) regrowth.
    pub fn with_capacity(persons: usize, links: usize, acts: usize) -> Self {
        let mut at = ActTable::default();
        at.bytes.reserve(acts * 12);
        at.ends.reserve(acts);
        at.dates.reserve(acts);
        let g = FamilyGraph {
            g: Graph::with_capacity(persons, links),
            marriages: Vec::with_capacity(links / 5),
            dead_marriages: 0,
            index: IinIndex::with_capacity(persons),
            acts: at,
            divorces: Divorces::default(),
            see_acts: u32::MAX,
            see_persons: u32::MAX,
            pending: None,
        };
        g.advise_pages();
        g
    }

    /// Asks for huge pages under the arrays a check reads (persons, parent
    /// links, marriages, act dates; the index does it itself), after each allocation
    /// and before the new room is touched: see `pages.rs`.
    pub(super) fn advise_pages(&self) {
        let (nodes, edges) = self.g.capacity();
        super::pages::advise(self.g.raw_nodes().as_ptr(), nodes);
        super::pages::advise(self.g.raw_edges().as_ptr(), edges);
        super::pages::advise_vec(&self.marriages);
        // A marriage's start is its act's date, read with every marriage.
        super::pages::advise_vec(&self.acts.dates);
    }

    /// Makes room for this many more persons, links and acts at once (a
    /// bulk import knows roughly how many are coming): growing a sixteenth
    /// at a time would copy every array over and over.
    pub fn reserve(&mut self, persons: usize, links: usize, acts: usize) {
        self.g.reserve_exact_nodes(persons);
        self.g.reserve_exact_edges(links);
        self.marriages.reserve_exact(links / 5);
        self.index.reserve(persons);
        self.acts.bytes.reserve_exact(acts * 12);
        self.acts.ends.reserve_exact(acts);
        self.acts.dates.reserve_exact(acts);
        self.advise_pages();
    }

    /// Runs `f` as the writer of `batch`, beside readers: `f` sees the
    /// graph as its records leave it, while what readers see (between the
    /// calls of one batch, until [`FamilyGraph::publish`]) stays what was
    /// committed before the batch. Call it with the write lock held.
    pub fn deferred<R>(&mut self, batch: &mut Batch, f: impl FnOnce(&mut Self) -> R) -> R {
        /// Hands the pending changes back and hides the batch again, even
        /// if `f` panics: readers must never see the writer's view.
        struct Restore<'a> {
            g: &'a mut FamilyGraph,
            batch: &'a mut Batch,
        }
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                let (acts, persons) = self.batch.boundary.expect("set on entry");
                self.batch.pending = *self.g.pending.take().expect("set on entry");
                self.g.see_acts = acts;
                self.g.see_persons = persons;
            }
        }
        let here = (self.acts.len() as u32, self.g.node_count() as u32);
        batch.boundary.get_or_insert(here);
        self.pending = Some(Box::new(std::mem::take(&mut batch.pending)));
        self.see_acts = u32::MAX;
        self.see_persons = u32::MAX;
        let r = Restore { g: self, batch };
        f(r.g)
    }

    /// Makes a deferred batch visible: its pending changes are carried out
    /// and everything it added shows. Call it once the ledger committed.
    pub fn publish(&mut self, batch: Batch, journal: &mut Journal) {
        let p = batch.pending;
        let mut done = Journal::default();
        for r in p.removed {
            match r {
                Removal::Links(person, act) => self.remove_links_of_act(person, act, &mut done),
                Removal::Marriage(slot) => self.remove_marriage(slot, &mut done),
            }
        }
        for (person, raw) in p.deaths {
            self.g[person.node()].death = raw;
        }
        for (m, d) in p.divorces {
            match d {
                Some(d) => self.divorces.insert(m, d),
                None => self.divorces.remove(&m),
            };
        }
        self.see_acts = u32::MAX;
        self.see_persons = u32::MAX;
        journal.commit();
    }

    /// Takes a deferred batch back entirely (its ledger write failed).
    pub fn discard(&mut self, batch: Batch, journal: &mut Journal) {
        drop(batch);
        self.rollback(journal);
        self.see_acts = u32::MAX;
        self.see_persons = u32::MAX;
    }

    pub fn person_count(&self) -> usize {
        self.g.node_count()
    }

    /// Parent links and marriages.
    pub fn link_count(&self) -> usize {
        self.g.edge_count() + self.marriages.len() - self.dead_marriages
    }

    pub fn act_count(&self) -> usize {
        self.acts.len()
    }

    /// Approximate bytes held by the graph's own arrays (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.memory().iter().map(|(_, b)| b).sum()
    }

    /// Bytes held by each part of the graph (capacity, not length).
    pub fn memory(&self) -> [(&'static str, usize); 6] {
        use std::mem::size_of;
        let (nodes, edges) = self.g.capacity();
        [
            (
                "persons",
                nodes * size_of::<petgraph::graph::Node<PersonW, Ix>>(),
            ),
            (
                "parent links",
                edges * size_of::<petgraph::graph::Edge<Link, Ix>>(),
            ),
            (
                "marriages",
                self.marriages.capacity() * size_of::<MarriageRec>(),
            ),
            ("IIN index", self.index.capacity_bytes()),
            (
                "act ids and dates",
                self.acts.bytes.capacity()
                    + self.acts.ends.capacity() * 4
                    + self.acts.dates.capacity() * size_of::<NaiveDate>(),
            ),
            ("divorces", self.divorces.capacity_bytes()),
        ]
    }

    pub(super) fn w(&self, p: PersonId) -> PersonW {
        self.g[p.node()]
    }

    pub(super) fn ensure_person(&mut self, iin: Iin, j: &mut Journal) -> PersonId {
        if let Some(p) = self.person(iin) {
            return p;
        }
        let (len, cap) = (self.g.node_count(), self.g.capacity().0);
        if len == cap {
            self.g.reserve_exact_nodes(step(len));
            self.advise_pages();
        }
        let n = self.g.add_node(PersonW::new(iin));
        self.index.insert(iin, n.index() as Ix);
        j.push(Undo::PersonAdded);
        PersonId(n.index() as Ix)
    }

    /// Removes the last person added (undo of `ensure_person`).
    pub(super) fn pop_person(&mut self) {
        let last = NodeIndex::new(self.g.node_count() - 1);
        self.index.remove(Iin::unpack(self.g[last].iin));
        self.g.remove_node(last);
    }

    pub(super) fn add_link(
        &mut self,
        from: PersonId,
        to: PersonId,
        kind: LinkKind,
        act: ActHandle,
        j: &mut Journal,
    ) {
        let link = Link::new(kind, act);
        let (len, cap) = (self.g.edge_count(), self.g.capacity().1);
        if len == cap {
            self.g.reserve_exact_edges(step(len));
            self.advise_pages();
        }
        self.add_edge(from, to, link);
        j.push(Undo::LinkAdded { from, to, link });
    }

    /// Adds a parent link, keeping the child's [`BirthParents`] current.
    pub(super) fn add_edge(&mut self, from: PersonId, to: PersonId, link: Link) {
        self.g.add_edge(from.node(), to.node(), link);
        let w = &mut self.g[to.node()];
        w.birth = w.birth.with(from.0, link);
    }

    /// Removes a parent link, keeping the child's [`BirthParents`] current.
    pub(super) fn remove_edge(&mut self, e: EdgeIndex<Ix>) {
        let (_, to) = self.g.edge_endpoints(e).expect("an edge of the graph");
        self.g.remove_edge(e);
        let born = self.birth_from_links(PersonId(to.index() as Ix));
        self.g[to].birth = born;
    }

    /// What [`BirthParents`] says of `p`'s incoming links as they are now.
    pub(super) fn birth_from_links(&self, p: PersonId) -> BirthParents {
        use petgraph::visit::EdgeRef;
        self.g
            .edges_directed(p.node(), Direction::Incoming)
            .fold(BirthParents::EMPTY, |b, e| {
                b.with(e.source().index() as Ix, *e.weight())
            })
    }

    /// Whether every person's [`BirthParents`] agrees with their links (for tests
    /// that compare graphs built different ways).
    pub(super) fn birth_is_current(&self) -> bool {
        (0..self.g.node_count() as Ix)
            .all(|p| self.g[NodeIndex::new(p as usize)].birth == self.birth_from_links(PersonId(p)))
    }

    pub(super) fn find_edge(
        &self,
        from: PersonId,
        to: PersonId,
        link: Link,
    ) -> Option<EdgeIndex<Ix>> {
        use petgraph::visit::EdgeRef;
        self.g
            .edges_directed(from.node(), Direction::Outgoing)
            .find(|e| e.target() == to.node() && *e.weight() == link)
            .map(|e| e.id())
    }

    /// Removes every parent link touching `p` that rests on `act`.
    pub(super) fn remove_links_of_act(&mut self, p: PersonId, act: ActHandle, j: &mut Journal) {
        use petgraph::visit::EdgeRef;
        if let Some(pd) = &mut self.pending {
            pd.removed.push(Removal::Links(p, act));
            pd.removed_acts.insert(act);
            j.push(Undo::PendingRemoved);
            return;
        }
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
            self.remove_edge(id);
            j.push(Undo::LinkRemoved { from, to, link });
        }
    }

    /// Adds a marriage of `a` and `b` at the head of both their lists.
    pub(super) fn add_marriage(
        &mut self,
        a: PersonId,
        b: PersonId,
        act: ActHandle,
        j: &mut Journal,
    ) {
        let slot = self.marriages.len() as Ix;
        assert!(slot != NONE, "marriage arena full");
        if self.marriages.len() == self.marriages.capacity() {
            self.marriages.reserve_exact(step(self.marriages.len()));
            self.advise_pages();
        }
        let next = [self.w(a).marriages, self.w(b).marriages];
        self.marriages.push(MarriageRec {
            spouses: [a.0, b.0],
            next,
            act,
        });
        self.g[a.node()].marriages = slot;
        self.g[b.node()].marriages = slot;
        j.push(Undo::MarriageAdded);
    }

    /// Takes the last marriage added off both lists (undo of `add_marriage`).
    /// Unlinked where it now is: a marriage restored since may stand before
    /// it.
    pub(super) fn pop_marriage(&mut self) {
        let slot = (self.marriages.len() - 1) as Ix;
        let m = self.marriages[slot as usize];
        for (i, s) in m.spouses.into_iter().enumerate() {
            self.unlink(s, slot, m.next[i]);
        }
        self.marriages.pop();
    }

    /// Unlinks marriage `slot` from both spouses' lists (an annulment).
    pub(super) fn remove_marriage(&mut self, slot: Ix, j: &mut Journal) {
        let m = self.marriages[slot as usize];
        if let Some(pd) = &mut self.pending {
            pd.removed.push(Removal::Marriage(slot));
            pd.removed_acts.insert(m.act);
            j.push(Undo::PendingRemoved);
            return;
        }
        for (i, s) in m.spouses.into_iter().enumerate() {
            self.unlink(s, slot, m.next[i]);
        }
        self.marriages[slot as usize].spouses = [NONE, NONE];
        self.dead_marriages += 1;
        j.push(Undo::MarriageRemoved { slot, rec: m });
    }

    /// Puts a removed marriage back at the head of both lists.
    pub(super) fn restore_marriage(&mut self, slot: Ix, rec: MarriageRec) {
        let mut rec = rec;
        for (i, s) in rec.spouses.into_iter().enumerate() {
            let head = &mut self.g[NodeIndex::new(s as usize)].marriages;
            rec.next[i] = *head;
            *head = slot;
        }
        self.marriages[slot as usize] = rec;
        self.dead_marriages -= 1;
    }

    /// Replaces `slot` by `next` in the marriage list of person `s`.
    fn unlink(&mut self, s: Ix, slot: Ix, next: Ix) {
        let head = self.g[NodeIndex::new(s as usize)].marriages;
        if head == slot {
            self.g[NodeIndex::new(s as usize)].marriages = next;
            return;
        }
        let mut cur = head;
        while cur != NONE {
            let rec = &mut self.marriages[cur as usize];
            let i = if rec.spouses[0] == s { 0 } else { 1 };
            if rec.next[i] == slot {
                rec.next[i] = next;
                return;
            }
            cur = rec.next[i];
        }
        unreachable!("marriage {slot} is on the list of person {s}");
    }

    pub(super) fn set_death(&mut self, p: PersonId, date: Option<NaiveDate>, j: &mut Journal) {
        let raw = date.map_or(0, day_number);
        if let Some(pd) = &mut self.pending {
            let prev = pd.deaths.insert(p, raw);
            j.push(Undo::PendingDeath { person: p, prev });
            return;
        }
        let w = &mut self.g[p.node()];
        j.push(Undo::Death {
            person: p,
            raw: w.death,
        });
        w.death = raw;
    }

    pub(super) fn push_act(&mut self, id: &str, date: NaiveDate, j: &mut Journal) -> ActHandle {
        j.push(Undo::ActPushed);
        self.acts.push(id, date)
    }

    pub(super) fn set_divorce(
        &mut self,
        marriage: ActHandle,
        divorce: Option<ActHandle>,
        j: &mut Journal,
    ) {
        if let Some(pd) = &mut self.pending {
            let prev = pd.divorces.insert(marriage, divorce);
            j.push(Undo::PendingDivorce { marriage, prev });
            return;
        }
        let old = match divorce {
            Some(d) => self.divorces.insert(marriage, d),
            None => self.divorces.remove(&marriage),
        };
        j.push(Undo::Divorce { marriage, old });
    }

    /// The divorce of `marriage` as the querying side sees it.
    pub(super) fn divorce_raw(&self, marriage: ActHandle) -> Option<ActHandle> {
        if let Some(pd) = &self.pending
            && let Some(&d) = pd.divorces.get(&marriage)
        {
            return d;
        }
        self.divorces.get(&marriage).copied()
    }

    /// Whether the querying side sees links resting on `act`.
    #[inline]
    pub(super) fn shows(&self, act: ActHandle) -> bool {
        act.0 < self.see_acts
            && self
                .pending
                .as_ref()
                .is_none_or(|pd| !pd.removed_acts.contains(&act))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_stay_compact() {
        assert_eq!(std::mem::size_of::<PersonW>(), 24);
        assert_eq!(std::mem::size_of::<Link>(), 4);
        assert_eq!(std::mem::size_of::<MarriageRec>(), 20);
        // petgraph adds two u32 "next" indices per node and four u32 per edge.
        assert_eq!(
            std::mem::size_of::<petgraph::graph::Node<PersonW, Ix>>(),
            32
        );
        assert_eq!(std::mem::size_of::<petgraph::graph::Edge<Link, Ix>>(), 20);
    }

    proptest::proptest! {
        /// The bits never hide a divorce the map holds, whatever the order
        /// of inserts and removals.
        #[test]
        fn divorces_behave_like_a_map(ops in proptest::collection::vec((proptest::bool::ANY, 0u32..5000, 0u32..9), 1..500)) {
            let mut d = Divorces::default();
            let mut model = std::collections::HashMap::new();
            for (insert, m, x) in ops {
                let m = ActHandle(m);
                if insert {
                    proptest::prop_assert_eq!(d.insert(m, ActHandle(x)), model.insert(m, ActHandle(x)));
                } else {
                    proptest::prop_assert_eq!(d.remove(&m), model.remove(&m));
                }
                proptest::prop_assert_eq!(d.get(&m), model.get(&m));
            }
            for k in (0..5000).map(ActHandle) {
                proptest::prop_assert_eq!(d.get(&k), model.get(&k));
            }
            proptest::prop_assert_eq!(d.len(), model.len());
        }
    }

    #[test]
    fn death_days_round_trip() {
        let d = NaiveDate::from_ymd_opt(2019, 1, 15).unwrap();
        assert_eq!(from_day_number(day_number(d)), Some(d));
        assert_eq!(from_day_number(0), None);
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
