//! Synthetic population generator: a deterministic (per seed), realistic
//! stream of civil-act records in the NDJSON format of `civil-acts.md`.
//!
//! The population is made of independent clusters ("villages" of a few
//! thousand people born 1878-2025, who marry among themselves). Each cluster
//! is simulated in memory, its records sorted by date and written, then it is
//! dropped; only the tables that keep IINs and act numbers unique live across
//! clusters, so memory does not grow with the population and time is linear.
//!
//! Every record satisfies the registry's rules (valid, unique IINs; parents
//! born before their children; nobody married twice at once; nothing dated
//! after a death; references only to earlier acts; ...); the tests check
//! them on the output.
//!
//! # Layout
//! * `calendar` — days as integers and their precomputed text;
//! * `names` — surname and given-name tables, patronymics;
//! * `cluster` — the simulation of one cluster.

mod calendar;
mod cluster;
mod names;
#[cfg(test)]
mod tests;

use calendar::{Calendar, Day, NEVER};
use cluster::{Cluster, Dwelling, Kind, KindPrefix, NONE, Rec, Registry};
use names::Name;
use std::collections::BTreeMap;
use std::io::{self, Write};

pub struct GenerateOptions {
    /// Exactly this many distinct persons (IINs) appear in the output.
    pub persons: u64,
    pub seed: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GenerateSummary {
    pub persons: u64,
    pub records: u64,
    /// Records per `kind`.
    pub by_kind: BTreeMap<&'static str, u64>,
}

/// Writes the records of `opts.persons` persons to `out`, one JSON object
/// per line. The same options always give the same bytes.
pub fn generate<W: Write>(opts: &GenerateOptions, out: W) -> io::Result<GenerateSummary> {
    let cal = Calendar::get();
    let mut registry = Registry::new(cal);
    let mut out = Out {
        w: out,
        buf: Vec::with_capacity(1 << 17),
        cal,
    };
    let mut counts = [0u64; Kind::ALL.len()];
    let mut persons = 0u64;
    let mut cluster_no = 0u64;
    while persons < opts.persons {
        let cluster =
            Cluster::simulate(&mut registry, opts.seed, cluster_no, opts.persons - persons);
        persons += cluster.persons.len() as u64;
        out.cluster(cluster, &mut counts)?;
        cluster_no += 1;
    }
    out.flush()?;
    let by_kind: BTreeMap<_, _> = Kind::ALL
        .iter()
        .map(|k| (k.as_str(), counts[*k as usize]))
        .collect();
    Ok(GenerateSummary {
        persons,
        records: counts.iter().sum(),
        by_kind,
    })
}

struct Out<W: Write> {
    w: W,
    buf: Vec<u8>,
    cal: &'static Calendar,
}

impl<W: Write> Out<W> {
    fn flush(&mut self) -> io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        self.w.flush()
    }

    /// Writes one cluster's records in date order. Within a day, births come
    /// first and deaths last (an infant may die the day its birth is
    /// registered); every other same-day dependency is created in order.
    fn cluster(&mut self, mut c: Cluster<'_>, counts: &mut [u64]) -> io::Result<()> {
        let rank = |r: &Rec| match r {
            Rec::Birth { .. } => 0u64,
            Rec::Death { .. } => 2,
            _ => 1,
        };
        let mut order: Vec<u64> = c
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| ((e.date as u64) << 36) | (rank(&e.rec) << 32) | i as u64)
            .collect();
        order.sort_unstable();
        // Act numbers are given in output order, so they grow through a year.
        let mut act_no = vec![0u32; c.events.len()];
        for key in order {
            let i = (key & 0xffff_ffff) as usize;
            let e = &c.events[i];
            let kind = e.rec.kind();
            let year = self.cal.year(e.date);
            act_no[i] = c.registry().next_act_no(kind, year);
            counts[kind as usize] += 1;
            self.record(&c, &act_no, i);
            if self.buf.len() >= 1 << 16 {
                self.w.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(())
    }

    fn record(&mut self, c: &Cluster<'_>, act_no: &[u32], i: usize) {
        let e = &c.events[i];
        let kind = e.rec.kind();
        self.raw(b"{\"kind\":\"");
        self.raw(kind.as_str().as_bytes());
        self.raw(b"\",\"act_id\":\"");
        self.act_id(c, act_no, i as u32);
        self.raw(b"\"");
        if kind != Kind::Residence {
            self.date("date", e.date);
        }
        let iin = |p: u32| c.persons[p as usize].iin;
        match e.rec {
            Rec::Birth {
                child,
                mother,
                father,
                name,
            } => {
                self.iin("child", iin(child));
                if mother != NONE {
                    self.iin("mother", iin(mother));
                }
                if father != NONE {
                    self.iin("father", iin(father));
                }
                self.name(&name);
            }
            Rec::Paternity { child, father } => {
                self.iin("child", iin(child));
                self.iin("father", iin(father));
            }
            Rec::Adoption {
                child,
                mother,
                father,
            } => {
                self.iin("child", iin(child));
                if mother != NONE {
                    self.iin("adoptive_mother", iin(mother));
                }
                if father != NONE {
                    self.iin("adoptive_father", iin(father));
                }
            }
            Rec::Marriage { husband, wife } => {
                self.raw(b",\"spouses\":[\"");
                self.digits12(iin(husband));
                self.raw(b"\",\"");
                self.digits12(iin(wife));
                self.raw(b"\"]");
            }
            Rec::Divorce { marriage } => {
                self.raw(b",\"marriage_act\":\"");
                self.act_id(c, act_no, marriage);
                self.raw(b"\"");
            }
            Rec::Death {
                person,
                died,
                court,
            } => {
                self.iin("person", iin(person));
                self.date("died", died);
                if court {
                    self.raw(b",\"basis\":\"court_declaration\"");
                }
            }
            Rec::NameChange { person, name } => {
                self.iin("person", iin(person));
                self.name(&name);
            }
            Rec::Annulment { target } => {
                self.raw(b",\"target_act\":\"");
                self.act_id(c, act_no, target);
                self.raw(b"\"");
            }
            Rec::Residence {
                person,
                dwelling,
                to,
                temporary,
            } => {
                self.iin("person", iin(person));
                self.raw(b",\"dwelling\":\"");
                self.dwelling(c.dwellings[dwelling as usize]);
                self.raw(b"\"");
                self.date("from", e.date);
                if to != NEVER {
                    self.date("to", to);
                }
                if temporary {
                    self.raw(b",\"type\":\"temporary\"");
                }
            }
        }
        self.raw(b"}\n");
    }

    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn key(&mut self, key: &str) {
        self.raw(b",\"");
        self.raw(key.as_bytes());
        self.raw(b"\":\"");
    }

    fn date(&mut self, key: &str, d: Day) {
        self.key(key);
        let text = self.cal.text(d);
        self.buf.extend_from_slice(text);
        self.raw(b"\"");
    }

    fn iin(&mut self, key: &str, iin: u64) {
        self.key(key);
        self.digits12(iin);
        self.raw(b"\"");
    }

    fn digits12(&mut self, mut n: u64) {
        let mut d = [b'0'; 12];
        for x in d.iter_mut().rev() {
            *x = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.raw(&d);
    }

    /// `n` in decimal, zero-padded to at least `width` digits.
    fn number(&mut self, mut n: u64, width: usize) {
        let mut d = [b'0'; 20];
        let mut i = d.len();
        while n > 0 || d.len() - i < width {
            i -= 1;
            d[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.buf.extend_from_slice(&d[i..]);
    }

    /// `B-2001-0002`, or `REG-17` for residence records. The referenced act
    /// is always written earlier, so its number is known.
    fn act_id(&mut self, c: &Cluster<'_>, act_no: &[u32], ev: u32) {
        let e = &c.events[ev as usize];
        let kind = e.rec.kind();
        debug_assert!(
            act_no[ev as usize] != 0,
            "reference to an act not yet written"
        );
        self.raw(kind.prefix().as_bytes());
        self.raw(b"-");
        if kind == Kind::Residence {
            self.number(act_no[ev as usize] as u64, 1);
        } else {
            self.number(self.cal.year(e.date) as u64, 4);
            self.raw(b"-");
            self.number(act_no[ev as usize] as u64, 4);
        }
    }

    fn dwelling(&mut self, d: Dwelling) {
        match d {
            Dwelling::Cadastral {
                region,
                district,
                n,
            } => {
                self.number(region as u64, 2);
                self.raw(b":");
                self.number(district as u64, 3);
                self.raw(b":");
                self.number(1 + n / 60_000, 3);
                self.raw(b":");
                self.number(n / 60 % 1000, 3);
                self.raw(b":");
                self.number(n % 60 + 1, 1);
            }
            Dwelling::Address(n) => {
                self.raw(b"A-");
                self.number(n, 6);
            }
        }
    }

    fn name(&mut self, n: &Name) {
        self.raw(b",\"name\":{\"surname\":\"");
        self.raw(n.surname_str().as_bytes());
        self.raw(b"\",\"given\":\"");
        self.raw(n.given_str().as_bytes());
        if let Some((stem, suffix)) = n.patronymic_parts() {
            self.raw(b"\",\"patronymic\":\"");
            self.raw(stem.as_bytes());
            self.raw(suffix.as_bytes());
        }
        self.raw(b"\"}");
    }
}
