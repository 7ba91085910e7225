//! Writes never block reads, and readers never see a record before its
//! transaction commits:
//! * on the graph: a batch judged with `FamilyGraph::deferred` is invisible
//!   to queries (new persons, links, marriages, deaths, annulments,
//!   divorces) until `publish`, and `discard` leaves the graph exactly as
//!   it was;
//! * through the registry: while the ledger commit of a batch is stuck
//!   (another connection holds SQLite's write lock), checks are answered at
//!   once from the state before the batch, and once the commit goes
//!   through the records are visible.

mod common;

use kinship::acts::{Act, parse_line};
use kinship::graph::{Batch, FamilyGraph, Journal, Target};
use kinship::iin::Iin;
use kinship::ledger::Ledger;
use kinship::registry::{LineOutcome, Registry};
use kinship::resolve::{Claim, check};
use std::time::{Duration, Instant};

const H: &str = "720415300125";
const W: &str = "750101400219";
const C: &str = "010305500121";

const BASE: &[&str] = &[
    r#"{"kind":"marriage","act_id":"M1","date":"1998-06-20","spouses":["720415300125","750101400219"]}"#,
    r#"{"kind":"birth","act_id":"B1","date":"2001-03-09","child":"010305500121","mother":"750101400219","father":"720415300125"}"#,
    r#"{"kind":"marriage","act_id":"M2","date":"2005-01-01","spouses":["850312300121","800505400019"]}"#,
];

/// Records whose effects readers must not see early: a new person, a
/// divorce, a death, an annulment.
const BATCH: &[&str] = &[
    r#"{"kind":"birth","act_id":"B2","date":"2010-01-05","child":"100105600010","mother":"800505400019","father":"850312300121"}"#,
    r#"{"kind":"divorce","act_id":"R1","date":"2008-01-01","marriage_act":"M1"}"#,
    r#"{"kind":"death","act_id":"D1","date":"2015-01-05","person":"720415300125","died":"2015-01-01"}"#,
    r#"{"kind":"annulment","act_id":"AN1","date":"2016-01-01","target_act":"B1"}"#,
];

fn iin(s: &str) -> Iin {
    Iin::parse(s).unwrap()
}

fn act(s: &str) -> Act {
    parse_line(s.as_bytes()).unwrap()
}

fn on(d: &str) -> chrono::NaiveDate {
    kinship::acts::parse_date(d).unwrap()
}

/// What a reader would answer about the people involved.
fn view(g: &FamilyGraph) -> String {
    let ask = |o: &str, a: &str, c: Claim, d: &str| {
        let v = check(g, g.person(iin(o)), g.person(iin(a)), c, on(d));
        format!("{:?}", (v.confirmed, v.reason))
    };
    [
        ask(H, W, Claim::Spouse, "2009-01-01"),
        ask(W, C, Claim::Child, "2020-01-01"),
        format!("{:?}", g.person(iin("100105600010")).is_some()),
        format!("{:?}", g.person(iin(H)).and_then(|p| g.death(p))),
    ]
    .join(" ")
}

#[test]
fn a_deferred_batch_is_invisible_until_published() {
    let base: Vec<Act> = BASE.iter().map(|s| act(s)).collect();
    let batch: Vec<Act> = BATCH.iter().map(|s| act(s)).collect();
    let mut g = FamilyGraph::default();
    let mut j = Journal::default();
    for a in &base {
        g.apply(a, None, &mut j).unwrap();
    }
    j.commit();
    let before = (g.canonical(), view(&g));
    assert_eq!(before.1, "(true, None) (true, None) false None");

    let target = |a: &Act| match a.reference().map(|r| r.as_str()) {
        Some("M1") => Some(&base[0]),
        Some("B1") => Some(&base[1]),
        _ => None,
    };
    for publish in [false, true] {
        let mut b = Batch::default();
        // One record per "lock hold"; between them a reader looks.
        for a in &batch {
            let t = target(a).map(|t| Target {
                act: t,
                annulled: false,
                marriage: None,
            });
            g.deferred(&mut b, |g| {
                g.apply(a, t, &mut j).unwrap();
                // The writer sees its own records.
                assert!(g.person(iin("100105600010")).is_some());
                assert_eq!(g.check_inline_parents(&[on("2020-01-01")]), Ok(()));
            });
            assert_eq!(view(&g), before.1, "a reader saw {} early", a.act_id);
            assert_eq!(g.check_inline_parents(&[on("2020-01-01")]), Ok(()));
        }
        if publish {
            g.publish(b, &mut j);
            assert_eq!(
                view(&g),
                "(false, Some(MarriageEnded)) (false, Some(ParentNotRecorded)) true Some(2015-01-01)"
            );
        } else {
            g.discard(b, &mut j);
            assert_eq!((g.canonical(), view(&g)), before);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_answered_while_a_commit_is_stuck() {
    let db = common::TestDb::sqlite();
    let reg = std::sync::Arc::new(
        Registry::open(Ledger::open(&db.url).await.unwrap())
            .await
            .unwrap(),
    );
    reg.ingest(&common::numbered(BASE), "base").await.unwrap();
    let before = view(&reg.graph());

    // Another connection takes SQLite's write lock and keeps it.
    use sqlx::Connection;
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.url))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let writer = {
        let reg = reg.clone();
        tokio::spawn(async move { reg.ingest(&common::numbered(BATCH), "batch").await })
    };
    // While the write waits for the database, every check is answered at
    // once, from the state before the batch.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_millis(600) {
        let t = Instant::now();
        let seen = view(&reg.graph());
        slowest = slowest.max(t.elapsed());
        assert_eq!(seen, before, "a reader saw an uncommitted record");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!writer.is_finished(), "the commit was not held up");
    assert!(
        slowest < Duration::from_millis(100),
        "a check waited {slowest:?}"
    );

    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let out = writer.await.unwrap().unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, LineOutcome::Accepted { .. })),
        "{out:?}"
    );
    assert_ne!(view(&reg.graph()), before, "the committed batch is visible");
}
