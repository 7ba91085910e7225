//! Test helpers shared by the integration tests: a fresh database per test
//! (a SQLite file in a temp dir, or a new PostgreSQL database when
//! `KINSHIP_TEST_PG` names a server), and the fixture families.
#![allow(dead_code)]

pub mod fixtures;
pub mod raw;
pub mod truth;

use sqlx::Connection;
use std::sync::atomic::{AtomicU32, Ordering};

/// Records as the lines of one file, numbered from 1.
pub fn numbered<S: AsRef<[u8]>>(records: &[S]) -> Vec<kinship::registry::Line> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| kinship::registry::Line::new(i as u64 + 1, r.as_ref().to_vec()))
        .collect()
}

/// The API key every test client holds (registered by [`authorize`]).
pub const TEST_KEY: &str = "kin_test-key-0123456789abcdefghijklmnopqrstuv";
/// The purpose every test request states unless it says otherwise.
pub const TEST_PURPOSE: &str = "kinship-tests; case=T-1";

/// Registers the test client (every scope, [`TEST_KEY`]) on `reg`'s ledger
/// unless it is there already.
pub async fn authorize(reg: &kinship::registry::Registry) {
    let clients = reg.clients();
    if clients.authenticate(TEST_KEY).is_none() {
        clients
            .add_with_key("tests", kinship::access::Scopes::all(), TEST_KEY)
            .await
            .expect("test client");
    }
}

/// The same for a ledger no registry of this process serves (a `serve`
/// process started by the test).
pub async fn authorize_ledger(url: &str) {
    let ledger = kinship::ledger::Ledger::open(url).await.expect("ledger");
    let clients = kinship::access::Clients::load(ledger.clone())
        .await
        .expect("clients");
    if clients.authenticate(TEST_KEY).is_none() {
        clients
            .add_with_key("tests", kinship::access::Scopes::all(), TEST_KEY)
            .await
            .expect("test client");
    }
    ledger.close().await;
}

/// The app over `reg`, with every request sent as the test client for the
/// test purpose unless it carries its own credential or purpose.
pub async fn app(reg: std::sync::Arc<kinship::registry::Registry>) -> axum::Router {
    authorize(&reg).await;
    as_test_client(kinship::http::router(kinship::http::AppState::ready(reg)))
}

/// Adds the test client's credential and purpose to requests without them.
pub fn as_test_client(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::map_request(
        |mut req: axum::extract::Request| async move {
            let h = req.headers_mut();
            if !h.contains_key("authorization") && !h.contains_key("x-api-key") {
                h.insert(
                    "authorization",
                    format!("Bearer {TEST_KEY}").parse().unwrap(),
                );
            }
            if !h.contains_key("x-purpose") {
                h.insert("x-purpose", TEST_PURPOSE.parse().unwrap());
            }
            req
        },
    ))
}

/// The environment variable naming the PostgreSQL server for tests.
pub const PG_ENV: &str = "KINSHIP_TEST_PG";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test.
pub struct TestDb {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh database on `backend`, or `None` (with a note) when that
    /// backend is not configured.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::sqlite()),
            Backend::Postgres => TestDb::postgres().await,
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = dir
            .path()
            .join("ledger.db")
            .to_str()
            .expect("utf-8 path")
            .to_owned();
        TestDb {
            url,
            pg: None,
            _dir: Some(dir),
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin) = std::env::var(PG_ENV) else {
            eprintln!("note: {PG_ENV} is not set; skipping the PostgreSQL part of this test");
            return None;
        };
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "kinship_t_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros() % 1_000_000
        );
        let mut conn = sqlx::postgres::PgConnection::connect(&admin)
            .await
            .expect("connect to KINSHIP_TEST_PG");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin.as_str(), String::new()),
        };
        let server = &base[..base.rfind('/').expect("URL has a database path")];
        let url = format!("{server}/{name}{query}");
        Some(TestDb {
            url,
            pg: Some((admin, name)),
            _dir: None,
        })
    }

    /// Drops a PostgreSQL test database (call at the end of the test).
    pub async fn cleanup(self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = sqlx::postgres::PgConnection::connect(admin).await
        {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::query(&sql).execute(&mut conn).await;
        }
    }
}
