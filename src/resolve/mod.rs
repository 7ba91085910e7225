//! Kinship checks: "is the applicant the owner's <claim> on <date>?",
//! answered from the graph with the act records that prove it, or with the
//! most specific reason why not.
//!
//! [`check`] makes the decision without allocating (evidence is inline); the
//! sentence for people is rendered separately by [`Verdict::detail`], so the
//! decision itself stays in the sub-microsecond range.

mod detail;
pub mod relations;

pub use detail::Detail;

use crate::graph::{
    ActHandle, Basis, FamilyGraph, MarriageEnd, MarriageLink, ParentLink, PersonId, Role,
};
use chrono::NaiveDate;
use smallvec::SmallVec;

/// The side through which a half-sibling, grandparent or grandchild claim goes.
pub type Side = Role;

/// What the applicant claims to be to the owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Claim {
    Child,
    Parent,
    Spouse,
    Sibling,
    HalfSibling(Side),
    Grandparent(Side),
    Grandchild(Side),
    InLaw,
}

impl Claim {
    /// Every claim of the table, each `via` spelt out (for `also`).
    pub const ALL: [Claim; 11] = [
        Claim::Child,
        Claim::Parent,
        Claim::Spouse,
        Claim::Sibling,
        Claim::HalfSibling(Role::Mother),
        Claim::HalfSibling(Role::Father),
        Claim::Grandparent(Role::Mother),
        Claim::Grandparent(Role::Father),
        Claim::Grandchild(Role::Mother),
        Claim::Grandchild(Role::Father),
        Claim::InLaw,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Claim::Child => "child",
            Claim::Parent => "parent",
            Claim::Spouse => "spouse",
            Claim::Sibling => "sibling",
            Claim::HalfSibling(_) => "half_sibling",
            Claim::Grandparent(_) => "grandparent",
            Claim::Grandchild(_) => "grandchild",
            Claim::InLaw => "in_law",
        }
    }

    /// A relation by blood or adoption (the table's claims other than
    /// spouse and in-law).
    pub fn is_kin(self) -> bool {
        !matches!(self, Claim::Spouse | Claim::InLaw)
    }

    pub fn via(self) -> Option<Side> {
        match self {
            Claim::HalfSibling(s) | Claim::Grandparent(s) | Claim::Grandchild(s) => Some(s),
            _ => None,
        }
    }

    /// Builds a claim from its name and `via`; `Err` names what is wrong.
    pub fn parse(name: &str, via: Option<&str>) -> Result<Claim, ClaimError> {
        let side = match via {
            None => None,
            Some("mother") => Some(Role::Mother),
            Some("father") => Some(Role::Father),
            Some(_) => return Err(ClaimError::BadVia),
        };
        let needs_via = matches!(name, "half_sibling" | "grandparent" | "grandchild");
        let claim = match (name, side) {
            ("child", None) => Claim::Child,
            ("parent", None) => Claim::Parent,
            ("spouse", None) => Claim::Spouse,
            ("sibling", None) => Claim::Sibling,
            ("in_law", None) => Claim::InLaw,
            ("half_sibling", Some(s)) => Claim::HalfSibling(s),
            ("grandparent", Some(s)) => Claim::Grandparent(s),
            ("grandchild", Some(s)) => Claim::Grandchild(s),
            (_, None) if needs_via => return Err(ClaimError::ViaRequired),
            ("child" | "parent" | "spouse" | "sibling" | "in_law", Some(_)) => {
                return Err(ClaimError::ViaMeaningless);
            }
            _ => return Err(ClaimError::UnknownClaim),
        };
        Ok(claim)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "field claim: must be one of child, parent, spouse, sibling, half_sibling, grandparent, grandchild, in_law"
    )]
    UnknownClaim,
    #[error("field via: must be \"mother\" or \"father\"")]
    BadVia,
    #[error("field via: is required for this claim (\"mother\" or \"father\")")]
    ViaRequired,
    #[error("field via: has no meaning for this claim; leave it out")]
    ViaMeaningless,
}

/// Which relation by marriage holds: "owner's <first>'s <second> is the applicant".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InLaw {
    SpouseParent,
    SpouseChild,
    SpouseSibling,
    SpouseGrandparent,
    SpouseGrandchild,
    ParentSpouse,
    ChildSpouse,
    SiblingSpouse,
    GrandparentSpouse,
    GrandchildSpouse,
}

impl InLaw {
    pub fn name(self) -> &'static str {
        match self {
            InLaw::SpouseParent => "spouse_parent",
            InLaw::SpouseChild => "spouse_child",
            InLaw::SpouseSibling => "spouse_sibling",
            InLaw::SpouseGrandparent => "spouse_grandparent",
            InLaw::SpouseGrandchild => "spouse_grandchild",
            InLaw::ParentSpouse => "parent_spouse",
            InLaw::ChildSpouse => "child_spouse",
            InLaw::SiblingSpouse => "sibling_spouse",
            InLaw::GrandparentSpouse => "grandparent_spouse",
            InLaw::GrandchildSpouse => "grandchild_spouse",
        }
    }
}

/// Why a claim was not confirmed (stable codes of `checks-api.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    OwnerUnknown,
    ApplicantUnknown,
    SamePerson,
    ParentNotRecorded,
    NoCommonParent,
    NotMarried,
    MarriageEnded,
    NoRelation,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Reason::OwnerUnknown,
        Reason::ApplicantUnknown,
        Reason::SamePerson,
        Reason::ParentNotRecorded,
        Reason::NoCommonParent,
        Reason::NotMarried,
        Reason::MarriageEnded,
        Reason::NoRelation,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::OwnerUnknown => "owner_unknown",
            Reason::ApplicantUnknown => "applicant_unknown",
            Reason::SamePerson => "same_person",
            Reason::ParentNotRecorded => "parent_not_recorded",
            Reason::NoCommonParent => "no_common_parent",
            Reason::NotMarried => "not_married",
            Reason::MarriageEnded => "marriage_ended",
            Reason::NoRelation => "no_relation",
        }
    }
}

/// Act records behind an answer, in the order they were used, no repeats.
pub type Evidence = SmallVec<[ActHandle; 6]>;

/// The answer to one claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub confirmed: bool,
    /// For a confirmed in-law claim, which one.
    pub in_law: Option<InLaw>,
    pub evidence: Evidence,
    pub reason: Option<Reason>,
    pub detail: Detail,
}

impl Verdict {
    fn yes(evidence: Evidence, detail: Detail) -> Verdict {
        Verdict {
            confirmed: true,
            in_law: None,
            evidence,
            reason: None,
            detail,
        }
    }

    fn ended(m: &MarriageLink) -> Verdict {
        Verdict::no(
            Reason::MarriageEnded,
            Detail::MarriageEnded {
                act: m.act,
                end: m.end,
            },
        )
    }

    fn no(reason: Reason, detail: Detail) -> Verdict {
        Verdict {
            confirmed: false,
            in_law: None,
            evidence: Evidence::new(),
            reason: Some(reason),
            detail,
        }
    }
}

fn push(ev: &mut Evidence, a: ActHandle) {
    if !ev.contains(&a) {
        ev.push(a);
    }
}

/// A person as named in a request: found in the graph or not.
pub type Party = Option<PersonId>;

/// Decides `claim` of `applicant` towards `owner` on `on`.
pub fn check(
    g: &FamilyGraph,
    owner: Party,
    applicant: Party,
    claim: Claim,
    on: NaiveDate,
) -> Verdict {
    let Some(owner) = owner else {
        return Verdict::no(Reason::OwnerUnknown, Detail::OwnerUnknown);
    };
    let Some(applicant) = applicant else {
        return Verdict::no(Reason::ApplicantUnknown, Detail::ApplicantUnknown);
    };
    if owner == applicant {
        return Verdict::no(Reason::SamePerson, Detail::SamePerson);
    }
    // Nobody is anyone's relative before being born: say so, whatever the
    // claim, rather than point at a record that is not missing.
    let unborn = |p: PersonId| on < g.birth_date(p);
    match (unborn(owner), unborn(applicant)) {
        (false, false) => {}
        (true, false) => return not_born(owner, None),
        (false, true) => return not_born(applicant, None),
        (true, true) => {
            let [x, y] = in_iin_order(g, owner, applicant);
            return not_born(x, Some(y));
        }
    }
    let r = Resolver { g, on };
    match claim {
        Claim::Child => r.parent_of(owner, applicant),
        Claim::Parent => r.parent_of(applicant, owner),
        Claim::Spouse => r.spouse(owner, applicant),
        Claim::Sibling => r.sibling(owner, applicant),
        Claim::HalfSibling(side) => r.half_sibling(owner, applicant, side),
        Claim::Grandparent(side) => r.grandparent(applicant, owner, side),
        Claim::Grandchild(side) => r.grandparent(owner, applicant, side),
        Claim::InLaw => r.in_law(owner, applicant),
    }
}

fn not_born(person: PersonId, other: Option<PersonId>) -> Verdict {
    Verdict::no(Reason::NoRelation, Detail::NotBorn { person, other })
}

/// The two in IIN order: how a symmetric claim reads its pair, so that
/// swapping owner and applicant changes neither evidence nor detail.
fn in_iin_order(g: &FamilyGraph, a: PersonId, b: PersonId) -> [PersonId; 2] {
    if g.iin(a) <= g.iin(b) { [a, b] } else { [b, a] }
}

/// The claims that hold, as listed for people (`also`, a household's
/// `relations_to_owner`).
pub type Holding = SmallVec<[(Claim, Option<InLaw>); 4]>;

/// Every claim of the table that holds between the two, with the in-law
/// kind where it is one (a household's `relations_to_owner`). Between
/// relatives by blood or adoption `in_law` is left out: that the son is
/// also his father's wife's child is noise there (a claim of `in_law`
/// itself is still decided by the table).
pub fn holding(g: &FamilyGraph, owner: Party, applicant: Party, on: NaiveDate) -> Holding {
    let mut out = Holding::new();
    for c in Claim::ALL {
        if c == Claim::InLaw && out.iter().any(|(k, _): &(Claim, _)| k.is_kin()) {
            continue;
        }
        let v = check(g, owner, applicant, c, on);
        if v.confirmed {
            out.push((c, v.in_law));
        }
    }
    out
}

/// Every claim other than `except` that holds between the two (for `also`).
pub fn also(
    g: &FamilyGraph,
    owner: PersonId,
    applicant: PersonId,
    except: Claim,
    on: NaiveDate,
) -> SmallVec<[(Claim, Option<InLaw>); 4]> {
    let mut all = holding(g, Some(owner), Some(applicant), on);
    all.retain(|(c, _)| *c != except);
    all
}

struct Resolver<'g> {
    g: &'g FamilyGraph,
    on: NaiveDate,
}

impl Resolver<'_> {
    fn parent(&self, child: PersonId, role: Role) -> Option<ParentLink> {
        self.g.parents_on(child, self.on).get(role)
    }

    fn missing(&self, person: PersonId, role: Role) -> Verdict {
        Verdict::no(
            Reason::ParentNotRecorded,
            Detail::MissingParent {
                person,
                role,
                birth: self.g.birth_record(person),
            },
        )
    }

    /// Is `parent` a legal parent of `child`?
    fn parent_of(&self, parent: PersonId, child: PersonId) -> Verdict {
        let role = self.g.parent_role(parent);
        match self.parent(child, role) {
            Some(l) if l.parent == parent => Verdict::yes(
                Evidence::from_slice(&[l.act]),
                Detail::ParentIs {
                    parent,
                    child,
                    role,
                    act: l.act,
                },
            ),
            Some(_) => Verdict::no(Reason::NoRelation, Detail::OtherParent { child, role }),
            None => self.missing(child, role),
        }
    }

    fn spouse(&self, a: PersonId, b: PersonId) -> Verdict {
        let mut ended: Option<MarriageLink> = None;
        for m in self
            .g
            .marriages(a)
            .filter(|m| m.spouse == b && m.since <= self.on)
        {
            if m.active_on(self.on) && self.g.spouse_on(a, self.on).is_some_and(|s| s.act == m.act)
            {
                return Verdict::yes(
                    Evidence::from_slice(&[m.act]),
                    Detail::Married {
                        act: m.act,
                        since: m.since,
                    },
                );
            }
            // The latest by start, then act id (two marriages of one day,
            // each ended that day): never by the order records arrived in.
            if ended.is_none_or(|e| self.marriage_order(&e, &m).is_lt()) {
                ended = Some(m);
            }
        }
        match ended {
            Some(m) => Verdict::ended(&m),
            None => Verdict::no(Reason::NotMarried, Detail::NotMarried),
        }
    }

    /// Both parents recorded for both, and the same two people.
    fn sibling(&self, a: PersonId, b: PersonId) -> Verdict {
        let [a, b] = in_iin_order(self.g, a, b);
        let (pa, pb) = (self.g.parents_on(a, self.on), self.g.parents_on(b, self.on));
        for role in [Role::Mother, Role::Father] {
            for (p, parents) in [(a, &pa), (b, &pb)] {
                if parents.get(role).is_none() {
                    return self.missing(p, role);
                }
            }
        }
        let (ma, fa, mb, fb) = (
            pa.mother.unwrap(),
            pa.father.unwrap(),
            pb.mother.unwrap(),
            pb.father.unwrap(),
        );
        if ma.parent != mb.parent {
            return Verdict::no(
                Reason::NoCommonParent,
                Detail::ParentsDiffer { role: Role::Mother },
            );
        }
        if fa.parent != fb.parent {
            return Verdict::no(
                Reason::NoCommonParent,
                Detail::ParentsDiffer { role: Role::Father },
            );
        }
        let links = [ma, fa, mb, fb];
        let mut ev = Evidence::new();
        for l in links {
            push(&mut ev, l.act);
        }
        Verdict::yes(
            ev,
            Detail::SameParents {
                mother: ma.parent,
                father: fa.parent,
                by_birth: links.iter().all(|l| l.basis == Basis::Birth),
            },
        )
    }

    fn half_sibling(&self, a: PersonId, b: PersonId, side: Side) -> Verdict {
        let [a, b] = in_iin_order(self.g, a, b);
        let (Some(la), Some(lb)) = (self.parent(a, side), self.parent(b, side)) else {
            let who = if self.parent(a, side).is_none() { a } else { b };
            return self.missing(who, side);
        };
        if la.parent != lb.parent {
            return Verdict::no(Reason::NoCommonParent, Detail::ParentsDiffer { role: side });
        }
        let mut ev = Evidence::new();
        push(&mut ev, la.act);
        push(&mut ev, lb.act);
        Verdict::yes(
            ev,
            Detail::SameParent {
                role: side,
                parent: la.parent,
                by_birth: la.basis == Basis::Birth && lb.basis == Basis::Birth,
            },
        )
    }

    /// Is `elder` a legal parent of `younger`'s legal `side` parent?
    fn grandparent(&self, elder: PersonId, younger: PersonId, side: Side) -> Verdict {
        let Some(mid) = self.parent(younger, side) else {
            return self.missing(younger, side);
        };
        let v = self.parent_of(elder, mid.parent);
        if !v.confirmed {
            return v;
        }
        let mut ev = Evidence::new();
        push(&mut ev, mid.act);
        for &a in &v.evidence {
            push(&mut ev, a);
        }
        Verdict::yes(
            ev,
            Detail::Grandparent {
                elder,
                middle: mid.parent,
                younger,
                side,
            },
        )
    }

    /// Does marriage `m` (of someone to `m.spouse`) give in-laws on the
    /// date: in force, or ended only by the spouse's death?
    fn gives_in_laws(&self, m: &MarriageLink) -> bool {
        match m.end {
            None => true,
            Some(MarriageEnd::Death { of, .. }) if of == m.spouse => true,
            Some(e) => self.on < e.date(),
        }
    }

    /// Is `x` a close relative of `s` (parent, child, sibling or half
    /// sibling, grandparent, grandchild)? Returns the kind, as "x is s's …".
    /// The same questions as the claims above, in the same order and with
    /// the same evidence, but on parents read once per person (`Kin`): this
    /// runs for every marriage of both parties.
    fn close_relative(&self, s: &Kin<'_>, x: &Kin<'_>) -> Option<(Close, Evidence)> {
        let ev = |acts: &[ActHandle]| {
            let mut e = Evidence::new();
            for &a in acts {
                push(&mut e, a);
            }
            e
        };
        if let Some(l) = s.parents.get(x.role).filter(|l| l.parent == x.p) {
            return Some((Close::Parent, ev(&[l.act])));
        }
        if let Some(l) = x.parents.get(s.role).filter(|l| l.parent == s.p) {
            return Some((Close::Child, ev(&[l.act])));
        }
        // A sibling's evidence is that of every common parent: for a full
        // sibling, the records of both parents of both.
        let common = |side: Role| {
            let (a, b) = (s.parents.get(side)?, x.parents.get(side)?);
            (a.parent == b.parent).then_some([a.act, b.act])
        };
        match (common(Role::Mother), common(Role::Father)) {
            (Some([a, b]), Some([c, d])) => return Some((Close::Sibling, ev(&[a, b, c, d]))),
            (Some(acts), None) | (None, Some(acts)) => return Some((Close::Sibling, ev(&acts))),
            (None, None) => {}
        }
        // A legal parent is born before the child, so only the elder of the
        // two can be the other's grandparent: skip reading the other side.
        let x_elder = x.born < s.born;
        for side in [Role::Mother, Role::Father] {
            // x is a parent of s's `side` parent
            if x_elder
                && let Some((mid, up)) = s.up(side)
                && let Some(l) = up.get(x.role).filter(|l| l.parent == x.p)
            {
                return Some((Close::Grandparent, ev(&[mid.act, l.act])));
            }
            // s is a parent of x's `side` parent
            if !x_elder
                && let Some((mid, up)) = x.up(side)
                && let Some(l) = up.get(s.role).filter(|l| l.parent == s.p)
            {
                return Some((Close::Grandchild, ev(&[mid.act, l.act])));
            }
        }
        None
    }

    fn in_law(&self, owner: PersonId, applicant: PersonId) -> Verdict {
        // The owner's spouse's relative first, then the owner's relative's
        // spouse; within each, the first kind in the table's order, then
        // the latest marriage. A relation through a marriage since ended by
        // divorce is remembered (the latest such marriage, from either
        // side): it is what the applicant needs to be told.
        let mut ended: Option<MarriageLink> = None;
        let mut married_ever = false;
        // Both parties' marriage lists are read: start both at once.
        self.g.prefetch_marriages(owner);
        self.g.prefetch_marriages(applicant);
        for (married, other, through_owner) in [(owner, applicant, true), (applicant, owner, false)]
        {
            let other_kin = std::cell::OnceCell::new();
            let mut best: Option<(InLaw, MarriageLink, Evidence)> = None;
            let mut ms: SmallVec<[MarriageLink; 4]> = self
                .g
                .marriages(married)
                .filter(|m| m.since <= self.on)
                .collect();
            married_ever |= !ms.is_empty();
            ms.sort_by(|x, y| self.marriage_order(y, x));
            for m in ms {
                let counts = self.gives_in_laws(&m);
                if m.spouse == other
                    || (!counts && ended.is_some_and(|e| self.marriage_order(&e, &m).is_ge()))
                {
                    continue;
                }
                let spouse = Kin::new(self, m.spouse);
                let Some((close, rel_ev)) =
                    self.close_relative(&spouse, other_kin.get_or_init(|| Kin::new(self, other)))
                else {
                    continue;
                };
                if !counts {
                    ended = Some(m);
                    continue;
                }
                let kind = close.in_law(through_owner);
                if best.as_ref().is_none_or(|(k, _, _)| kind < *k) {
                    let mut ev = Evidence::new();
                    push(&mut ev, m.act);
                    for a in rel_ev {
                        push(&mut ev, a);
                    }
                    best = Some((kind, m, ev));
                }
            }
            if let Some((kind, m, ev)) = best {
                let mut v = Verdict::yes(
                    ev,
                    Detail::InLaw {
                        kind,
                        spouse: m.spouse,
                        marriage: m.act,
                    },
                );
                v.in_law = Some(kind);
                return v;
            }
        }
        match ended {
            Some(m) => Verdict::ended(&m),
            None if married_ever => Verdict::no(Reason::NoRelation, Detail::NoInLaw),
            None => Verdict::no(Reason::NotMarried, Detail::NeitherMarried),
        }
    }

    /// Orders marriages by start, then act id: never by arrival. The act
    /// ids (two cache misses each at whole-country size) are read only
    /// when the dates tie.
    fn marriage_order(&self, a: &MarriageLink, b: &MarriageLink) -> std::cmp::Ordering {
        a.since
            .cmp(&b.since)
            .then_with(|| self.g.act_id(a.act).cmp(self.g.act_id(b.act)))
    }
}

/// A person with their parents on the date read once, and their parents'
/// parents read when first needed.
struct Kin<'r> {
    r: &'r Resolver<'r>,
    p: PersonId,
    role: Role,
    born: u32,
    parents: crate::graph::Parents,
    up: [std::cell::OnceCell<crate::graph::Parents>; 2],
}

impl<'r> Kin<'r> {
    fn new(r: &'r Resolver<'r>, p: PersonId) -> Kin<'r> {
        // The grandparent questions read the parents' records.
        r.g.prefetch_parents(p);
        Kin {
            r,
            p,
            role: r.g.parent_role(p),
            born: r.g.iin(p).birth_key(),
            parents: r.g.parents_on(p, r.on),
            up: Default::default(),
        }
    }

    /// The `side` parent's link and that parent's own parents.
    fn up(&self, side: Role) -> Option<(ParentLink, &crate::graph::Parents)> {
        let mid = self.parents.get(side)?;
        let up = self.up[side as usize].get_or_init(|| self.r.g.parents_on(mid.parent, self.r.on));
        Some((mid, up))
    }
}

/// "x is s's …"
#[derive(Clone, Copy)]
enum Close {
    Parent,
    Child,
    Sibling,
    Grandparent,
    Grandchild,
}

impl Close {
    /// The in-law kind when x is the `self` of the spouse S. Through the
    /// owner (S is the owner's spouse, x the applicant): "spouse_<self>".
    /// Through the applicant (S is the applicant's spouse, x the owner):
    /// the applicant is the spouse of the owner's inverse relative.
    fn in_law(self, through_owner: bool) -> InLaw {
        match (self, through_owner) {
            (Close::Parent, true) => InLaw::SpouseParent,
            (Close::Child, true) => InLaw::SpouseChild,
            (Close::Sibling, true) => InLaw::SpouseSibling,
            (Close::Grandparent, true) => InLaw::SpouseGrandparent,
            (Close::Grandchild, true) => InLaw::SpouseGrandchild,
            (Close::Parent, false) => InLaw::ChildSpouse,
            (Close::Child, false) => InLaw::ParentSpouse,
            (Close::Sibling, false) => InLaw::SiblingSpouse,
            (Close::Grandparent, false) => InLaw::GrandchildSpouse,
            (Close::Grandchild, false) => InLaw::GrandparentSpouse,
        }
    }
}
