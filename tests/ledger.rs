//! The ledger's two backends behave as one:
//! * both databases end up with the same tables and columns after the
//!   migrations;
//! * the replay log gives back every accepted record (names and dwellings
//!   aside) and a graph replayed from it equals one replayed from the
//!   stored JSON, on every fixture family, on both databases;
//! * a database out of reach is "unavailable" (503 with Retry-After over
//!   HTTP, while checks answered from memory go on), not an internal error.

mod common;

use common::{Backend, TestDb, fixtures};
use futures_util::StreamExt;
use kinship::acts::compact;
use kinship::graph::{FamilyGraph, Journal, Target};
use kinship::ledger::{Ledger, LedgerError};
use kinship::registry::Registry;
use std::collections::BTreeSet;

async fn columns(backend: Backend, url: &str) -> BTreeSet<(String, String)> {
    use sqlx::Connection;
    let rows: Vec<(String, String)> = match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{url}"))
                .await
                .unwrap();
            sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\' \
                   AND m.name NOT LIKE 'sqlite%'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_as(
                "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns \
                 WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
    };
    rows.into_iter().collect()
}

#[tokio::test]
async fn both_databases_have_the_same_tables_and_columns() {
    let lite = TestDb::sqlite();
    Ledger::open(&lite.url).await.unwrap().close().await;
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    Ledger::open(&pg.url).await.unwrap().close().await;
    let (a, b) = (
        columns(Backend::Sqlite, &lite.url).await,
        columns(Backend::Postgres, &pg.url).await,
    );
    assert!(a.contains(&("graph_log".into(), "data".into())), "{a:?}");
    assert_eq!(a, b);
    pg.cleanup().await;
}

/// Builds a graph from the stored JSON alone.
async fn from_json(ledger: &Ledger) -> FamilyGraph {
    let mut g = FamilyGraph::default();
    let mut j = Journal::default();
    let mut rows = std::pin::pin!(ledger.replay_json(0, i64::MAX));
    while let Some(e) = rows.next().await {
        let e = e.unwrap();
        let t = e.target.as_ref().map(|t| Target {
            act: t,
            annulled: false,
            marriage: e.target_target.as_ref(),
        });
        g.apply(&e.act, t, &mut j).unwrap();
        j.commit();
    }
    g
}

async fn log_round_trip(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let reg = Registry::open(Ledger::open(&db.url).await.unwrap())
        .await
        .unwrap();
    for (name, ndjson, _) in fixtures::all() {
        reg.ingest(&fixtures::lines(&ndjson), &name).await.unwrap();
    }
    // Every accepted record comes back from the log, in order, as logged.
    let mut json = std::pin::pin!(reg.ledger().replay_json(0, i64::MAX));
    let mut logged = Vec::new();
    let mut rows = std::pin::pin!(reg.ledger().replay_log(0));
    while let Some(row) = rows.next().await {
        let row = row.unwrap();
        for e in row.entries().unwrap() {
            logged.push(e.unwrap());
        }
    }
    let mut n = 0;
    for got in logged {
        let want = json.next().await.unwrap().unwrap();
        let as_logged = compact::Entry {
            seq: want.seq,
            act: compact::as_logged(&want.act),
            target: want.target.as_ref().map(compact::as_logged),
            target_target: want.target_target.as_ref().map(compact::as_logged),
        };
        assert_eq!(got, as_logged);
        n += 1;
    }
    assert!(json.next().await.is_none(), "the log lacks records");
    assert_eq!(n as i64, reg.ledger().last_seq().await.unwrap());
    // The registry replays from the log; the same graph as from JSON.
    let replayed = Registry::open(reg.ledger().clone()).await.unwrap();
    let json = from_json(reg.ledger()).await.canonical();
    assert_eq!(replayed.graph().canonical(), json);
    assert_eq!(replayed.graph().canonical(), reg.graph().canonical());
    reg.ledger().close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_replay_log_gives_back_every_record_on_sqlite() {
    log_round_trip(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_replay_log_gives_back_every_record_on_postgres() {
    log_round_trip(Backend::Postgres).await;
}

#[tokio::test]
async fn a_database_out_of_reach_is_unavailable() {
    // Nothing listens on port 1.
    let e = Ledger::open("postgres://postgres@127.0.0.1:1/kinship")
        .await
        .unwrap_err();
    assert!(matches!(e, LedgerError::Unavailable(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_503_with_retry_after_and_checks_go_on() {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use sqlx::Connection;
    use tower::ServiceExt;

    let db = TestDb::sqlite();
    let reg = std::sync::Arc::new(
        Registry::open(Ledger::open(&db.url).await.unwrap())
            .await
            .unwrap(),
    );
    let app = common::app(reg.clone()).await;
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.url))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let post = app.clone().oneshot(
        Request::post("/v1/acts")
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"kind":"death","act_id":"D1","date":"2020-01-02","person":"720415300125","died":"2020-01-01"}"#,
            ))
            .unwrap(),
    );
    let check = async {
        // Answered from memory while the write waits for the database.
        let res = app
            .clone()
            .oneshot(
                Request::post("/v1/checks/kinship")
                    .header("content-type", "application/json")
                    .body(Body::from(
                        r#"{"owner":"720415300125","applicant":"750101400219","claim":"spouse"}"#,
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        (std::time::Instant::now(), res.status())
    };
    let started = std::time::Instant::now();
    let (res, (checked_at, check_status)) = tokio::join!(post, check);
    let res = res.unwrap();
    assert_eq!(check_status, 200);
    assert!(checked_at.duration_since(started) < std::time::Duration::from_secs(1));
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "5");
    let body: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["code"], "database_unavailable");
    // Nothing was applied, and once the lock is gone the write goes through.
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    assert_eq!(reg.ledger().last_seq().await.unwrap(), 0);
}

/// An answered audit record of `client` at `at` for `purpose`.
fn audit_row(
    at: i64,
    client: i64,
    purpose: String,
    iins: Vec<kinship::iin::Iin>,
) -> kinship::ledger::AuditRow {
    kinship::ledger::AuditRow {
        at,
        client_id: client,
        purpose,
        case_ref: None,
        consent_ref: None,
        route: "r".into(),
        outcome: "answered".into(),
        iins,
    }
}

/// Who looked a person up, through many index passes and the merges of
/// their runs (and records not indexed yet), is exactly what was
/// appended: every lookup of every person, newest first, page by page.
async fn lookups_survive_index_passes_and_merges(backend: Backend) {
    use kinship::iin::Iin;
    use rand::{Rng, SeedableRng};
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let ledger = Ledger::open(&db.url).await.unwrap();
    let client = ledger
        .add_client("portal", &[7; 32], "checks", 1)
        .await
        .unwrap();
    let persons: Vec<Iin> = (1..=40)
        .map(|n| {
            Iin::compose(
                chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                kinship::iin::Sex::Female,
                n,
            )
            .unwrap()
        })
        .collect();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(29);
    // Brute force: per person, the purposes of the records naming them.
    let mut expect: Vec<Vec<String>> = vec![Vec::new(); persons.len()];
    let mut written = 0;
    // Enough passes for runs of level 0 and 1 to be merged, the last
    // records left unindexed.
    for pass in 0..75 {
        let mut rows = Vec::new();
        for _ in 0..rng.random_range(1..6) {
            let mut who: Vec<usize> = (0..rng.random_range(1..4))
                .map(|_| rng.random_range(0..persons.len()))
                .collect();
            who.sort_unstable();
            who.dedup();
            let purpose = format!("p{written}");
            written += 1;
            for &w in &who {
                expect[w].push(purpose.clone());
            }
            rows.push(audit_row(
                written,
                client,
                purpose,
                who.iter().map(|&w| persons[w]).collect(),
            ));
        }
        ledger.append_audit(&rows, None).await.unwrap();
        if pass < 74 {
            while ledger.index_audit().await.unwrap() {}
        }
    }
    for (p, want) in persons.iter().zip(&expect) {
        let mut got = Vec::new();
        let mut before = None;
        loop {
            let page = ledger.lookups(*p, before, 3).await.unwrap();
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            got.extend(page.into_iter().map(|r| r.purpose));
        }
        got.reverse();
        assert_eq!(&got, want, "lookups of {}", p.masked());
    }
    ledger.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn lookups_survive_index_passes_and_merges_on_sqlite() {
    lookups_survive_index_passes_and_merges(Backend::Sqlite).await;
}

#[tokio::test]
async fn lookups_survive_index_passes_and_merges_on_postgres() {
    lookups_survive_index_passes_and_merges(Backend::Postgres).await;
}

/// A SQLite merge cut short by a stop is undone (its new run not listed
/// yet) or finished (listed) before the next pass, and lookups are the
/// same either way, with no entry twice.
#[tokio::test]
async fn a_merge_cut_short_is_undone_or_finished() {
    use kinship::iin::Iin;
    use sqlx::Connection;
    let db = TestDb::sqlite();
    let ledger = Ledger::open(&db.url).await.unwrap();
    let client = ledger
        .add_client("portal", &[7; 32], "checks", 1)
        .await
        .unwrap();
    let who = ["720415300125", "750412301013"].map(|s| Iin::parse(s).unwrap());
    for n in 0..3 {
        let row = audit_row(n, client, format!("p{n}"), who.to_vec());
        ledger.append_audit(&[row], None).await.unwrap();
        while ledger.index_audit().await.unwrap() {}
    }
    let purposes = |rows: Vec<kinship::ledger::LookupRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.purpose).collect()
    };
    let want = purposes(ledger.lookups(who[0], None, 10).await.unwrap());
    assert_eq!(want, ["p2", "p1", "p0"]);
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.url))
        .await
        .unwrap();
    let count = async |c: &mut sqlx::SqliteConnection, sql: &str| -> i64 {
        sqlx::query_scalar(sql).fetch_one(c).await.unwrap()
    };
    // Cut short while copying: run 99 holds part of the copy, unlisted.
    sqlx::query("INSERT INTO audit_index SELECT 99, iin, audit_id FROM audit_index WHERE iin = $1")
        .bind(who[0].get() as i64)
        .execute(&mut c)
        .await
        .unwrap();
    let runs: String = sqlx::query_scalar("SELECT group_concat(run) FROM audit_runs")
        .fetch_one(&mut c)
        .await
        .unwrap();
    sqlx::query("INSERT INTO meta (key, value) VALUES ('audit_merging', $1)")
        .bind(format!("99 {runs}"))
        .execute(&mut c)
        .await
        .unwrap();
    while ledger.index_audit().await.unwrap() {}
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM audit_index WHERE run = 99").await,
        0
    );
    assert_eq!(
        purposes(ledger.lookups(who[0], None, 10).await.unwrap()),
        want
    );
    // Cut short after listing: the old runs' entries are still there.
    sqlx::query("INSERT INTO audit_index SELECT 99, iin, audit_id FROM audit_index")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_runs")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("INSERT INTO audit_runs VALUES (99, 1, 6)")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("INSERT INTO meta (key, value) VALUES ('audit_merging', $1)")
        .bind(format!("99 {runs}"))
        .execute(&mut c)
        .await
        .unwrap();
    while ledger.index_audit().await.unwrap() {}
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM audit_index WHERE run <> 99").await,
        0
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM audit_index").await, 6);
    assert_eq!(
        count(
            &mut c,
            "SELECT count(*) FROM meta WHERE key = 'audit_merging'"
        )
        .await,
        0
    );
    assert_eq!(
        purposes(ledger.lookups(who[1], None, 10).await.unwrap()),
        want
    );
    ledger.close().await;
    db.cleanup().await;
}
