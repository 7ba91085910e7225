//! Bulk import (`Registry::import_bulk`, `kinship import`) leaves exactly
//! what record-by-record ingest leaves — the same accepted records, the
//! same refusals with their reasons, the same per-person and per-dwelling
//! lists, the same graph — on both databases, from an empty ledger or on
//! top of one, with transactions small enough that records refer to acts
//! of earlier, committed transactions. A process killed in the middle
//! leaves a ledger that the same import, run again, completes.

mod common;

use common::{Backend, TestDb};
use kinship::generate::{GenerateOptions, generate};
use kinship::iin::Iin;
use kinship::ledger::Ledger;
use kinship::registry::{BulkOptions, IngestReport, Line, Registry};
use std::collections::BTreeSet;
use std::path::Path;

/// A generated population, then records a clerk's file also holds: exact
/// repeats, an act_id reused for other content, lines that are not
/// records, blank lines, and annulments of acts from far back in the file
/// (of a divorce, twice, and of the marriage it ended), which the importer
/// must fetch back from the ledger.
fn records(persons: u64, seed: u64) -> Vec<String> {
    let mut out = population(persons, seed);
    let json: Vec<serde_json::Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let divorce = json
        .iter()
        .find(|v| v["kind"] == "divorce")
        .expect("the population has a divorce");
    let (d_id, m_id) = (
        divorce["act_id"].as_str().unwrap().to_owned(),
        divorce["marriage_act"].as_str().unwrap().to_owned(),
    );
    let birth = json.iter().find(|v| v["kind"] == "birth").unwrap();
    let mut conflict = birth.clone();
    conflict["date"] = serde_json::Value::from("2001-01-01");
    let annul = |id: &str, target: &str| {
        format!(
            r#"{{"kind":"annulment","act_id":"{id}","date":"2025-06-01","target_act":"{target}"}}"#
        )
    };
    let n = out.len();
    out.insert(n / 3, String::new());
    out.insert(n / 2, "{not json".into());
    out.insert(n / 2, out[5].clone());
    out.push(conflict.to_string());
    out.push(annul("BULK-AN-1", &d_id));
    out.push(annul("BULK-AN-2", &d_id));
    out.push(annul("BULK-AN-3", &m_id));
    out.push(annul("BULK-AN-4", "NO-SUCH-ACT"));
    out.push(r#"{"kind":"death","act_id":"BULK-D-1","date":"2024-01-01"}"#.into());
    out.push(out[7].clone());
    out
}

fn population(persons: u64, seed: u64) -> Vec<String> {
    let mut buf = Vec::new();
    generate(&GenerateOptions { persons, seed }, &mut buf).unwrap();
    String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write(dir: &Path, name: &str, records: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, records.join("\n") + "\n").unwrap();
    path
}

/// Record-by-record ingest, in batches of 100 lines, as `POST /acts` does.
async fn ingest_all(reg: &Registry, records: &[String], source: &str) -> IngestReport {
    let mut report = IngestReport::default();
    let all = common::numbered(records);
    for batch in all.chunks(100) {
        let batch: Vec<Line> = batch
            .iter()
            .filter(|l| !l.bytes.is_empty())
            .cloned()
            .collect();
        report.add(&reg.ingest(&batch, source).await.unwrap());
    }
    report
}

async fn bulk(reg: &Registry, file: &Path, transaction: usize) -> IngestReport {
    let mut last = 0;
    let report = reg
        .import_bulk(file, &BulkOptions { transaction }, |p| {
            assert!(p.report.lines >= last, "progress goes forward");
            last = p.report.lines;
        })
        .await
        .unwrap();
    assert_eq!(
        last, report.lines,
        "the last progress report is the whole file"
    );
    report
}

async fn open(url: &str) -> Registry {
    Registry::open(Ledger::open(url).await.unwrap())
        .await
        .unwrap()
}

/// Everything an import leaves, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Content {
    acts: Vec<String>,
    refused: Vec<String>,
    persons: Vec<String>,
    dwellings: Vec<String>,
    graph: kinship::graph::Canonical,
}

async fn content(reg: &Registry, records: &[String]) -> Content {
    use futures_util::StreamExt;
    let ledger = reg.ledger();
    let mut acts = Vec::new();
    let mut rows = std::pin::pin!(ledger.replay_json(0, i64::MAX));
    while let Some(e) = rows.next().await {
        let e = e.unwrap();
        acts.push(format!("{} {:?} {:?}", e.seq, e.act, e.target));
    }
    let refused = ledger
        .refused(0, i64::MAX, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            format!(
                "{:?} {} {} {:?} {:?}",
                r.act_id, r.code, r.detail, r.raw, r.line
            )
        })
        .collect();
    let mut iins = BTreeSet::new();
    let mut dwellings = BTreeSet::new();
    for r in records {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(r) else {
            continue;
        };
        for f in ["person", "child", "mother", "father"] {
            if let Some(s) = v[f].as_str() {
                iins.insert(s.to_owned());
            }
        }
        for s in v["spouses"].as_array().into_iter().flatten() {
            iins.insert(s.as_str().unwrap().to_owned());
        }
        if let Some(d) = v["dwelling"].as_str() {
            dwellings.insert(d.to_owned());
        }
    }
    let mut persons = Vec::new();
    for i in &iins {
        let Ok(iin) = Iin::parse(i) else { continue };
        let seqs: Vec<i64> = ledger
            .acts_of(iin)
            .await
            .unwrap()
            .iter()
            .map(|a| a.seq)
            .collect();
        persons.push(format!("{i}: {seqs:?}"));
    }
    let mut homes = Vec::new();
    for d in &dwellings {
        for on in ["1950-01-01", "2000-01-01", "2025-01-01"] {
            let regs = ledger.registrations(d, on.parse().unwrap()).await.unwrap();
            let regs: Vec<String> = regs
                .iter()
                .map(|r| format!("{} {:?} {} {}", r.person, r.kind, r.since, r.act_id))
                .collect();
            homes.push(format!("{d} {on}: {regs:?}"));
        }
    }
    Content {
        acts,
        refused,
        persons,
        dwellings: homes,
        graph: reg.graph().canonical(),
    }
}

async fn same_as_ingest(backend: Backend) {
    let (Some(a), Some(b)) = (TestDb::new(backend).await, TestDb::new(backend).await) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let recs = records(400, 11);
    let file = write(dir.path(), "people.ndjson", &recs);

    let by_record = open(&a.url).await;
    let want_report = ingest_all(&by_record, &recs, "people.ndjson").await;
    let by_bulk = open(&b.url).await;
    let got_report = bulk(&by_bulk, &file, 7).await;
    assert_eq!(got_report.blank, 1);
    let mut want_report = want_report;
    want_report.blank = 1;
    assert_eq!(got_report, want_report);
    assert!(want_report.refused_total() >= 5, "{want_report:?}");
    assert!(want_report.duplicates >= 2, "{want_report:?}");
    let want = content(&by_record, &recs).await;
    assert!(want.acts.len() > 1000, "a population of some size");
    assert_eq!(content(&by_bulk, &recs).await, want);

    // What a fresh start of that ledger sees is the same.
    by_bulk.ledger().close().await;
    let reopened = open(&b.url).await;
    assert_eq!(content(&reopened, &recs).await, want);

    // Importing the file again: all duplicates, refusals kept again.
    // Importing the file again is ingesting it again (a record refused
    // for what the ledger held then may now be accepted).
    let again = bulk(&reopened, &file, 50).await;
    let mut want_again = ingest_all(&by_record, &recs, "people.ndjson").await;
    want_again.blank = 1;
    assert_eq!(again, want_again);
    assert!(again.duplicates >= want_report.accepted);
    assert_eq!(
        content(&reopened, &recs).await,
        content(&by_record, &recs).await
    );
    by_record.ledger().close().await;
    reopened.ledger().close().await;
    a.cleanup().await;
    b.cleanup().await;
}

#[tokio::test]
async fn bulk_import_leaves_what_ingest_leaves_on_sqlite() {
    same_as_ingest(Backend::Sqlite).await;
}

#[tokio::test]
async fn bulk_import_leaves_what_ingest_leaves_on_postgres() {
    same_as_ingest(Backend::Postgres).await;
}

/// Half the records ingested one by one, the rest imported in bulk on top:
/// the importer's view of what the ledger holds (its filter of act ids,
/// the acts it fetches back) starts from a non-empty ledger.
async fn on_top(backend: Backend) {
    let (Some(a), Some(b)) = (TestDb::new(backend).await, TestDb::new(backend).await) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let recs = records(300, 5);
    let (first, rest) = recs.split_at(recs.len() / 2);
    let whole = open(&a.url).await;
    ingest_all(&whole, first, "part").await;
    ingest_all(&whole, rest, "part").await;
    let split = open(&b.url).await;
    ingest_all(&split, first, "part").await;
    let file = write(dir.path(), "part", rest);
    bulk(&split, &file, 13).await;
    assert_eq!(content(&split, &recs).await, content(&whole, &recs).await);
    whole.ledger().close().await;
    split.ledger().close().await;
    a.cleanup().await;
    b.cleanup().await;
}

#[tokio::test]
async fn bulk_import_on_top_of_a_ledger_on_sqlite() {
    on_top(Backend::Sqlite).await;
}

#[tokio::test]
async fn bulk_import_on_top_of_a_ledger_on_postgres() {
    on_top(Backend::Postgres).await;
}

/// `kinship import` killed (SIGKILL) once some transactions are committed,
/// then run again: the result is a clean import's (its refusals plus those
/// of the first, partial run), and the lists left out at the kill are
/// made again. The file holds nothing whose fate depends on what comes
/// after it (as a refused annulment may: see above), so the result does
/// not depend on where the kill fell.
#[test]
fn an_import_killed_midway_is_completed_by_running_it_again() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut recs = population(3000, 17);
    let n = recs.len();
    recs.insert(n / 2, "{not json".into());
    recs.insert(n / 3, recs[3].clone());
    recs.push(recs[9].clone());
    let file = write(dir.path(), "country.ndjson", &recs);
    let killed = TestDb::sqlite();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kinship"))
        .args(["import", file.to_str().unwrap(), "--db", &killed.url])
        .args(["--batch", "200"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed as soon as a few transactions are in the ledger.
    let started = std::time::Instant::now();
    let partial = loop {
        let n = rt.block_on(async {
            let Ok(l) = Ledger::open(&killed.url).await else {
                return 0;
            };
            let n = l.last_seq().await.unwrap_or(0);
            l.close().await;
            n
        });
        if n >= 1000 || started.elapsed().as_secs() > 120 {
            break n;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let total = recs.iter().filter(|r| !r.is_empty()).count() as i64;
    assert!(partial >= 1000, "the import never got going: {err}");
    assert!(
        !status.success(),
        "the import finished before it could be killed ({partial} of {total}); make the file larger"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinship"))
        .args(["import", file.to_str().unwrap(), "--db", &killed.url])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !stdout.contains("duplicates  0\n"),
        "the second run found nothing stored:\n{stdout}"
    );

    rt.block_on(async {
        let clean = TestDb::sqlite();
        let reg = open(&clean.url).await;
        bulk(&reg, &file, 200).await;
        let want = content(&reg, &recs).await;
        let got = content(&open(&killed.url).await, &recs).await;
        if let Some(i) = (0..want.acts.len()).find(|&i| got.acts.get(i) != want.acts.get(i)) {
            panic!("record {i}: {:?}, want {:?}", got.acts.get(i), want.acts[i]);
        }
        assert_eq!(got.acts.len(), want.acts.len());
        assert_eq!(got.persons, want.persons);
        assert_eq!(got.dwellings, want.dwellings);
        assert_eq!(got.graph, want.graph);
        for r in &want.refused {
            assert!(got.refused.contains(r), "refusal {r} lost");
        }
    });
}
