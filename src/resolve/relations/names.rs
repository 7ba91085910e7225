//! Names of a relation in Russian, Kazakh and English. The words are data
//! (`terms/*.txt`, one table per language, first matching row wins); this
//! file only works out what the rows are keyed by — the path's shape, the
//! sex of everyone along it, ego's sex, who is older than whom, and
//! whether the relation is half, adoptive, or through a marriage that
//! ended — and matches.

use super::{Ended, LinkKind, Relation};
use crate::graph::{Basis, FamilyGraph};
use crate::iin::Sex;
use chrono::NaiveDate;
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Language {
    Ru,
    Kk,
    En,
}

impl Language {
    #[cfg(test)]
    const ALL: [Language; 3] = [Language::Ru, Language::Kk, Language::En];

    #[cfg(test)]
    fn code(self) -> &'static str {
        match self {
            Language::Ru => "ru",
            Language::Kk => "kk",
            Language::En => "en",
        }
    }

    fn table(self) -> &'static Table {
        static RU: LazyLock<Table> = LazyLock::new(|| Table::parse(include_str!("terms/ru.txt")));
        static KK: LazyLock<Table> = LazyLock::new(|| Table::parse(include_str!("terms/kk.txt")));
        static EN: LazyLock<Table> = LazyLock::new(|| Table::parse(include_str!("terms/en.txt")));
        match self {
            Language::Ru => &RU,
            Language::Kk => &KK,
            Language::En => &EN,
        }
    }
}

/// A relation's name in each language.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Names {
    #[schema(example = "единокровный брат")]
    pub ru: String,
    #[schema(example = "бір әкеден туған аға")]
    pub kk: String,
    #[schema(example = "paternal half-brother")]
    pub en: String,
}

/// What the rows are keyed by.
struct Facts {
    shape: String,
    /// Sex of each person after ego, alter last.
    line: Vec<Sex>,
    ego: Sex,
    /// Birth dates, ego first.
    born: Vec<NaiveDate>,
    half: bool,
    full: bool,
    adopted: bool,
    former: bool,
    late: bool,
}

pub(super) fn name(g: &FamilyGraph, on: NaiveDate, r: &Relation) -> Names {
    let p = &r.paths[0];
    let sexes: Vec<Sex> = p.persons.iter().map(|&x| g.iin(x).sex()).collect();
    let alter = *p.persons.last().expect("a path has an end");
    let facts = Facts {
        shape: r.shape.clone(),
        line: sexes[1..].to_vec(),
        ego: sexes[0],
        born: p.persons.iter().map(|&x| g.birth_date(x)).collect(),
        half: !r.full && p.apexes().next().is_some(),
        full: r.full,
        adopted: p
            .links
            .iter()
            .any(|l| l.kind == LinkKind::Parent(Basis::Adoption)),
        former: p
            .links
            .iter()
            .any(|l| matches!(l.ended, Some(Ended::Divorce { .. }))),
        late: p.links.len() == 1
            && matches!(p.links[0].ended, Some(Ended::Death { of, .. }) if of == alter)
            && g.death_on(alter, on).is_some(),
    };
    Names {
        ru: Language::Ru.table().word(&facts).to_owned(),
        kk: Language::Kk.table().word(&facts).to_owned(),
        en: Language::En.table().word(&facts).to_owned(),
    }
}

#[derive(Debug)]
struct Row {
    shape: String,
    line: Option<Vec<Option<Sex>>>,
    ego: Option<Sex>,
    kind: Option<Kind>,
    age: Option<Age>,
    word: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Full,
    Half,
    Adopted,
    Former,
    Late,
}

/// Person `who` born before (`Older`), after, or on the day of `than`.
#[derive(Clone, Copy, Debug)]
struct Age {
    who: Person,
    than: Person,
    order: std::cmp::Ordering,
}

#[derive(Clone, Copy, Debug)]
enum Person {
    At(usize),
    Alter,
}

struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Panics on a malformed row: the tables are part of the build, and a
    /// unit test reads each of them.
    fn parse(text: &str) -> Table {
        let rows = text
            .lines()
            .enumerate()
            .filter_map(|(n, l)| {
                let l = l.split('#').next().unwrap_or("").trim();
                (!l.is_empty())
                    .then(|| Row::parse(l).unwrap_or_else(|e| panic!("line {}: {e}", n + 1)))
            })
            .collect();
        Table { rows }
    }

    fn word(&self, f: &Facts) -> &str {
        self.rows
            .iter()
            .find(|r| r.matches(f))
            .map_or("", |r| r.word.as_str())
    }
}

fn sex_of(c: char) -> Result<Option<Sex>, String> {
    match c {
        'm' => Ok(Some(Sex::Male)),
        'f' => Ok(Some(Sex::Female)),
        '*' => Ok(None),
        _ => Err(format!("a sex is m, f or *, not {c:?}")),
    }
}

impl Row {
    fn parse(l: &str) -> Result<Row, String> {
        let cols: Vec<&str> = l.split('|').map(str::trim).collect();
        let [shape, line, ego, kind, age, word] = cols[..] else {
            return Err(format!("6 columns expected, {} found", cols.len()));
        };
        if shape.is_empty() || !shape.chars().all(|c| "UDS*".contains(c)) {
            return Err(format!("bad shape {shape:?}"));
        }
        let line = match line {
            "*" => None,
            l => Some(l.chars().map(sex_of).collect::<Result<Vec<_>, _>>()?),
        };
        if let Some(l) = &line
            && !shape.contains('*')
            && l.len() != shape.len()
        {
            return Err(format!("line {line:?} does not fit shape {shape}"));
        }
        let ego = match ego {
            "*" => None,
            e if e.len() == 1 => sex_of(e.chars().next().expect("one char"))?,
            e => return Err(format!("bad ego {e:?}")),
        };
        let kind = match kind {
            "*" => None,
            "full" => Some(Kind::Full),
            "half" => Some(Kind::Half),
            "adopted" => Some(Kind::Adopted),
            "former" => Some(Kind::Former),
            "late" => Some(Kind::Late),
            k => return Err(format!("bad kind {k:?}")),
        };
        let age = match age {
            "*" => None,
            a => {
                let (i, order, j) = a
                    .find(['>', '<', '='])
                    .map(|at| (&a[..at], &a[at..at + 1], &a[at + 1..]))
                    .ok_or_else(|| format!("bad age {a:?}"))?;
                let person = |s: &str| match s {
                    "n" => Ok(Person::Alter),
                    s => s
                        .parse()
                        .map(Person::At)
                        .map_err(|_| format!("bad person {s:?} in age {a:?}")),
                };
                Some(Age {
                    who: person(i)?,
                    than: person(j)?,
                    order: match order {
                        // Older: born before.
                        ">" => std::cmp::Ordering::Less,
                        "<" => std::cmp::Ordering::Greater,
                        _ => std::cmp::Ordering::Equal,
                    },
                })
            }
        };
        if word.is_empty() {
            return Err("no word".into());
        }
        Ok(Row {
            shape: shape.to_owned(),
            line,
            ego,
            kind,
            age,
            word: word.to_owned(),
        })
    }

    fn matches(&self, f: &Facts) -> bool {
        glob(self.shape.as_bytes(), f.shape.as_bytes())
            && self.line.as_ref().is_none_or(|l| {
                l.len() == f.line.len()
                    && l.iter()
                        .zip(&f.line)
                        .all(|(p, s)| p.is_none_or(|p| p == *s))
            })
            && self.ego.is_none_or(|e| e == f.ego)
            && self.kind.is_none_or(|k| match k {
                Kind::Full => f.full,
                Kind::Half => f.half,
                Kind::Adopted => f.adopted,
                Kind::Former => f.former,
                Kind::Late => f.late,
            })
            && self.age.is_none_or(|a| {
                let at = |p: Person| match p {
                    Person::Alter => f.born.last().copied(),
                    Person::At(i) => f.born.get(i).copied(),
                };
                match (at(a.who), at(a.than)) {
                    (Some(x), Some(y)) => x.cmp(&y) == a.order,
                    _ => false,
                }
            })
    }
}

/// `*` matches any run of steps.
fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match pattern.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_reads_and_ends_in_a_word_for_anything() {
        for l in Language::ALL {
            let t = l.table();
            assert!(t.rows.len() > 60, "{}: {} rows", l.code(), t.rows.len());
            let last = t.rows.last().unwrap();
            assert_eq!(
                (
                    last.shape.as_str(),
                    last.line.is_none(),
                    last.kind,
                    last.age.is_none()
                ),
                ("*", true, None, true),
                "{}: the last row names any relation",
                l.code()
            );
        }
    }

    #[test]
    fn malformed_rows_are_refused() {
        assert!(Row::parse("UD | mm | * | * | *").is_err());
        assert!(Row::parse("UX | mm | * | * | * | w").is_err());
        assert!(Row::parse("UD | m | * | * | * | w").is_err());
        assert!(Row::parse("UD | mm | * | step | * | w").is_err());
        assert!(Row::parse("UD | mm | * | * | n?0 | w").is_err());
        assert!(Row::parse("UD | mm | * | * | n>0 | w").is_ok());
    }

    #[test]
    fn globs() {
        assert!(glob(b"*S*", b"S"));
        assert!(glob(b"*S*", b"UUDS"));
        assert!(!glob(b"*S*", b"UUD"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"UD", b"UDD"));
    }
}
