//! The PostgreSQL backend (production): each table of a batch in one
//! `INSERT … SELECT FROM UNNEST(arrays)` statement.

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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres, Transaction};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct PgLedger {
    pool: PgPool,
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
        Ok(PgLedger { pool })
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

    pub(super) async fn counts(&self) -> Result<LedgerCounts, LedgerError> {
        let (acts, link_acts, last_seq): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*)::BIGINT, \
                    COUNT(*) FILTER (WHERE kind IN ('birth','paternity','adoption','marriage','divorce'))::BIGINT, \
                    COALESCE(MAX(seq), 0)::BIGINT FROM acts",
        )
        .fetch_one(&self.pool)
        .await?;
        let persons: i64 =
            sqlx::query_scalar("SELECT COUNT(DISTINCT iin)::BIGINT FROM act_persons")
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

    pub(super) async fn registrations(
        &self,
        dwelling: &str,
        on: NaiveDate,
    ) -> Result<Vec<Registration>, LedgerError> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT r.person, r.type, r.from_date, a.act_id FROM residences r \
             JOIN acts a ON a.seq = r.seq \
             WHERE r.dwelling = $1 AND r.from_date <= $2 AND (r.to_date IS NULL OR r.to_date > $2) \
               AND NOT EXISTS (SELECT 1 FROM annulments x WHERE x.target_seq = r.seq) \
               AND (r.type = 'temporary' OR NOT EXISTS ( \
                    SELECT 1 FROM residences n JOIN acts na ON na.seq = n.seq \
                    WHERE n.person = r.person AND n.type = 'permanent' \
                      AND n.seq <> r.seq AND n.from_date <= $2 \
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
        let ids: Vec<i64> = iins.iter().map(|i| i.get() as i64).collect();
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT ap.iin, a.seq, a.body FROM act_persons ap JOIN acts a ON a.seq = ap.seq \
             WHERE ap.iin = ANY($1) AND a.kind IN ('birth', 'name_change') \
               AND NOT EXISTS (SELECT 1 FROM annulments x WHERE x.target_seq = a.seq)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(iin, seq, body)| Ok((stored_iin(iin)?, stored_act(seq, &body)?)))
            .collect()
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

    pub(super) async fn acts_of(&self, iin: Iin) -> Result<Vec<ActRecord>, LedgerError> {
        let sql = format!(
            "{RECORD} JOIN act_persons ap ON ap.seq = a.seq WHERE ap.iin = $1 ORDER BY a.seq"
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
    let pairs = |table: &str, cols: &str, rows: Vec<(i64, i64)>| {
        let sql = format!(
            "INSERT INTO {table} ({cols}) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[])"
        );
        let (a, b): (Vec<i64>, Vec<i64>) = rows.into_iter().unzip();
        (sql, a, b)
    };
    for (sql, a, b) in [
        pairs("act_persons", "iin, seq", mentions(acts)),
        pairs("annulments", "target_seq, seq", annulments(acts)),
    ] {
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
