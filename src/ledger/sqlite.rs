//! The SQLite backend (the embedded default): one file in WAL mode, so
//! readers never wait for the writer; multi-row prepared inserts.

use super::lists::{Grouped, grouped, pairs, parse_list};
use super::{
    ActRecord, LedgerError, LogRow, NewAct, NewRefusal, RefusedRow, ReplayEntry, ResidenceRow,
    StoredAct, annulments, entry_from_json, log_row, stored_act,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, QueryBuilder, Sqlite, Transaction};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct SqliteLedger {
    pub(super) pool: SqlitePool,
    /// The one connection bulk imports write through, kept between
    /// transactions so its large page cache stays warm.
    bulk: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::SqliteConnection>>>,
    /// Boxed: the options are large and only read when the bulk connection opens.
    opts: Box<SqliteConnectOptions>,
}

/// Rows per multi-row INSERT: under SQLite's 32,766 bound parameters for
/// the widest table (8 columns), and the same text every time, so the
/// prepared statement is reused.
const ROWS: usize = 512;

/// Anonymous `?` placeholders: for numbered ones sqlx asks SQLite for each
/// parameter's name, a linear search, which made a 2,800-value INSERT spend
/// 40% of an import in `sqlite3_bind_parameter_name`.
fn marks(n: usize) -> String {
    vec!["?"; n].join(",")
}

const STORED: &str = "SELECT a.seq, a.act_id, a.body, a.target_seq, \
     EXISTS (SELECT 1 FROM annulments n WHERE n.target_seq = a.seq) FROM acts a";

type StoredRow = (i64, String, String, Option<i64>, bool);

fn stored((seq, _, body, target_seq, annulled): StoredRow) -> Result<StoredAct, LedgerError> {
    Ok(StoredAct {
        seq,
        act: stored_act(seq, &body)?,
        target_seq,
        annulled,
    })
}

const RECORD: &str = "SELECT a.seq, a.body, a.source, a.received_at, \
     (SELECT x.act_id FROM annulments n JOIN acts x ON x.seq = n.seq WHERE n.target_seq = a.seq) \
     FROM acts a";

type RecordRow = (i64, String, String, String, Option<String>);

/// The file `<database>.<what>` opened for locking, or `None` for an
/// in-memory database (which sqlx names "file:sqlx-in-memory-N"), which no
/// other process can open. Lock files stay in place: removing one races
/// with its next user.
fn lock_beside(db: &std::path::Path, what: &str) -> Result<Option<std::fs::File>, LedgerError> {
    if db.to_string_lossy().starts_with("file:") {
        return Ok(None);
    }
    let mut path = db.as_os_str().to_owned();
    path.push(format!(".{what}"));
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map(Some)
        .map_err(|e| {
            LedgerError::Unavailable(format!("the lock file {}: {e}", path.to_string_lossy()))
        })
}

fn record(
    (seq, body, source, received_at, annulled_by): RecordRow,
) -> Result<ActRecord, LedgerError> {
    Ok(ActRecord {
        seq,
        act: stored_act(seq, &body)?,
        source,
        received_at,
        annulled_by,
    })
}

impl SqliteLedger {
    pub(super) async fn open(url: &str) -> Result<SqliteLedger, LedgerError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL: readers never wait for the writer, one fsync per commit.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            // The replay streams the whole ledger in one statement: not a
            // slow query to warn about.
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts.clone())
            .await?;
        // sqlx takes no lock around SQLite migrations: two processes
        // opening a new database at once would both create its tables.
        let _migrating = match lock_beside(opts.get_filename(), "migrate-lock")? {
            Some(f) => Some(
                tokio::task::spawn_blocking(move || f.lock().map(|()| f))
                    .await
                    .expect("locking does not panic")
                    .map_err(|e| LedgerError::Unavailable(format!("the migration lock: {e}")))?,
            ),
            None => None,
        };
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteLedger {
            pool,
            bulk: Default::default(),
            opts: Box::new(opts),
        })
    }

    /// The same database through a pool of its own for the audit (the
    /// mover and the background index): one connection, a large page
    /// cache. Commits are fsynced (`synchronous = FULL`): the mover deletes
    /// a log segment once the database holds it, so the database's copy
    /// must survive the machine losing power; no answer waits for these
    /// commits any more (they wait for the log's fsync).
    pub(super) fn relaxed(&self) -> SqliteLedger {
        let opts = (*self.opts).clone().synchronous(SqliteSynchronous::Full);
        // One connection: two writing in turn would each find the other's
        // changes and drop their page caches (perf: pcache1Truncate).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            // 16 MiB of page cache: the audit's writes append (records, and
            // index runs at the right edge), and merges read runs once in
            // order; 64 MiB served the random-key index runs replaced.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(conn, "PRAGMA cache_size = -16384").await?;
                    Ok(())
                })
            })
            .connect_lazy_with(opts.clone());
        SqliteLedger {
            pool,
            bulk: Default::default(),
            opts: Box::new(opts),
        }
    }

    pub(super) fn file(&self) -> Option<std::path::PathBuf> {
        let f = self.opts.get_filename();
        let s = f.to_string_lossy();
        (!s.is_empty() && !s.starts_with("file:") && s != ":memory:").then(|| f.to_path_buf())
    }

    pub(super) async fn try_lock_import(&self) -> Result<Option<super::ImportLock>, LedgerError> {
        // A file of its own: SQLite's locks on the database come and go
        // with each transaction, this one lasts the whole import.
        let Some(f) = lock_beside(self.opts.get_filename(), "import-lock")? else {
            return Ok(Some(super::ImportLock {
                _held: super::Held::Nothing,
            }));
        };
        match f.try_lock() {
            Ok(()) => Ok(Some(super::ImportLock {
                _held: super::Held::File(f),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(LedgerError::Unavailable(format!("the import lock: {e}")))
            }
        }
    }

    pub(super) fn pool_state(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub(super) async fn close(&self) {
        if let Some(c) = self.bulk.lock().await.take() {
            let _ = sqlx::Connection::close(c).await;
        }
        self.pool.close().await;
    }

    pub(super) async fn ensure_meta(&self) -> Result<(), LedgerError> {
        let id = format!("{:032x}", rand::random::<u128>());
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('ledger_id', ?)")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn meta(&self, key: &str) -> Result<Option<String>, LedgerError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(super) async fn last_seq(&self) -> Result<i64, LedgerError> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM acts")
            .fetch_one(&self.pool)
            .await?)
    }

    pub(super) async fn find_by_ids(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, StoredAct>, LedgerError> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!("{STORED} WHERE a.act_id IN ({})", marks(chunk.len()));
            let mut q = sqlx::query_as::<_, StoredRow>(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                let id = row.1.clone();
                out.insert(id, stored(row)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn find_by_seqs(
        &self,
        seqs: &[i64],
    ) -> Result<HashMap<i64, StoredAct>, LedgerError> {
        let mut out = HashMap::with_capacity(seqs.len());
        for chunk in seqs.chunks(500) {
            let sql = format!("{STORED} WHERE a.seq IN ({})", marks(chunk.len()));
            let mut q = sqlx::query_as::<_, StoredRow>(&sql);
            for s in chunk {
                q = q.bind(*s);
            }
            for row in q.fetch_all(&self.pool).await? {
                let a = stored(row)?;
                out.insert(a.seq, a);
            }
        }
        Ok(out)
    }

    pub(super) async fn write_batch(
        &self,
        acts: &[NewAct],
        refusals: &[NewRefusal],
        now: &str,
    ) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await?;
        insert_all(&mut tx, acts, refusals, now, true).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn write_bulk(
        &self,
        acts: &[NewAct],
        refusals: &[NewRefusal],
        now: &str,
    ) -> Result<(), LedgerError> {
        use sqlx::{Connection, Executor};
        let mut slot = self.bulk.lock().await;
        if slot.is_none() {
            let mut c = self.opts.connect().await?;
            // Sync at checkpoints, not at each commit (a process that dies
            // loses nothing committed); a large page cache; rare checkpoints
            // for a stream of big transactions.
            c.execute(
                "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144; \
                 PRAGMA wal_autocheckpoint = 65536",
            )
            .await?;
            *slot = Some(c);
        }
        let conn = slot.as_mut().expect("connected above");
        let mut tx = conn.begin().await?;
        insert_all(&mut tx, acts, refusals, now, false).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) fn act_ids(&self) -> BoxStream<'_, Result<String, LedgerError>> {
        sqlx::query_scalar::<_, String>("SELECT act_id FROM acts")
            .fetch(&self.pool)
            .map(|r| Ok(r?))
            .boxed()
    }

    pub(super) async fn refused(
        &self,
        after_id: i64,
        limit: i64,
        code: Option<&str>,
    ) -> Result<Vec<RefusedRow>, LedgerError> {
        let sql = format!(
            "SELECT id, act_id, code, detail, raw, raw_bytes, source, line, received_at FROM refused \
             WHERE id > ? {} ORDER BY id LIMIT ?",
            if code.is_some() { "AND code = ?" } else { "" }
        );
        let mut q = sqlx::query_as::<_, RefusedRow>(&sql).bind(after_id);
        if let Some(c) = code {
            q = q.bind(c);
        }
        Ok(q.bind(limit).fetch_all(&self.pool).await?)
    }

    pub(super) async fn log_start(&self) -> Result<Option<i64>, LedgerError> {
        Ok(sqlx::query_scalar("SELECT MIN(first_seq) FROM graph_log")
            .fetch_one(&self.pool)
            .await?)
    }

    pub(super) fn replay_log(&self, after_seq: i64) -> BoxStream<'_, Result<LogRow, LedgerError>> {
        sqlx::query_as::<_, (i64, i64, Vec<u8>)>(
            "SELECT first_seq, last_seq, data FROM graph_log WHERE last_seq > ? ORDER BY first_seq",
        )
        .bind(after_seq)
        .fetch(&self.pool)
        .map(|r| {
            let (first_seq, last_seq, data) = r?;
            Ok(LogRow {
                first_seq,
                last_seq,
                data,
            })
        })
        .boxed()
    }

    pub(super) fn replay_json(
        &self,
        after_seq: i64,
        until: i64,
    ) -> BoxStream<'_, Result<ReplayEntry, LedgerError>> {
        sqlx::query_as::<_, (i64, String, Option<String>, Option<String>)>(
            "SELECT a.seq, a.body, t.body, tt.body FROM acts a \
             LEFT JOIN acts t ON t.seq = a.target_seq \
             LEFT JOIN acts tt ON tt.seq = t.target_seq \
             WHERE a.seq > ? AND a.seq <= ? ORDER BY a.seq",
        )
        .bind(after_seq)
        .bind(until)
        .fetch(&self.pool)
        .map(|r| {
            let (seq, body, t, tt) = r?;
            entry_from_json(seq, &body, t.as_deref(), tt.as_deref())
        })
        .boxed()
    }

    pub(super) async fn set_meta(&self, key: &str, value: &str) -> Result<(), LedgerError> {
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The seqs listed for a person (`dwelling` false) or a dwelling key.
    pub(super) async fn list(&self, dwelling: bool, key: i64) -> Result<Vec<i64>, LedgerError> {
        let sql = if dwelling {
            "SELECT seqs FROM dwelling_acts WHERE dwelling = ?"
        } else {
            "SELECT seqs FROM person_acts WHERE iin = ?"
        };
        let found: Option<String> = sqlx::query_scalar(sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        found.map_or(Ok(Vec::new()), |s| parse_list(&s))
    }

    /// The act lists of these persons (absent ones have none).
    pub(super) async fn person_lists(
        &self,
        iins: &[i64],
    ) -> Result<Vec<(i64, Vec<i64>)>, LedgerError> {
        let rows = self
            .grouped_rows(
                "SELECT group_concat(iin || ' ' || seqs, char(10)) FROM person_acts WHERE iin IN ({marks})",
                iins,
            )
            .await?;
        rows.into_iter()
            .map(|(iin, seqs)| Ok((iin, parse_list(&seqs)?)))
            .collect()
    }

    /// Of these acts, the births and name changes not annulled.
    pub(super) async fn name_bodies(
        &self,
        seqs: &[i64],
    ) -> Result<Vec<(i64, crate::acts::Act)>, LedgerError> {
        // Canonical bodies are one line each.
        let rows = self
            .grouped_rows(
                "SELECT group_concat(a.seq || ' ' || a.body, char(10)) FROM acts a WHERE a.seq IN ({marks}) \
                 AND a.kind IN ('birth', 'name_change') \
                 AND NOT EXISTS (SELECT 1 FROM annulments n WHERE n.target_seq = a.seq)",
                seqs,
            )
            .await?;
        rows.into_iter()
            .map(|(seq, body)| Ok((seq, stored_act(seq, &body)?)))
            .collect()
    }

    /// The (key, value) rows of `select`, which groups them as lines of
    /// "key value" into one row, run per 500 `keys` (bound at `{marks}`).
    /// One row per statement: sqlx hands each SQLite row from its worker
    /// thread to the caller, and those hand-offs were most of the time of
    /// a family batch of 100,000 (perf).
    async fn grouped_rows(
        &self,
        select: &str,
        keys: &[i64],
    ) -> Result<Vec<(i64, String)>, LedgerError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(500) {
            let sql = select.replace("{marks}", &marks(chunk.len()));
            let mut q = sqlx::query_scalar::<_, Option<String>>(&sql);
            for k in chunk {
                q = q.bind(*k);
            }
            let Some(all) = q.fetch_one(&self.pool).await? else {
                continue;
            };
            for line in all.split('\n') {
                let (key, value) = line
                    .split_once(' ')
                    .and_then(|(k, v)| Some((k.parse::<i64>().ok()?, v)))
                    .ok_or_else(|| super::corrupt("a grouped row without its key"))?;
                out.push((key, value.to_owned()));
            }
        }
        Ok(out)
    }

    pub(super) async fn residences(&self, seqs: &[i64]) -> Result<Vec<ResidenceRow>, LedgerError> {
        let mut out = Vec::new();
        for chunk in seqs.chunks(500) {
            let sql = format!(
                "SELECT r.seq, r.dwelling, r.person, r.from_date, r.to_date, r.type, a.act_id, \
                 EXISTS (SELECT 1 FROM annulments x WHERE x.target_seq = r.seq) AS annulled \
                 FROM residences r JOIN acts a ON a.seq = r.seq WHERE r.seq IN ({})",
                marks(chunk.len())
            );
            let mut q = sqlx::query_as::<_, ResidenceRow>(&sql);
            for s in chunk {
                q = q.bind(*s);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// The acts with these seqs, as shown to staff.
    pub(super) async fn records(&self, seqs: &[i64]) -> Result<Vec<ActRecord>, LedgerError> {
        let mut out = Vec::new();
        for chunk in seqs.chunks(500) {
            let sql = format!("{RECORD} WHERE a.seq IN ({})", marks(chunk.len()));
            let mut q = sqlx::query_as::<_, RecordRow>(&sql);
            for s in chunk {
                q = q.bind(*s);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(record(r)?);
            }
        }
        Ok(out)
    }

    pub(super) fn residence_dwellings(
        &self,
        after_seq: i64,
    ) -> BoxStream<'_, Result<(i64, String), LedgerError>> {
        sqlx::query_as::<_, (i64, String)>("SELECT seq, dwelling FROM residences WHERE seq > ?")
            .bind(after_seq)
            .fetch(&self.pool)
            .map(|r| Ok(r?))
            .boxed()
    }

    pub(super) async fn add_lists(
        &self,
        persons: Grouped,
        dwellings: Grouped,
    ) -> Result<(), LedgerError> {
        use sqlx::{Acquire, Executor};
        let mut conn = self.pool.acquire().await?;
        conn.execute("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144")
            .await?;
        let mut tx = conn.begin().await?;
        for (table, key, rows) in [
            ("person_acts", "iin", persons),
            ("dwelling_acts", "dwelling", dwellings),
        ] {
            let mut chunk = Vec::with_capacity(ROWS);
            for row in rows {
                chunk.push(
                    row.map_err(|e| LedgerError::Unavailable(format!("temporary files: {e}")))?,
                );
                if chunk.len() == ROWS {
                    upsert_lists(&mut tx, table, key, &chunk).await?;
                    chunk.clear();
                }
            }
            upsert_lists(&mut tx, table, key, &chunk).await?;
        }
        sqlx::query("DELETE FROM meta WHERE key = 'lists_pending_after'")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        conn.execute("PRAGMA synchronous = FULL").await?;
        Ok(())
    }

    pub(super) async fn act(&self, act_id: &str) -> Result<Option<ActRecord>, LedgerError> {
        let sql = format!("{RECORD} WHERE a.act_id = ?");
        sqlx::query_as::<_, RecordRow>(&sql)
            .bind(act_id)
            .fetch_optional(&self.pool)
            .await?
            .map(record)
            .transpose()
    }
}

/// Pushes `rows` into `INSERT INTO <head> VALUES …` statements of at most
/// `ROWS` rows each, binding values borrowed from the rows.
async fn insert<'a, T>(
    tx: &mut Transaction<'_, Sqlite>,
    head: &str,
    rows: &'a [T],
    bind: impl Fn(sqlx::query_builder::Separated<'_, 'a, Sqlite, &'static str>, &'a T),
) -> Result<(), LedgerError> {
    for chunk in rows.chunks(ROWS) {
        let mut qb: QueryBuilder<'a, Sqlite> = QueryBuilder::new(head);
        qb.push_values(chunk, &bind);
        qb.build().persistent(true).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Every row of a batch, in the open transaction.
async fn insert_all<'a>(
    tx: &mut Transaction<'_, Sqlite>,
    acts: &'a [NewAct],
    refusals: &'a [NewRefusal],
    now: &'a str,
    lists: bool,
) -> Result<(), LedgerError> {
    insert(
        tx,
        "INSERT INTO acts (seq, act_id, kind, body, target_seq, source, received_at) ",
        acts,
        |mut b, a| {
            b.push_bind(a.seq)
                .push_bind(a.act_id.as_str())
                .push_bind(a.kind.as_str())
                .push_bind(a.body.as_str())
                .push_bind(a.target_seq)
                .push_bind(a.source.as_str())
                .push_bind(now);
        },
    )
    .await?;
    if lists {
        let (persons, dwellings) = pairs(acts);
        for (table, key, pairs) in [
            ("person_acts", "iin", persons),
            ("dwelling_acts", "dwelling", dwellings),
        ] {
            for chunk in grouped(pairs).chunks(ROWS) {
                upsert_lists(tx, table, key, chunk).await?;
            }
        }
    }
    insert(
        tx,
        "INSERT INTO annulments (target_seq, seq) ",
        &annulments(acts),
        |mut b, (t, s)| {
            b.push_bind(*t).push_bind(*s);
        },
    )
    .await?;
    let residences: Vec<(i64, &super::NewResidence)> = acts
        .iter()
        .filter_map(|a| a.residence.as_ref().map(|r| (a.seq, r)))
        .collect();
    insert(
        tx,
        "INSERT INTO residences (seq, dwelling, person, from_date, to_date, type) ",
        &residences,
        |mut b, (seq, r)| {
            b.push_bind(*seq)
                .push_bind(r.dwelling.as_str())
                .push_bind(r.person.get() as i64)
                .push_bind(r.from.to_string())
                .push_bind(r.to.map(|d| d.to_string()))
                .push_bind(r.kind.as_str());
        },
    )
    .await?;
    insert(
        tx,
        "INSERT INTO refused (act_id, code, detail, raw, raw_bytes, source, line, received_at) ",
        refusals,
        |mut b, r| {
            b.push_bind(r.act_id.as_deref())
                .push_bind(r.code.as_str())
                .push_bind(r.detail.as_str())
                .push_bind(r.raw.as_str())
                .push_bind(r.raw_bytes)
                .push_bind(r.source.as_str())
                .push_bind(r.line)
                .push_bind(now);
        },
    )
    .await?;
    if let Some(row) = log_row(acts) {
        sqlx::query("INSERT INTO graph_log (first_seq, last_seq, data) VALUES (?, ?, ?)")
            .bind(row.first_seq)
            .bind(row.last_seq)
            .bind(row.data)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Appends `rows` (key, "seq,seq") to a list table; new keys get a row.
async fn upsert_lists(
    tx: &mut Transaction<'_, Sqlite>,
    table: &str,
    key: &str,
    rows: &[(i64, String)],
) -> Result<(), LedgerError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut qb: QueryBuilder<Sqlite> =
        QueryBuilder::new(format!("INSERT INTO {table} ({key}, seqs) "));
    qb.push_values(rows, |mut b, (k, list)| {
        b.push_bind(*k).push_bind(list.as_str());
    });
    qb.push(format!(
        " ON CONFLICT ({key}) DO UPDATE SET seqs = seqs || ',' || excluded.seqs"
    ));
    qb.build().persistent(true).execute(&mut **tx).await?;
    Ok(())
}
