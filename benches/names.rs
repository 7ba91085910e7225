//! What the names cache buys: a family answer needs the names of the
//! person, the spouse and the children, which live in the ledger. Times one
//! lookup of four persons' names from the ledger (SQLite, 50,000 persons)
//! and from the moka cache.

use criterion::{Criterion, criterion_group, criterion_main};
use kinship::generate::{GenerateOptions, generate};
use kinship::iin::Iin;
use kinship::ledger::Ledger;
use kinship::registry::{Line, Lines, Registry};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("names.db").to_str().unwrap().to_owned();
    let reg = rt.block_on(async {
        let reg = Registry::open(Ledger::open(&url).await.unwrap())
            .await
            .unwrap();
        let mut buf = Vec::new();
        generate(
            &GenerateOptions {
                persons: 50_000,
                seed: 3,
            },
            &mut buf,
        )
        .unwrap();
        let lines: Vec<Line> = Lines::new(&buf[..]).map(Result::unwrap).collect();
        for chunk in lines.chunks(5000) {
            reg.ingest(chunk, "bench").await.unwrap();
        }
        reg
    });
    let people: Vec<Iin> = rt.block_on(async {
        let g = reg.graph();
        (0..4000u64)
            .map(|i| g.iin_at(i * 11 % g.person_count() as u64))
            .collect()
    });
    let groups: Vec<&[Iin]> = people.chunks(4).collect();
    let mut g = c.benchmark_group("names_of_4");
    let mut i = 0usize;
    g.bench_function("ledger", |b| {
        b.iter(|| {
            i += 1;
            black_box(
                rt.block_on(reg.names_from_ledger(groups[i % groups.len()]))
                    .unwrap(),
            )
        })
    });
    for grp in &groups {
        rt.block_on(reg.names(grp)).unwrap();
    }
    g.bench_function("cache", |b| {
        b.iter(|| {
            i += 1;
            black_box(rt.block_on(reg.names(groups[i % groups.len()])).unwrap())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
