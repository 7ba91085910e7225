//! Every fixture family's expected answers, against SQLite and PostgreSQL,
//! imported record by record and in one batch.

mod common;

use common::{Backend, TestDb, fixtures};

async fn run_all(backend: Backend) {
    let families = fixtures::all();
    assert!(families.len() >= 16, "graph-fixtures/ lost families");
    let mut fails = Vec::new();
    for batch in [1, 1000] {
        for (name, ndjson, expect) in &families {
            let Some(db) = TestDb::new(backend).await else {
                return;
            };
            fails.extend(fixtures::check_family(&db.url, name, ndjson, expect, batch).await);
            db.cleanup().await;
        }
    }
    assert!(
        fails.is_empty(),
        "{} fixture failures on {backend:?}:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

#[tokio::test]
async fn fixtures_on_sqlite() {
    run_all(Backend::Sqlite).await;
}

#[tokio::test]
async fn fixtures_on_postgres() {
    run_all(Backend::Postgres).await;
}
