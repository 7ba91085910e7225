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

/// Every reason a check can give is exercised by some fixture statement.
#[test]
fn every_check_reason_has_a_fixture() {
    let text: String = fixtures::all()
        .iter()
        .map(|(_, _, e)| std::fs::read_to_string(e).unwrap())
        .collect();
    for r in kinship::resolve::Reason::ALL {
        assert!(
            text.contains(&format!("refused {}", r.code())),
            "no fixture check is refused with {}",
            r.code()
        );
    }
    for k in [
        "spouse_parent",
        "spouse_child",
        "spouse_sibling",
        "parent_spouse",
        "child_spouse",
        "sibling_spouse",
    ] {
        assert!(
            text.contains(&format!("confirmed {k}")),
            "no fixture check confirms {k}"
        );
    }
}
