//! The ledger: accepted act records (append-only, numbered) and refused
//! records (with why), in SQLite by default or PostgreSQL in production.
//!
//! One code path serves both: runtime-checked queries on sqlx's `AnyPool`
//! with `$n` placeholders, which both databases accept. Migrations differ
//! only in types, so there is a directory per database with matching
//! versions. Nothing here knows about the graph or HTTP.

mod store;

pub use store::{ActRecord, Registration};

use crate::acts::Kind;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use a file path, sqlite:PATH or postgres://...")]
    Url(String),
    #[error("ledger is inconsistent: {0}")]
    Corrupt(String),
    #[error(
        "another process wrote to this ledger ({0}); a ledger has one writer: restart to catch up"
    )]
    ConcurrentWriter(String),
}

impl LedgerError {
    /// A unique-key clash: another writer recorded the same act first.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, LedgerError::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// An act as stored: what ingest needs to judge a record that names it.
#[derive(Clone, Debug)]
pub struct StoredAct {
    pub seq: i64,
    pub act_id: String,
    pub kind: Kind,
    pub body: String,
    pub target_seq: Option<i64>,
    pub annulled: bool,
}

/// An accepted record, ready to be written.
#[derive(Clone, Debug)]
pub struct NewAct {
    pub seq: i64,
    pub act_id: String,
    pub kind: Kind,
    pub body: String,
    pub target_seq: Option<i64>,
    pub persons: Vec<i64>,
    pub residence: Option<NewResidence>,
    pub source: String,
}

#[derive(Clone, Debug)]
pub struct NewResidence {
    pub dwelling: String,
    pub person: i64,
    pub from: String,
    pub to: Option<String>,
    pub kind: &'static str,
}

/// A refused record, ready to be written.
#[derive(Clone, Debug)]
pub struct NewRefusal {
    pub act_id: Option<String>,
    pub code: &'static str,
    pub detail: String,
    pub raw: String,
    pub raw_bytes: i64,
    pub source: String,
    pub line: Option<i64>,
}

/// A refused record as listed for staff.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RefusedRow {
    pub id: i64,
    pub act_id: Option<String>,
    pub code: String,
    pub detail: String,
    pub raw: String,
    pub raw_bytes: i64,
    pub source: String,
    pub line: Option<i64>,
    pub received_at: String,
}

/// One row of the replay stream: an act with the bodies of the act it names
/// and, for an annulled divorce, of the marriage that divorce names.
#[derive(Clone, Debug)]
pub struct ReplayRow {
    pub seq: i64,
    pub body: String,
    pub target_body: Option<String>,
    pub target_target_body: Option<String>,
}

/// Counts for sizing the graph before a replay.
#[derive(Clone, Copy, Debug, Default)]
pub struct LedgerCounts {
    pub acts: u64,
    pub persons_upper: u64,
    pub link_acts: u64,
    pub last_seq: i64,
}

/// A handle on the ledger database. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct Ledger {
    pool: AnyPool,
    backend: Backend,
}

/// Turns what a user typed (`kinship.db`, `sqlite:x.db`, `postgres://…`)
/// into a URL sqlx accepts; SQLite files are created when missing.
pub fn normalize_url(url: &str) -> Result<(String, Backend), LedgerError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((url.to_owned(), Backend::Postgres));
    }
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if path.is_empty() || url.contains("://") && !url.starts_with("sqlite://") {
        return Err(LedgerError::Url(url.to_owned()));
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    let mode = if path.contains("mode=") {
        String::new()
    } else {
        format!("{sep}mode=rwc")
    };
    Ok((format!("sqlite://{path}{mode}"), Backend::Sqlite))
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Ledger, LedgerError> {
        install_default_drivers();
        let (url, backend) = normalize_url(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Postgres {
                        // Our queries are short lookups; JIT compiling them
                        // cost more than running them (measured: 13 of 70 ms).
                        sqlx::Executor::execute(conn, "SET jit = off").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(
                // The replay streams the whole ledger in one statement: not
                // a slow query to warn about.
                sqlx::ConnectOptions::log_slow_statements(
                    url.parse::<sqlx::any::AnyConnectOptions>()?,
                    log::LevelFilter::Debug,
                    std::time::Duration::from_secs(1),
                ),
            )
            .await?;
        match backend {
            Backend::Sqlite => {
                // WAL: readers never wait for the writer, one fsync per
                // commit. The mode is stored in the file, so once suffices.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await?;
                sqlx::migrate!("migrations/sqlite").run(&pool).await?
            }
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        Ok(Ledger { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The highest sequence number recorded (0 for an empty ledger).
    pub async fn last_seq(&self) -> Result<i64, LedgerError> {
        let (n,): (i64,) = sqlx::query_as("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM acts")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    pub async fn counts(&self) -> Result<LedgerCounts, LedgerError> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT), \
                    CAST(COALESCE(SUM(CASE WHEN kind IN ('birth','paternity','adoption','marriage','divorce') \
                         THEN 1 ELSE 0 END), 0) AS BIGINT), \
                    CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM acts",
        )
        .fetch_one(&self.pool)
        .await?;
        let (persons,): (i64,) =
            sqlx::query_as("SELECT CAST(COUNT(DISTINCT iin) AS BIGINT) FROM act_persons")
                .fetch_one(&self.pool)
                .await?;
        Ok(LedgerCounts {
            acts: row.try_get::<i64, _>(0)? as u64,
            link_acts: row.try_get::<i64, _>(1)? as u64,
            last_seq: row.try_get(2)?,
            persons_upper: persons as u64,
        })
    }

    /// The stored acts with these act ids (any not found are absent).
    pub async fn find_by_ids(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, StoredAct>, LedgerError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "{} WHERE a.act_id IN ({})",
                STORED_SELECT,
                placeholders(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                let a = stored_from_row(&row)?;
                out.insert(a.act_id.clone(), a);
            }
        }
        Ok(out)
    }

    /// The stored acts with these sequence numbers.
    pub async fn find_by_seqs(&self, seqs: &[i64]) -> Result<HashMap<i64, StoredAct>, LedgerError> {
        let mut out = HashMap::with_capacity(seqs.len());
        for chunk in seqs.chunks(500) {
            let sql = format!(
                "{} WHERE a.seq IN ({})",
                STORED_SELECT,
                placeholders(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q.bind(*s);
            }
            for row in q.fetch_all(&self.pool).await? {
                let a = stored_from_row(&row)?;
                out.insert(a.seq, a);
            }
        }
        Ok(out)
    }

    /// Writes accepted and refused records in one transaction: all or none.
    pub async fn write_batch(
        &self,
        acts: &[NewAct],
        refusals: &[NewRefusal],
    ) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        store::insert_acts(self.backend, &mut tx, acts, &now).await?;
        store::insert_refusals(self.backend, &mut tx, refusals, &now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Refused records, oldest first, after `after_id`, at most `limit`.
    pub async fn refused(
        &self,
        after_id: i64,
        limit: i64,
        code: Option<&str>,
    ) -> Result<Vec<RefusedRow>, LedgerError> {
        let sql = format!(
            "SELECT id, act_id, code, detail, raw, raw_bytes, source, line, received_at FROM refused \
             WHERE id > $1 {} ORDER BY id LIMIT $2",
            if code.is_some() { "AND code = $3" } else { "" }
        );
        let mut q = sqlx::query(&sql).bind(after_id).bind(limit);
        if let Some(c) = code {
            q = q.bind(c);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(RefusedRow {
                    id: r.try_get(0)?,
                    act_id: r.try_get(1)?,
                    code: r.try_get(2)?,
                    detail: r.try_get(3)?,
                    raw: r.try_get(4)?,
                    raw_bytes: r.try_get(5)?,
                    source: r.try_get(6)?,
                    line: r.try_get(7)?,
                    received_at: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Every act in sequence order with the bodies of what it names, for
    /// rebuilding the graph. Streams: memory does not grow with the ledger.
    pub fn replay(
        &self,
        after_seq: i64,
    ) -> impl futures_util::Stream<Item = Result<ReplayRow, LedgerError>> + '_ {
        use futures_util::StreamExt;
        sqlx::query(
            "SELECT a.seq, a.body, t.body, tt.body FROM acts a \
             LEFT JOIN acts t ON t.seq = a.target_seq \
             LEFT JOIN acts tt ON tt.seq = t.target_seq \
             WHERE a.seq > $1 ORDER BY a.seq",
        )
        .bind(after_seq)
        .fetch(&self.pool)
        .map(|r| {
            let r = r?;
            Ok(ReplayRow {
                seq: r.try_get(0)?,
                body: r.try_get(1)?,
                target_body: r.try_get(2)?,
                target_target_body: r.try_get(3)?,
            })
        })
    }
}

const STORED_SELECT: &str = "SELECT a.seq, a.act_id, a.kind, a.body, a.target_seq, \
     CAST(CASE WHEN EXISTS (SELECT 1 FROM annulments n WHERE n.target_seq = a.seq) \
          THEN 1 ELSE 0 END AS BIGINT) FROM acts a";

fn stored_from_row(row: &sqlx::any::AnyRow) -> Result<StoredAct, LedgerError> {
    let kind: String = row.try_get(2)?;
    Ok(StoredAct {
        seq: row.try_get(0)?,
        act_id: row.try_get(1)?,
        kind: Kind::parse(&kind)
            .ok_or_else(|| LedgerError::Corrupt(format!("unknown kind {kind:?}")))?,
        body: row.try_get(3)?,
        target_seq: row.try_get(4)?,
        annulled: row.try_get::<i64, _>(5)? != 0,
    })
}

/// Placeholders for `n` values bound in order, starting at the `first`-th.
/// SQLite gets anonymous `?`: for numbered ones sqlx asks SQLite for each
/// parameter's name, a linear search, which made a 2,800-value INSERT
/// spend 40% of an import in `sqlite3_bind_parameter_name`.
fn placeholders(backend: Backend, first: usize, n: usize) -> String {
    match backend {
        Backend::Sqlite => vec!["?"; n].join(","),
        Backend::Postgres => (first..first + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        assert_eq!(
            normalize_url("k.db").unwrap(),
            ("sqlite://k.db?mode=rwc".into(), Backend::Sqlite)
        );
        assert_eq!(
            normalize_url("sqlite:k.db").unwrap().0,
            "sqlite://k.db?mode=rwc"
        );
        assert_eq!(
            normalize_url("sqlite://k.db?mode=ro").unwrap().0,
            "sqlite://k.db?mode=ro"
        );
        assert_eq!(
            normalize_url("postgres://u@h/db").unwrap().1,
            Backend::Postgres
        );
        assert!(normalize_url("mysql://x").is_err());
        assert!(normalize_url("").is_err());
    }

    #[test]
    fn migrations_match_between_databases() {
        let names = |dir: &str| {
            let mut v: Vec<String> =
                std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect();
            v.sort();
            v
        };
        assert_eq!(names("sqlite"), names("postgres"));
        // Same tables and columns, whatever the types.
        for name in names("sqlite") {
            let read = |dir: &str| {
                std::fs::read_to_string(format!(
                    "{}/migrations/{dir}/{name}",
                    env!("CARGO_MANIFEST_DIR")
                ))
                .unwrap()
            };
            let shape = |sql: String| -> Vec<String> {
                sql.lines()
                    .map(|l| l.split("--").next().unwrap().trim().to_string())
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        l.split_whitespace()
                            .next()
                            .unwrap()
                            .trim_end_matches([',', ';', ')'])
                            .to_string()
                    })
                    .collect()
            };
            assert_eq!(shape(read("sqlite")), shape(read("postgres")), "{name}");
        }
    }
}
