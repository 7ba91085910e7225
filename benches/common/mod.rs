//! Builds a family graph straight from the generator's output, without a
//! ledger, in bounded extra memory: a first pass notes which acts are
//! referenced (by divorces and annulments), a second applies every record
//! keeping only those acts at hand.
#![allow(dead_code)]

use kinship::acts::{Act, ActBody, parse_line};
use kinship::generate::{GenerateOptions, generate};
use kinship::graph::{FamilyGraph, Journal, Target};
use kinship::registry::{Line, LineSplitter};
use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

/// A `Write` that hands each completed line to a closure.
struct LineSink<F: FnMut(&Line)> {
    split: LineSplitter,
    buf: Vec<Line>,
    f: F,
}

impl<F: FnMut(&Line)> Write for LineSink<F> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.split.push(data, &mut self.buf);
        for l in self.buf.drain(..) {
            (self.f)(&l);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn each_record(persons: u64, seed: u64, mut f: impl FnMut(Act)) {
    let sink = LineSink {
        split: LineSplitter::default(),
        buf: Vec::new(),
        f: |l: &Line| f(parse_line(&l.bytes).expect("generated records parse")),
    };
    generate(&GenerateOptions { persons, seed }, sink).unwrap();
}

/// The graph of a generated population, and how many records it took.
pub fn build_graph(persons: u64, seed: u64) -> (FamilyGraph, u64) {
    let mut wanted: HashSet<String> = HashSet::new();
    let mut counts = [0usize; 3];
    each_record(persons, seed, |a| {
        if let Some(r) = a.reference() {
            wanted.insert(r.to_string());
        }
        match a.body {
            ActBody::Birth { .. } | ActBody::Paternity { .. } | ActBody::Adoption { .. } => {
                counts[0] += 1
            }
            ActBody::Marriage { .. } | ActBody::Divorce { .. } => counts[1] += 1,
            _ => {}
        }
    });
    let mut kept: HashMap<String, Act> = HashMap::new();
    let links = counts[0] * 2 + counts[1];
    let mut g = FamilyGraph::with_capacity(persons as usize, links, counts[0] + counts[1]);
    let mut j = Journal::default();
    let mut records = 0u64;
    each_record(persons, seed, |a| {
        records += 1;
        let target = a.reference().map(|r| &kept[r.as_str()]);
        let marriage = target.and_then(|t| match &t.body {
            ActBody::Divorce { marriage_act, .. } => Some(&kept[marriage_act.as_str()]),
            _ => None,
        });
        let t = target.map(|t| Target {
            act: t,
            annulled: false,
            marriage,
        });
        g.apply(&a, t, &mut j)
            .unwrap_or_else(|r| panic!("{}: {r}", a.act_id));
        j.commit();
        if wanted.contains(a.act_id.as_str()) {
            kept.insert(a.act_id.to_string(), a);
        }
    });
    (g, records)
}

/// The population a bench runs on: `KINSHIP_BENCH_PERSONS`, else `default`.
pub fn persons(default: u64) -> u64 {
    std::env::var("KINSHIP_BENCH_PERSONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of this process now and at its peak, in MiB (Linux).
pub fn rss_mib() -> (u64, u64) {
    kinship::cli::memory_kib().map_or((0, 0), |(now, peak)| (now >> 10, peak >> 10))
}

/// `n` checks as callers ask them: random owners; for half of them an
/// applicant near the owner (so the resolver walks real families), for
/// the other half anyone; claims mixed.
pub fn asks(
    g: &FamilyGraph,
    n: usize,
) -> Vec<(
    kinship::iin::Iin,
    kinship::iin::Iin,
    kinship::resolve::Claim,
)> {
    use kinship::resolve::Claim;
    let total = g.person_count() as u64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut asks = Vec::with_capacity(n);
    while asks.len() < n {
        let a = g.person(g.iin_at(next() % total)).unwrap();
        let near: Vec<_> = g
            .neighbours(a)
            .flat_map(|b| g.neighbours(b).chain([b]))
            .collect();
        let b = if near.is_empty() || asks.len() % 2 == 1 {
            g.person(g.iin_at(next() % total)).unwrap()
        } else {
            near[(next() % near.len() as u64) as usize]
        };
        let claim = Claim::ALL[(next() % Claim::ALL.len() as u64) as usize];
        asks.push((g.iin(a), g.iin(b), claim));
    }
    asks
}
