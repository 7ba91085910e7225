//! Whole-country scale: builds the graph of a generated population in
//! memory (no ledger) and reports its memory by part, the build time and
//! the latency distribution of single kinship checks as a caller makes
//! them: two IINs looked up, then the claim decided (all claims mixed,
//! random owners, half of the applicants relatives of the owner).
//!
//!     KINSHIP_BENCH_PERSONS=25000000 cargo bench --bench scale
//!     KINSHIP_BENCH_SNAPSHOT=ledger.db.snapshots/snapshot-….kgs cargo bench --bench scale
//!
//! Default 1,000,000 persons; with a snapshot (as `kinship import` writes),
//! the graph is loaded from it instead of built (and when the file named
//! does not exist yet, the built graph is saved there for the next run).
//! Not a criterion bench: it measures one big build and percentiles, which
//! criterion does not report.
//!
//! Then the relation finder (`resolve::relations`) over pairs drawn the
//! same way: every path between two persons at degree 4, named, and all
//! of a person's relatives at degree 4.
//!
//! For scale it also reports what one dependent random read costs over a
//! buffer as large as the graph, on the same pages (`KINSHIP_HUGE_PAGES=0`
//! for 4 KiB pages): a check is a chain of such reads, so this is the floor
//! its time is made of.

mod common;

use chrono::NaiveDate;
use kinship::resolve::{Claim, check};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches` only checks that it builds
    }
    let n = common::persons(1_000_000);
    let started = Instant::now();
    let snapshot = std::env::var_os("KINSHIP_BENCH_SNAPSHOT");
    let (g, records) = match snapshot {
        Some(path) if std::path::Path::new(&path).exists() => {
            let f = std::fs::File::open(&path).expect("the snapshot opens");
            let (g, meta) = kinship::graph::FamilyGraph::read_snapshot(std::io::BufReader::new(f))
                .expect("a good snapshot");
            (g, meta.seq as u64)
        }
        // A snapshot named but not there yet: built, then saved there, so
        // that runs side by side (other builds, other pages) load one graph.
        Some(path) => {
            let (g, records) = common::build_graph(n, 1);
            let meta = kinship::graph::SnapshotMeta {
                ledger_id: "scale-bench".into(),
                seq: records as i64,
                act_id: String::new(),
            };
            let f = std::fs::File::create(&path).expect("the snapshot file is created");
            g.write_snapshot(&meta, f).expect("the snapshot is written");
            (g, records)
        }
        None => common::build_graph(n, 1),
    };
    let build = started.elapsed().as_secs_f64();
    let (rss, peak) = common::rss_mib();
    println!("persons        {}", g.person_count());
    println!("records        {records}");
    println!("links          {}", g.link_count());
    println!("link acts      {}", g.act_count());
    for (part, bytes) in g.memory() {
        println!(
            "  {part:<18} {:>6} MiB  {:>5.1} B/person",
            bytes >> 20,
            bytes as f64 / g.person_count() as f64
        );
    }
    println!("graph arrays   {} MiB", g.heap_bytes() >> 20);
    println!("process RSS    {rss} MiB (peak {peak} MiB, includes the build's working set)");
    let huge = std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("AnonHugePages:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .unwrap_or_default();
    println!("huge pages     {huge} KiB");
    println!(
        "build          {build:.1} s ({:.0} records/s)",
        records as f64 / build
    );

    let (chased, ns) = chase(g.heap_bytes());
    println!("memory latency {ns:.0} ns per dependent random read over {chased} MiB");

    let on = NaiveDate::from_ymd_opt(2020, 6, 1).unwrap();
    let asks = common::asks(&g, 400_000);
    let mut times: Vec<(Claim, u32)> = Vec::with_capacity(asks.len());
    let mut confirmed = 0usize;
    for &(a, b, c) in &asks {
        let t = Instant::now();
        let (pa, pb) = g.persons(a, b);
        let v = black_box(check(&g, pa, pb, c, on));
        times.push((c, t.elapsed().as_nanos() as u32));
        confirmed += v.confirmed as usize;
    }
    let pct = |v: &mut Vec<u32>, p: f64| {
        v.sort_unstable();
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
    };
    let mut all: Vec<u32> = times.iter().map(|t| t.1).collect();
    println!(
        "check latency  p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns over {} checks ({} confirmed; times include the clock, ~20 ns)",
        pct(&mut all, 0.5),
        pct(&mut all, 0.9),
        pct(&mut all, 0.99),
        pct(&mut all, 0.999),
        all.len(),
        confirmed
    );
    for claim in Claim::ALL {
        let mut v: Vec<u32> = times.iter().filter(|t| t.0 == claim).map(|t| t.1).collect();
        let via = claim
            .via()
            .map_or(String::new(), |s| format!(" via {}", s.as_str()));
        println!(
            "  {:<26} p50 {:>5} ns  p99 {:>6} ns",
            format!("{}{via}", claim.name()),
            pct(&mut v, 0.5),
            pct(&mut v, 0.99)
        );
    }
    relation_finder(&g, on);
}

/// The relation finder: pairs (half near each other) and whole families.
fn relation_finder(g: &kinship::graph::FamilyGraph, on: NaiveDate) {
    use kinship::resolve::relations;
    let asks = common::asks(g, 100_000);
    let mut times = Vec::with_capacity(asks.len());
    let (mut related, mut paths) = (0usize, 0usize);
    for &(a, b, _) in &asks {
        let t = Instant::now();
        let (pa, pb) = g.persons(a, b);
        let found = match (pa, pb) {
            (Some(pa), Some(pb)) => relations::between(g, pa, pb, on, relations::DEFAULT_DEGREE),
            _ => Vec::new(),
        };
        times.push(t.elapsed().as_nanos() as u32);
        related += !found.is_empty() as usize;
        paths += black_box(&found)
            .iter()
            .map(|r| r.paths.len())
            .sum::<usize>();
    }
    times.sort_unstable();
    let pct = |v: &[u32], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    println!(
        "relations      p50 {} ns, p90 {} ns, p99 {} ns, p99.9 {} ns per pair at degree 4 over {} pairs ({related} related, {paths} paths, named)",
        pct(&times, 0.5),
        pct(&times, 0.9),
        pct(&times, 0.99),
        pct(&times, 0.999),
        times.len()
    );
    let mut times = Vec::with_capacity(10_000);
    let mut found = 0usize;
    for &(a, _, _) in asks.iter().take(10_000) {
        let t = Instant::now();
        let p = g.person(a).expect("asked persons exist");
        found += black_box(relations::all_of(g, p, on, relations::DEFAULT_DEGREE)).len();
        times.push(t.elapsed().as_nanos() as u32);
    }
    times.sort_unstable();
    println!(
        "all relatives  p50 {} ns, p99 {} ns per person at degree 4 over {} persons ({found} relations)",
        pct(&times, 0.5),
        pct(&times, 0.99),
        times.len()
    );
}

/// Nanoseconds per read of a pointer chase (one random cycle, Sattolo)
/// over `bytes` of u32s, on pages as the graph's (KINSHIP_HUGE_PAGES).
fn chase(bytes: usize) -> (usize, f64) {
    let n = (bytes / 4).next_power_of_two() / 2;
    let mut v: Vec<u32> = Vec::with_capacity(n);
    kinship::graph::advise_huge_pages(&v);
    v.extend(0..n as u32);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % i as u64) as usize;
        v.swap(i, j);
    }
    let steps = 5_000_000;
    let mut at = 0u32;
    let t = Instant::now();
    for _ in 0..steps {
        at = v[at as usize];
    }
    black_box(at);
    ((n * 4) >> 20, t.elapsed().as_nanos() as f64 / steps as f64)
}
