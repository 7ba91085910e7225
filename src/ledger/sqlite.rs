//! The SQLite backend (the embedded default): one file in WAL mode, so
//! readers never wait for the writer; multi-row prepared inserts.

use super::{
    ActRecord, LedgerCounts, LedgerError, LogRow, NewAct, NewRefusal, RefusedRow, Registration,
    ReplayEntry, StoredAct, annulments, entry_from_json, log_row, mentions, stored_act,
    stored_date, stored_iin, stored_residence_type,
};
use crate::acts::Act;
use crate::iin::Iin;
use chrono::NaiveDate;
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
    pool: SqlitePool,
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
            .connect_with(opts)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteLedger { pool })
    }

    pub(super) async fn close(&self) {
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

    pub(super) async fn counts(&self) -> Result<LedgerCounts, LedgerError> {
        let (acts, link_acts, last_seq): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), \
                    COALESCE(SUM(kind IN ('birth','paternity','adoption','marriage','divorce')), 0), \
                    COALESCE(MAX(seq), 0) FROM acts",
        )
        .fetch_one(&self.pool)
        .await?;
        let persons: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT iin) FROM act_persons")
            .fetch_one(&self.pool)
            .await?;
        Ok(LedgerCounts {
            acts: acts as u64,
            link_acts: link_acts as u64,
            last_seq,
            persons_upper: persons as u64,
        })
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
        insert_all(&mut tx, acts, refusals, now).await?;
        tx.commit().await?;
        Ok(())
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

    pub(super) async fn registrations(
        &self,
        dwelling: &str,
        on: NaiveDate,
    ) -> Result<Vec<Registration>, LedgerError> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT r.person, r.type, r.from_date, a.act_id FROM residences r \
             JOIN acts a ON a.seq = r.seq \
             WHERE r.dwelling = ?1 AND r.from_date <= ?2 AND (r.to_date IS NULL OR r.to_date > ?2) \
               AND NOT EXISTS (SELECT 1 FROM annulments x WHERE x.target_seq = r.seq) \
               AND (r.type = 'temporary' OR NOT EXISTS ( \
                    SELECT 1 FROM residences n JOIN acts na ON na.seq = n.seq \
                    WHERE n.person = r.person AND n.type = 'permanent' \
                      AND n.seq <> r.seq AND n.from_date <= ?2 \
                      AND (n.from_date > r.from_date OR (n.from_date = r.from_date AND na.act_id > a.act_id)) \
                      AND NOT EXISTS (SELECT 1 FROM annulments y WHERE y.target_seq = n.seq))) \
             ORDER BY r.from_date, r.person",
        )
        .bind(dwelling)
        .bind(on.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(person, kind, since, act_id)| {
                Ok(Registration {
                    person: stored_iin(person)?,
                    kind: stored_residence_type(&kind)?,
                    since: stored_date(&since)?,
                    act_id,
                })
            })
            .collect()
    }

    pub(super) async fn name_acts(&self, iins: &[Iin]) -> Result<Vec<(Iin, Act)>, LedgerError> {
        let mut out = Vec::new();
        for chunk in iins.chunks(500) {
            let sql = format!(
                "SELECT ap.iin, a.seq, a.body FROM act_persons ap JOIN acts a ON a.seq = ap.seq \
                 WHERE ap.iin IN ({}) AND a.kind IN ('birth', 'name_change') \
                   AND NOT EXISTS (SELECT 1 FROM annulments x WHERE x.target_seq = a.seq)",
                marks(chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64, String)>(&sql);
            for i in chunk {
                q = q.bind(i.get() as i64);
            }
            for (iin, seq, body) in q.fetch_all(&self.pool).await? {
                out.push((stored_iin(iin)?, stored_act(seq, &body)?));
            }
        }
        Ok(out)
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

    pub(super) async fn acts_of(&self, iin: Iin) -> Result<Vec<ActRecord>, LedgerError> {
        let sql = format!(
            "{RECORD} JOIN act_persons ap ON ap.seq = a.seq WHERE ap.iin = ? ORDER BY a.seq"
        );
        sqlx::query_as::<_, RecordRow>(&sql)
            .bind(iin.get() as i64)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(record)
            .collect()
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
    insert(
        tx,
        "INSERT INTO act_persons (iin, seq) ",
        &mentions(acts),
        |mut b, (iin, seq)| {
            b.push_bind(*iin).push_bind(*seq);
        },
    )
    .await?;
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
