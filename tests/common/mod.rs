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
