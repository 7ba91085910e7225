//! Properties on random generated populations:
//! * every generated record is accepted, and the graph replayed from the
//!   ledger equals the one built record by record, whatever the batching;
//! * rolling a batch back restores the graph exactly;
//! * every claim's answer equals an independent brute-force evaluator
//!   written straight from the table of `checks-api.md`, working on the list
//!   of acts (not on the graph, not sharing the resolver's code);
//! * the relation finder lists exactly the paths a brute-force enumerator
//!   finds: every walk of up to six links over the acts, kept when its
//!   shape fits the grammar of `resolve::relations` (checked as a string).

mod common;

use chrono::NaiveDate;
use kinship::acts::{Act, ActBody, parse_line};
use kinship::generate::{GenerateOptions, generate};
use kinship::graph::{FamilyGraph, Journal, Target};
use kinship::iin::{Iin, Sex};
use kinship::ledger::Ledger;
use kinship::registry::{Line, LineOutcome, Lines, Registry};
use kinship::resolve::{Claim, check};
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};

fn population(persons: u64, seed: u64) -> Vec<Line> {
    let mut buf = Vec::new();
    generate(&GenerateOptions { persons, seed }, &mut buf).unwrap();
    Lines::new(&buf[..]).map(Result::unwrap).collect()
}

fn acts(lines: &[Line]) -> Vec<Act> {
    lines
        .iter()
        .map(|l| parse_line(&l.bytes).expect("generated records parse"))
        .collect()
}

/// Applies acts straight to a graph, resolving references in memory.
fn build(acts: &[Act]) -> FamilyGraph {
    let mut g = FamilyGraph::default();
    let mut j = Journal::default();
    let by_id: HashMap<&str, &Act> = acts.iter().map(|a| (a.act_id.as_str(), a)).collect();
    for a in acts {
        apply(&mut g, &mut j, a, &by_id).unwrap_or_else(|r| panic!("{}: {r}", a.act_id));
        j.commit();
    }
    g
}

fn apply(
    g: &mut FamilyGraph,
    j: &mut Journal,
    a: &Act,
    by_id: &HashMap<&str, &Act>,
) -> Result<(), kinship::acts::Refusal> {
    let target = a.reference().map(|r| by_id[r.as_str()]);
    let marriage = target.and_then(|t| match &t.body {
        ActBody::Divorce { marriage_act, .. } => Some(by_id[marriage_act.as_str()]),
        _ => None,
    });
    // Annulment status is not needed: generated records never reuse an annulled act.
    g.apply(
        a,
        target.map(|t| Target {
            act: t,
            annulled: false,
            marriage,
        }),
        j,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn replay_equals_incremental_and_nothing_generated_is_refused(seed in 0u64..1_000_000, batch in 1usize..700) {
        let lines = population(300, seed);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let db = common::TestDb::sqlite();
            let reg = Registry::open(Ledger::open(&db.url).await.unwrap()).await.unwrap();
            for chunk in lines.chunks(batch) {
                for (l, o) in chunk.iter().zip(reg.ingest(chunk, "gen").await.unwrap()) {
                    assert!(matches!(o, LineOutcome::Accepted { .. }), "line {}: {o:?}\n{}", l.no, String::from_utf8_lossy(&l.bytes));
                }
            }
            let replayed = Registry::open(reg.ledger().clone()).await.unwrap();
            assert_eq!(replayed.graph().canonical(), reg.graph().canonical());
            // And equal to the graph built without any ledger at all.
            assert_eq!(build(&acts(&lines)).canonical(), reg.graph().canonical());
        });
    }

    #[test]
    fn rollback_restores_the_graph_exactly(seed in 0u64..1_000_000, cut in 0.0f64..1.0, len in 1usize..400) {
        let all = acts(&population(250, seed));
        let k = (all.len() as f64 * cut) as usize;
        let by_id: HashMap<&str, &Act> = all.iter().map(|a| (a.act_id.as_str(), a)).collect();
        let mut g = build(&all[..k]);
        let before = g.canonical();
        let mut j = Journal::default();
        for a in all[k..].iter().take(len) {
            apply(&mut g, &mut j, a, &by_id).unwrap();
        }
        g.rollback(&mut j);
        prop_assert_eq!(g.canonical(), before);
        let dates = [NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), NaiveDate::from_ymd_opt(2030, 1, 1).unwrap()];
        prop_assert_eq!(g.check_inline_parents(&dates), Ok(()));
        // The graph still works after a rollback: the same acts apply again.
        for a in all[k..].iter().take(len) {
            apply(&mut g, &mut j, a, &by_id).unwrap();
        }
    }

    #[test]
    fn claims_match_a_brute_force_evaluator(seed in 0u64..1_000_000) {
        let all = acts(&population(300, seed));
        let g = build(&all);
        let bf = BruteForce::new(&all);
        let people: Vec<Iin> = bf.people.iter().copied().collect();
        let dates = ["1950-06-01", "1985-01-01", "2001-07-15", "2012-03-01", "2025-06-01"].map(|d| kinship::acts::parse_date(d).unwrap());
        let mut checked = 0usize;
        let mut confirmed = 0usize;
        // Pairs among relatives (so positives are common) and random pairs.
        let pairs = bf.interesting_pairs(&people, seed);
        for (i, &(owner, applicant)) in pairs.iter().enumerate() {
            let on = dates[i % dates.len()];
            for claim in Claim::ALL {
                let v = check(&g, g.person(owner), g.person(applicant), claim, on);
                let (ok, evidence) = bf.holds(owner, applicant, claim, on);
                prop_assert_eq!(v.confirmed, ok, "{:?} {} {} on {}: resolver {:?}", claim, owner, applicant, on, v);
                if ok {
                    confirmed += 1;
                    let got: BTreeSet<String> = v.evidence.iter().map(|a| g.act_id(*a).to_owned()).collect();
                    match (claim, evidence) {
                        (Claim::InLaw, Evidence::InLaw(kinds)) => {
                            let kind = v.in_law.expect("in-law kind").name();
                            prop_assert!(kinds.contains(kind), "{kind} not among {kinds:?}");
                        }
                        (_, Evidence::Acts(want)) => prop_assert_eq!(got, want, "{:?} {} {} on {}", claim, owner, applicant, on),
                        (c, e) => panic!("{c:?} with {e:?}"),
                    }
                }
                checked += 1;
            }
        }
        prop_assert!(checked > 3000 && confirmed > 50, "checked {checked}, confirmed {confirmed}");
    }

    #[test]
    fn relation_paths_match_a_brute_force_enumerator(seed in 0u64..1_000_000) {
        use kinship::resolve::relations;
        let all = acts(&population(250, seed));
        let g = build(&all);
        let bf = BruteForce::new(&all);
        let people: Vec<Iin> = bf.people.iter().copied().collect();
        let dates = ["1985-01-01", "2012-03-01", "2025-06-01"].map(|d| kinship::acts::parse_date(d).unwrap());
        let (mut pairs_with, mut paths) = (0usize, 0usize);
        let mut shapes = BTreeSet::new();
        for (k, on) in dates.into_iter().enumerate() {
            let links = Links::new(&bf, &people, on);
            for (i, &(a, b)) in bf.interesting_pairs(&people, seed).iter().enumerate() {
                if (i + k) % 4 != 0 || a == b {
                    continue;
                }
                let want = links.paths(a, b, relations::DEFAULT_DEGREE);
                let (Some(pa), Some(pb)) = (g.person(a), g.person(b)) else {
                    prop_assert!(want.is_empty());
                    continue;
                };
                let found = relations::between(&g, pa, pb, on, relations::DEFAULT_DEGREE);
                let mut got = BTreeSet::new();
                for r in &found {
                    // Full: the relations of more than one path (through a couple).
                    prop_assert_eq!(r.full, r.paths.len() > 1, "{} {} on {}: {}", a, b, on, r.shape);
                    prop_assert!(!r.names.ru.is_empty() && !r.names.kk.is_empty() && !r.names.en.is_empty());
                    for p in &r.paths {
                        let persons: Vec<Iin> = p.persons.iter().map(|&x| g.iin(x)).collect();
                        let acts: Vec<String> = p.links.iter().map(|l| g.act_id(l.act).to_owned()).collect();
                        got.insert((p.shape(), persons, acts));
                    }
                }
                prop_assert_eq!(&got, &want, "{} {} on {}", a, b, on);
                if !want.is_empty() {
                    pairs_with += 1;
                    paths += want.len();
                    shapes.extend(want.iter().map(|w| w.0.clone()));
                }
            }
        }
        prop_assert!(pairs_with > 40 && shapes.len() > 8, "{pairs_with} related pairs, {paths} paths, shapes {shapes:?}");
    }

    /// The audit records what a check answer says it revealed, not what
    /// is found in its bytes: every IIN the answer writes out (in its
    /// sentence too) must be among them.
    #[test]
    fn a_check_reveals_no_one_it_does_not_report(seed in 0u64..1_000_000) {
        let all = acts(&population(200, seed));
        let g = build(&all);
        let bf = BruteForce::new(&all);
        let people: Vec<Iin> = bf.people.iter().copied().collect();
        let mut named = 0usize;
        for (i, &(owner, applicant)) in bf.interesting_pairs(&people, seed).iter().enumerate() {
            let as_of = kinship::acts::parse_date(["1985-01-01", "2025-06-01"][i % 2]).unwrap();
            for claim in Claim::ALL {
                let req = kinship::query::checks::CheckRequest { owner, applicant, claim, as_of };
                let mut revealed = Vec::new();
                let answer = kinship::query::checks::answer(&g, &req, &mut revealed);
                let mut written = Vec::new();
                Iin::scan(&serde_json::to_vec(&answer).unwrap(), &mut written);
                for iin in &written {
                    prop_assert!(revealed.contains(iin), "{iin} written but not reported: {}", answer.detail);
                }
                named += written.len().saturating_sub(2);
            }
        }
        prop_assert!(named > 50, "sentences named only {named} others");
    }
}

/// Every legal link on one date, straight from the acts: (to, step
/// letter, act id, the marriage ended by divorce).
struct Links {
    out: HashMap<Iin, Vec<(Iin, char, String, bool)>>,
}

impl Links {
    fn new(bf: &BruteForce, people: &[Iin], on: NaiveDate) -> Links {
        let mut out: HashMap<Iin, Vec<(Iin, char, String, bool)>> = HashMap::new();
        for &c in people {
            for mother in [true, false] {
                if let Some((p, act)) = bf.parent(c, mother, on) {
                    out.entry(c).or_default().push((p, 'U', act.clone(), false));
                    out.entry(p).or_default().push((c, 'D', act, false));
                }
            }
            for (s, act, from, divorced) in bf.marriages(c) {
                if from > on {
                    continue;
                }
                let deaths = [bf.died(c), bf.died(s)].into_iter().flatten().min();
                let divorce = divorced.filter(|&d| d <= on && deaths.is_none_or(|x| d <= x));
                out.entry(c)
                    .or_default()
                    .push((s, 'S', act, divorce.is_some()));
            }
        }
        Links { out }
    }

    fn parent_of(&self, p: Iin, child: Iin) -> bool {
        self.out[&child]
            .iter()
            .any(|(x, step, _, _)| *step == 'U' && *x == p)
    }

    /// The grammar: blood runs `U*D*` joined by single `S`, at most two
    /// `S`, at most `degree` of `U` and `D`.
    fn fits(shape: &str, degree: usize) -> bool {
        let s = shape.matches('S').count();
        shape.split('S').all(|run| !run.contains("DU"))
            && !shape.contains("SS")
            && s <= 2
            && shape.len() - s <= degree
    }

    /// Every path from `a` to `b`: (shape, persons, acts).
    fn paths(&self, a: Iin, b: Iin, degree: u8) -> BTreeSet<(String, Vec<Iin>, Vec<String>)> {
        let mut found = BTreeSet::new();
        let mut walk = vec![(vec![a], String::new(), Vec::<String>::new(), false)];
        while let Some((persons, shape, acts, divorced)) = walk.pop() {
            let here = *persons.last().unwrap();
            if here == b {
                if !shape.is_empty() && Self::fits(&shape, degree as usize) {
                    found.insert((shape, persons, acts));
                }
                continue;
            }
            if shape.len() == 6 || divorced {
                continue;
            }
            for (to, step, act, div) in self.out.get(&here).into_iter().flatten() {
                if persons.contains(to) || (*div && !shape.is_empty()) {
                    continue;
                }
                let n = persons.len();
                // Round a legal link: parent -> parent's spouse who is a
                // parent; spouse -> spouse's child who is one's own.
                if *step == 'S' && shape.ends_with('U') && self.parent_of(*to, persons[n - 2]) {
                    continue;
                }
                if *step == 'D' && shape.ends_with('S') && self.parent_of(persons[n - 2], *to) {
                    continue;
                }
                let mut next = (persons.clone(), shape.clone(), acts.clone(), *div);
                next.0.push(*to);
                next.1.push(*step);
                next.2.push(act.clone());
                walk.push(next);
            }
        }
        found
    }
}

#[derive(Debug)]
enum Evidence {
    Acts(BTreeSet<String>),
    InLaw(HashSet<&'static str>),
}

/// The spec's rules, evaluated directly on the list of acts.
struct BruteForce<'a> {
    acts: Vec<&'a Act>,
    people: BTreeSet<Iin>,
}

/// A legal-parent candidate: (parent, starts, act id, rank on a tie of
/// dates: birth record 0, paternity 1, adoption 2).
type Cand = (Iin, NaiveDate, String, u8);

impl<'a> BruteForce<'a> {
    fn new(all: &'a [Act]) -> Self {
        let annulled: HashSet<&str> = all
            .iter()
            .filter_map(|a| match &a.body {
                ActBody::Annulment { target_act, .. } => Some(target_act.as_str()),
                _ => None,
            })
            .collect();
        let acts: Vec<&Act> = all
            .iter()
            .filter(|a| !annulled.contains(a.act_id.as_str()))
            .collect();
        let people = all.iter().flat_map(|a| a.persons()).collect();
        BruteForce { acts, people }
    }

    fn died(&self, p: Iin) -> Option<NaiveDate> {
        self.acts.iter().find_map(|a| match &a.body {
            ActBody::Death { person, died, .. } if *person == p => Some(*died),
            _ => None,
        })
    }

    /// "Legal parent": the mother/father of the birth record, the father of
    /// a paternity record (both from the child's birth), or an adoptive
    /// parent from the adoption date, the adoption replacing that role; on
    /// one date adoption over paternity over birth record.
    fn parent(&self, child: Iin, mother: bool, on: NaiveDate) -> Option<(Iin, String)> {
        if on < child.birth_date() {
            return None;
        }
        let mut cands: Vec<Cand> = Vec::new();
        for a in &self.acts {
            let id = a.act_id.to_string();
            match &a.body {
                ActBody::Birth {
                    child: c,
                    mother: m,
                    father: f,
                    ..
                } if *c == child => {
                    let p = if mother { m } else { f };
                    cands.extend(p.map(|p| (p, child.birth_date(), id, 0)));
                }
                ActBody::Paternity {
                    child: c, father, ..
                } if *c == child && !mother => {
                    cands.push((*father, child.birth_date(), id, 1));
                }
                ActBody::Adoption {
                    child: c,
                    date,
                    adoptive_mother,
                    adoptive_father,
                } if *c == child => {
                    let p = if mother {
                        adoptive_mother
                    } else {
                        adoptive_father
                    };
                    cands.extend(p.map(|p| (p, *date, id, 2)));
                }
                _ => {}
            }
        }
        cands
            .into_iter()
            .filter(|c| c.1 <= on)
            .max_by_key(|c| (c.1, c.3))
            .map(|c| (c.0, c.2))
    }

    fn is_parent(&self, parent: Iin, child: Iin, on: NaiveDate) -> Option<String> {
        let (p, act) = self.parent(child, parent.sex() == Sex::Female, on)?;
        (p == parent).then_some(act)
    }

    /// Marriages of `p` as (spouse, act id, from, divorced on, spouse died on).
    fn marriages(&self, p: Iin) -> Vec<(Iin, String, NaiveDate, Option<NaiveDate>)> {
        self.acts
            .iter()
            .filter_map(|a| match &a.body {
                ActBody::Marriage {
                    date,
                    spouses: [x, y],
                } if *x == p || *y == p => {
                    let s = if *x == p { *y } else { *x };
                    let divorced = self.acts.iter().find_map(|d| match &d.body {
                        ActBody::Divorce { date, marriage_act } if *marriage_act == a.act_id => {
                            Some(*date)
                        }
                        _ => None,
                    });
                    Some((s, a.act_id.to_string(), *date, divorced))
                }
                _ => None,
            })
            .collect()
    }

    /// "a marriage counts from its registration until its divorce or the
    /// death of either spouse"
    fn married(&self, a: Iin, b: Iin, on: NaiveDate) -> Option<String> {
        self.marriages(a)
            .into_iter()
            .find_map(|(s, act, from, divorced)| {
                let ends = [divorced, self.died(a), self.died(b)]
                    .into_iter()
                    .flatten()
                    .min();
                (s == b && from <= on && ends.is_none_or(|e| on < e)).then_some(act)
            })
    }

    fn holds(&self, owner: Iin, applicant: Iin, claim: Claim, on: NaiveDate) -> (bool, Evidence) {
        let no = (false, Evidence::Acts(BTreeSet::new()));
        if owner == applicant || !self.people.contains(&owner) || !self.people.contains(&applicant)
        {
            return no;
        }
        let set = |v: Vec<String>| Evidence::Acts(v.into_iter().collect());
        match claim {
            Claim::Child => self
                .is_parent(owner, applicant, on)
                .map_or(no, |a| (true, set(vec![a]))),
            Claim::Parent => self
                .is_parent(applicant, owner, on)
                .map_or(no, |a| (true, set(vec![a]))),
            Claim::Spouse => self
                .married(owner, applicant, on)
                .map_or(no, |a| (true, set(vec![a]))),
            Claim::Sibling => {
                let get = |x, m| self.parent(x, m, on);
                match (
                    get(owner, true),
                    get(owner, false),
                    get(applicant, true),
                    get(applicant, false),
                ) {
                    (Some(a), Some(b), Some(c), Some(d)) if a.0 == c.0 && b.0 == d.0 => {
                        (true, set(vec![a.1, b.1, c.1, d.1]))
                    }
                    _ => no,
                }
            }
            Claim::HalfSibling(side) => {
                let m = side == kinship::graph::Role::Mother;
                match (self.parent(owner, m, on), self.parent(applicant, m, on)) {
                    (Some(a), Some(b)) if a.0 == b.0 => (true, set(vec![a.1, b.1])),
                    _ => no,
                }
            }
            Claim::Grandparent(side) => self
                .grand(applicant, owner, side == kinship::graph::Role::Mother, on)
                .map_or(no, |v| (true, set(v))),
            Claim::Grandchild(side) => self
                .grand(owner, applicant, side == kinship::graph::Role::Mother, on)
                .map_or(no, |v| (true, set(v))),
            Claim::InLaw => {
                let kinds = self.in_law(owner, applicant, on);
                if kinds.is_empty() {
                    no
                } else {
                    (true, Evidence::InLaw(kinds))
                }
            }
        }
    }

    /// `elder` is a legal parent of `younger`'s legal mother/father.
    fn grand(&self, elder: Iin, younger: Iin, mother: bool, on: NaiveDate) -> Option<Vec<String>> {
        let (mid, a) = self.parent(younger, mother, on)?;
        let b = self.is_parent(elder, mid, on)?;
        Some(vec![a, b])
    }

    /// x is s's parent / child / (half) sibling / grandparent / grandchild?
    fn close(&self, s: Iin, x: Iin, on: NaiveDate) -> Option<&'static str> {
        if s == x {
            return None;
        }
        if self.is_parent(x, s, on).is_some() {
            return Some("parent");
        }
        if self.is_parent(s, x, on).is_some() {
            return Some("child");
        }
        for m in [true, false] {
            if let (Some(a), Some(b)) = (self.parent(s, m, on), self.parent(x, m, on))
                && a.0 == b.0
            {
                return Some("sibling");
            }
        }
        for m in [true, false] {
            if self.grand(x, s, m, on).is_some() {
                return Some("grandparent");
            }
            if self.grand(s, x, m, on).is_some() {
                return Some("grandchild");
            }
        }
        None
    }

    /// Every in-law kind that holds: "one of the two has a spouse S —
    /// married on as_of, or the marriage ended only by S's death — and the
    /// other is a close relative of S".
    fn in_law(&self, owner: Iin, applicant: Iin, on: NaiveDate) -> HashSet<&'static str> {
        let mut kinds = HashSet::new();
        let spouses = |p: Iin| -> Vec<Iin> {
            self.marriages(p)
                .into_iter()
                .filter(|(s, _, from, divorced)| {
                    let own = self.died(p);
                    let theirs = self.died(*s);
                    // Ended (before `on`) only by S's death: S died first.
                    let by_death = theirs.is_some_and(|t| {
                        divorced.is_none_or(|d| t < d) && own.is_none_or(|o| t < o)
                    });
                    *from <= on
                        && (self.married(p, *s, on).is_some()
                            || (by_death && theirs.unwrap() <= on))
                })
                .map(|(s, ..)| s)
                .collect()
        };
        for s in spouses(owner) {
            if s != applicant
                && let Some(k) = self.close(s, applicant, on)
            {
                kinds.insert(match k {
                    "parent" => "spouse_parent",
                    "child" => "spouse_child",
                    "sibling" => "spouse_sibling",
                    "grandparent" => "spouse_grandparent",
                    _ => "spouse_grandchild",
                });
            }
        }
        for s in spouses(applicant) {
            if s != owner
                && let Some(k) = self.close(s, owner, on)
            {
                kinds.insert(match k {
                    "parent" => "child_spouse",
                    "child" => "parent_spouse",
                    "sibling" => "sibling_spouse",
                    "grandparent" => "grandchild_spouse",
                    _ => "grandparent_spouse",
                });
            }
        }
        kinds
    }

    /// Pairs worth asking about: people who share an act, their relatives'
    /// relatives, plus random pairs.
    fn interesting_pairs(&self, people: &[Iin], seed: u64) -> Vec<(Iin, Iin)> {
        let mut near: HashMap<Iin, BTreeSet<Iin>> = HashMap::new();
        for a in &self.acts {
            let ps = a.persons();
            for &x in &ps {
                near.entry(x).or_default().extend(ps.iter().copied());
            }
        }
        let mut pairs = BTreeSet::new();
        for (&x, ys) in &near {
            for &y in ys {
                pairs.insert((x, y));
                for &z in near.get(&y).into_iter().flatten() {
                    pairs.insert((x, z));
                }
            }
        }
        let mut r = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        for _ in 0..500 {
            r = r
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let a = people[(r >> 33) as usize % people.len()];
            let b = people[(r >> 13) as usize % people.len()];
            pairs.insert((a, b));
        }
        pairs.into_iter().take(1500).collect()
    }
}
