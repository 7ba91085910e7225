//! A person's family to a degree as GEDCOM 7.0 (FamilySearch GEDCOM
//! 7.0.18): an `INDI` for each person the relation finder reaches (the
//! IIN as `REFN` of type IIN, names over time as several `NAME`, sex,
//! birth, death), a `FAM` per couple (a marriage's `MARR` and `DIV`, or the
//! two legal parents of a child), children linked with `FAMC` + `PEDI`
//! (`BIRTH`, or `ADOPTED` with an `ADOP` event saying which parent
//! adopted). Every event cites the act record it rests on: one `SOUR`
//! record for the registry, the act id as the citation's `PAGE`.
//!
//! Built in two steps because names are not in the graph: [`Tree::of`]
//! under the graph's read lock, [`Tree::render`] once the names are read.

use crate::graph::{Basis, FamilyGraph, PersonId, Role};
use crate::iin::{Iin, Sex};
use crate::registry::Names;
use crate::resolve::relations;
use chrono::{Datelike, NaiveDate};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Arc;

/// The GEDCOM 7 media type.
pub const MEDIA_TYPE: &str = "text/vnd.familysearch.gedcom";

/// A GEDCOM document.
#[derive(Debug)]
pub struct Gedcom(pub String);

/// An event and the act it rests on.
#[derive(Clone, Debug)]
struct Event {
    date: NaiveDate,
    act: Option<String>,
}

#[derive(Debug)]
struct Indi {
    iin: Iin,
    birth: Event,
    death: Option<NaiveDate>,
    famc: Vec<Famc>,
    fams: Vec<usize>,
}

/// A child's link to a family: (family, pedigree, the adoption that made
/// it and who adopted: `HUSB`, `WIFE`, `BOTH`).
type Famc = (usize, &'static str, Option<(Event, &'static str)>);

#[derive(Debug, Default)]
struct Fam {
    husband: Option<usize>,
    wife: Option<usize>,
    children: Vec<usize>,
    /// (marriage, its divorce).
    marriages: Vec<(Event, Option<Event>)>,
}

/// What the export shows, read from the graph.
#[derive(Debug)]
pub struct Tree {
    indis: Vec<Indi>,
    fams: Vec<Fam>,
}

impl Tree {
    /// `me` and everyone within `degree` on `on`, and the links among them.
    pub fn of(g: &FamilyGraph, me: PersonId, on: NaiveDate, degree: u8) -> Tree {
        let persons = relations::reach(g, me, on, degree);
        let index: HashMap<PersonId, usize> =
            persons.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        let act = |h| Some(g.act_id(h).to_owned());
        let mut indis: Vec<Indi> = persons
            .iter()
            .map(|&p| Indi {
                iin: g.iin(p),
                birth: Event {
                    date: g.birth_date(p),
                    act: g.birth_record(p).and_then(act),
                },
                death: g.death_on(p, on),
                famc: Vec::new(),
                fams: Vec::new(),
            })
            .collect();
        let mut fams: Vec<Fam> = Vec::new();
        let mut by_couple: BTreeMap<(Option<usize>, Option<usize>), usize> = BTreeMap::new();
        let mut family = |h: Option<usize>, w: Option<usize>, fams: &mut Vec<Fam>| {
            *by_couple.entry((h, w)).or_insert_with(|| {
                fams.push(Fam {
                    husband: h,
                    wife: w,
                    ..Fam::default()
                });
                fams.len() - 1
            })
        };
        // Marriages among them, each couple once (seen from the husband).
        for (i, &p) in persons.iter().enumerate() {
            if g.iin(p).sex() != Sex::Male {
                continue;
            }
            for m in g.marriages(p).filter(|m| m.since <= on) {
                let Some(&w) = index.get(&m.spouse) else {
                    continue;
                };
                let f = family(Some(i), Some(w), &mut fams);
                let divorce = g.divorce_of(m.act).filter(|&d| g.act_date(d) <= on);
                fams[f].marriages.push((
                    Event {
                        date: m.since,
                        act: act(m.act),
                    },
                    divorce.map(|d| Event {
                        date: g.act_date(d),
                        act: act(d),
                    }),
                ));
            }
        }
        // Children: the parents of their birth record (and paternity), and
        // the legal parents an adoption gave them.
        for (i, &c) in persons.iter().enumerate() {
            let legal = g.parents_on(c, on);
            let links: Vec<_> = g.parent_links(c).filter(|l| l.since <= on).collect();
            let born = |role| {
                links
                    .iter()
                    .filter(|l| l.role == role && l.basis != Basis::Adoption)
                    .max_by_key(|l| l.basis)
                    .and_then(|l| index.get(&l.parent).copied())
            };
            let (bf, bm) = (born(Role::Father), born(Role::Mother));
            if bf.is_some() || bm.is_some() {
                let f = family(bf, bm, &mut fams);
                indis[i].famc.push((f, "BIRTH", None));
            }
            let adopted: Vec<_> = [legal.father, legal.mother]
                .into_iter()
                .flatten()
                .filter(|l| l.basis == Basis::Adoption)
                .collect();
            if let Some(first) = adopted.first() {
                let parent = |l: Option<crate::graph::ParentLink>| {
                    l.and_then(|l| index.get(&l.parent).copied())
                };
                let (af, am) = (parent(legal.father), parent(legal.mother));
                let roles = match adopted.len() {
                    2 => "BOTH",
                    _ if first.role == Role::Father => "HUSB",
                    _ => "WIFE",
                };
                if af.is_some() || am.is_some() {
                    let f = family(af, am, &mut fams);
                    let adoption = Event {
                        date: first.since,
                        act: act(first.act),
                    };
                    indis[i].famc.push((f, "ADOPTED", Some((adoption, roles))));
                }
            }
        }
        for (f, fam) in fams.iter().enumerate() {
            for p in [fam.husband, fam.wife].into_iter().flatten() {
                indis[p].fams.push(f);
            }
        }
        for (i, p) in indis.iter().enumerate() {
            for &(f, _, _) in &p.famc {
                if !fams[f].children.contains(&i) {
                    fams[f].children.push(i);
                }
            }
        }
        Tree { indis, fams }
    }

    /// Everyone the export shows.
    pub fn persons(&self) -> impl Iterator<Item = Iin> + '_ {
        self.indis.iter().map(|i| i.iin)
    }

    /// The GEDCOM text, with `names` (missing: no `NAME`).
    pub fn render(&self, names: &HashMap<Iin, Arc<Names>>) -> String {
        let mut out = String::with_capacity(256 * self.indis.len());
        out.push_str("0 HEAD\n1 GEDC\n2 VERS 7.0\n1 SOUR KINSHIP\n2 NAME kinship\n");
        for (i, p) in self.indis.iter().enumerate() {
            let _ = writeln!(out, "0 @I{}@ INDI", i + 1);
            if let Some(names) = names.get(&p.iin) {
                for (k, (from, n)) in names.0.iter().enumerate() {
                    let given = match &n.patronymic {
                        Some(pat) => format!("{} {pat}", n.given),
                        None => n.given.clone(),
                    };
                    let _ = writeln!(
                        out,
                        "1 NAME {} /{}/",
                        text(&given),
                        text(&n.surname).replace('/', " ")
                    );
                    if k == 0 {
                        out.push_str("2 TYPE BIRTH\n");
                    } else {
                        let _ = writeln!(
                            out,
                            "2 TYPE OTHER\n3 PHRASE Name from {}",
                            from.format("%Y-%m-%d")
                        );
                    }
                    let _ = writeln!(out, "2 GIVN {}", text(&given));
                    let _ = writeln!(out, "2 SURN {}", text(&n.surname));
                }
            }
            let sex = if p.iin.sex() == Sex::Male { "M" } else { "F" };
            let _ = writeln!(out, "1 SEX {sex}");
            event(&mut out, "BIRT", &p.birth);
            if let Some(d) = p.death {
                let _ = writeln!(out, "1 DEAT\n2 DATE {}", date(d));
            }
            for (f, pedi, adoption) in &p.famc {
                if let Some((e, roles)) = adoption {
                    event(&mut out, "ADOP", e);
                    let _ = writeln!(out, "2 FAMC @F{}@\n3 ADOP {roles}", f + 1);
                }
                let _ = writeln!(out, "1 FAMC @F{}@\n2 PEDI {pedi}", f + 1);
            }
            for f in &p.fams {
                let _ = writeln!(out, "1 FAMS @F{}@", f + 1);
            }
            let _ = writeln!(out, "1 REFN {}\n2 TYPE IIN", p.iin);
        }
        for (f, fam) in self.fams.iter().enumerate() {
            let _ = writeln!(out, "0 @F{}@ FAM", f + 1);
            if let Some(h) = fam.husband {
                let _ = writeln!(out, "1 HUSB @I{}@", h + 1);
            }
            if let Some(w) = fam.wife {
                let _ = writeln!(out, "1 WIFE @I{}@", w + 1);
            }
            for c in &fam.children {
                let _ = writeln!(out, "1 CHIL @I{}@", c + 1);
            }
            for (m, d) in &fam.marriages {
                event(&mut out, "MARR", m);
                if let Some(d) = d {
                    event(&mut out, "DIV", d);
                }
            }
        }
        out.push_str(
            "0 @S1@ SOUR\n1 TITL Civil registry (ZAGS) act records of the Republic of Kazakhstan\n0 TRLR\n",
        );
        out
    }
}

fn event(out: &mut String, tag: &str, e: &Event) {
    let _ = writeln!(out, "1 {tag}\n2 DATE {}", date(e.date));
    if let Some(act) = &e.act {
        let _ = writeln!(out, "2 SOUR @S1@\n3 PAGE {}", text(act));
    }
}

/// A GEDCOM date: `16 APR 1975`.
fn date(d: NaiveDate) -> String {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    format!("{} {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// A payload as a line value: no line breaks, a leading `@` doubled.
fn text(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match s.strip_prefix('@') {
        Some(rest) => format!("@@{rest}"),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_payloads() {
        assert_eq!(
            date(NaiveDate::from_ymd_opt(1975, 4, 6).unwrap()),
            "6 APR 1975"
        );
        assert_eq!(text("@x\nb"), "@@x b");
    }
}
