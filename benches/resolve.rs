//! In-process resolve time per claim on a generated population.
//!
//! `KINSHIP_BENCH_PERSONS` sets the population (default 1,000,000). Pairs
//! are drawn from real families (parent/child, siblings, spouses, in-laws)
//! and cycled, so each call walks cold-ish parts of the graph.

mod common;

use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use kinship::graph::{FamilyGraph, PersonId};
use kinship::resolve::{Claim, check};
use std::hint::black_box;

/// Owner/applicant pairs for a claim: half where it holds, half random.
fn pairs(g: &FamilyGraph, claim: Claim, on: NaiveDate, n: usize) -> Vec<(PersonId, PersonId)> {
    let total = g.person_count() as u64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n && tries < n * 2000 {
        tries += 1;
        let a = g.person(g.iin_at(next() % total)).unwrap();
        // A relative two steps away, so positives are common.
        let near: Vec<PersonId> = g
            .neighbours(a)
            .flat_map(|b| g.neighbours(b).chain([b]))
            .collect();
        if near.is_empty() {
            continue;
        }
        let b = near[(next() % near.len() as u64) as usize];
        if a != b && check(g, Some(a), Some(b), claim, on).confirmed {
            out.push((a, b));
            let r = g.person(g.iin_at(next() % total)).unwrap();
            out.push((a, r));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let n = common::persons(1_000_000);
    let started = std::time::Instant::now();
    let (g, records) = common::build_graph(n, 1);
    eprintln!(
        "graph of {n} persons ({records} records) built in {:.1} s; {} links, {} MiB arrays",
        started.elapsed().as_secs_f64(),
        g.link_count(),
        g.heap_bytes() >> 20
    );
    let on = NaiveDate::from_ymd_opt(2020, 6, 1).unwrap();
    let mut group = c.benchmark_group("resolve");
    for claim in Claim::ALL {
        let ps = pairs(&g, claim, on, 2000);
        let name = match claim.via() {
            Some(s) => format!("{}_via_{}", claim.name(), s.as_str()),
            None => claim.name().to_owned(),
        };
        if ps.is_empty() {
            eprintln!("{name}: no confirmed pair found, skipped");
            continue;
        }
        let mut i = 0usize;
        group.bench_function(&name, |b| {
            b.iter(|| {
                let (o, a) = ps[i % ps.len()];
                i += 1;
                black_box(check(&g, Some(o), Some(a), claim, on))
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
