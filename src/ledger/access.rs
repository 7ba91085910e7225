//! Clients and the audit, in the ledger's database (both backends here:
//! the statements are few and mostly the same).
//!
//! An audit record keeps every IIN its answer revealed in one column
//! (sorted, delta-varint encoded): one row per answer, whatever its size,
//! so a 200,000-line batch costs one row, not 400,000. Who looked a person
//! up is answered from `audit_index`, written by [`Ledger::index_audit`]
//! in the background as sorted runs, each pass one run appended at the
//! B-tree's right edge, runs merged [`FANOUT`] at a time (written with each
//! answer, a random-key index cost ~8 KiB of WAL per single check: perf
//! showed two thirds of the CPU in SQLite's page writes; written in random
//! order in the background, each pass rewrote most of its leaf pages). A
//! lookup seeks once per run. Until a record is
//! indexed it is found through its own IIN list, in the same snapshot (on
//! PostgreSQL via `audit_pending`, on SQLite via a mark of the last id
//! indexed), so a record is visible at once.

use super::audit_record::{decode_iins, encode_iins};
use super::{Ledger, LedgerError, postgres::PgLedger, read, sqlite::SqliteLedger};
use crate::iin::Iin;
use sqlx::{Postgres, QueryBuilder, Sqlite};

/// A client as stored (the key only as its SHA-256 hash).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientRow {
    pub id: i64,
    pub name: String,
    pub key_hash: Vec<u8>,
    /// Space-separated scope names.
    pub scopes: String,
    /// Unix microseconds.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// An audit record to append.
#[derive(Clone, Debug)]
pub struct AuditRow {
    /// Unix microseconds.
    pub at: i64,
    pub client_id: i64,
    pub purpose: String,
    pub case_ref: Option<String>,
    pub consent_ref: Option<String>,
    pub route: String,
    pub outcome: String,
    /// Every IIN the answer revealed: sorted, without repeats.
    pub iins: Vec<Iin>,
}

/// One lookup of a person, as the audit view lists it.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
pub struct LookupRow {
    pub id: i64,
    /// Unix microseconds.
    pub at: i64,
    pub client: String,
    pub purpose: String,
    pub case_ref: Option<String>,
    pub consent_ref: Option<String>,
    pub route: String,
    pub outcome: String,
}

/// The `meta` key prefix of an audit log's mark.
const AUDIT_LOG: &str = "audit_log:";

const SET_META: &str = "INSERT INTO meta (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Records indexed together by the background indexer, at most.
const INDEX_GROUP: i64 = 20_000;

/// IINs indexed together, at most (a batch's record holds thousands: a
/// backlog after an outage must not be read whole into memory).
const INDEX_IINS: usize = 1_000_000;

/// At most how many IINs an IIN list of `len` bytes holds: a varint IIN
/// takes 5 bytes or more.
fn iins_in(len: usize) -> usize {
    len / 5
}

/// Takes records from `rows` until they hold [`INDEX_IINS`] (at least one).
async fn capped<S>(mut rows: S) -> Result<Vec<(i64, Vec<u8>)>, LedgerError>
where
    S: futures_util::Stream<Item = Result<(i64, Vec<u8>), sqlx::Error>> + Unpin,
{
    use futures_util::StreamExt;
    let (mut out, mut iins) = (Vec::new(), 0usize);
    while iins < INDEX_IINS
        && let Some(row) = rows.next().await
    {
        let row = row?;
        iins += iins_in(row.1.len());
        out.push(row);
    }
    Ok(out)
}

/// Persons indexed per transaction by the background indexer (SQLite):
/// a slice appends at the index's right edge, so it can be large.
const INDEX_SLICE: usize = 16_384;

/// Runs of one level merged into one of the next.
const FANOUT: usize = 8;

/// The largest run a merge makes. Runs past an eighth of it are sealed:
/// each is one more seek for a lookup, one per 8M index entries or more
/// (some 4M single checks).
const MERGE_MAX: i64 = 64_000_000;

/// Index entries copied per transaction by a SQLite merge, about.
const MERGE_SLICE: i64 = 100_000;

/// The `meta` key of a SQLite merge under way: "run old,old,…".
const MERGING: &str = "audit_merging";

/// IINs (twelve digits) are below this.
const IIN_END: i64 = 1_000_000_000_000;

/// IINs in `n` equal ranges, [lo, hi).
fn split_iins(n: usize) -> Vec<(i64, i64)> {
    let n = n.max(1) as i64;
    let step = IIN_END / n + 1;
    (0..n).map(|k| (k * step, (k + 1) * step)).collect()
}

/// The `advisory lock` a PostgreSQL replica merges runs under ("kinship3").
const MERGE_LOCK: i64 = 0x6b69_6e73_6869_7033;

/// Audit records per multi-row insert (SQLite allows 32,766 parameters).
const ROWS: usize = 256;

/// Index entries per multi-row insert.
const ENTRIES: usize = 2048;

/// `rows` in pieces whose sizes repeat from call to call: as many of `max`
/// (a power of two) as fit, then the powers of two the rest is made of. A
/// multi-row statement is parsed once per size and then taken from the
/// connection's cache; sized to each call, every call parsed a statement
/// of thousands of parameters anew (perf: SQLite's parser and its mallocs
/// were a third of its thread).
fn pieces<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    debug_assert!(max.is_power_of_two());
    let (full, rest) = rows.split_at(rows.len() / max * max);
    let mut rest = rest;
    full.chunks(max).chain(std::iter::from_fn(move || {
        let size = 1 << rest.len().checked_ilog2()?;
        let (piece, after) = rest.split_at(size);
        rest = after;
        Some(piece)
    }))
}

const LOOKUP_COLS: &str = "a.id, a.at, c.name AS client, a.purpose, a.case_ref, a.consent_ref, \
     a.route, a.outcome FROM audit a JOIN clients c ON c.id = a.client_id";

/// Who looked person $1 up before audit id $2, newest first, at most $3,
/// through the listed runs of the index (both databases).
fn indexed_lookups() -> String {
    format!(
        "SELECT {LOOKUP_COLS} JOIN audit_index ap ON ap.audit_id = a.id \
         WHERE ap.run IN (SELECT run FROM audit_runs) AND ap.iin = $1 AND ap.audit_id < $2 \
         ORDER BY ap.audit_id DESC LIMIT $3"
    )
}

impl Ledger {
    pub async fn add_client(
        &self,
        name: &str,
        key_hash: &[u8; 32],
        scopes: &str,
        at: i64,
    ) -> Result<i64, LedgerError> {
        const SQL: &str = "INSERT INTO clients (name, key_hash, scopes, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id";
        match self {
            Ledger::Sqlite(l) => Ok(sqlx::query_scalar(SQL)
                .bind(name)
                .bind(&key_hash[..])
                .bind(scopes)
                .bind(at)
                .fetch_one(&l.pool)
                .await?),
            Ledger::Postgres(l) => Ok(sqlx::query_scalar(SQL)
                .bind(name)
                .bind(&key_hash[..])
                .bind(scopes)
                .bind(at)
                .fetch_one(&l.pool)
                .await?),
        }
    }

    /// Every client, revoked ones too, in the order they were added.
    pub async fn clients(&self) -> Result<Vec<ClientRow>, LedgerError> {
        const SQL: &str = "SELECT id, name, key_hash, scopes, created_at, revoked_at \
             FROM clients ORDER BY id";
        read(async {
            match self {
                Ledger::Sqlite(l) => Ok(sqlx::query_as(SQL).fetch_all(&l.pool).await?),
                Ledger::Postgres(l) => Ok(sqlx::query_as(SQL).fetch_all(&l.pool).await?),
            }
        })
        .await
    }

    /// Revokes the client named `name`; false when there is no such
    /// client or it was revoked already.
    pub async fn revoke_client(&self, name: &str, at: i64) -> Result<bool, LedgerError> {
        const SQL: &str =
            "UPDATE clients SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL";
        let n = match self {
            Ledger::Sqlite(l) => sqlx::query(SQL)
                .bind(at)
                .bind(name)
                .execute(&l.pool)
                .await?
                .rows_affected(),
            Ledger::Postgres(l) => sqlx::query(SQL)
                .bind(at)
                .bind(name)
                .execute(&l.pool)
                .await?
                .rows_affected(),
        };
        Ok(n == 1)
    }

    /// Appends audit records atomically, with `mark` — (log, position):
    /// how far that audit log is stored — in the same transaction; they
    /// are indexed by person later, by [`Ledger::index_audit`].
    pub async fn append_audit(
        &self,
        rows: &[AuditRow],
        mark: Option<(&str, &str)>,
    ) -> Result<(), LedgerError> {
        if rows.is_empty() && mark.is_none() {
            return Ok(());
        }
        let mark = mark.map(|(log, pos)| (format!("{AUDIT_LOG}{log}"), pos));
        let mark = mark.as_ref().map(|(k, v)| (k.as_str(), *v));
        match self {
            Ledger::Sqlite(l) => l.append_audit(rows, mark).await,
            Ledger::Postgres(l) => l.append_audit(rows, mark).await,
        }
    }

    /// How far the audit log `log` is stored, as [`Ledger::append_audit`]
    /// last marked it.
    pub async fn audit_log_mark(&self, log: &str) -> Result<Option<String>, LedgerError> {
        let key = format!("{AUDIT_LOG}{log}");
        read(async {
            match self {
                Ledger::Sqlite(l) => l.meta(&key).await,
                Ledger::Postgres(l) => l.meta(&key).await,
            }
        })
        .await
    }

    /// Indexes a group of audit records by person; false when none waits.
    pub async fn index_audit(&self) -> Result<bool, LedgerError> {
        match self {
            Ledger::Sqlite(l) => l.index_audit().await,
            Ledger::Postgres(l) => l.index_audit().await,
        }
    }

    /// Who looked `iin` up: newest first, at most `limit`, before audit
    /// record `before` when given.
    pub async fn lookups(
        &self,
        iin: Iin,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<LookupRow>, LedgerError> {
        let before = before.unwrap_or(i64::MAX);
        read(async {
            match self {
                Ledger::Sqlite(l) => l.lookups(iin, before, limit).await,
                Ledger::Postgres(l) => l.lookups(iin, before, limit).await,
            }
        })
        .await
    }

    /// Audit records written, and the IINs they revealed.
    pub async fn audit_totals(&self) -> Result<(i64, i64), LedgerError> {
        const SQL: &str = "SELECT count(*), CAST(coalesce(sum(persons), 0) AS BIGINT) FROM audit";
        read(async {
            match self {
                Ledger::Sqlite(l) => Ok(sqlx::query_as(SQL).fetch_one(&l.pool).await?),
                Ledger::Postgres(l) => Ok(sqlx::query_as(SQL).fetch_one(&l.pool).await?),
            }
        })
        .await
    }
}

/// The (iin, audit id) pairs of pending records, in index order.
fn sorted_persons(rows: &[(i64, Vec<u8>)]) -> Result<Vec<(i64, i64)>, LedgerError> {
    let mut persons = Vec::new();
    for (id, blob) in rows {
        persons.extend(decode_iins(blob)?.into_iter().map(|i| (i as i64, *id)));
    }
    persons.sort_unstable();
    Ok(persons)
}

/// The found lookups of `iin` among pending records `(id, iins)`.
fn pending_hits(iin: Iin, pending: Vec<(i64, Vec<u8>)>) -> Result<Vec<i64>, LedgerError> {
    let mut hits = Vec::new();
    for (id, blob) in pending {
        if decode_iins(&blob)?.binary_search(&iin.get()).is_ok() {
            hits.push(id);
        }
    }
    Ok(hits)
}

/// Newest first, without repeats, at most `limit`.
fn merged(mut rows: Vec<LookupRow>, limit: u32) -> Vec<LookupRow> {
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    rows.dedup_by_key(|r| r.id);
    rows.truncate(limit as usize);
    rows
}

/// Runs to merge: the oldest [`FANOUT`] of one level.
struct Merge {
    runs: Vec<i64>,
    level: i64,
    entries: i64,
}

impl Merge {
    /// The run numbers as an SQL list (integers from the database).
    fn list(&self) -> String {
        self.runs
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What to merge among `runs` (run, level, entries): the oldest runs of
/// the lowest level that has [`FANOUT`]. Runs larger than a
/// [`FANOUT`]th of [`MERGE_MAX`] are sealed, never merged again, so no
/// merge makes a run past it and no large run holds back its level.
fn to_merge(mut runs: Vec<(i64, i64, i64)>) -> Option<Merge> {
    runs.retain(|r| r.2 <= MERGE_MAX / FANOUT as i64);
    runs.sort_unstable_by_key(|&(run, level, _)| (level, run));
    let first = runs
        .chunk_by(|a, b| a.1 == b.1)
        .find(|level| level.len() >= FANOUT)?;
    let oldest = &first[..FANOUT];
    Some(Merge {
        runs: oldest.iter().map(|r| r.0).collect(),
        level: first[0].1,
        entries: oldest.iter().map(|r| r.2).sum(),
    })
}

/// SQLite: the number of a new run, after every listed one (a pass or a
/// merge cut short may have written under it: see the callers).
fn next_run(listed: impl Iterator<Item = i64>) -> i64 {
    listed.max().unwrap_or(0) + 1
}

/// SQLite: records after this audit id are not indexed by person yet
/// (its ids are given in commit order by the one writing process, so a
/// mark suffices where PostgreSQL's replicas need `audit_pending`).
const INDEXED_UPTO: &str = "audit_indexed_upto";

impl SqliteLedger {
    async fn append_audit(
        &self,
        rows: &[AuditRow],
        mark: Option<(&str, &str)>,
    ) -> Result<(), LedgerError> {
        // One statement per group when that is all: SQLite commits it on
        // its own, and each round trip to its worker thread counts
        // (a transaction around it was three more).
        if mark.is_none() && rows.len() <= ROWS && rows.len().is_power_of_two() {
            audit_insert_sqlite(&self.pool, rows).await?;
            return Ok(());
        }
        // IMMEDIATE: the write lock first, so no read in between can make
        // the transaction's snapshot stale (SQLITE_BUSY_SNAPSHOT).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in pieces(rows, ROWS) {
            audit_insert_sqlite(&mut *tx, chunk).await?;
        }
        if let Some((key, value)) = mark {
            sqlx::query(SET_META)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn indexed_upto<'e, E: sqlx::SqliteExecutor<'e>>(e: E) -> Result<i64, LedgerError> {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(INDEXED_UPTO)
            .fetch_optional(e)
            .await?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    async fn index_audit(&self) -> Result<bool, LedgerError> {
        // Before a pass: a pass takes the number after the last listed
        // run, which an unfinished merge may have written under.
        self.finish_merge().await?;
        Ok(self.index_pass().await? || self.merge_runs().await?)
    }

    /// Indexes the records after the mark as one new run.
    async fn index_pass(&self) -> Result<bool, LedgerError> {
        let upto = Self::indexed_upto(&self.pool).await?;
        let (mut rows, mut after, mut iins) = (Vec::new(), upto, 0);
        while rows.len() < INDEX_GROUP as usize && iins < INDEX_IINS {
            let chunk = iin_lists_sqlite(&self.pool, after, i64::MAX, LISTS).await?;
            if chunk.is_empty() {
                break;
            }
            iins += chunk.iter().map(|r| iins_in(r.1.len())).sum::<usize>();
            after = chunk.iter().map(|r| r.0).max().unwrap_or(after);
            rows.extend(chunk);
        }
        if rows.is_empty() {
            return Ok(false);
        }
        let persons = sorted_persons(&rows)?;
        // The next number: one a pass cut short left rows under is taken
        // again, and this pass's rows hold all of them.
        let runs: Vec<(i64,)> = sqlx::query_as("SELECT run FROM audit_runs")
            .fetch_all(&self.pool)
            .await?;
        let run = next_run(runs.iter().map(|r| r.0));
        // A slice per transaction, so the write lock is never held long;
        // the run is listed (lookups read only listed runs) and the mark
        // moved last, together.
        for slice in persons.chunks(INDEX_SLICE) {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            for chunk in pieces(slice, ENTRIES) {
                let mut qb: QueryBuilder<Sqlite> =
                    QueryBuilder::new("INSERT OR IGNORE INTO audit_index (run, iin, audit_id) ");
                qb.push_values(chunk, |mut b, (iin, id)| {
                    b.push_bind(run).push_bind(*iin).push_bind(*id);
                });
                qb.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            tokio::task::yield_now().await;
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT INTO audit_runs (run, level, entries) VALUES ($1, 0, $2)")
            .bind(run)
            .bind(persons.len() as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(SET_META)
            .bind(INDEXED_UPTO)
            .bind(after.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Merges the oldest runs of the lowest level that has [`FANOUT`], in
    /// slices of IINs, each its own transaction: the write lock that act
    /// records need too is held for one slice at a time (merged in one
    /// transaction, a merge of millions of entries held it past the busy
    /// timeout, and writes were refused). The new run is listed, and the
    /// old ones unlisted, in one transaction after the copy; lookups read
    /// listed runs only, so they see either. What is under way is noted in
    /// `meta` ([`MERGING`]) and finished or undone after a stop.
    async fn merge_runs(&self) -> Result<bool, LedgerError> {
        let runs: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT run, level, entries FROM audit_runs")
                .fetch_all(&self.pool)
                .await?;
        let run = next_run(runs.iter().map(|r| r.0));
        let Some(merge) = to_merge(runs) else {
            return Ok(false);
        };
        let list = merge.list();
        let ranges = self.slices(&list, merge.entries).await?;
        sqlx::query(SET_META)
            .bind(MERGING)
            .bind(format!("{run} {list}"))
            .execute(&self.pool)
            .await?;
        for &(lo, hi) in &ranges {
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::query(&format!(
                "INSERT OR IGNORE INTO audit_index (run, iin, audit_id) SELECT $1, iin, audit_id \
                 FROM audit_index WHERE run IN ({list}) AND iin >= $2 AND iin < $3 \
                 ORDER BY iin, audit_id"
            ))
            .bind(run)
            .bind(lo)
            .bind(hi)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            tokio::task::yield_now().await;
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(&format!("DELETE FROM audit_runs WHERE run IN ({list})"))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO audit_runs (run, level, entries) VALUES ($1, $2, $3)")
            .bind(run)
            .bind(merge.level + 1)
            .bind(merge.entries)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.drop_runs(&list, &ranges).await?;
        Ok(true)
    }

    /// Finishes a merge a stop cut short: with its new run listed, removes
    /// the old runs' entries; without, the new run's (the old are whole).
    async fn finish_merge(&self) -> Result<(), LedgerError> {
        let Some(note) = self.meta(MERGING).await? else {
            return Ok(());
        };
        let bad = || LedgerError::Corrupt(format!("the audit merge note {note:?} is malformed"));
        let (run, list) = note.split_once(' ').ok_or_else(bad)?;
        let run: i64 = run.parse().map_err(|_| bad())?;
        if list.split(',').any(|r| r.parse::<i64>().is_err()) {
            return Err(bad());
        }
        let listed: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_runs WHERE run = $1)")
                .bind(run)
                .fetch_one(&self.pool)
                .await?;
        let drop = if listed {
            list.to_owned()
        } else {
            run.to_string()
        };
        let ranges = self.slices(&drop, 0).await?;
        self.drop_runs(&drop, &ranges).await
    }

    /// IIN ranges holding about [`MERGE_SLICE`] entries of runs `list`
    /// (`entries` of them in all, or 0 when not known) each, counted: a
    /// range holding more is halved until it does, or is one IIN (audited
    /// IINs are far from even over the twelve-digit range).
    async fn slices(&self, list: &str, entries: i64) -> Result<Vec<(i64, i64)>, LedgerError> {
        let mut todo = split_iins((entries / MERGE_SLICE + 1) as usize);
        todo.reverse();
        let mut out = Vec::new();
        while let Some((lo, hi)) = todo.pop() {
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM audit_index WHERE run IN ({list}) AND iin >= $1 AND iin < $2"
            ))
            .bind(lo)
            .bind(hi)
            .fetch_one(&self.pool)
            .await?;
            if n > 2 * MERGE_SLICE && hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                todo.push((mid, hi));
                todo.push((lo, mid));
            } else if n > 0 {
                out.push((lo, hi));
            }
        }
        Ok(out)
    }

    /// Removes the entries of runs `list`, a slice of IINs at a time, then
    /// the merge note.
    async fn drop_runs(&self, list: &str, ranges: &[(i64, i64)]) -> Result<(), LedgerError> {
        for &(lo, hi) in ranges {
            sqlx::query(&format!(
                "DELETE FROM audit_index WHERE run IN ({list}) AND iin >= $1 AND iin < $2"
            ))
            .bind(lo)
            .bind(hi)
            .execute(&self.pool)
            .await?;
            tokio::task::yield_now().await;
        }
        sqlx::query("DELETE FROM meta WHERE key = $1")
            .bind(MERGING)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn lookups(
        &self,
        iin: Iin,
        before: i64,
        limit: u32,
    ) -> Result<Vec<LookupRow>, LedgerError> {
        // One read transaction: one snapshot of both the index and the
        // records still waiting for it.
        let mut tx = self.pool.begin().await?;
        let mut rows: Vec<LookupRow> = sqlx::query_as(&indexed_lookups())
            .bind(iin.get() as i64)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let upto = Self::indexed_upto(&mut *tx).await?;
        let mut hits = Vec::new();
        let mut after = upto;
        loop {
            let pending = iin_lists_sqlite(&mut *tx, after, before, i64::MAX).await?;
            let Some(last) = pending.iter().map(|r| r.0).max() else {
                break;
            };
            after = last;
            hits.extend(pending_hits(iin, pending)?);
        }
        for id in hits {
            let row: LookupRow = sqlx::query_as(&format!("SELECT {LOOKUP_COLS} WHERE a.id = $1"))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            rows.push(row);
        }
        tx.commit().await?;
        Ok(merged(rows, limit))
    }
}

/// IIN lists read per statement by the SQLite indexer, at most.
const LISTS: i64 = 2000;

/// Bytes of IIN lists read per statement, about (one list may be more).
const LIST_BYTES: i64 = 8 << 20;

/// The IIN lists of the records after `after` and before `below`, at
/// most `limit`, as (id, list): one row per statement, the lists in hex
/// (sqlx hands each SQLite row from its worker thread over on its own, a
/// wake-up of each thread per row, ~20 µs of CPU each on this machine:
/// streamed a row each, the indexer's reads were most of that thread's
/// work under load).
async fn iin_lists_sqlite<'e, E: sqlx::SqliteExecutor<'e>>(
    e: E,
    after: i64,
    below: i64,
    limit: i64,
) -> Result<Vec<(i64, Vec<u8>)>, LedgerError> {
    // At least one record, then while they hold at most LIST_BYTES (a
    // batch's list is large, and SQLite's strings end at 1 GB).
    let lines: Option<String> = sqlx::query_scalar(
        "SELECT group_concat(id || ' ' || hex(iins), char(10)) FROM \
         (SELECT id, iins, sum(length(iins)) OVER (ORDER BY id) AS total FROM \
          (SELECT id, iins FROM audit WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3)) \
         WHERE total - length(iins) < $4",
    )
    .bind(after)
    .bind(below)
    .bind(limit)
    .bind(LIST_BYTES)
    .fetch_one(e)
    .await?;
    let bad = || LedgerError::Corrupt("an audit IIN list does not read back".into());
    let mut out = Vec::new();
    for line in lines.as_deref().unwrap_or_default().lines() {
        let (id, hex) = line.split_once(' ').ok_or_else(bad)?;
        let list = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        out.push((id.parse().map_err(|_| bad())?, list));
    }
    Ok(out)
}

/// Inserts one chunk of audit records in one statement.
async fn audit_insert_sqlite<'e, E: sqlx::SqliteExecutor<'e>>(
    e: E,
    chunk: &[AuditRow],
) -> Result<(), LedgerError> {
    let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO audit (at, client_id, purpose, case_ref, consent_ref, route, \
         outcome, persons, iins) ",
    );
    qb.push_values(chunk, |mut b, r| {
        b.push_bind(r.at)
            .push_bind(r.client_id)
            .push_bind(&r.purpose)
            .push_bind(&r.case_ref)
            .push_bind(&r.consent_ref)
            .push_bind(&r.route)
            .push_bind(&r.outcome)
            .push_bind(r.iins.len() as i64)
            .push_bind(encode_iins(&r.iins));
    });
    qb.build().execute(e).await?;
    Ok(())
}

impl PgLedger {
    async fn append_audit(
        &self,
        rows: &[AuditRow],
        mark: Option<(&str, &str)>,
    ) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await?;
        if let Some((key, value)) = mark {
            sqlx::query(SET_META)
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(());
        }
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('audit', 'id')) FROM generate_series(1, $1)",
        )
        .bind(rows.len() as i64)
        .fetch_all(&mut *tx)
        .await?;
        let col = |f: fn(&AuditRow) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
        sqlx::query(
            "INSERT INTO audit (id, at, client_id, purpose, case_ref, consent_ref, route, \
             outcome, persons, iins) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], \
             $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], \
             $9::BIGINT[], $10::BYTEA[])",
        )
        .bind(&ids)
        .bind(rows.iter().map(|r| r.at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.client_id).collect::<Vec<_>>())
        .bind(col(|r| Some(r.purpose.clone())))
        .bind(col(|r| r.case_ref.clone()))
        .bind(col(|r| r.consent_ref.clone()))
        .bind(col(|r| Some(r.route.clone())))
        .bind(col(|r| Some(r.outcome.clone())))
        .bind(rows.iter().map(|r| r.iins.len() as i64).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| encode_iins(&r.iins))
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO audit_pending (audit_id) SELECT * FROM UNNEST($1::BIGINT[])")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn index_audit(&self) -> Result<bool, LedgerError> {
        Ok(self.index_pass().await? || self.merge_runs().await?)
    }

    /// Indexes a group of pending records as one new run.
    async fn index_pass(&self) -> Result<bool, LedgerError> {
        let mut tx = self.pool.begin().await?;
        // Replicas index side by side: each takes records no other holds.
        let rows = capped(
            sqlx::query_as(
                "SELECT a.id, a.iins FROM audit_pending p JOIN audit a ON a.id = p.audit_id \
                 ORDER BY p.audit_id LIMIT $1 FOR UPDATE OF p SKIP LOCKED",
            )
            .bind(INDEX_GROUP)
            .fetch(&mut *tx),
        )
        .await?;
        if rows.is_empty() {
            return Ok(false);
        }
        let persons = sorted_persons(&rows)?;
        let run: i64 = sqlx::query_scalar(
            "INSERT INTO audit_runs (level, entries) VALUES (0, $1) RETURNING run",
        )
        .bind(persons.len() as i64)
        .fetch_one(&mut *tx)
        .await?;
        insert_persons_pg(&mut tx, run, &persons).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        sqlx::query("DELETE FROM audit_pending WHERE audit_id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Merges the oldest runs of the lowest level that has [`FANOUT`],
    /// one replica at a time.
    async fn merge_runs(&self) -> Result<bool, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(MERGE_LOCK)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            return Ok(false);
        }
        let runs = sqlx::query_as("SELECT run, level::BIGINT, entries FROM audit_runs")
            .fetch_all(&mut *tx)
            .await?;
        let Some(merge) = to_merge(runs) else {
            return Ok(false);
        };
        let run: i64 = sqlx::query_scalar(
            "INSERT INTO audit_runs (level, entries) VALUES ($1, $2) RETURNING run",
        )
        .bind((merge.level + 1) as i32)
        .bind(merge.entries)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO audit_index (run, iin, audit_id) SELECT $1, iin, audit_id \
             FROM audit_index WHERE run = ANY($2) ORDER BY iin, audit_id ON CONFLICT DO NOTHING",
        )
        .bind(run)
        .bind(&merge.runs)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM audit_index WHERE run = ANY($1)")
            .bind(&merge.runs)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM audit_runs WHERE run = ANY($1)")
            .bind(&merge.runs)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn lookups(
        &self,
        iin: Iin,
        before: i64,
        limit: u32,
    ) -> Result<Vec<LookupRow>, LedgerError> {
        let mut tx = self.pool.begin().await?;
        // One snapshot of both the index and the records waiting for it.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let mut rows: Vec<LookupRow> = sqlx::query_as(&indexed_lookups())
            .bind(iin.get() as i64)
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        let pending: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT a.id, a.iins FROM audit_pending p JOIN audit a ON a.id = p.audit_id \
             WHERE p.audit_id < $1",
        )
        .bind(before)
        .fetch_all(&mut *tx)
        .await?;
        let hits = pending_hits(iin, pending)?;
        if !hits.is_empty() {
            let more: Vec<LookupRow> =
                sqlx::query_as(&format!("SELECT {LOOKUP_COLS} WHERE a.id = ANY($1)"))
                    .bind(&hits)
                    .fetch_all(&mut *tx)
                    .await?;
            rows.extend(more);
        }
        tx.commit().await?;
        Ok(merged(rows, limit))
    }
}

async fn insert_persons_pg(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    run: i64,
    persons: &[(i64, i64)],
) -> Result<(), LedgerError> {
    if persons.is_empty() {
        return Ok(());
    }
    let (iins, ids): (Vec<i64>, Vec<i64>) = persons.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO audit_index (run, iin, audit_id) \
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::BIGINT[]) ON CONFLICT DO NOTHING",
    )
    .bind(run)
    .bind(&iins)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_take_the_lowest_full_level_and_pass_over_sealed_runs() {
        let small = |run, level| (run, level, 1000);
        // Seven small runs and one too large at level 0: nothing to merge.
        let mut runs: Vec<_> = (1..=7).map(|r| small(r, 0)).collect();
        runs.push((8, 0, MERGE_MAX));
        assert!(to_merge(runs.clone()).is_none());
        // An eighth small run: the small ones merge, the large one stays.
        runs.push(small(9, 0));
        let m = to_merge(runs.clone()).unwrap();
        assert_eq!((m.runs.len(), m.level, m.entries), (8, 0, 8000));
        assert!(!m.runs.contains(&8));
        // Level 0 before level 1, the oldest first.
        runs.extend((10..=17).map(|r| small(r, 1)));
        runs.extend((18..=20).map(|r| small(r, 0)));
        let m = to_merge(runs).unwrap();
        assert_eq!(m.level, 0);
        assert_eq!(m.runs, [1, 2, 3, 4, 5, 6, 7, 9]);
    }

    #[test]
    fn pieces_cover_the_rows_in_order_in_sizes_that_repeat() {
        for n in [0, 1, 3, 8, 255, 256, 257, 1000] {
            let rows: Vec<usize> = (0..n).collect();
            let got: Vec<&[usize]> = pieces(&rows, 256).collect();
            assert_eq!(got.concat(), rows);
            assert!(
                got.iter()
                    .all(|p| p.len().is_power_of_two() && p.len() <= 256)
            );
        }
        let sizes: Vec<usize> = pieces(&[0; 1000], 256).map(<[i32]>::len).collect();
        assert_eq!(sizes, [256, 256, 256, 128, 64, 32, 8]);
    }

    #[test]
    fn iin_lists_read_back_as_written() {
        let mut iins: Vec<Iin> = ["750101400219", "010305500121", "720415300125"]
            .iter()
            .map(|s| Iin::parse(s).unwrap())
            .collect();
        iins.sort();
        let back = decode_iins(&encode_iins(&iins)).unwrap();
        assert_eq!(back, iins.iter().map(|i| i.get()).collect::<Vec<_>>());
        assert_eq!(decode_iins(&[]).unwrap(), Vec::<u64>::new());
        assert!(decode_iins(&[0x80]).is_err(), "a cut-short list is refused");
    }
}
