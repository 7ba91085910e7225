//! The consistency rules of `civil-acts.md`, as properties:
//! * records chosen at random among a few people — clashing often — and
//!   sent in a random order: whatever is accepted never describes a state
//!   the law forbids, judged by a validator written from the spec alone
//!   (working on the accepted records, sharing no code with the graph);
//! * the same accepted records sent in another order that keeps references
//!   valid, when all are accepted again, give the same graph and the same
//!   answer to every question;
//! * a generated population, its records shuffled in random orders that
//!   keep each record after those it needs (the act it names, the record
//!   that ended an earlier marriage, the annulment of an earlier birth
//!   record, the paternity an adoption replaces), is accepted whole in
//!   every such order, with identical graphs and answers.

mod common;

use chrono::{Days, Months, NaiveDate};
use kinship::acts::{Act, ActBody, parse_line};
use kinship::generate::{GenerateOptions, generate};
use kinship::graph::FamilyGraph;
use kinship::iin::{Iin, Sex};
use kinship::ledger::Ledger;
use kinship::registry::{LineOutcome, Lines, Registry};
use kinship::resolve::{Claim, also, check};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};

fn date(s: &str) -> NaiveDate {
    kinship::acts::parse_date(s).unwrap()
}

/// Imports `records` in that order into a fresh SQLite ledger; returns the
/// registry and the accepted records in ledger order.
async fn import(records: &[String]) -> (Registry, Vec<String>, common::TestDb) {
    let db = common::TestDb::sqlite();
    let reg = Registry::open(Ledger::open(&db.url).await.unwrap())
        .await
        .unwrap();
    let ls = common::numbered(records);
    let out = reg.ingest(&ls, "prop").await.unwrap();
    let accepted = records
        .iter()
        .zip(&out)
        .filter(|(_, o)| matches!(o, LineOutcome::Accepted { .. }))
        .map(|(r, _)| r.clone())
        .collect();
    (reg, accepted, db)
}

// ---------------------------------------------------------------------------
// A validator written from "Consistency rules" and the kinds table.

/// What the accepted records say, annulled ones left out.
struct Said {
    acts: Vec<Act>,
}

const POSTHUMOUS_DAYS: u64 = 300;

impl Said {
    fn new(accepted: &[Act]) -> Said {
        let annulled: HashSet<String> = accepted
            .iter()
            .filter_map(|a| match &a.body {
                ActBody::Annulment { target_act, .. } => Some(target_act.to_string()),
                _ => None,
            })
            .collect();
        Said {
            acts: accepted
                .iter()
                .filter(|a| !annulled.contains(a.act_id.as_str()))
                .cloned()
                .collect(),
        }
    }

    fn death(&self, p: Iin) -> Option<NaiveDate> {
        self.acts.iter().find_map(|a| match &a.body {
            ActBody::Death { person, died, .. } if *person == p => Some(*died),
            _ => None,
        })
    }

    fn alive_on(&self, p: Iin, d: NaiveDate) -> bool {
        self.death(p).is_none_or(|x| d < x)
    }

    /// Every parent link: (child, parent, is mother, basis, act date).
    fn links(&self) -> Vec<(Iin, Iin, bool, &'static str, NaiveDate)> {
        let mut v = Vec::new();
        for a in &self.acts {
            match &a.body {
                ActBody::Birth {
                    child,
                    mother,
                    father,
                    date,
                    ..
                } => {
                    v.extend(mother.map(|m| (*child, m, true, "birth", *date)));
                    v.extend(father.map(|f| (*child, f, false, "birth", *date)));
                }
                ActBody::Paternity {
                    child,
                    father,
                    date,
                } => v.push((*child, *father, false, "paternity", *date)),
                ActBody::Adoption {
                    child,
                    adoptive_mother,
                    adoptive_father,
                    date,
                } => {
                    v.extend(adoptive_mother.map(|m| (*child, m, true, "adoption", *date)));
                    v.extend(adoptive_father.map(|f| (*child, f, false, "adoption", *date)));
                }
                _ => {}
            }
        }
        v
    }

    fn parents_ever(&self, c: Iin) -> HashSet<Iin> {
        self.links()
            .into_iter()
            .filter(|l| l.0 == c)
            .map(|l| l.1)
            .collect()
    }

    /// Close relatives in the marriage law's sense, on every link recorded.
    fn close(&self, a: Iin, b: Iin) -> bool {
        let (pa, pb) = (self.parents_ever(a), self.parents_ever(b));
        let grand = |x: &HashSet<Iin>| -> HashSet<Iin> {
            x.iter().flat_map(|&p| self.parents_ever(p)).collect()
        };
        pa.contains(&b)
            || pb.contains(&a)
            || grand(&pa).contains(&b)
            || grand(&pb).contains(&a)
            || !pa.is_disjoint(&pb)
    }

    /// Marriages: (act id, spouses, from, end).
    fn marriages(&self) -> Vec<(String, [Iin; 2], NaiveDate, Option<NaiveDate>)> {
        self.acts
            .iter()
            .filter_map(|a| match &a.body {
                ActBody::Marriage { date, spouses } => {
                    let divorce = self.divorces(a.act_id.as_str()).into_iter().min();
                    let end = [divorce, self.death(spouses[0]), self.death(spouses[1])]
                        .into_iter()
                        .flatten()
                        .min();
                    Some((a.act_id.to_string(), *spouses, *date, end))
                }
                _ => None,
            })
            .collect()
    }

    fn divorces(&self, marriage: &str) -> Vec<NaiveDate> {
        self.acts
            .iter()
            .filter_map(|a| match &a.body {
                ActBody::Divorce { date, marriage_act } if marriage_act.as_str() == marriage => {
                    Some(*date)
                }
                _ => None,
            })
            .collect()
    }

    /// Every way the records break the law; empty when they describe a
    /// possible state.
    fn violations(&self) -> Vec<String> {
        let mut bad = Vec::new();
        let mut deaths: HashMap<Iin, usize> = HashMap::new();
        let mut births: HashMap<Iin, usize> = HashMap::new();
        for a in &self.acts {
            match &a.body {
                ActBody::Death { person, .. } => *deaths.entry(*person).or_default() += 1,
                ActBody::Birth { child, .. } => *births.entry(*child).or_default() += 1,
                _ => {}
            }
        }
        for (p, n) in deaths {
            if n > 1 {
                bad.push(format!("{p} has {n} deaths"));
            }
        }
        for (p, n) in births {
            if n > 1 {
                bad.push(format!("{p} has {n} birth records"));
            }
        }
        let links = self.links();
        let mut fathers: HashMap<Iin, usize> = HashMap::new();
        let mut adoptions: HashMap<(Iin, bool, NaiveDate), usize> = HashMap::new();
        for &(c, p, mother, basis, d) in &links {
            let name = format!("{basis} link {p} -> {c}");
            if p == c || (p.sex() == Sex::Female) != mother {
                bad.push(format!("{name}: wrong person or sex"));
            }
            let twelve = p.birth_date().checked_add_months(Months::new(144)).unwrap();
            if c.birth_date() < twelve {
                bad.push(format!("{name}: parent under 12 at the birth"));
            }
            match basis {
                "adoption" => {
                    *adoptions.entry((c, mother, d)).or_default() += 1;
                    if !self.alive_on(p, d) || !self.alive_on(c, d) || d < c.birth_date() {
                        bad.push(format!(
                            "{name}: adoption after a death or before the birth"
                        ));
                    }
                }
                _ if mother => {
                    if self.death(p).is_some_and(|x| x < c.birth_date()) {
                        bad.push(format!("{name}: mother died before the birth"));
                    }
                }
                _ => {
                    *fathers.entry(c).or_default() += 1;
                    if self
                        .death(p)
                        .is_some_and(|x| x + Days::new(POSTHUMOUS_DAYS) < c.birth_date())
                    {
                        bad.push(format!(
                            "{name}: father died over 300 days before the birth"
                        ));
                    }
                }
            }
        }
        for (c, n) in fathers {
            if n > 1 {
                bad.push(format!("{c} has {n} fathers by birth record or paternity"));
            }
        }
        for ((c, _, d), n) in adoptions {
            if n > 1 {
                bad.push(format!("{c} has {n} adoptive parents in one role from {d}"));
            }
        }
        let marriages = self.marriages();
        for (id, [a, b], from, end) in &marriages {
            let name = format!("marriage {id}");
            if a == b || a.sex() == b.sex() {
                bad.push(format!("{name}: same person or same sex"));
            }
            for s in [a, b] {
                let sixteen = s.birth_date().checked_add_months(Months::new(192)).unwrap();
                if *from < sixteen || !self.alive_on(*s, *from) {
                    bad.push(format!("{name}: {s} under 16 or dead"));
                }
            }
            if self.close(*a, *b) {
                bad.push(format!("{name}: close relatives"));
            }
            let divorces = self.divorces(id);
            if divorces.len() > 1 {
                bad.push(format!("{name}: two divorces"));
            }
            for d in divorces {
                let died = [self.death(*a), self.death(*b)].into_iter().flatten().min();
                if d < *from || died.is_some_and(|x| x <= d) {
                    bad.push(format!("{name}: divorce before it or after a death"));
                }
            }
            for (id2, s2, from2, end2) in &marriages {
                let shares = s2.iter().any(|x| *x == *a || *x == *b);
                let overlap = end2.is_none_or(|e| *from < e) && end.is_none_or(|e| *from2 < e);
                if id2 != id && shares && overlap {
                    bad.push(format!("{name} and {id2} overlap"));
                }
            }
        }
        bad
    }
}

// ---------------------------------------------------------------------------
// Random records among a few people.

/// Ten people born 1930-2000, men and women, with fixed IINs.
fn pool() -> Vec<Iin> {
    let births = [
        ("1930-03-01", Sex::Male),
        ("1932-05-02", Sex::Female),
        ("1950-07-03", Sex::Male),
        ("1953-09-04", Sex::Female),
        ("1955-11-05", Sex::Male),
        ("1962-01-06", Sex::Female),
        ("1975-04-07", Sex::Male),
        ("1978-06-08", Sex::Female),
        ("1990-08-09", Sex::Male),
        ("1998-10-10", Sex::Female),
    ];
    births
        .iter()
        .enumerate()
        .map(|(i, (d, s))| {
            (0..100)
                .find_map(|k| Iin::compose(date(d), *s, 9000 + i as u16 * 100 + k))
                .unwrap()
        })
        .collect()
}

/// `n` records among the pool: mostly plausible (parents a generation
/// older, marriages of adults), so that many are accepted and many clash.
fn soup(seed: u64, n: usize) -> Vec<String> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let people = pool();
    let last = date("2025-12-31");
    let mut out = Vec::new();
    let mut marriages: Vec<(String, NaiveDate, [Iin; 2])> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    // Deaths and divorces, which annulments aim at more often (taking one
    // back lengthens marriages), and parents named so far (whose deaths
    // may fall before a birth).
    let mut ends: Vec<String> = Vec::new();
    let mut parents: Vec<(Iin, NaiveDate)> = Vec::new();
    let later = |rng: &mut rand_pcg::Pcg64Mcg, from: NaiveDate, years: u64| {
        (from + Days::new(rng.random_range(0..=years * 365))).min(last)
    };
    // A parent of `child`'s sex `sex`: usually 15 to 45 years older.
    let parent = |rng: &mut rand_pcg::Pcg64Mcg, child: Iin, sex: Sex| -> Option<Iin> {
        let fit: Vec<Iin> = people
            .iter()
            .copied()
            .filter(|p| p.sex() == sex)
            .filter(|p| {
                let gap = (child.birth_date() - p.birth_date()).num_days() / 365;
                rng.random_bool(0.1) || (15..=45).contains(&gap)
            })
            .collect();
        (!fit.is_empty()).then(|| fit[rng.random_range(0..fit.len())])
    };
    for i in 0..n {
        let id = format!("S{i}");
        let child = people[rng.random_range(0..people.len())];
        let v = match rng.random_range(0..13) {
            0 | 1 => {
                let mut v = serde_json::json!({"kind": "birth", "act_id": id, "child": child.to_string(),
                    "date": later(&mut rng, child.birth_date(), 2).to_string()});
                if rng.random_bool(0.85)
                    && let Some(m) = parent(&mut rng, child, Sex::Female)
                {
                    v["mother"] = m.to_string().into();
                    parents.push((m, child.birth_date()));
                }
                if rng.random_bool(0.6)
                    && let Some(f) = parent(&mut rng, child, Sex::Male)
                {
                    v["father"] = f.to_string().into();
                    parents.push((f, child.birth_date()));
                }
                v
            }
            2 => {
                let Some(f) = parent(&mut rng, child, Sex::Male) else {
                    continue;
                };
                serde_json::json!({"kind": "paternity", "act_id": id, "child": child.to_string(),
                    "father": f.to_string(), "date": later(&mut rng, child.birth_date(), 20).to_string()})
            }
            3 => {
                let sex = if rng.random_bool(0.5) {
                    Sex::Female
                } else {
                    Sex::Male
                };
                let Some(p) = parent(&mut rng, child, sex) else {
                    continue;
                };
                let role = if sex == Sex::Female {
                    "adoptive_mother"
                } else {
                    "adoptive_father"
                };
                let mut v = serde_json::json!({"kind": "adoption", "act_id": id, "child": child.to_string(),
                    "date": later(&mut rng, child.birth_date(), 17).to_string()});
                v[role] = p.to_string().into();
                v
            }
            4..=6 => {
                let pick = |rng: &mut rand_pcg::Pcg64Mcg, sex: Sex| {
                    let v: Vec<Iin> = people.iter().copied().filter(|p| p.sex() == sex).collect();
                    v[rng.random_range(0..v.len())]
                };
                let (a, b) = (pick(&mut rng, Sex::Male), pick(&mut rng, Sex::Female));
                let adult = a.birth_date().max(b.birth_date()) + Months::new(16 * 12);
                let d = later(&mut rng, adult, 40);
                marriages.push((id.clone(), d, [a, b]));
                serde_json::json!({"kind": "marriage", "act_id": id,
                    "spouses": [a.to_string(), b.to_string()], "date": d.to_string()})
            }
            7 | 8 => {
                if marriages.is_empty() {
                    continue;
                }
                let (m, since, _) = marriages[rng.random_range(0..marriages.len())].clone();
                ends.push(id.clone());
                serde_json::json!({"kind": "divorce", "act_id": id, "marriage_act": m,
                    "date": later(&mut rng, since, 25).to_string()})
            }
            9..=11 => {
                // Often a spouse, dying while married (before or after a divorce).
                // Often a spouse, dying while married (before or after a
                // divorce), or a parent, around the child's birth.
                let (who, died) = match rng.random_range(0..3) {
                    0 if !marriages.is_empty() => {
                        let (_, since, pair) = marriages[rng.random_range(0..marriages.len())];
                        (pair[rng.random_range(0..2)], later(&mut rng, since, 25))
                    }
                    1 if !parents.is_empty() => {
                        let (p, born) = parents[rng.random_range(0..parents.len())];
                        let before = born - Days::new(rng.random_range(0..2 * 365));
                        (p, before.max(p.birth_date()))
                    }
                    _ => (child, later(&mut rng, child.birth_date(), 90)),
                };
                ends.push(id.clone());
                serde_json::json!({"kind": "death", "act_id": id, "person": who.to_string(),
                    "died": died.to_string(), "date": later(&mut rng, died, 0).to_string(),
                    "basis": if rng.random_bool(0.2) { "court_declaration" } else { "registered" }})
            }
            _ => {
                let from = if !ends.is_empty() && rng.random_bool(0.6) {
                    &ends
                } else {
                    &ids
                };
                if from.is_empty() {
                    continue;
                }
                let t = from[rng.random_range(0..from.len())].clone();
                serde_json::json!({"kind": "annulment", "act_id": id, "target_act": t, "date": "2025-12-31"})
            }
        };
        ids.push(id);
        out.push(v.to_string());
    }
    // Now and then the classic clash: a widow (or divorcee) remarries, and
    // the death (or divorce) that freed her is then annulled.
    // Its people are the pool's middle generation, so they meet the soup.
    out.shuffle(&mut rng);
    if rng.random_bool(0.6) {
        let (a, b, c) = (people[2], people[3], people[4]);
        let d1 = later(
            &mut rng,
            a.birth_date().max(b.birth_date()) + Months::new(16 * 12),
            20,
        );
        let (d2, d3) = (later(&mut rng, d1, 10), later(&mut rng, d1, 25));
        let k = n;
        let end = if rng.random_bool(0.5) {
            serde_json::json!({"kind": "death", "act_id": format!("X{k}d"), "person": a.to_string(), "died": d2.to_string(), "date": d2.to_string()})
        } else {
            serde_json::json!({"kind": "divorce", "act_id": format!("X{k}d"), "marriage_act": format!("X{k}a"), "date": d2.to_string()})
        };
        let scenario = [
            serde_json::json!({"kind": "marriage", "act_id": format!("X{k}a"), "spouses": [a.to_string(), b.to_string()], "date": d1.to_string()}),
            end,
            serde_json::json!({"kind": "marriage", "act_id": format!("X{k}b"), "spouses": [c.to_string(), b.to_string()], "date": d3.to_string()}),
            serde_json::json!({"kind": "annulment", "act_id": format!("X{k}n"), "target_act": format!("X{k}d"), "date": "2025-12-31"}),
        ];
        // Mostly in this order, spread among the others; now and then the
        // remarriage after the annulment.
        let mut at: Vec<usize> = (0..4).map(|_| rng.random_range(0..=out.len())).collect();
        at.sort();
        if rng.random_bool(0.3) {
            at.swap(2, 3);
        }
        for (i, rec) in scenario.iter().enumerate().rev() {
            out.insert(at[i].min(out.len()), rec.to_string());
        }
    }
    out
}

/// A random order of `records` in which every record comes after the act
/// it names (so no reference is refused for arriving first).
fn reorder(records: &[String], seed: u64) -> Vec<String> {
    let acts: Vec<Act> = records
        .iter()
        .map(|r| parse_line(r.as_bytes()).unwrap())
        .collect();
    let deps: Vec<Vec<usize>> = {
        let index: HashMap<&str, usize> = acts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.act_id.as_str(), i))
            .collect();
        acts.iter()
            .map(|a| {
                a.reference()
                    .and_then(|r| index.get(r.as_str()).copied())
                    .into_iter()
                    .collect()
            })
            .collect()
    };
    topo_random(&deps, seed)
        .into_iter()
        .map(|i| records[i].clone())
        .collect()
}

/// A random topological order of `0..deps.len()` (`deps[i]` before `i`).
fn topo_random(deps: &[Vec<usize>], seed: u64) -> Vec<usize> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            after[d].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while !ready.is_empty() {
        let k = rng.random_range(0..ready.len());
        let i = ready.swap_remove(k);
        out.push(i);
        for &j in &after[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.push(j);
            }
        }
    }
    assert_eq!(out.len(), n, "dependencies have a cycle");
    out
}

/// Everything a caller could ask about `people` on `dates`, as text: every
/// claim (with evidence and detail), `also`, parents, children, spouse.
fn answers(g: &FamilyGraph, people: &[Iin], dates: &[NaiveDate]) -> Vec<String> {
    let mut out = Vec::new();
    for &on in dates {
        for &a in people {
            let pa = g.person(a);
            if let Some(p) = pa {
                let ps = g.parents_on(p, on);
                let show = |l: Option<kinship::graph::ParentLink>| {
                    l.map(|l| (g.iin(l.parent), g.act_id(l.act).to_owned()))
                };
                let mut kids: Vec<(Iin, String)> = g
                    .children_on(p, on)
                    .map(|c| (g.iin(c.child), g.act_id(c.act).to_owned()))
                    .collect();
                kids.sort();
                let spouse = g
                    .spouse_on(p, on)
                    .map(|m| (g.iin(m.spouse), g.act_id(m.act).to_owned()));
                out.push(format!(
                    "{on} {a}: parents {:?} {:?}, children {kids:?}, spouse {spouse:?}, died {:?}",
                    show(ps.mother),
                    show(ps.father),
                    g.death_on(p, on)
                ));
            }
            for &b in people {
                for claim in Claim::ALL {
                    let v = check(g, pa, g.person(b), claim, on);
                    let ev: Vec<&str> = v.evidence.iter().map(|h| g.act_id(*h)).collect();
                    out.push(format!(
                        "{on} {a} {b} {claim:?}: {} {:?} {:?} {ev:?} {}",
                        v.confirmed,
                        v.reason,
                        v.in_law,
                        v.detail.render(g, on)
                    ));
                }
                if let (Some(x), Some(y)) = (pa, g.person(b))
                    && x != y
                {
                    out.push(format!(
                        "{on} {a} {b} also {:?}",
                        also(g, x, y, Claim::Child, on)
                    ));
                }
            }
        }
    }
    out
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn nothing_the_law_forbids_is_ever_accepted_and_order_does_not_change_answers(seed in 0u64..u64::MAX, n in 10usize..60) {
        let records = soup(seed, n);
        rt().block_on(async {
            let (reg, accepted, _db) = import(&records).await;
            let acts: Vec<Act> = accepted.iter().map(|r| parse_line(r.as_bytes()).unwrap()).collect();
            let bad = Said::new(&acts).violations();
            prop_assert!(bad.is_empty(), "accepted a forbidden state: {bad:?}\nrecords in arrival order:\n{}", records.join("\n"));
            // Each spouse's family names the other.
            {
                let g = reg.graph();
                let dates = ["1960-01-01", "1990-01-01", "2025-12-31"].map(date);
                prop_assert_eq!(g.check_inline_parents(&dates), Ok(()));
                for p in pool() {
                    let Some(x) = g.person(p) else { continue };
                    for on in ["1970-01-01", "1990-01-01", "2010-01-01"].map(date) {
                        if let Some(m) = g.spouse_on(x, on) {
                            prop_assert_eq!(g.spouse_on(m.spouse, on).map(|n| n.spouse), Some(x));
                        }
                    }
                }
            }

            // The accepted records in another order: when all are accepted
            // again, every answer is the same.
            let again = reorder(&accepted, seed ^ 0x5eed);
            let (reg2, accepted2, _db2) = import(&again).await;
            let acts2: Vec<Act> = accepted2.iter().map(|r| parse_line(r.as_bytes()).unwrap()).collect();
            let bad2 = Said::new(&acts2).violations();
            prop_assert!(bad2.is_empty(), "accepted a forbidden state: {bad2:?}");
            if accepted2.len() == accepted.len() {
                let (g1, g2) = (reg.graph(), reg2.graph());
                prop_assert_eq!(g1.canonical(), g2.canonical());
                let dates = ["1960-01-01", "1985-06-01", "2000-01-01", "2025-12-31"].map(date);
                prop_assert_eq!(answers(&g1, &pool(), &dates), answers(&g2, &pool(), &dates),
                    "orders:\n{}\n--\n{}", accepted.join("\n"), again.join("\n"));
            }
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------------------
// Generated populations, shuffled.

fn population(persons: u64, seed: u64) -> Vec<String> {
    let mut buf = Vec::new();
    generate(&GenerateOptions { persons, seed }, &mut buf).unwrap();
    Lines::new(&buf[..])
        .map(|l| String::from_utf8(l.unwrap().bytes.to_vec()).unwrap())
        .collect()
}

/// For each record, the records it needs before it to be accepted (in
/// file order, where the generator wrote them so): the act it names; for
/// a marriage, whatever ended each earlier marriage of either spouse (its
/// annulment, divorce, or the death that ended it); for a birth record or
/// a paternity, the annulment of the child's earlier birth or paternity
/// record; for an adoption in the father's role, the child's paternity.
fn needs(acts: &[Act]) -> Vec<Vec<usize>> {
    let index: HashMap<&str, usize> = acts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.act_id.as_str(), i))
        .collect();
    let mut annulment_of: HashMap<&str, usize> = HashMap::new();
    let mut divorce_of: HashMap<&str, usize> = HashMap::new();
    let mut death_of: HashMap<Iin, (usize, NaiveDate)> = HashMap::new();
    for (i, a) in acts.iter().enumerate() {
        match &a.body {
            ActBody::Annulment { target_act, .. } => {
                annulment_of.insert(target_act.as_str(), i);
            }
            ActBody::Divorce { marriage_act, .. } => {
                divorce_of.insert(marriage_act.as_str(), i);
            }
            ActBody::Death { person, died, .. } => {
                death_of.insert(*person, (i, *died));
            }
            _ => {}
        }
    }
    let mut deps: Vec<Vec<usize>> = acts
        .iter()
        .map(|a| {
            a.reference()
                .map(|r| index[r.as_str()])
                .into_iter()
                .collect()
        })
        .collect();
    // Per person, their marriages in file order; per child, their birth and
    // paternity records.
    let mut marriages: BTreeMap<Iin, Vec<usize>> = BTreeMap::new();
    let mut father_records: BTreeMap<Iin, Vec<usize>> = BTreeMap::new();
    let mut birth_records: BTreeMap<Iin, Vec<usize>> = BTreeMap::new();
    let mut paternities: BTreeMap<Iin, Vec<usize>> = BTreeMap::new();
    for (i, a) in acts.iter().enumerate() {
        match &a.body {
            ActBody::Marriage { spouses, .. } => {
                for s in spouses {
                    marriages.entry(*s).or_default().push(i);
                }
            }
            ActBody::Birth { child, father, .. } => {
                birth_records.entry(*child).or_default().push(i);
                if father.is_some() {
                    father_records.entry(*child).or_default().push(i);
                }
            }
            ActBody::Paternity { child, .. } => {
                father_records.entry(*child).or_default().push(i);
                paternities.entry(*child).or_default().push(i);
            }
            _ => {}
        }
    }
    let ended_by = |m: usize| -> Option<usize> {
        let id = acts[m].act_id.as_str();
        if let Some(&a) = annulment_of.get(id) {
            return Some(a);
        }
        if let Some(&d) = divorce_of.get(id) {
            return Some(d);
        }
        let ActBody::Marriage { spouses, .. } = &acts[m].body else {
            unreachable!()
        };
        spouses
            .iter()
            .filter_map(|s| death_of.get(s))
            .min_by_key(|(_, d)| *d)
            .map(|(i, _)| *i)
    };
    for ms in marriages.values() {
        for (k, &later) in ms.iter().enumerate() {
            for &earlier in &ms[..k] {
                deps[later].extend(ended_by(earlier));
            }
        }
    }
    for recs in birth_records.values().chain(father_records.values()) {
        for w in recs.windows(2) {
            deps[w[1]].extend(annulment_of.get(acts[w[0]].act_id.as_str()));
        }
    }
    for (i, a) in acts.iter().enumerate() {
        if let ActBody::Adoption {
            child,
            adoptive_father: Some(_),
            ..
        } = &a.body
        {
            deps[i].extend(paternities.get(child).into_iter().flatten());
        }
    }
    deps
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn a_generated_population_in_any_valid_order_gives_the_same_graph_and_answers(seed in 0u64..1_000_000) {
        let records = population(250, seed);
        let acts: Vec<Act> = records.iter().map(|r| parse_line(r.as_bytes()).unwrap()).collect();
        let deps = needs(&acts);
        let people: Vec<Iin> = {
            let mut all: Vec<Iin> = acts.iter().flat_map(|a| a.persons()).collect::<HashSet<_>>().into_iter().collect();
            all.sort();
            let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
            all.shuffle(&mut rng);
            all.truncate(28);
            all
        };
        let dates = ["1950-06-01", "1985-01-01", "2001-07-15", "2025-06-01"].map(date);
        rt().block_on(async {
            let (reg, accepted, _db) = import(&records).await;
            prop_assert_eq!(accepted.len(), records.len());
            let want = reg.graph().canonical();
            let want_answers = answers(&reg.graph(), &people, &dates);
            for k in 0..2u64 {
                let order = topo_random(&deps, seed.wrapping_mul(31).wrapping_add(k));
                let shuffled: Vec<String> = order.iter().map(|&i| records[i].clone()).collect();
                let (reg2, accepted2, _db2) = import(&shuffled).await;
                if accepted2.len() != records.len() {
                    let kept: HashSet<&String> = accepted2.iter().collect();
                    let lost: Vec<&String> = shuffled.iter().filter(|r| !kept.contains(r)).take(5).collect();
                    prop_assert!(false, "refused in a valid order: {lost:?}");
                }
                let g2 = reg2.graph();
                prop_assert_eq!(&g2.canonical(), &want);
                prop_assert_eq!(answers(&g2, &people, &dates), want_answers.clone());
            }
            Ok(())
        })?;
    }
}
