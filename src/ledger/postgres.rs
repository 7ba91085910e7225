//! The PostgreSQL backend (production): each table of a batch in one
//! `INSERT … SELECT FROM UNNEST(arrays)` statement.

use super::lists::{Grouped, grouped, pairs, parse_list};
use super::{
    ActRecord, LedgerError, LogRow, NewAct, NewRefusal, RefusedRow, ReplayEntry, ResidenceRow,
    StoredAct, annulments, entry_from_json, log_row, stored_act,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres, Transaction};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct PgLedger {
    pub(super) pool: PgPool,
    /// The connection that holds the writer lock between batches, kept so
    /// a batch does not pay for a new connection; dropped (which releases
    /// the lock) whenever a lock statement fails.
    writer: Arc<tokio::sync::Mutex<Option<sqlx::PgConnection>>>,
}

/// The advisory lock key every writer of the ledger ("kinship2") holds
/// while it catches up, judges and commits a batch: replicas take turns.
const WRITER_LOCK: i64 = 0x6b69_6e73_6869_7032;

/// The channel a commit notifies, with "seq micros" (the last seq it
/// wrote, and when, in Unix microseconds).
const CHANNEL: &str = "kinship_ledger";

/// How long a writer waits for another replica's batch before it answers
/// "unavailable, retry".
const WRITER_WAIT: &str = "10s";

/// How long a write, or taking the writer lock, may go unanswered before
/// it is "unavailable" (a server or network that hangs answers nothing,
/// so no server-side timeout fires). Past it the connection is dropped.
const ANSWER_DEADLINE: Duration = Duration::from_secs(15);

/// `f`, or `Unavailable` once [`ANSWER_DEADLINE`] has passed.
async fn answered<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, LedgerError>>,
) -> Result<T, LedgerError> {
    super::within(ANSWER_DEADLINE, what, f).await
}

/// Holds the ledger's writer lock; [`PgWriterGuard::release`] gives it back
/// and keeps the connection, a guard dropped unreleased (an error, a
/// cancelled request) closes the connection, which releases it too.
pub struct PgWriterGuard {
    slot: tokio::sync::OwnedMutexGuard<Option<sqlx::PgConnection>>,
    released: bool,
}

impl PgWriterGuard {
    pub(super) async fn release(mut self) {
        if let Some(c) = self.slot.as_mut() {
            let unlock = async {
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(WRITER_LOCK)
                    .execute(c)
                    .await?;
                Ok(())
            };
            // Failed or unanswered: the guard drops the connection, which
            // unlocks.
            self.released = answered("releasing the writer lock", unlock).await.is_ok();
        }
    }
}

impl Drop for PgWriterGuard {
    fn drop(&mut self) {
        if !self.released {
            self.slot.take();
        }
    }
}

/// The advisory lock key of a bulk import ("kinship1"); advisory locks
/// are per database, so this is one lock per ledger.
const IMPORT_LOCK: i64 = 0x6b69_6e73_6869_7031;

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

impl PgLedger {
    pub(super) async fn open(url: &str) -> Result<PgLedger, LedgerError> {
        let opts = PgConnectOptions::from_str(url)?
            // The replay streams the whole ledger in one statement: not a
            // slow query to warn about.
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // Our queries are short lookups; JIT compiling them
                    // cost more than running them (measured: 13 of 70 ms).
                    sqlx::Executor::execute(conn, "SET jit = off").await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgLedger {
            pool,
            writer: Default::default(),
        })
    }

    pub(super) fn pool_state(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }

    pub(super) async fn ensure_meta(&self) -> Result<(), LedgerError> {
        let id = format!("{:032x}", rand::random::<u128>());
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('ledger_id', $1) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn meta(&self, key: &str) -> Result<Option<String>, LedgerError> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub(super) async fn last_seq(&self) -> Result<i64, LedgerError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0)::BIGINT FROM acts")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(super) async fn find_by_ids(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, StoredAct>, LedgerError> {
        let sql = format!("{STORED} WHERE a.act_id = ANY($1)");
        let rows: Vec<StoredRow> = sqlx::query_as(&sql).bind(ids).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| {
                let id = r.1.clone();
                Ok((id, stored(r)?))
            })
            .collect()
    }

    pub(super) async fn find_by_seqs(
        &self,
        seqs: &[i64],
    ) -> Result<HashMap<i64, StoredAct>, LedgerError> {
        let sql = format!("{STORED} WHERE a.seq = ANY($1)");
        let rows: Vec<StoredRow> = sqlx::query_as(&sql)
            .bind(seqs)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let a = stored(r)?;
                Ok((a.seq, a))
            })
            .collect()
    }

    pub(super) async fn write_batch(
        &self,
        acts: &[NewAct],
        refusals: &[NewRefusal],
        now: &str,
    ) -> Result<(), LedgerError> {
        // Past the deadline the connection is closed, not returned to the
        // pool: whether a commit sent just before took effect is unknown,
        // and the next write's catch-up (or the follower) applies it if it
        // did; re-sent records then count as duplicates.
        let mut conn = self.pool.acquire().await?;
        let written = answered("writing a batch", async {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            insert_all(&mut tx, acts, refusals, now).await?;
            let (persons, dwellings) = pairs(acts);
            upsert_lists(&mut tx, "person_acts", "iin", &grouped(persons)).await?;
            upsert_lists(&mut tx, "dwelling_acts", "dwelling", &grouped(dwellings)).await?;
            notify(&mut tx, acts).await?;
            tx.commit().await?;
            Ok::<_, LedgerError>(())
        })
        .await;
        if matches!(written, Err(LedgerError::Unavailable(_))) {
            drop(conn.detach());
        }
        written
    }

    pub(super) async fn write_bulk(
        &self,
        acts: &[NewAct],
        refusals: &[NewRefusal],
        now: &str,
    ) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await?;
        let mut buf = Vec::with_capacity(acts.len() * 256);
        for a in acts {
            row(
                &mut buf,
                &[
                    Some(&a.seq.to_string()),
                    Some(&a.act_id),
                    Some(a.kind.as_str()),
                    Some(&a.body),
                    a.target_seq.map(|t| t.to_string()).as_deref(),
                    Some(&a.source),
                    Some(now),
                ],
            );
        }
        copy(
            &mut tx,
            "acts (seq, act_id, kind, body, target_seq, source, received_at)",
            &mut buf,
        )
        .await?;
        for (t, seq) in annulments(acts) {
            row(&mut buf, &[Some(&t.to_string()), Some(&seq.to_string())]);
        }
        copy(&mut tx, "annulments (target_seq, seq)", &mut buf).await?;
        for a in acts {
            if let Some(r) = &a.residence {
                row(
                    &mut buf,
                    &[
                        Some(&a.seq.to_string()),
                        Some(&r.dwelling),
                        Some(&(r.person.get() as i64).to_string()),
                        Some(&r.from.to_string()),
                        r.to.map(|d| d.to_string()).as_deref(),
                        Some(r.kind.as_str()),
                    ],
                );
            }
        }
        copy(
            &mut tx,
            "residences (seq, dwelling, person, from_date, to_date, type)",
            &mut buf,
        )
        .await?;
        for r in refusals {
            row(
                &mut buf,
                &[
                    r.act_id.as_deref(),
                    Some(r.code.as_str()),
                    Some(&r.detail),
                    Some(&r.raw),
                    Some(&r.raw_bytes.to_string()),
                    Some(&r.source),
                    r.line.map(|l| l.to_string()).as_deref(),
                    Some(now),
                ],
            );
        }
        copy(
            &mut tx,
            "refused (act_id, code, detail, raw, raw_bytes, source, line, received_at)",
            &mut buf,
        )
        .await?;
        if let Some(log) = log_row(acts) {
            let mut hex = String::with_capacity(2 + log.data.len() * 2);
            hex.push_str("\\\\x");
            for b in &log.data {
                use std::fmt::Write;
                let _ = write!(hex, "{b:02x}");
            }
            // The hex form of bytea, its backslash escaped for COPY.
            buf.extend_from_slice(
                format!("{}\t{}\t{hex}\n", log.first_seq, log.last_seq).as_bytes(),
            );
            copy(&mut tx, "graph_log (first_seq, last_seq, data)", &mut buf).await?;
        }
        notify(&mut tx, acts).await?;
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
        Ok(sqlx::query_as(
            "SELECT id, act_id, code, detail, raw, raw_bytes, source, line, received_at FROM refused \
             WHERE id > $1 AND ($3::TEXT IS NULL OR code = $3) ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .bind(code)
        .fetch_all(&self.pool)
        .await?)
    }

    pub(super) async fn log_start(&self) -> Result<Option<i64>, LedgerError> {
        Ok(sqlx::query_scalar("SELECT MIN(first_seq) FROM graph_log")
            .fetch_one(&self.pool)
            .await?)
    }

    pub(super) fn replay_log(&self, after_seq: i64) -> BoxStream<'_, Result<LogRow, LedgerError>> {
        sqlx::query_as::<_, (i64, i64, Vec<u8>)>(
            "SELECT first_seq, last_seq, data FROM graph_log WHERE last_seq > $1 ORDER BY first_seq",
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
             WHERE a.seq > $1 AND a.seq <= $2 ORDER BY a.seq",
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
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The seqs listed for a person (`dwelling` false) or a dwelling key.
    pub(super) async fn list(&self, dwelling: bool, key: i64) -> Result<Vec<i64>, LedgerError> {
        let sql = if dwelling {
            "SELECT seqs FROM dwelling_acts WHERE dwelling = $1"
        } else {
            "SELECT seqs FROM person_acts WHERE iin = $1"
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
        sqlx::query_as::<_, (i64, String)>("SELECT iin, seqs FROM person_acts WHERE iin = ANY($1)")
            .bind(iins)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|(iin, seqs)| Ok((iin, parse_list(&seqs)?)))
            .collect()
    }

    /// Of these acts, the births and name changes not annulled.
    pub(super) async fn name_bodies(
        &self,
        seqs: &[i64],
    ) -> Result<Vec<(i64, crate::acts::Act)>, LedgerError> {
        sqlx::query_as::<_, (i64, String)>(
            "SELECT a.seq, a.body FROM acts a WHERE a.seq = ANY($1) AND a.kind IN ('birth', 'name_change') \
             AND NOT EXISTS (SELECT 1 FROM annulments n WHERE n.target_seq = a.seq)",
        )
        .bind(seqs)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|(seq, body)| Ok((seq, stored_act(seq, &body)?)))
        .collect()
    }

    pub(super) async fn residences(&self, seqs: &[i64]) -> Result<Vec<ResidenceRow>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT r.seq, r.dwelling, r.person, r.from_date, r.to_date, r.type, a.act_id, \
             EXISTS (SELECT 1 FROM annulments x WHERE x.target_seq = r.seq) AS annulled \
             FROM residences r JOIN acts a ON a.seq = r.seq WHERE r.seq = ANY($1)",
        )
        .bind(seqs)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The acts with these seqs, as shown to staff.
    pub(super) async fn records(&self, seqs: &[i64]) -> Result<Vec<ActRecord>, LedgerError> {
        let sql = format!("{RECORD} WHERE a.seq = ANY($1)");
        sqlx::query_as::<_, RecordRow>(&sql)
            .bind(seqs)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(record)
            .collect()
    }

    pub(super) fn residence_dwellings(
        &self,
        after_seq: i64,
    ) -> BoxStream<'_, Result<(i64, String), LedgerError>> {
        sqlx::query_as::<_, (i64, String)>("SELECT seq, dwelling FROM residences WHERE seq > $1")
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
        let mut tx = self.pool.begin().await?;
        for (table, key, rows) in [
            ("person_acts", "iin", persons),
            ("dwelling_acts", "dwelling", dwellings),
        ] {
            let mut chunk = Vec::with_capacity(10_000);
            for row in rows {
                chunk.push(
                    row.map_err(|e| LedgerError::Unavailable(format!("temporary files: {e}")))?,
                );
                if chunk.len() == 10_000 {
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
        Ok(())
    }

    /// Waits (at most [`WRITER_WAIT`]) for the ledger's writer lock.
    pub(super) async fn lock_writer(&self) -> Result<PgWriterGuard, LedgerError> {
        let mut slot = self.writer.clone().lock_owned().await;
        let taken = answered("taking the writer lock", async {
            if slot.is_none() {
                let mut c = self.pool.acquire().await?.detach();
                set_writer_wait(&mut c).await?;
                *slot = Some(c);
            }
            take_writer_lock(slot.as_mut().expect("connected above")).await
        })
        .await;
        match taken {
            Ok(()) => Ok(PgWriterGuard {
                slot,
                released: false,
            }),
            Err(e) => {
                *slot = None;
                Err(e)
            }
        }
    }

    /// Notifications of commits by any process, from now on.
    pub(super) async fn listen(&self) -> Result<sqlx::postgres::PgListener, LedgerError> {
        let mut l = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        l.listen(CHANNEL).await?;
        Ok(l)
    }

    pub(super) async fn try_lock_import(&self) -> Result<Option<super::ImportLock>, LedgerError> {
        // A connection of its own, out of the pool: the lock is the
        // session's and goes when the connection does.
        let mut conn = self.pool.acquire().await?.detach();
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(IMPORT_LOCK)
            .fetch_one(&mut conn)
            .await?;
        if got {
            // An import numbers its records itself: replicas serving this
            // ledger must not write meanwhile (they answer 503, retry).
            set_writer_wait(&mut conn).await?;
            take_writer_lock(&mut conn).await?;
        }
        Ok(got.then_some(super::ImportLock {
            _held: super::Held::Postgres(conn),
        }))
    }

    pub(super) async fn act(&self, act_id: &str) -> Result<Option<ActRecord>, LedgerError> {
        let sql = format!("{RECORD} WHERE a.act_id = $1");
        sqlx::query_as::<_, RecordRow>(&sql)
            .bind(act_id)
            .fetch_optional(&self.pool)
            .await?
            .map(record)
            .transpose()
    }
}

/// Makes `conn` wait at most [`WRITER_WAIT`] for a lock.
async fn set_writer_wait(conn: &mut sqlx::PgConnection) -> Result<(), LedgerError> {
    sqlx::query(&format!("SET lock_timeout = '{WRITER_WAIT}'"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes the writer lock on `conn`'s session; a wait over the lock
/// timeout is "unavailable, retry".
async fn take_writer_lock(conn: &mut sqlx::PgConnection) -> Result<(), LedgerError> {
    match sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(WRITER_LOCK)
        .execute(conn)
        .await
    {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("55P03") => {
            Err(LedgerError::Unavailable(format!(
                "another writer has held the ledger's writer lock for {WRITER_WAIT}"
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// Tells the ledger's followers, on commit, how far it now goes.
async fn notify(tx: &mut Transaction<'_, Postgres>, acts: &[NewAct]) -> Result<(), LedgerError> {
    let Some(last) = acts.last() else {
        return Ok(());
    };
    let micros = chrono::Utc::now().timestamp_micros();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(format!("{} {micros}", last.seq))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Every row of a batch, in the open transaction: one statement per
/// table, its columns bound as arrays.
async fn insert_all(
    tx: &mut Transaction<'_, Postgres>,
    acts: &[NewAct],
    refusals: &[NewRefusal],
    now: &str,
) -> Result<(), LedgerError> {
    if !acts.is_empty() {
        let col = |f: fn(&NewAct) -> String| acts.iter().map(f).collect::<Vec<String>>();
        sqlx::query(
            "INSERT INTO acts (seq, act_id, kind, body, target_seq, source, received_at) \
             SELECT s, i, k, b, t, src, $7 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], \
                    $4::TEXT[], $5::BIGINT[], $6::TEXT[]) AS u(s, i, k, b, t, src)",
        )
        .bind(acts.iter().map(|a| a.seq).collect::<Vec<i64>>())
        .bind(col(|a| a.act_id.clone()))
        .bind(col(|a| a.kind.as_str().to_owned()))
        .bind(col(|a| a.body.clone()))
        .bind(
            acts.iter()
                .map(|a| a.target_seq)
                .collect::<Vec<Option<i64>>>(),
        )
        .bind(col(|a| a.source.clone()))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let two = |table: &str, cols: &str, rows: Vec<(i64, i64)>| {
        let sql = format!(
            "INSERT INTO {table} ({cols}) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[])"
        );
        let (a, b): (Vec<i64>, Vec<i64>) = rows.into_iter().unzip();
        (sql, a, b)
    };
    for (sql, a, b) in [two("annulments", "target_seq, seq", annulments(acts))] {
        if !a.is_empty() {
            sqlx::query(&sql).bind(a).bind(b).execute(&mut **tx).await?;
        }
    }
    let res: Vec<(i64, &super::NewResidence)> = acts
        .iter()
        .filter_map(|a| a.residence.as_ref().map(|r| (a.seq, r)))
        .collect();
    if !res.is_empty() {
        sqlx::query(
            "INSERT INTO residences (seq, dwelling, person, from_date, to_date, type) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[])",
        )
        .bind(res.iter().map(|(s, _)| *s).collect::<Vec<i64>>())
        .bind(res.iter().map(|(_, r)| r.dwelling.clone()).collect::<Vec<String>>())
        .bind(res.iter().map(|(_, r)| r.person.get() as i64).collect::<Vec<i64>>())
        .bind(res.iter().map(|(_, r)| r.from.to_string()).collect::<Vec<String>>())
        .bind(res.iter().map(|(_, r)| r.to.map(|d| d.to_string())).collect::<Vec<Option<String>>>())
        .bind(res.iter().map(|(_, r)| r.kind.as_str().to_owned()).collect::<Vec<String>>())
        .execute(&mut **tx)
        .await?;
    }
    if !refusals.is_empty() {
        sqlx::query(
            "INSERT INTO refused (act_id, code, detail, raw, raw_bytes, source, line, received_at) \
             SELECT i, c, d, r, rb, s, l, $8 FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], \
                    $5::BIGINT[], $6::TEXT[], $7::BIGINT[]) AS u(i, c, d, r, rb, s, l)",
        )
        .bind(refusals.iter().map(|r| r.act_id.clone()).collect::<Vec<Option<String>>>())
        .bind(refusals.iter().map(|r| r.code.as_str().to_owned()).collect::<Vec<String>>())
        .bind(refusals.iter().map(|r| r.detail.clone()).collect::<Vec<String>>())
        .bind(refusals.iter().map(|r| r.raw.clone()).collect::<Vec<String>>())
        .bind(refusals.iter().map(|r| r.raw_bytes).collect::<Vec<i64>>())
        .bind(refusals.iter().map(|r| r.source.clone()).collect::<Vec<String>>())
        .bind(refusals.iter().map(|r| r.line).collect::<Vec<Option<i64>>>())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    if let Some(row) = log_row(acts) {
        sqlx::query("INSERT INTO graph_log (first_seq, last_seq, data) VALUES ($1, $2, $3)")
            .bind(row.first_seq)
            .bind(row.last_seq)
            .bind(row.data)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Appends one row of COPY's text format: fields separated by tabs, `\N`
/// for NULL, backslash, tab, newline and carriage return escaped.
fn row(buf: &mut Vec<u8>, fields: &[Option<&str>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match f {
            None => buf.extend_from_slice(b"\\N"),
            Some(s) => {
                for &b in s.as_bytes() {
                    match b {
                        b'\\' => buf.extend_from_slice(b"\\\\"),
                        b'\t' => buf.extend_from_slice(b"\\t"),
                        b'\n' => buf.extend_from_slice(b"\\n"),
                        b'\r' => buf.extend_from_slice(b"\\r"),
                        _ => buf.push(b),
                    }
                }
            }
        }
    }
    buf.push(b'\n');
}

/// `COPY <table> FROM STDIN` of the rows in `buf` (then emptied).
async fn copy(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    buf: &mut Vec<u8>,
) -> Result<(), LedgerError> {
    if buf.is_empty() {
        return Ok(());
    }
    let mut c = tx.copy_in_raw(&format!("COPY {table} FROM STDIN")).await?;
    c.send(std::mem::take(buf)).await?;
    c.finish().await?;
    Ok(())
}

/// Appends `rows` (key, "seq,seq", keys distinct) to a list table; new
/// keys get a row.
async fn upsert_lists(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    key: &str,
    rows: &[(i64, String)],
) -> Result<(), LedgerError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (keys, lists): (Vec<i64>, Vec<&str>) = rows.iter().map(|(k, l)| (*k, l.as_str())).unzip();
    sqlx::query(&format!(
        "INSERT INTO {table} ({key}, seqs) SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[]) \
         ON CONFLICT ({key}) DO UPDATE SET seqs = {table}.seqs || ',' || EXCLUDED.seqs"
    ))
    .bind(keys)
    .bind(lists)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
