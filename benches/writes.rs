//! Check latency with and without records being written into the same
//! ledger, side by side in one run: a registry over a SQLite ledger of a
//! generated population answers single kinship checks the way a handler
//! does (read lock, two IIN lookups, the claim decided), first with no
//! writes, then while another task ingests a second population in batches
//! of 1,000 records (what `POST /v1/acts` does), then at rest again.
//!
//!     KINSHIP_BENCH_PERSONS=200000 cargo bench --bench writes
//!
//! Not a criterion bench: it reports percentiles of single checks.

mod common;

use chrono::NaiveDate;
use kinship::generate::{GenerateOptions, generate};
use kinship::iin::Iin;
use kinship::ledger::Ledger;
use kinship::registry::{BulkOptions, LineSplitter, Registry};
use kinship::resolve::{Claim, check};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const CHECKS: usize = 300_000;
const PASSES: usize = 10;

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches` only checks that it builds
    }
    let n = common::persons(200_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("base.ndjson");
    generate(
        &GenerateOptions {
            persons: n,
            seed: 1,
        },
        std::io::BufWriter::new(std::fs::File::create(&file).unwrap()),
    )
    .unwrap();
    let mut more = Vec::new();
    generate(
        &GenerateOptions {
            persons: n,
            seed: 2,
        },
        &mut more,
    )
    .unwrap();
    let mut lines = Vec::new();
    let mut split = LineSplitter::default();
    split.push(&more, &mut lines);
    split.finish(&mut lines);
    let db = dir.path().join("ledger.db");
    let reg = rt.block_on(async {
        let reg = Registry::open(Ledger::open(db.to_str().unwrap()).await.unwrap())
            .await
            .unwrap();
        reg.import_bulk(&file, &BulkOptions::default(), |_| {})
            .await
            .unwrap();
        Arc::new(reg)
    });
    let asks = common::asks(&reg.graph(), CHECKS);
    println!(
        "{n} persons in the ledger; {} records to write in batches of 1,000",
        lines.len()
    );

    let at_rest = measure(&reg, &asks);
    report("no writes", &at_rest, None);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (reg, stop) = (reg.clone(), stop.clone());
        rt.spawn(async move {
            let mut written = 0usize;
            for batch in lines.chunks(1000) {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                reg.ingest(batch, "bench").await.unwrap();
                written += batch.len();
            }
            written
        })
    };
    // Let the writer get going before measuring.
    std::thread::sleep(Duration::from_millis(200));
    let writing = measure(&reg, &asks);
    stop.store(true, Ordering::Relaxed);
    let written = rt.block_on(writer).unwrap();
    report("while writing", &writing, Some(&at_rest));
    println!("  ({written} records written meanwhile)");
    let again = measure(&reg, &asks);
    report("no writes again", &again, Some(&at_rest));
}

/// One check at a time, as a handler makes it, each timed; `PASSES` times
/// over the asks, so a phase lasts seconds and spans many write batches.
fn measure(reg: &Registry, asks: &[(Iin, Iin, Claim)]) -> Vec<u32> {
    let on = NaiveDate::from_ymd_opt(2020, 6, 1).unwrap();
    let mut times = Vec::with_capacity(asks.len() * PASSES);
    for &(a, b, c) in asks.iter().cycle().take(asks.len() * PASSES) {
        let t = Instant::now();
        let g = reg.graph();
        let (pa, pb) = g.persons(a, b);
        black_box(check(&g, pa, pb, c, on));
        drop(g);
        times.push(t.elapsed().as_nanos() as u32);
    }
    times
}

fn report(name: &str, times: &[u32], base: Option<&[u32]>) {
    let sorted = |v: &[u32]| {
        let mut v = v.to_vec();
        v.sort_unstable();
        v
    };
    let (times, base) = (sorted(times), base.map(sorted));
    let pct = |v: &[u32], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    let at = |p: f64| {
        let ratio = base.as_ref().map_or(String::new(), |b| {
            format!(" ({:.2}x)", pct(&times, p) as f64 / pct(b, p) as f64)
        });
        format!("{:>7} ns{ratio}", pct(&times, p))
    };
    println!(
        "{name:<16} p50 {}  p99 {}  p99.9 {}  max {} ns",
        at(0.5),
        at(0.99),
        at(0.999),
        times.last().unwrap()
    );
}
