//! The ledger: accepted act records (append-only, numbered by `seq`),
//! refused records (with why), and the projections written in the same
//! transaction (`residences`, `annulments`, the per-person and per-dwelling
//! lists `person_acts` and `dwelling_acts`, and the replay log
//! `graph_log`), in SQLite by default or PostgreSQL in production.
//!
//! One typed interface, [`Ledger`], over a backend per database
//! (`sqlite.rs`, `postgres.rs`, each on its own sqlx driver, so each can use
//! what its database does best: multi-row prepared inserts on SQLite,
//! `UNNEST` and `COPY` on PostgreSQL). The interface takes and returns the
//! domain's types (`Iin`, `NaiveDate`, `Act`, `Code`); rows are converted
//! once, in here. Nothing here knows about the graph or HTTP.

mod access;
mod audit_record;
mod lists;
mod postgres;
mod sqlite;

pub use access::{AuditRow, ClientRow, LookupRow};
pub use lists::{Grouped, KeyedSeqs, dwelling_key};

use crate::acts::{Act, ActBody, Code, Kind, ResidenceType, compact, parse_line};
use crate::iin::Iin;
use chrono::NaiveDate;
use futures_util::stream::BoxStream;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database cannot be reached or cannot take writes right now
    /// (connection lost, timeout, disk full, locked): worth retrying later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use a file path, sqlite:PATH or postgres://...")]
    Url(String),
    #[error("ledger is inconsistent: {0}")]
    Corrupt(String),
    #[error(
        "another process wrote to this ledger without its writer lock ({0}): a SQLite ledger has one writing process; replicas over PostgreSQL take turns through the lock"
    )]
    ConcurrentWriter(String),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> LedgerError {
        if unavailable(&e) {
            LedgerError::Unavailable(e.to_string())
        } else {
            LedgerError::Db(e)
        }
    }
}

/// Errors that say the database is out of reach, not that a statement
/// was wrong: the answer to a caller is "try again", not "we failed".
fn unavailable(e: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match e {
        E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => true,
        E::Database(d) => d.code().is_some_and(|c| match c.parse::<i32>() {
            // SQLite result codes (extended codes carry the primary one in
            // the low byte): BUSY, LOCKED, NOMEM, IOERR, FULL, CANTOPEN.
            Ok(n) => matches!(n & 0xff, 5 | 6 | 7 | 10 | 13 | 14),
            // PostgreSQL SQLSTATE: connection exception, insufficient
            // resources (disk full, out of memory, too many connections),
            // operator intervention (shutdown), system error (I/O).
            Err(_) => ["08", "53", "57", "58"].iter().any(|p| c.starts_with(p)) && c != "57014",
        }),
        _ => false,
    }
}

impl LedgerError {
    /// A unique-key clash: another writer recorded the same act first.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, LedgerError::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, LedgerError::Unavailable(_))
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
    pub act: Act,
    pub target_seq: Option<i64>,
    pub annulled: bool,
}

/// An accepted record, ready to be written.
#[derive(Clone, Debug)]
pub struct NewAct {
    pub seq: i64,
    pub act_id: String,
    pub kind: Kind,
    /// The canonical JSON (`Act::canonical_json`).
    pub body: String,
    pub target_seq: Option<i64>,
    /// Everyone the record concerns, also through the act it names.
    pub persons: Vec<Iin>,
    pub residence: Option<NewResidence>,
    pub source: String,
    /// Its entry of the replay log (`acts::compact`).
    pub log: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct NewResidence {
    pub dwelling: String,
    pub person: Iin,
    pub from: NaiveDate,
    pub to: Option<NaiveDate>,
    pub kind: ResidenceType,
}

impl NewAct {
    /// The rows of `entry.act` accepted as `entry.seq`; `mentions` are the
    /// persons it concerns through the act it names; `body` is the act's
    /// canonical JSON (made by the caller, which may have made it on
    /// another thread).
    pub fn new(
        entry: &compact::Entry,
        target_seq: Option<i64>,
        mentions: &[Iin],
        source: String,
        body: String,
    ) -> NewAct {
        let act = &entry.act;
        let residence = match &act.body {
            ActBody::Residence {
                person,
                dwelling,
                from,
                to,
                kind,
            } => Some(NewResidence {
                dwelling: dwelling.clone(),
                person: *person,
                from: *from,
                to: *to,
                kind: *kind,
            }),
            _ => None,
        };
        let mut persons = act.persons();
        persons.extend_from_slice(mentions);
        persons.sort_unstable();
        persons.dedup();
        let mut log = Vec::with_capacity(48);
        compact::encode(entry, &mut log);
        NewAct {
            seq: entry.seq,
            act_id: act.act_id.to_string(),
            kind: act.kind(),
            body,
            target_seq,
            persons,
            residence,
            source,
            log,
        }
    }
}

/// A refused record, ready to be written.
#[derive(Clone, Debug)]
pub struct NewRefusal {
    pub act_id: Option<String>,
    pub code: Code,
    pub detail: String,
    pub raw: String,
    pub raw_bytes: i64,
    pub source: String,
    pub line: Option<i64>,
}

/// A refused record as listed for staff.
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow)]
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

/// An act as shown to staff.
#[derive(Clone, Debug)]
pub struct ActRecord {
    pub seq: i64,
    pub act: Act,
    /// Where it came from: `<import file>:<line>` or `http:<request id>:<line>`.
    pub source: String,
    /// When it was recorded (RFC 3339, UTC).
    pub received_at: String,
    /// The act_id of the annulment that voided it, if any.
    pub annulled_by: Option<String>,
}

/// A registration in a dwelling, as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub person: Iin,
    pub kind: ResidenceType,
    pub since: NaiveDate,
    pub act_id: String,
}

/// A step of the replay stream, from the replay log or (for acts written
/// before the log existed) from the stored JSON.
pub type ReplayEntry = compact::Entry;

/// A replay-log row: the entries of acts `first_seq..=last_seq`, after a
/// format-version byte.
#[derive(Clone, Debug)]
pub struct LogRow {
    pub first_seq: i64,
    pub last_seq: i64,
    pub data: Vec<u8>,
}

impl LogRow {
    /// The row's entries, each that does not decode told as a corrupt
    /// ledger at this row; an error for a row of another format version.
    pub fn entries(
        &self,
    ) -> Result<impl Iterator<Item = Result<ReplayEntry, LedgerError>> + '_, LedgerError> {
        let first = self.first_seq;
        match self.data.split_first() {
            Some((&v, rest)) if v == compact::VERSION => {
                Ok(compact::Reader::new(rest).map(move |e| {
                    e.map_err(|err| corrupt(format_args!("replay log at seq {first}: {err}")))
                }))
            }
            _ => Err(corrupt(format_args!(
                "replay-log row at seq {} is of another format version",
                self.first_seq
            ))),
        }
    }
}

/// How long a read may wait for the database before the caller is told
/// it is unavailable (writes are not cut short: a commit's outcome must be
/// known).
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle on the ledger database. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub enum Ledger {
    Sqlite(sqlite::SqliteLedger),
    Postgres(postgres::PgLedger),
}

/// Calls the same method on whichever backend this is.
macro_rules! each {
    ($self:expr, $l:ident => $e:expr) => {
        match $self {
            Ledger::Sqlite($l) => $e,
            Ledger::Postgres($l) => $e,
        }
    };
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

async fn read<T>(
    f: impl std::future::Future<Output = Result<T, LedgerError>>,
) -> Result<T, LedgerError> {
    within(READ_TIMEOUT, "reading", f).await
}

/// `f`, or `Unavailable` when the database has not answered `what` within
/// `limit` (one that hangs answers nothing and fires none of its own
/// timeouts).
async fn within<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, LedgerError>>,
) -> Result<T, LedgerError> {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| {
        Err(LedgerError::Unavailable(format!(
            "{what}: no answer within {} s",
            limit.as_secs()
        )))
    })
}

fn corrupt(what: impl std::fmt::Display) -> LedgerError {
    LedgerError::Corrupt(what.to_string())
}

/// Parses a stored canonical body.
fn stored_act(seq: i64, body: &str) -> Result<Act, LedgerError> {
    parse_line(body.as_bytes()).map_err(|e| {
        corrupt(format_args!(
            "seq {seq}: stored body does not parse: {}",
            e.refusal
        ))
    })
}

fn stored_date(s: &str) -> Result<NaiveDate, LedgerError> {
    crate::acts::parse_date(s).ok_or_else(|| corrupt(format_args!("stored date {s:?}")))
}

fn stored_iin(n: i64) -> Result<Iin, LedgerError> {
    Iin::parse(&format!("{n:012}")).map_err(|_| corrupt(format_args!("stored IIN {n}")))
}

fn stored_residence_type(s: &str) -> Result<ResidenceType, LedgerError> {
    match s {
        "permanent" => Ok(ResidenceType::Permanent),
        "temporary" => Ok(ResidenceType::Temporary),
        _ => Err(corrupt(format_args!("residence type {s:?}"))),
    }
}

/// The writer lock of a shared ledger (see [`Ledger::lock_writer`]).
pub struct WriterLock(postgres::PgWriterGuard);

impl WriterLock {
    pub async fn release(self) {
        self.0.release().await
    }
}

/// A commit another process (or this one) made: the last seq it wrote,
/// and when (Unix microseconds, the writer's clock).
#[derive(Clone, Copy, Debug)]
pub struct Commit {
    pub seq: i64,
    pub at_micros: Option<i64>,
}

/// The stream of [`Commit`]s of a shared ledger.
pub struct Commits(sqlx::postgres::PgListener);

impl Commits {
    /// The next commit; the listener reconnects by itself after a lost
    /// connection (an error is returned once, then it goes on).
    pub async fn next(&mut self) -> Result<Commit, LedgerError> {
        let n = self.0.recv().await?;
        let mut parts = n.payload().split(' ');
        let seq = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let at_micros = parts.next().and_then(|s| s.parse().ok());
        Ok(Commit { seq, at_micros })
    }
}

/// Held by a bulk import for as long as it runs (see
/// [`Ledger::try_lock_import`]); dropping it releases the lock.
pub struct ImportLock {
    _held: Held,
}

// The fields are never read: holding them is the lock.
#[allow(dead_code)]
enum Held {
    File(std::fs::File),
    Postgres(sqlx::PgConnection),
    /// An in-memory SQLite database: no other process can see it.
    Nothing,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Ledger, LedgerError> {
        let (url, backend) = normalize_url(url)?;
        let ledger = match backend {
            Backend::Sqlite => Ledger::Sqlite(sqlite::SqliteLedger::open(&url).await?),
            Backend::Postgres => Ledger::Postgres(postgres::PgLedger::open(&url).await?),
        };
        each!(&ledger, l => l.ensure_meta().await)?;
        // Lists left out by a bulk import are made here only when no
        // import is running (one that is will write them as it ends): the
        // mark is read again under the import lock, so it cannot be stale.
        if ledger.lists_pending().await?.is_some() {
            match ledger.try_lock_import().await? {
                Some(_lock) => {
                    if let Some(after) = ledger.lists_pending().await? {
                        tracing::warn!(
                            after,
                            "listing the acts of persons and dwellings after seq {after} (left by a bulk import that did not finish, or a ledger of an older version)"
                        );
                        ledger.relist(after).await?;
                    }
                }
                None => tracing::info!(
                    "a bulk import is running on this ledger: the acts it writes are listed by person and dwelling when it ends"
                ),
            }
        }
        Ok(ledger)
    }

    /// The lock a bulk import holds while it runs, if no other process
    /// holds it: a file lock beside a SQLite database, an advisory lock on
    /// PostgreSQL. Either is released when its holder ends, however it ends.
    pub async fn try_lock_import(&self) -> Result<Option<ImportLock>, LedgerError> {
        each!(self, l => l.try_lock_import().await)
    }

    /// Takes the ledger's writer lock, which every process writing to a
    /// shared (PostgreSQL) ledger holds while it catches up, judges and
    /// commits; `None` for SQLite, whose ledger has one process.
    pub async fn lock_writer(&self) -> Result<Option<WriterLock>, LedgerError> {
        match self {
            Ledger::Sqlite(_) => Ok(None),
            Ledger::Postgres(l) => Ok(Some(WriterLock(l.lock_writer().await?))),
        }
    }

    /// Commits by any process to a shared (PostgreSQL) ledger, as they
    /// happen; `None` for SQLite. Notifications sent while the
    /// listener's connection was down are lost: poll as well.
    pub async fn listen(&self) -> Result<Option<Commits>, LedgerError> {
        match self {
            Ledger::Sqlite(_) => Ok(None),
            Ledger::Postgres(l) => Ok(Some(Commits(l.listen().await?))),
        }
    }

    /// The handle the audit writes through: for SQLite a pool of its own
    /// (see `SqliteLedger::relaxed`).
    pub fn for_audit(&self) -> Ledger {
        match self {
            Ledger::Sqlite(l) => Ledger::Sqlite(l.relaxed()),
            Ledger::Postgres(_) => self.clone(),
        }
    }

    /// The file of a SQLite ledger (none in memory, none for PostgreSQL).
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Ledger::Sqlite(l) => l.file(),
            Ledger::Postgres(_) => None,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Ledger::Sqlite(_) => Backend::Sqlite,
            Ledger::Postgres(_) => Backend::Postgres,
        }
    }

    /// Connections the pool holds, and how many of them are idle.
    pub fn pool_state(&self) -> (u32, usize) {
        each!(self, l => l.pool_state())
    }

    pub async fn close(&self) {
        each!(self, l => l.close().await)
    }

    /// This ledger's identity, made when it was created (snapshots carry
    /// it, so one is never loaded into another ledger's service).
    pub async fn id(&self) -> Result<String, LedgerError> {
        read(async { each!(self, l => l.meta("ledger_id").await) })
            .await?
            .ok_or_else(|| corrupt("no ledger_id in meta"))
    }

    /// The highest sequence number recorded (0 for an empty ledger).
    pub async fn last_seq(&self) -> Result<i64, LedgerError> {
        read(async { each!(self, l => l.last_seq().await) }).await
    }

    /// The stored acts with these act ids (any not found are absent).
    pub async fn find_by_ids(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, StoredAct>, LedgerError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        read(async { each!(self, l => l.find_by_ids(ids).await) }).await
    }

    /// The stored acts with these sequence numbers.
    pub async fn find_by_seqs(&self, seqs: &[i64]) -> Result<HashMap<i64, StoredAct>, LedgerError> {
        if seqs.is_empty() {
            return Ok(HashMap::new());
        }
        read(async { each!(self, l => l.find_by_seqs(seqs).await) }).await
    }

    /// Writes accepted and refused records in one transaction, with their
    /// projections and replay-log entry: all or none.
    pub async fn write_batch(
        &self,
        acts: &[NewAct],
        refusals: &[NewRefusal],
    ) -> Result<(), LedgerError> {
        if acts.is_empty() && refusals.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        each!(self, l => l.write_batch(acts, refusals, &now).await)
    }

    /// Writes a batch of a bulk import: as [`Ledger::write_batch`], tuned
    /// for throughput. SQLite syncs at checkpoints instead of each commit
    /// (a process that dies loses nothing committed; a machine that loses
    /// power may lose the last batches, which the next run of the import
    /// writes again); PostgreSQL loads each table with `COPY`.
    pub async fn write_bulk(
        &self,
        acts: &[NewAct],
        refusals: &[NewRefusal],
    ) -> Result<(), LedgerError> {
        if acts.is_empty() && refusals.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        each!(self, l => l.write_bulk(acts, refusals, &now).await)
    }

    /// Notes that the person and dwelling lists lack what a bulk import
    /// is about to write after `after_seq` (kept if an earlier, unfinished
    /// one left an older mark), so a ledger whose import is cut short lists
    /// them at its next open.
    pub async fn defer_lists(&self, after_seq: i64) -> Result<(), LedgerError> {
        if self.lists_pending().await?.is_some() {
            return Ok(());
        }
        each!(self, l => l.set_meta("lists_pending_after", &after_seq.to_string()).await)
    }

    /// The seq after which the lists are incomplete, if they are.
    pub async fn lists_pending(&self) -> Result<Option<i64>, LedgerError> {
        read(async { each!(self, l => l.meta("lists_pending_after").await) })
            .await?
            .map(|v| v.parse().map_err(|_| corrupt("meta lists_pending_after")))
            .transpose()
    }

    /// Adds the gathered pairs to the person and dwelling lists, in key
    /// order, in one transaction that also clears the mark of
    /// [`Ledger::defer_lists`].
    pub async fn add_lists(&self, persons: Grouped, dwellings: Grouped) -> Result<(), LedgerError> {
        each!(self, l => l.add_lists(persons, dwellings).await)
    }

    /// Lists the persons and dwellings of every act after `after_seq`,
    /// from the ledger itself (the replay stream and the residences).
    pub async fn relist(&self, after_seq: i64) -> Result<(), LedgerError> {
        use futures_util::StreamExt;
        let io = |e: std::io::Error| LedgerError::Unavailable(format!("temporary files: {e}"));
        let mut persons = KeyedSeqs::default();
        let last = self.last_seq().await?;
        let log_start = self.log_start().await?.unwrap_or(last + 1);
        let mut push = |e: ReplayEntry| -> Result<(), LedgerError> {
            for p in mentioned(&e) {
                persons.push(p.get() as i64, e.seq).map_err(io)?;
            }
            Ok(())
        };
        if log_start - 1 > after_seq {
            let mut rows = std::pin::pin!(self.replay_json(after_seq, log_start - 1));
            while let Some(e) = rows.next().await {
                push(e?)?;
            }
        }
        let mut rows = std::pin::pin!(self.replay_log(after_seq.max(log_start - 1)));
        while let Some(row) = rows.next().await {
            let row = row?;
            for e in row.entries()? {
                let e = e?;
                if e.seq > after_seq {
                    push(e)?;
                }
            }
        }
        let mut dwellings = KeyedSeqs::default();
        let mut rows = std::pin::pin!(each!(self, l => l.residence_dwellings(after_seq)));
        while let Some(r) = rows.next().await {
            let (seq, dwelling) = r?;
            dwellings.push(dwelling_key(&dwelling), seq).map_err(io)?;
        }
        self.add_lists(
            persons.finish().map_err(io)?,
            dwellings.finish().map_err(io)?,
        )
        .await
    }

    /// Every recorded act id, in no particular order (streams).
    pub fn act_ids(&self) -> BoxStream<'_, Result<String, LedgerError>> {
        each!(self, l => l.act_ids())
    }

    /// Refused records, oldest first, after `after_id`, at most `limit`.
    pub async fn refused(
        &self,
        after_id: i64,
        limit: i64,
        code: Option<&str>,
    ) -> Result<Vec<RefusedRow>, LedgerError> {
        read(async { each!(self, l => l.refused(after_id, limit, code).await) }).await
    }

    /// The first seq the replay log covers (the log has an entry for
    /// every act from there on; acts before it were written before the log
    /// existed), or `None` when it is empty.
    pub async fn log_start(&self) -> Result<Option<i64>, LedgerError> {
        read(async { each!(self, l => l.log_start().await) }).await
    }

    /// The replay-log rows holding acts after `after_seq`, in order:
    /// (first seq, last seq, data). Streams.
    pub fn replay_log(&self, after_seq: i64) -> BoxStream<'_, Result<LogRow, LedgerError>> {
        each!(self, l => l.replay_log(after_seq))
    }

    /// Acts after `after_seq` up to `until` (inclusive), read from their
    /// stored JSON with the acts they name, in seq order. Streams: memory
    /// does not grow with the ledger.
    pub fn replay_json(
        &self,
        after_seq: i64,
        until: i64,
    ) -> BoxStream<'_, Result<ReplayEntry, LedgerError>> {
        each!(self, l => l.replay_json(after_seq, until))
    }

    /// Registrations in `dwelling` in force on `on`: started by then, not
    /// deregistered (`to` is the first day away), not annulled, and for a
    /// permanent one not replaced by the person's later permanent one (of
    /// two from the same day, the greater act_id holds: never arrival). A
    /// person may have several here; see `Registry::household`.
    pub async fn registrations(
        &self,
        dwelling: &str,
        on: NaiveDate,
    ) -> Result<Vec<Registration>, LedgerError> {
        read(async {
            let here = each!(self, l => l.list(true, dwelling_key(dwelling)).await)?;
            let rows = each!(self, l => l.residences(&here).await)?;
            let mut live: Vec<ResidenceRow> = rows
                .into_iter()
                .filter(|r| r.dwelling == dwelling && r.in_force_on(on))
                .collect();
            // A permanent registration ends at the person's next one.
            let persons: Vec<i64> = live.iter().map(|r| r.person).collect();
            let mut theirs = Vec::new();
            for p in persons {
                theirs.extend(each!(self, l => l.list(false, p).await)?);
            }
            theirs.sort_unstable();
            theirs.dedup();
            let others = each!(self, l => l.residences(&theirs).await)?;
            live.retain(|r| r.kind == "temporary" || !others.iter().any(|n| n.replaces(r, on)));
            live.sort_by(|a, b| (&a.from, a.person).cmp(&(&b.from, b.person)));
            live.into_iter()
                .map(|r| {
                    Ok(Registration {
                        person: stored_iin(r.person)?,
                        kind: stored_residence_type(&r.kind)?,
                        since: stored_date(&r.from)?,
                        act_id: r.act_id,
                    })
                })
                .collect()
        })
        .await
    }

    /// Dwellings with more than `min` persons holding a permanent
    /// registration in force on `on` (started by then, not ended, not
    /// annulled), most first, at most `limit`: the candidates for
    /// "implausibly many permanent residents" (a newer registration
    /// elsewhere also ends one; `registrations` has the exact count). One
    /// pass over the residences.
    pub async fn crowded_dwellings(
        &self,
        min: i64,
        on: NaiveDate,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, LedgerError> {
        const SQL: &str = "SELECT dwelling, count(DISTINCT person) AS n FROM residences r \
             WHERE type = 'permanent' AND from_date <= $2 AND (to_date IS NULL OR to_date > $2) \
             AND NOT EXISTS (SELECT 1 FROM annulments a WHERE a.target_seq = r.seq) \
             GROUP BY dwelling HAVING count(DISTINCT person) > $1 ORDER BY n DESC, dwelling LIMIT $3";
        let on = on.to_string();
        read(async {
            match self {
                Ledger::Sqlite(l) => Ok(sqlx::query_as(SQL)
                    .bind(min)
                    .bind(&on)
                    .bind(limit)
                    .fetch_all(&l.pool)
                    .await?),
                Ledger::Postgres(l) => Ok(sqlx::query_as(SQL)
                    .bind(min)
                    .bind(&on)
                    .bind(limit)
                    .fetch_all(&l.pool)
                    .await?),
            }
        })
        .await
    }

    /// The birth and name-change acts (not annulled) that mention each of
    /// `iins`, for working out names over time.
    pub async fn name_acts(&self, iins: &[Iin]) -> Result<Vec<(Iin, Act)>, LedgerError> {
        read(async {
            // Two statements per few hundred persons, not one per person:
            // a family batch asks for hundreds of thousands of names.
            let keys: Vec<i64> = iins.iter().map(|i| i.get() as i64).collect();
            let mut whose: HashMap<i64, Vec<Iin>> = HashMap::new();
            for (iin, seqs) in each!(self, l => l.person_lists(&keys).await)? {
                let iin = stored_iin(iin)?;
                for seq in seqs {
                    whose.entry(seq).or_default().push(iin);
                }
            }
            let mut seqs: Vec<i64> = whose.keys().copied().collect();
            seqs.sort_unstable();
            let mut out = Vec::new();
            for (seq, act) in each!(self, l => l.name_bodies(&seqs).await)? {
                for &i in &whose[&seq] {
                    out.push((i, act.clone()));
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn act(&self, act_id: &str) -> Result<Option<ActRecord>, LedgerError> {
        read(async { each!(self, l => l.act(act_id).await) }).await
    }

    /// Every act that mentions `iin`, in ledger order.
    pub async fn acts_of(&self, iin: Iin) -> Result<Vec<ActRecord>, LedgerError> {
        read(async {
            let seqs = each!(self, l => l.list(false, iin.get() as i64).await)?;
            let mut acts = each!(self, l => l.records(&seqs).await)?;
            acts.sort_by_key(|a| a.seq);
            Ok(acts)
        })
        .await
    }
}

/// The replay entry of a stored act, from its JSON and those it names.
fn entry_from_json(
    seq: i64,
    body: &str,
    target: Option<&str>,
    target_target: Option<&str>,
) -> Result<ReplayEntry, LedgerError> {
    Ok(ReplayEntry {
        seq,
        act: stored_act(seq, body)?,
        target: target.map(|b| stored_act(seq, b)).transpose()?,
        target_target: target_target.map(|b| stored_act(seq, b)).transpose()?,
    })
}

/// The replay-log row of a batch: a format version, then its entries.
fn log_row(acts: &[NewAct]) -> Option<LogRow> {
    let (first, last) = (acts.first()?.seq, acts.last()?.seq);
    let mut data = Vec::with_capacity(1 + acts.iter().map(|a| a.log.len()).sum::<usize>());
    data.push(compact::VERSION);
    for a in acts {
        data.extend_from_slice(&a.log);
    }
    Some(LogRow {
        first_seq: first,
        last_seq: last,
        data,
    })
}

/// Everyone a replayed record concerns, also through the act it names.
fn mentioned(e: &ReplayEntry) -> Vec<Iin> {
    let mut v = e.act.persons();
    if let Some(t) = e.target_target.as_ref().or(e.target.as_ref()) {
        v.extend(t.persons());
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// A residence row, as the household query reads it (both backends'
/// queries name their columns after these fields).
#[derive(Clone, Debug, sqlx::FromRow)]
struct ResidenceRow {
    seq: i64,
    dwelling: String,
    person: i64,
    #[sqlx(rename = "from_date")]
    from: String,
    #[sqlx(rename = "to_date")]
    to: Option<String>,
    #[sqlx(rename = "type")]
    kind: String,
    act_id: String,
    annulled: bool,
}

impl ResidenceRow {
    /// Registered on `on`: started, not yet deregistered (`to` is the
    /// first day away), not annulled. Dates are ISO text: they compare.
    fn in_force_on(&self, on: NaiveDate) -> bool {
        let on = on.to_string();
        !self.annulled && self.from <= on && self.to.as_ref().is_none_or(|t| *t > on)
    }

    /// Does this (permanent, started by `on`) registration end `r`, the
    /// same person's permanent one: later, or from the same day with the
    /// greater act_id (never arrival)?
    fn replaces(&self, r: &ResidenceRow, on: NaiveDate) -> bool {
        self.person == r.person
            && self.kind == "permanent"
            && self.seq != r.seq
            && !self.annulled
            && self.from <= on.to_string()
            && (self.from > r.from || (self.from == r.from && self.act_id > r.act_id))
    }
}

/// (target_seq, seq) of a batch's annulments.
fn annulments(acts: &[NewAct]) -> Vec<(i64, i64)> {
    acts.iter()
        .filter(|a| a.kind == Kind::Annulment)
        .filter_map(|a| a.target_seq.map(|t| (t, a.seq)))
        .collect()
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
        // The same versions; what each leaves behind is compared on live
        // databases by tests/ledger.rs.
        assert_eq!(names("sqlite"), names("postgres"));
    }
}
