//! Every fixture family's expected answers through the HTTP API (records in
//! through POST /v1/acts, answers out of the checks, family, relatives and
//! household endpoints), against SQLite and PostgreSQL.

mod common;

use common::{Backend, TestDb, fixtures};

async fn run_all(backend: Backend) {
    let mut fails = Vec::new();
    for (name, ndjson, expect) in fixtures::all() {
        let Some(db) = TestDb::new(backend).await else {
            return;
        };
        fails.extend(fixtures::check_family_http(&db.url, &name, &ndjson, &expect).await);
        db.cleanup().await;
    }
    assert!(
        fails.is_empty(),
        "{} failures on {backend:?}:\n{}",
        fails.len(),
        fails.join("\n")
    );
}

#[tokio::test]
async fn fixtures_over_http_on_sqlite() {
    run_all(Backend::Sqlite).await;
}

#[tokio::test]
async fn fixtures_over_http_on_postgres() {
    run_all(Backend::Postgres).await;
}
