//! The questions asked of the graph: who someone is, their legal parents,
//! children and spouse on a date. The one place that decides "legal parent
//! / child / spouse of X on D".

use super::store::{Ix, LinkKind, NONE};
use super::{
    ActHandle, Basis, Canonical, ChildLink, FamilyGraph, MarriageEnd, MarriageLink, ParentLink,
    Parents, PersonId, Role,
};
use crate::iin::Iin;
use chrono::NaiveDate;
use petgraph::Direction;
use petgraph::graph::NodeIndex;

impl FamilyGraph {
    pub fn person(&self, iin: Iin) -> Option<PersonId> {
        self.index
            .get(iin)
            .filter(|&n| n < self.see_persons)
            .map(PersonId)
    }

    /// Both persons, looked up together: the two index probes and the two
    /// person records are loaded in parallel (a check's first cache misses).
    pub fn persons(&self, a: Iin, b: Iin) -> (Option<PersonId>, Option<PersonId>) {
        self.index.prefetch(a);
        self.index.prefetch(b);
        let (pa, pb) = (self.person(a), self.person(b));
        for p in [pa, pb].into_iter().flatten() {
            self.prefetch(p);
        }
        (pa, pb)
    }

    /// Starts loading `p`'s record (a hint for what comes next).
    pub fn prefetch(&self, p: PersonId) {
        super::index::prefetch(&self.g.raw_nodes()[p.0 as usize]);
    }

    /// Starts loading `p`'s first marriage record (a hint).
    #[inline]
    pub fn prefetch_marriages(&self, p: PersonId) {
        if let Some(m) = self.marriages.get(self.w(p).marriages as usize) {
            super::index::prefetch(m);
        }
    }

    /// Starts loading the records of `p`'s birth parents, when their birth
    /// record is all their links (a hint: a grandparent question reads them
    /// next).
    #[inline]
    pub fn prefetch_parents(&self, p: PersonId) {
        let b = self.w(p).birth;
        if !b.is_walk() {
            for x in [b.mother, b.father] {
                if let Some(n) = self.g.raw_nodes().get(x as usize) {
                    super::index::prefetch(n);
                }
            }
        }
    }

    /// The person added `i`-th, if there are that many (for scans that
    /// go through everyone a slice at a time).
    pub fn person_at(&self, i: u64) -> Option<PersonId> {
        ((i as usize) < self.person_count()).then_some(PersonId(i as Ix))
    }

    /// The person added `i`-th (for sampling in benchmarks).
    pub fn iin_at(&self, i: u64) -> Iin {
        self.iin(PersonId(i as Ix))
    }

    /// Everyone linked to `p` by a parent link or a marriage, any date.
    pub fn neighbours(&self, p: PersonId) -> impl Iterator<Item = PersonId> + '_ {
        self.edges(p, Direction::Incoming)
            .chain(self.edges(p, Direction::Outgoing))
            .map(|(o, _, _)| o)
            .chain(self.marriages(p).map(|m| m.spouse))
            .filter(move |&o| o != p)
    }

    pub fn iin(&self, p: PersonId) -> Iin {
        Iin::unpack(self.w(p).iin)
    }

    /// The role `p` would hold as a parent, by the sex in the IIN.
    pub fn parent_role(&self, p: PersonId) -> Role {
        if self.w(p).iin & (1 << 14) != 0 {
            Role::Mother
        } else {
            Role::Father
        }
    }

    pub fn birth_date(&self, p: PersonId) -> NaiveDate {
        self.w(p).birth_date()
    }

    /// Days since 1800-01-01 of `p`'s birth: orders like the birth date.
    pub fn birth_day(&self, p: PersonId) -> u32 {
        self.w(p).born()
    }

    pub fn death(&self, p: PersonId) -> Option<NaiveDate> {
        if let Some(pd) = &self.pending
            && let Some(&raw) = pd.deaths.get(&p)
        {
            return super::store::from_day_number(raw);
        }
        self.w(p).death()
    }

    /// The date of death as an answer on `d` shows it: only once it has
    /// happened.
    pub fn death_on(&self, p: PersonId, d: NaiveDate) -> Option<NaiveDate> {
        self.death(p).filter(|&x| x <= d)
    }

    pub fn act_id(&self, h: ActHandle) -> &str {
        self.acts.id(h)
    }

    pub fn act_date(&self, h: ActHandle) -> NaiveDate {
        self.acts.date(h)
    }

    /// Parent links of `p` in one direction: (the other person, kind, act).
    pub(super) fn edges(
        &self,
        p: PersonId,
        dir: Direction,
    ) -> impl Iterator<Item = (PersonId, LinkKind, ActHandle)> + '_ {
        use petgraph::visit::EdgeRef;
        self.g
            .edges_directed(p.node(), dir)
            .filter(|e| self.shows(e.weight().act()))
            .map(move |e| {
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
        let w = self.w(child);
        let born = w.birth_date();
        if d < born {
            return Parents::default();
        }
        match self.birth_only(w) {
            Some(Some(act)) => {
                let link = |parent: Ix, role| {
                    (parent != NONE).then_some(ParentLink {
                        parent: PersonId(parent),
                        role,
                        basis: Basis::Birth,
                        act,
                        since: born,
                    })
                };
                Parents {
                    mother: link(w.birth.mother, Role::Mother),
                    father: link(w.birth.father, Role::Father),
                }
            }
            Some(None) => Parents::default(),
            None => self.parents_walked(child, born, d),
        }
    }

    /// When `w`'s incoming links are at most one birth record's, that
    /// record as the querying side sees it (`Some(None)`: none shows);
    /// `None` when the links must be walked.
    #[inline]
    fn birth_only(&self, w: super::store::PersonW) -> Option<Option<ActHandle>> {
        if w.birth.is_walk() {
            return None;
        }
        let act = ActHandle(w.birth.act);
        Some((w.birth.act != NONE && self.shows(act)).then_some(act))
    }

    /// `parents_on` by walking the incoming links (`d` is not before the
    /// birth).
    pub(super) fn parents_walked(&self, child: PersonId, born: NaiveDate, d: NaiveDate) -> Parents {
        let mut out = Parents::default();
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

    /// The marriage records on `p`'s list: (arena slot, spouse, act).
    pub(super) fn marriage_slots(
        &self,
        p: PersonId,
    ) -> impl Iterator<Item = (Ix, PersonId, ActHandle)> + '_ {
        let mut cur = self.w(p).marriages;
        std::iter::from_fn(move || {
            loop {
                if cur == NONE {
                    return None;
                }
                let slot = cur;
                let rec = &self.marriages[slot as usize];
                let i = (rec.spouses[0] != p.0) as usize;
                cur = rec.next[i];
                if self.shows(rec.act) {
                    return Some((slot, PersonId(rec.spouses[1 - i]), rec.act));
                }
            }
        })
    }

    /// Every marriage of `p` ever recorded (not annulled).
    pub fn marriages(&self, p: PersonId) -> impl Iterator<Item = MarriageLink> + '_ {
        self.marriage_slots(p).map(move |(_, spouse, act)| {
            let divorce = self.divorce_raw(act).map(|d| MarriageEnd::Divorce {
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
        self.divorce_raw(marriage)
    }

    /// The birth record of `p` (not annulled), if one is recorded.
    pub fn birth_record(&self, p: PersonId) -> Option<ActHandle> {
        match self.birth_only(self.w(p)) {
            Some(act) => act,
            None => self.birth_record_walked(p),
        }
    }

    /// `birth_record` by walking the incoming links.
    fn birth_record_walked(&self, p: PersonId) -> Option<ActHandle> {
        self.edges(p, Direction::Incoming)
            .find(|(_, k, _)| k.is_birth_record())
            .map(|(_, _, a)| a)
    }

    /// Checks, for every person, that the inline copy of their links
    /// ([`super::store::BirthParents`]) is current and answers `parents_on` and
    /// `birth_record` on each of `dates` as walking the links does — in
    /// whatever view the caller has (a reader's, or a writer's mid-batch).
    /// For tests; the first disagreement found, as text.
    #[doc(hidden)]
    pub fn check_inline_parents(&self, dates: &[NaiveDate]) -> Result<(), String> {
        if !self.birth_is_current() {
            return Err("an inline copy is stale".into());
        }
        for p in (0..self.g.node_count() as Ix).map(PersonId) {
            if self.birth_record(p) != self.birth_record_walked(p) {
                return Err(format!("person {}: birth record differs", p.0));
            }
            let born = self.birth_date(p);
            for &d in dates.iter().filter(|&&d| d >= born) {
                let (fast, slow) = (self.parents_on(p, d), self.parents_walked(p, born, d));
                if fast != slow {
                    return Err(format!("person {} on {d}: {fast:?} vs {slow:?}", p.0));
                }
            }
        }
        Ok(())
    }

    /// A canonical, order-independent picture of the graph, for comparing
    /// two graphs built different ways.
    pub fn canonical(&self) -> Canonical {
        use petgraph::visit::EdgeRef;
        // Every comparison of two graphs also checks the inline copy of
        // the links on each side.
        assert!(
            self.birth_is_current(),
            "a person's inline birth parents disagree with their links"
        );
        let iin = |n: NodeIndex<Ix>| Iin::unpack(self.g[n].iin).get();
        let persons = self
            .g
            .node_weights()
            .map(|w| (Iin::unpack(w.iin).get(), w.death()))
            .collect();
        let act = |h: ActHandle| (self.acts.id(h).to_owned(), self.acts.date(h));
        let links = self
            .g
            .edge_references()
            .map(|e| {
                let (id, date) = act(e.weight().act());
                (
                    iin(e.source()),
                    iin(e.target()),
                    e.weight().kind(),
                    id,
                    date,
                )
            })
            .collect();
        let marriages = self
            .marriages
            .iter()
            .filter(|m| m.spouses[0] != NONE)
            .map(|m| {
                let (a, b) = (
                    iin(NodeIndex::new(m.spouses[0] as usize)),
                    iin(NodeIndex::new(m.spouses[1] as usize)),
                );
                let (id, date) = act(m.act);
                (a.min(b), a.max(b), id, date)
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
            marriages,
            divorces,
        }
    }
}
