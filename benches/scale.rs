//! Whole-country scale: builds the graph of a generated population in
//! memory (no ledger) and reports memory, build time and the latency
//! distribution of kinship checks (p50/p99 over single timed calls).
//!
//!     KINSHIP_BENCH_PERSONS=25000000 cargo bench --bench scale
//!
//! Default 1,000,000 persons. Not a criterion bench: it measures one big
//! build and percentiles, which criterion does not report.

mod common;

use chrono::NaiveDate;
use kinship::resolve::{Claim, check};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches` only checks that it builds
    }
    let n: u64 = std::env::var("KINSHIP_BENCH_PERSONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let (g, records) = common::build_graph(n, 1);
    let build = started.elapsed().as_secs_f64();
    let (rss, peak) = common::rss_mib();
    println!("persons        {}", g.person_count());
    println!("records        {records}");
    println!("links          {}", g.link_count());
    println!("link acts      {}", g.act_count());
    println!("graph arrays   {} MiB", g.heap_bytes() >> 20);
    println!("process RSS    {rss} MiB (peak {peak} MiB, includes the build's working set)");
    println!(
        "build          {build:.1} s ({:.0} records/s)",
        records as f64 / build
    );

    let on = NaiveDate::from_ymd_opt(2020, 6, 1).unwrap();
    let total = g.person_count() as u64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Pairs: a random person and someone near them (relatives, so the
    // resolver walks real families), all claims.
    let mut pairs = Vec::new();
    while pairs.len() < 200_000 {
        let a = g.person(g.iin_at(next() % total)).unwrap();
        let near: Vec<_> = g
            .neighbours(a)
            .flat_map(|b| g.neighbours(b).chain([b]))
            .collect();
        let b = if near.is_empty() {
            g.person(g.iin_at(next() % total)).unwrap()
        } else {
            near[(next() % near.len() as u64) as usize]
        };
        pairs.push((
            a,
            b,
            Claim::ALL[(next() % Claim::ALL.len() as u64) as usize],
        ));
    }
    let mut times: Vec<u32> = Vec::with_capacity(pairs.len());
    let mut confirmed = 0usize;
    for &(a, b, c) in &pairs {
        let t = Instant::now();
        let v = black_box(check(&g, Some(a), Some(b), c, on));
        times.push(t.elapsed().as_nanos() as u32);
        confirmed += v.confirmed as usize;
    }
    times.sort_unstable();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "check latency  p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns, max {} ns over {} checks ({} confirmed)",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        times[times.len() - 1],
        times.len(),
        confirmed
    );
}
