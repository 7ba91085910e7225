//! Snapshots: a graph loaded from a snapshot plus the ledger after it is
//! the graph replayed from the whole ledger (on the fixture families, on
//! both databases, and on random generated populations), writes go on
//! after such a start, and an image that is corrupt, truncated, of another
//! format version, of another ledger, ahead of the ledger or from a ledger
//! rewritten since is ignored (the next good one, or the whole ledger, is
//! used instead).

mod common;

use common::{Backend, TestDb, fixtures};
use kinship::generate::{GenerateOptions, generate};
use kinship::ledger::Ledger;
use kinship::registry::{Line, LineOutcome, Lines, Registry, Snapshots};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;

async fn open(url: &str, snaps: Option<&Snapshots>) -> (Registry, kinship::registry::Start) {
    Registry::open_with(Ledger::open(url).await.unwrap(), snaps)
        .await
        .unwrap()
}

async fn full(url: &str) -> kinship::graph::Canonical {
    let reg = Registry::open(Ledger::open(url).await.unwrap())
        .await
        .unwrap();
    let c = reg.graph().canonical();
    reg.ledger().close().await;
    c
}

async fn snapshot_then_tail(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let snaps = Snapshots::new(dir.path());
    let families = fixtures::all();
    let reg = Arc::new(open(&db.url, None).await.0);
    // A snapshot after every family but the last; each later start uses
    // the newest, so every cut is tried as "snapshot + tail".
    for (i, (name, ndjson, _)) in families.iter().enumerate() {
        reg.ingest(&fixtures::lines(ndjson), name).await.unwrap();
        if i % 5 == 2 && i + 1 < families.len() {
            reg.snapshot(&snaps).await.unwrap();
            // A start from here: the snapshot is the whole graph.
            let (r, start) = open(&db.url, Some(&snaps)).await;
            assert_eq!(start.replayed, 0);
            assert_eq!(r.graph().canonical(), reg.graph().canonical());
            r.ledger().close().await;
        }
    }
    let (r, start) = open(&db.url, Some(&snaps)).await;
    assert!(start.snapshot.is_some());
    assert!(start.replayed > 0, "no tail was replayed");
    let want = full(&db.url).await;
    assert_eq!(r.graph().canonical(), want);
    // And writes go on after a start from a snapshot.
    let more = [
        r#"{"kind":"death","act_id":"SNAP-D1","date":"2024-01-05","person":"720719302035","died":"2024-01-01"}"#,
    ];
    let out = r
        .ingest(&[Line::new(1, more[0].as_bytes().to_vec())], "more")
        .await
        .unwrap();
    assert!(matches!(out[0], LineOutcome::Accepted { .. }), "{out:?}");
    let want = full(&db.url).await;
    assert_eq!(r.graph().canonical(), want);
    r.ledger().close().await;
    reg.ledger().close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn snapshot_plus_tail_is_the_full_replay_on_sqlite() {
    snapshot_then_tail(Backend::Sqlite).await;
}

#[tokio::test]
async fn snapshot_plus_tail_is_the_full_replay_on_postgres() {
    snapshot_then_tail(Backend::Postgres).await;
}

/// A ledger holding one fixture family, with one snapshot of it.
async fn one_snapshot() -> (TestDb, tempfile::TempDir, std::path::PathBuf) {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let reg = Arc::new(open(&db.url, None).await.0);
    let (name, ndjson, _) = &fixtures::all()[0];
    reg.ingest(&fixtures::lines(ndjson), name).await.unwrap();
    let path = reg.snapshot(&Snapshots::new(dir.path())).await.unwrap();
    reg.ledger().close().await;
    (db, dir, path)
}

/// Starts with the snapshots in `dir`: whether one was used, and whether
/// the graph is right either way.
async fn start(url: &str, dir: &Path) -> bool {
    let (r, start) = open(url, Some(&Snapshots::new(dir))).await;
    let want = full(url).await;
    assert_eq!(r.graph().canonical(), want);
    r.ledger().close().await;
    start.snapshot.is_some()
}

fn rewrite(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = std::fs::read(path).unwrap();
    f(&mut b);
    std::fs::write(path, b).unwrap();
}

#[tokio::test]
async fn a_good_snapshot_is_used() {
    let (db, dir, _) = one_snapshot().await;
    assert!(start(&db.url, dir.path()).await);
}

#[tokio::test]
async fn a_corrupt_snapshot_is_ignored() {
    let (db, dir, path) = one_snapshot().await;
    rewrite(&path, |b| {
        let i = b.len() * 2 / 3;
        b[i] ^= 0x40;
    });
    assert!(!start(&db.url, dir.path()).await);
}

#[tokio::test]
async fn a_truncated_snapshot_is_ignored() {
    let (db, dir, path) = one_snapshot().await;
    rewrite(&path, |b| b.truncate(b.len() - 7));
    assert!(!start(&db.url, dir.path()).await);
    rewrite(&path, |b| b.truncate(10));
    assert!(!start(&db.url, dir.path()).await);
}

#[tokio::test]
async fn a_snapshot_of_another_format_version_is_ignored() {
    let (db, dir, path) = one_snapshot().await;
    rewrite(&path, |b| {
        // magic (8) then the version (4); the header's CRC follows the
        // header, whose end is found by walking its fields.
        b[8..12].copy_from_slice(&(kinship::graph::SNAPSHOT_FORMAT + 1).to_le_bytes());
        let mut at = 12;
        let len =
            |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + len(b, at); // ledger id
        at += 8; // seq
        at += 4 + len(b, at); // act id
        at += 4; // dead marriages
        let crc = crc32fast::hash(&b[..at]);
        b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    });
    assert!(!start(&db.url, dir.path()).await);
}

#[tokio::test]
async fn something_else_named_like_a_snapshot_is_ignored() {
    let (db, dir, path) = one_snapshot().await;
    std::fs::write(&path, b"not a snapshot at all").unwrap();
    assert!(!start(&db.url, dir.path()).await);
}

#[tokio::test]
async fn a_snapshot_of_another_ledger_is_ignored() {
    let (_, dir, _) = one_snapshot().await;
    // The same records in another ledger: another identity.
    let other = TestDb::sqlite();
    let reg = open(&other.url, None).await.0;
    let (name, ndjson, _) = &fixtures::all()[0];
    reg.ingest(&fixtures::lines(ndjson), name).await.unwrap();
    reg.ledger().close().await;
    assert!(!start(&other.url, dir.path()).await);
}

/// A copy of the ledger's SQLite file, to bring back later.
fn backup(url: &str) -> Vec<u8> {
    std::fs::read(url).unwrap()
}

/// Puts `copy` back as the whole ledger, its write-ahead log removed.
fn restore(url: &str, copy: Vec<u8>) {
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{url}{side}"));
    }
    std::fs::write(url, copy).unwrap();
}

#[tokio::test]
async fn a_snapshot_ahead_of_the_ledger_is_ignored() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let reg = Arc::new(open(&db.url, None).await.0);
    let all = fixtures::all();
    reg.ingest(&fixtures::lines(&all[0].1), "a").await.unwrap();
    reg.ledger().close().await;
    let earlier = backup(&db.url);
    let reg = Arc::new(open(&db.url, None).await.0);
    reg.ingest(&fixtures::lines(&all[1].1), "b").await.unwrap();
    reg.snapshot(&Snapshots::new(dir.path())).await.unwrap();
    reg.ledger().close().await;
    // The ledger is restored from the earlier copy: the snapshot is ahead.
    // (Its write-ahead log goes too: a close under load may leave one.)
    restore(&db.url, earlier);
    assert!(!start(&db.url, dir.path()).await);
}

#[tokio::test]
async fn a_snapshot_of_a_ledger_rewritten_since_is_ignored_for_an_older_good_one() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let snaps = Snapshots::new(dir.path());
    let all = fixtures::all();
    let reg = Arc::new(open(&db.url, None).await.0);
    reg.ingest(&fixtures::lines(&all[0].1), "a").await.unwrap();
    let older = reg.snapshot(&snaps).await.unwrap();
    reg.ledger().close().await;
    let earlier = backup(&db.url);
    let reg = Arc::new(open(&db.url, None).await.0);
    reg.ingest(&fixtures::lines(&all[1].1), "b").await.unwrap();
    reg.snapshot(&snaps).await.unwrap();
    reg.ledger().close().await;
    // Restored, then other records written up to and past the newer
    // snapshot's seq: same ledger, but not the records it ends at.
    restore(&db.url, earlier);
    let reg = open(&db.url, None).await.0;
    reg.ingest(&fixtures::lines(&all[2].1), "c").await.unwrap();
    reg.ingest(&fixtures::lines(&all[3].1), "d").await.unwrap();
    reg.ledger().close().await;
    let (r, start) = open(&db.url, Some(&snaps)).await;
    assert_eq!(start.snapshot.as_deref(), Some(older.as_path()));
    let want = full(&db.url).await;
    assert_eq!(r.graph().canonical(), want);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn on_generated_populations_snapshot_plus_tail_is_the_full_replay(seed in 0u64..1_000_000, cut in 0.05f64..0.95) {
        let mut buf = Vec::new();
        generate(&GenerateOptions { persons: 400, seed }, &mut buf).unwrap();
        let lines: Vec<Line> = Lines::new(&buf[..]).map(Result::unwrap).collect();
        let k = (lines.len() as f64 * cut) as usize;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let db = TestDb::sqlite();
            let dir = tempfile::tempdir().unwrap();
            let snaps = Snapshots::new(dir.path());
            let reg = Arc::new(open(&db.url, None).await.0);
            for chunk in lines[..k].chunks(500) {
                reg.ingest(chunk, "gen").await.unwrap();
            }
            reg.snapshot(&snaps).await.unwrap();
            for chunk in lines[k..].chunks(500) {
                reg.ingest(chunk, "gen").await.unwrap();
            }
            let (r, start) = open(&db.url, Some(&snaps)).await;
            prop_assert_eq!(start.snapshot_seq, k as i64);
            let want = full(&db.url).await;
            prop_assert_eq!(r.graph().canonical(), want);
            prop_assert_eq!(r.graph().canonical(), reg.graph().canonical());
            Ok(())
        })?;
    }
}
