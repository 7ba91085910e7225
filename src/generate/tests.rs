//! Tests of the generator's output: determinism, identifiers, counts, and a
//! checker that replays the records in order with the registry's rules.

use super::names::{self, Group};
use super::*;
use crate::iin::{Iin, Sex};
use chrono::{Months, NaiveDate};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

fn run(persons: u64, seed: u64) -> (Vec<u8>, GenerateSummary) {
    let mut out = Vec::new();
    let summary = generate(&GenerateOptions { persons, seed }, &mut out).expect("writes to a Vec");
    (out, summary)
}

fn lines(out: &[u8]) -> Vec<Map<String, Value>> {
    std::str::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(Value::Object(o)) => o,
            other => panic!("not a JSON object: {l}: {other:?}"),
        })
        .collect()
}

const IIN_FIELDS: [&str; 7] = [
    "child",
    "mother",
    "father",
    "person",
    "adoptive_mother",
    "adoptive_father",
    "spouses",
];

/// Every IIN a record mentions.
fn iins(r: &Map<String, Value>) -> Vec<&str> {
    let mut v = Vec::new();
    for f in IIN_FIELDS {
        match r.get(f) {
            Some(Value::String(s)) => v.push(s.as_str()),
            Some(Value::Array(a)) => v.extend(a.iter().map(|x| x.as_str().expect("IIN string"))),
            _ => {}
        }
    }
    v
}

#[test]
fn same_seed_gives_same_bytes_and_another_seed_others() {
    let (a, sa) = run(4000, 7);
    let (b, sb) = run(4000, 7);
    assert!(a == b, "same seed, different output");
    assert_eq!(sa, sb);
    let (c, _) = run(4000, 8);
    assert!(a != c, "different seeds, same output");
}

#[test]
fn exact_person_count_valid_unique_iins_and_act_ids() {
    for (n, seed) in [(1, 1), (2, 2), (5, 3), (37, 4), (1000, 5), (7001, 6)] {
        let (out, summary) = run(n, seed);
        let recs = lines(&out);
        assert_eq!(summary.persons, n);
        assert_eq!(summary.records, recs.len() as u64);
        assert_eq!(summary.by_kind.values().sum::<u64>(), summary.records);
        let mut persons = HashSet::new();
        let mut acts = HashSet::new();
        for r in &recs {
            for s in iins(r) {
                let iin = Iin::parse(s).unwrap_or_else(|e| panic!("invalid IIN {s}: {e}"));
                persons.insert(iin);
            }
            let id = r["act_id"].as_str().expect("act_id");
            assert!(acts.insert(id.to_string()), "duplicate act_id {id}");
        }
        assert_eq!(persons.len() as u64, n, "distinct IINs for N = {n}");
    }
}

#[test]
fn every_kind_is_present_from_5000_persons() {
    for seed in [11, 12, 13] {
        every_kind_is_present(seed);
    }
}

fn every_kind_is_present(seed: u64) {
    let (out, summary) = run(5000, seed);
    for k in Kind::ALL {
        assert!(
            summary.by_kind[k.as_str()] > 0,
            "no {} record: {:?}",
            k.as_str(),
            summary.by_kind
        );
    }
    let recs = lines(&out);
    let has = |f: &dyn Fn(&Map<String, Value>) -> bool| recs.iter().any(f);
    assert!(has(
        &|r| r.get("basis").and_then(Value::as_str) == Some("court_declaration")
    ));
    assert!(has(
        &|r| r["kind"] == "adoption" && r.contains_key("adoptive_mother")
    ));
    assert!(has(
        &|r| r["kind"] == "adoption" && !r.contains_key("adoptive_mother")
    ));
    assert!(has(
        &|r| r["kind"] == "residence" && r.get("type").and_then(Value::as_str) == Some("temporary")
    ));
    assert!(has(&|r| r["kind"] == "birth" && !r.contains_key("father")));
    let residence = summary.by_kind["residence"] as f64 / summary.records as f64;
    assert!(
        (0.4..0.6).contains(&residence),
        "residence share {residence}"
    );
}

#[test]
fn names_need_no_escaping_and_fit() {
    let ok = |s: &str| {
        let n = s.chars().count();
        (1..=100).contains(&n) && !s.chars().any(|c| c == '"' || c == '\\' || c.is_control())
    };
    for g in [Group::Kazakh, Group::Russian, Group::Korean] {
        for (m, f) in names::surnames(g) {
            assert!(ok(m) && ok(f), "{m} / {f}");
        }
        for m in names::male_names(g) {
            // The stem is the name itself, less a final й/ь, or -ий → -ь.
            let soft_ij = m.given.strip_suffix("ий").map(|s| format!("{s}ь"));
            let stem_ok = m.given.starts_with(m.stem) || soft_ij.as_deref() == Some(m.stem);
            assert!(ok(m.given) && ok(m.stem) && stem_ok, "{}", m.given);
        }
        for f in names::female_names(g) {
            assert!(ok(f), "{f}");
        }
    }
}

#[test]
fn first_records_look_normal() {
    let (out, _) = run(3000, 1);
    let recs = lines(&out);
    for r in &recs[..20] {
        let kind = r["kind"].as_str().expect("kind");
        assert!(["marriage", "residence", "birth"].contains(&kind), "{r:?}");
    }
}

#[test]
fn all_rules_hold_on_20000_persons() {
    let (out, summary) = run(20_000, 42);
    let recs = lines(&out);
    let stats = Checker::check(&recs);
    assert_eq!(stats.persons, 20_000);
    assert_eq!(summary.records, recs.len() as u64);
    assert!(stats.birth_annulments > 0 && stats.marriage_annulments > 0);
}

/// The checker itself must refuse what the registry refuses.
#[test]
fn checker_catches_violations() {
    let ok = [
        r#"{"kind":"marriage","act_id":"M-1998-0001","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
        r#"{"kind":"birth","act_id":"B-2001-0002","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125","name":{"surname":"Ахметов","given":"Ерлан","patronymic":"Маратович"}}"#,
    ];
    let bad = [
        // married twice at once
        r#"{"kind":"marriage","act_id":"M-2000-0001","date":"2000-01-01","spouses":["720415300125","850312400019"]}"#,
        // divorce before the marriage
        r#"{"kind":"divorce","act_id":"R-1990-0001","date":"1990-01-01","marriage_act":"M-1998-0001"}"#,
        // second birth record
        r#"{"kind":"birth","act_id":"B-2001-0003","date":"2001-03-10","child":"010305500121"}"#,
        // paternity although the birth record names the father
        r#"{"kind":"paternity","act_id":"PT-2002-0001","date":"2002-01-01","child":"010305500121","father":"720415300125"}"#,
        // extra field
        r#"{"kind":"death","act_id":"D-2019-0004","date":"2019-01-15","person":"720415300125","cause":"x"}"#,
        // out of date order for the child
        r#"{"kind":"residence","act_id":"REG-1","person":"010305500121","dwelling":"A-000001","from":"2001-01-01"}"#,
    ];
    let parse = |l: &str| match serde_json::from_str(l) {
        Ok(Value::Object(o)) => o,
        _ => unreachable!(),
    };
    let good: Vec<_> = ok.iter().map(|l| parse(l)).collect();
    Checker::check(&good);
    for b in bad {
        let mut recs = good.clone();
        recs.push(parse(b));
        let caught = std::panic::catch_unwind(|| Checker::check(&recs)).is_err();
        assert!(caught, "not caught: {b}");
    }
}

// ---- the checker ------------------------------------------------------------

struct Act {
    kind: String,
    date: NaiveDate,
    annulled: bool,
    /// Marriage: the spouses; birth: the child.
    persons: Vec<Iin>,
    divorced: Option<NaiveDate>,
}

#[derive(Default)]
struct PersonState {
    last_date: Option<NaiveDate>,
    /// The birth record in force, and whether it names a father.
    birth: Option<(String, bool)>,
    paternity: bool,
    adoptive_father: bool,
    marriages: Vec<String>,
}

#[derive(Default)]
struct Checker {
    /// Pass 1: every death, marriages some divorce refers to, and everyone
    /// appearing in an adoption.
    died: HashMap<Iin, NaiveDate>,
    divorced: HashSet<String>,
    in_adoption: HashSet<Iin>,
    // Pass 2 state.
    acts: HashMap<String, Act>,
    people: HashMap<Iin, PersonState>,
    deaths_seen: HashMap<Iin, NaiveDate>,
    birth_parents: HashMap<String, Vec<Iin>>,
    /// Children whose birth record was annulled and not yet registered again.
    annulled_births: HashSet<Iin>,
    birth_annulments: usize,
    marriage_annulments: usize,
    reregistered: usize,
}

struct Stats {
    persons: usize,
    birth_annulments: usize,
    marriage_annulments: usize,
}

fn fields(kind: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        "birth" => (
            &["kind", "act_id", "date", "child"],
            &["mother", "father", "name"],
        ),
        "paternity" => (&["kind", "act_id", "date", "child", "father"], &[]),
        "adoption" => (
            &["kind", "act_id", "date", "child"],
            &["adoptive_mother", "adoptive_father"],
        ),
        "marriage" => (&["kind", "act_id", "date", "spouses"], &[]),
        "divorce" => (&["kind", "act_id", "date", "marriage_act"], &[]),
        "death" => (&["kind", "act_id", "date", "person"], &["died", "basis"]),
        "name_change" => (&["kind", "act_id", "date", "person", "name"], &[]),
        "annulment" => (&["kind", "act_id", "date", "target_act"], &[]),
        "residence" => (
            &["kind", "act_id", "person", "dwelling", "from"],
            &["to", "type"],
        ),
        other => panic!("unknown kind {other}"),
    }
}

fn date(r: &Map<String, Value>, f: &str) -> NaiveDate {
    let s = r[f]
        .as_str()
        .unwrap_or_else(|| panic!("{f} not a string: {r:?}"));
    assert_eq!(s.len(), 10, "{f}: {s}");
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("{f}: {s}: {e}"))
}

fn iin(r: &Map<String, Value>, f: &str) -> Iin {
    let s = r[f]
        .as_str()
        .unwrap_or_else(|| panic!("{f} not a string: {r:?}"));
    Iin::parse(s).unwrap_or_else(|e| panic!("{f}: {s}: {e}"))
}

fn opt_iin(r: &Map<String, Value>, f: &str) -> Option<Iin> {
    r.contains_key(f).then(|| iin(r, f))
}

fn check_name(r: &Map<String, Value>) {
    let Some(n) = r.get("name") else { return };
    let n = n
        .as_object()
        .unwrap_or_else(|| panic!("name not an object: {r:?}"));
    for (k, v) in n {
        assert!(
            ["surname", "given", "patronymic"].contains(&k.as_str()),
            "name field {k}"
        );
        let s = v.as_str().unwrap_or_else(|| panic!("name part {k}: {r:?}"));
        assert!(
            (1..=100).contains(&s.chars().count()),
            "name part {k} length: {r:?}"
        );
    }
    assert!(
        n.contains_key("surname") && n.contains_key("given"),
        "{r:?}"
    );
}

fn years_later(d: NaiveDate, years: u32) -> NaiveDate {
    d.checked_add_months(Months::new(12 * years))
        .expect("in range")
}

impl Checker {
    fn check(recs: &[Map<String, Value>]) -> Stats {
        let mut c = Checker::default();
        for r in recs {
            match r["kind"].as_str().expect("kind") {
                "death" => {
                    let p = iin(r, "person");
                    let died = if r.contains_key("died") {
                        date(r, "died")
                    } else {
                        date(r, "date")
                    };
                    assert!(c.died.insert(p, died).is_none(), "second death: {r:?}");
                }
                "divorce" => {
                    c.divorced
                        .insert(r["marriage_act"].as_str().expect("act").to_string());
                }
                "adoption" => {
                    c.in_adoption.insert(iin(r, "child"));
                    c.in_adoption.extend(opt_iin(r, "adoptive_mother"));
                    c.in_adoption.extend(opt_iin(r, "adoptive_father"));
                }
                _ => {}
            }
        }
        let end = NaiveDate::from_ymd_opt(2025, 12, 31).expect("date");
        for (line, r) in recs.iter().enumerate() {
            c.record(r, end)
                .unwrap_or_else(|e| panic!("line {}: {e}: {r:?}", line + 1));
        }
        assert_eq!(
            c.reregistered, c.birth_annulments,
            "every annulled birth is registered again"
        );
        Stats {
            persons: c.people.len(),
            birth_annulments: c.birth_annulments,
            marriage_annulments: c.marriage_annulments,
        }
    }

    fn alive_on(&self, p: Iin, d: NaiveDate) -> Result<(), String> {
        match self.died.get(&p) {
            Some(&died) if died < d => Err(format!("{} died {died}, before {d}", p)),
            _ => Ok(()),
        }
    }

    fn record(&mut self, r: &Map<String, Value>, end: NaiveDate) -> Result<(), String> {
        let kind = r["kind"].as_str().ok_or("kind")?.to_string();
        let (required, optional) = fields(&kind);
        for f in required {
            if !r.contains_key(*f) {
                return Err(format!("missing {f}"));
            }
        }
        for (k, v) in r {
            if !required.contains(&k.as_str()) && !optional.contains(&k.as_str()) {
                return Err(format!("extra field {k}"));
            }
            if v.is_null() {
                return Err(format!("null {k}"));
            }
        }
        let id = r["act_id"].as_str().ok_or("act_id")?.to_string();
        let id_ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_/.".contains(&b));
        if !id_ok || self.acts.contains_key(&id) {
            return Err(format!("bad or duplicate act_id {id}"));
        }
        let d = if kind == "residence" {
            date(r, "from")
        } else {
            date(r, "date")
        };
        if d > end {
            return Err(format!("dated after the end: {d}"));
        }
        check_name(r);
        // Records of one person come in date order (clusters are sorted).
        let mut people = Vec::new();
        for s in iins(r) {
            people.push(Iin::parse(s).map_err(|e| format!("{s}: {e}"))?);
        }
        for &p in &people {
            let st = self.people.entry(p).or_default();
            if st.last_date.is_some_and(|last| last > d) {
                return Err(format!("out of date order for {p}"));
            }
            st.last_date = Some(d);
        }
        let mut act = Act {
            kind: kind.clone(),
            date: d,
            annulled: false,
            persons: vec![],
            divorced: None,
        };
        match kind.as_str() {
            "birth" => {
                let child = iin(r, "child");
                if d < child.birth_date() {
                    return Err("registered before the birth".into());
                }
                for (f, sex) in [("mother", Sex::Female), ("father", Sex::Male)] {
                    if let Some(p) = opt_iin(r, f) {
                        let age = (child.birth_date() - p.birth_date()).num_days() / 365;
                        if p.sex() != sex || !(14..=65).contains(&age) {
                            return Err(format!("{f} of wrong sex or age {age}"));
                        }
                    }
                }
                let st = self.people.get_mut(&child).expect("seen");
                if st.birth.is_some() {
                    return Err("second birth record".into());
                }
                st.birth = Some((id.clone(), r.contains_key("father")));
                act.persons = vec![child];
                if self.annulled_births.remove(&child) {
                    self.reregistered += 1;
                }
            }
            "paternity" => {
                let (child, father) = (iin(r, "child"), iin(r, "father"));
                if father.sex() != Sex::Male || father.birth_date() >= child.birth_date() {
                    return Err("father of wrong sex or age".into());
                }
                let st = self.people.get_mut(&child).expect("seen");
                let Some((birth_act, names_father)) = &st.birth else {
                    return Err("paternity without a birth record".into());
                };
                if *names_father || st.paternity || st.adoptive_father {
                    return Err("child already has a father".into());
                }
                if self.acts[birth_act].date >= d {
                    return Err("paternity not after the birth record".into());
                }
                st.paternity = true;
            }
            "adoption" => {
                let child = iin(r, "child");
                let (m, f) = (opt_iin(r, "adoptive_mother"), opt_iin(r, "adoptive_father"));
                if m.is_none() && f.is_none() {
                    return Err("no adoptive parent".into());
                }
                if d < child.birth_date() || d >= years_later(child.birth_date(), 18) {
                    return Err("child not a minor".into());
                }
                self.alive_on(child, d)?;
                for (p, sex) in [(m, Sex::Female), (f, Sex::Male)] {
                    if let Some(p) = p {
                        if p.sex() != sex || p.birth_date() >= child.birth_date() {
                            return Err("adoptive parent of wrong sex or age".into());
                        }
                        self.alive_on(p, d)?;
                    }
                }
                if f.is_some() {
                    self.people.get_mut(&child).expect("seen").adoptive_father = true;
                }
            }
            "marriage" => {
                let a = r["spouses"].as_array().ok_or("spouses")?;
                if a.len() != 2 || people.len() != 2 || people[0] == people[1] {
                    return Err("spouses must be two different persons".into());
                }
                if people[0].sex() == people[1].sex() {
                    return Err("spouses of the same sex".into());
                }
                for &p in &people {
                    self.alive_on(p, d)?;
                    if years_later(p.birth_date(), 16) > d {
                        return Err(format!("{p} under 16"));
                    }
                    for m in &self.people[&p].marriages {
                        let m = &self.acts[m];
                        let other = if m.persons[0] == p {
                            m.persons[1]
                        } else {
                            m.persons[0]
                        };
                        let ended = m.annulled
                            || m.divorced.is_some_and(|x| x < d)
                            || self.deaths_seen.get(&other).is_some_and(|&x| x < d);
                        if !ended {
                            return Err(format!("{p} is still married"));
                        }
                    }
                }
                for &p in &people {
                    self.people
                        .get_mut(&p)
                        .expect("seen")
                        .marriages
                        .push(id.clone());
                }
                act.persons = people.clone();
            }
            "divorce" => {
                let m_id = r["marriage_act"].as_str().ok_or("marriage_act")?;
                let m = self.acts.get(m_id).ok_or("divorce of an unknown act")?;
                if m.kind != "marriage" || m.annulled || m.divorced.is_some() || d < m.date {
                    return Err("divorce of a marriage not in force".into());
                }
                for &p in &m.persons {
                    self.alive_on(p, d)?;
                }
                self.acts.get_mut(m_id).expect("known").divorced = Some(d);
            }
            "death" => {
                let p = iin(r, "person");
                let died = if r.contains_key("died") {
                    date(r, "died")
                } else {
                    d
                };
                if died < p.birth_date() || died > d {
                    return Err("death before the birth or after its registration".into());
                }
                if let Some(b) = r.get("basis")
                    && b != "registered"
                    && b != "court_declaration"
                {
                    return Err("bad basis".into());
                }
                if self.deaths_seen.insert(p, died).is_some() {
                    return Err("second death".into());
                }
            }
            "name_change" => {
                let p = iin(r, "person");
                if d < p.birth_date() {
                    return Err("name change before the birth".into());
                }
                self.alive_on(p, d)?;
            }
            "annulment" => {
                let t_id = r["target_act"].as_str().ok_or("target_act")?;
                let t = self.acts.get(t_id).ok_or("annulment of an unknown act")?;
                if ["annulment", "divorce", "death"].contains(&t.kind.as_str())
                    || t.annulled
                    || d < t.date
                {
                    return Err("bad annulment target".into());
                }
                match t.kind.as_str() {
                    "marriage" => {
                        if self.divorced.contains(t_id) {
                            return Err("annulled marriage has a divorce".into());
                        }
                        self.marriage_annulments += 1;
                    }
                    "birth" => {
                        let child = t.persons[0];
                        let st = self.people.get_mut(&child).expect("seen");
                        if st.birth.as_ref().map(|b| b.0.as_str()) != Some(t_id) {
                            return Err("annulled birth record is not in force".into());
                        }
                        st.birth = None;
                        self.birth_annulments += 1;
                        self.annulled_births.insert(child);
                        let parents = &self.birth_parents[t_id];
                        if parents
                            .iter()
                            .chain([&child])
                            .any(|p| self.in_adoption.contains(p))
                        {
                            return Err(
                                "annulled birth record's people appear in an adoption".into()
                            );
                        }
                    }
                    _ => {}
                }
                self.acts.get_mut(t_id).expect("known").annulled = true;
            }
            "residence" => {
                let p = iin(r, "person");
                if d < p.birth_date() {
                    return Err("registered before the birth".into());
                }
                self.alive_on(p, d)?;
                if r.contains_key("to") && date(r, "to") < d {
                    return Err("to before from".into());
                }
                if let Some(t) = r.get("type")
                    && t != "permanent"
                    && t != "temporary"
                {
                    return Err("bad type".into());
                }
                let dw = r["dwelling"].as_str().ok_or("dwelling")?;
                if dw.is_empty() {
                    return Err("empty dwelling".into());
                }
            }
            _ => unreachable!(),
        }
        if kind == "birth" {
            let parents: Vec<Iin> = ["mother", "father"]
                .iter()
                .filter_map(|f| opt_iin(r, f))
                .collect();
            self.birth_parents.insert(id.clone(), parents);
        }
        self.acts.insert(id, act);
        Ok(())
    }
}

/// Longer run over several seeds: `cargo test --release -- --ignored`.
#[test]
#[ignore]
fn all_rules_hold_on_many_seeds() {
    for seed in 1..=8 {
        let (out, _) = run(60_000, seed);
        let stats = Checker::check(&lines(&out));
        assert_eq!(stats.persons, 60_000);
    }
}
