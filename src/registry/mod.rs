//! The registry: the ledger and the graph kept in step.
//!
//! Records come in as lines; each is parsed, judged against the graph,
//! applied to it and written to the ledger — or refused and written to the
//! ledger's refused records. A batch is one database transaction: if it
//! fails, the graph is rolled back through its journal and the lines are
//! retried one by one, so one bad record never sinks its neighbours and no
//! record is ever half applied.
//!
//! Writes never block reads on the database: a batch is judged against the
//! graph under its write lock a few dozen records at a time (microseconds
//! each), hidden from readers (`FamilyGraph::deferred`); the ledger commit
//! runs with no graph lock held; then, in one short write lock, the batch
//! is published. Readers never see a record before it is committed, and a
//! hung database stalls only writers.
//!
//! Locking: writers are serialized by `writer` (a tokio mutex, held across
//! database calls); the graph sits in a `parking_lot::RwLock`, held by
//! readers for the length of an answer and never across an `.await`.

mod bulk;
mod follow;
mod household;
mod ingest;
mod names;
mod snapshots;

pub use bulk::{BulkError, BulkOptions, BulkProgress};
pub use household::Resident;
pub use ingest::{IngestReport, LineOutcome};
pub use kinship_acts::ndjson::{Line, LineSplitter, Lines};
pub use names::Names;
pub use snapshots::{SnapshotFailure, Snapshots};

use crate::graph::{FamilyGraph, Journal, Target};
use crate::ledger::{Ledger, LedgerError};
use futures_util::StreamExt;
use parking_lot::{RwLock, RwLockReadGuard};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::sync::Mutex;

pub struct Registry {
    graph: RwLock<FamilyGraph>,
    ledger: Ledger,
    /// Last sequence number written; held while writing.
    writer: Mutex<i64>,
    /// Last sequence number visible in the graph (for freshness headers),
    /// and the same as a channel, for requests that wait for a seq.
    applied: AtomicI64,
    seen: tokio::sync::watch::Sender<i64>,
    /// Wakes the follower (a request waits for a seq not yet applied).
    poke: tokio::sync::Notify,
    /// The seq of the newest snapshot loaded or written, and when it was
    /// written (Unix seconds; 0 for none).
    snapshot_seq: AtomicI64,
    snapshot_at: AtomicI64,
    names: names::NameCache,
    names_generation: AtomicU64,
    /// Until when (Unix ms) names are served from the cache alone, after
    /// the ledger did not answer: an outage then costs one timeout, not one
    /// per request.
    names_down_until: std::sync::atomic::AtomicI64,
    /// Who may ask, and the writer of the record of who asked.
    clients: std::sync::Arc<crate::access::Clients>,
    auditor: std::sync::OnceLock<crate::access::Auditor>,
    /// Where audit records wait while the database cannot take them.
    audit_log: parking_lot::Mutex<Option<std::path::PathBuf>>,
}

/// What a replay did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayStats {
    pub acts: u64,
    pub last_seq: i64,
}

/// How the graph was built at start.
#[derive(Clone, Debug, Default)]
pub struct Start {
    /// The snapshot loaded, if any.
    pub snapshot: Option<std::path::PathBuf>,
    /// The ledger seq it reflected (0 without one).
    pub snapshot_seq: i64,
    /// Records replayed from the ledger after it.
    pub replayed: u64,
    /// Seconds to load the snapshot, and to replay.
    pub load_secs: f64,
    pub replay_secs: f64,
}

impl Registry {
    /// Builds the graph from the whole ledger.
    pub async fn open(ledger: Ledger) -> Result<Registry, LedgerError> {
        Ok(Registry::open_with(ledger, None).await?.0)
    }

    /// Builds the graph from the newest good snapshot in `snaps` and the
    /// ledger after it, or from the whole ledger when there is none.
    pub async fn open_with(
        ledger: Ledger,
        snaps: Option<&Snapshots>,
    ) -> Result<(Registry, Start), LedgerError> {
        let last = ledger.last_seq().await?;
        let mut start = Start::default();
        let began = std::time::Instant::now();
        let loaded = match snaps {
            Some(s) => snapshots::load_newest(&ledger, s, last).await?,
            None => None,
        };
        let mut graph = match loaded {
            Some((g, meta, path)) => {
                start.load_secs = began.elapsed().as_secs_f64();
                start.snapshot_seq = meta.seq;
                tracing::info!(snapshot = %path.display(), seq = meta.seq,
                    secs = start.load_secs, "graph loaded from a snapshot");
                start.snapshot = Some(path);
                g
            }
            // About four records a person, two links per birth: generous,
            // and memory reserved but never touched is not resident.
            None => FamilyGraph::with_capacity(
                (last / 4) as usize + 1024,
                (last / 2) as usize + 1024,
                (last / 3) as usize + 1024,
            ),
        };
        let replaying = std::time::Instant::now();
        let stats = replay(&ledger, &mut graph, start.snapshot_seq).await?;
        start.replayed = stats.acts;
        start.replay_secs = replaying.elapsed().as_secs_f64();
        tracing::info!(
            acts = stats.acts,
            persons = graph.person_count(),
            links = graph.link_count(),
            graph_mib = graph.heap_bytes() >> 20,
            secs = start.replay_secs,
            "ledger replayed into the graph"
        );
        let registry = Registry {
            graph: RwLock::new(graph),
            writer: Mutex::new(stats.last_seq),
            applied: AtomicI64::new(stats.last_seq),
            seen: tokio::sync::watch::Sender::new(stats.last_seq),
            poke: tokio::sync::Notify::new(),
            snapshot_seq: AtomicI64::new(start.snapshot_seq),
            snapshot_at: AtomicI64::new(
                start
                    .snapshot
                    .as_ref()
                    .and_then(|p| std::fs::metadata(p).ok()?.modified().ok())
                    .map_or(0, unix_secs),
            ),
            names: names::new_cache(),
            names_generation: AtomicU64::new(0),
            names_down_until: std::sync::atomic::AtomicI64::new(0),
            clients: std::sync::Arc::new(crate::access::Clients::load(ledger.clone()).await?),
            auditor: std::sync::OnceLock::new(),
            audit_log: parking_lot::Mutex::new(
                ledger
                    .sqlite_file()
                    .map(|f| std::path::PathBuf::from(format!("{}.audit-log", f.display()))),
            ),
            ledger,
        };
        Ok((registry, start))
    }

    /// The clients allowed to call.
    pub fn clients(&self) -> &std::sync::Arc<crate::access::Clients> {
        &self.clients
    }

    /// The folder where audit records are made durable before their
    /// answers go out, and from where they move into the database (beside
    /// a SQLite ledger by default; none for PostgreSQL unless set: then
    /// each group is a database transaction). Takes effect if set before
    /// the auditor starts ([`Registry::start_audit`] or the first answer).
    pub fn set_audit_log(&self, path: Option<std::path::PathBuf>) {
        *self.audit_log.lock() = path;
    }

    /// Starts the audit's writer (and moves in what an earlier process
    /// left in its log); fails when the log folder cannot be opened.
    pub fn start_audit(&self) -> std::io::Result<&crate::access::Auditor> {
        if let Some(a) = self.auditor.get() {
            return Ok(a);
        }
        // Held while starting: a second start would find the folder locked.
        let log = self.audit_log.lock();
        if let Some(a) = self.auditor.get() {
            return Ok(a);
        }
        let a = crate::access::Auditor::start(self.ledger.for_audit(), AUDIT_WAIT, log.as_deref())?;
        Ok(self.auditor.get_or_init(|| a))
    }

    fn auditor(&self) -> Result<&crate::access::Auditor, crate::access::AuditError> {
        self.start_audit().map_err(|e| {
            tracing::error!(error = %e, "the audit cannot start");
            crate::access::AuditError::Unavailable(format!("the audit log: {e}"))
        })
    }

    /// Returns once every audit record written so far is in the database
    /// (what a lookup of the audit waits for).
    pub async fn audit_settled(&self) -> Result<(), crate::access::AuditError> {
        self.auditor()?.settled().await
    }

    /// Records that `caller` was answered on `route` with `outcome`,
    /// revealing `iins`; returns once the record is committed. An answer
    /// is given only after this succeeds.
    pub async fn audit(
        &self,
        caller: &crate::access::Caller,
        route: &str,
        outcome: &str,
        mut iins: Vec<crate::iin::Iin>,
    ) -> Result<(), crate::access::AuditError> {
        iins.sort_unstable();
        iins.dedup();
        let purpose = caller.purpose.as_deref();
        let row = crate::ledger::AuditRow {
            at: crate::access::now_micros(),
            client_id: caller.client.id,
            purpose: purpose.map_or_else(String::new, |p| p.code.clone()),
            case_ref: purpose.and_then(|p| p.case.clone()),
            consent_ref: purpose.and_then(|p| p.consent.clone()),
            route: route.to_owned(),
            outcome: outcome.to_owned(),
            iins,
        };
        self.auditor()?.record(row).await
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// A read view of the graph. Hold it only briefly (never across an
    /// `.await`): a writer waiting for it holds back later readers.
    pub fn graph(&self) -> RwLockReadGuard<'_, FamilyGraph> {
        self.graph.read()
    }

    /// The ledger sequence number the graph reflects.
    pub fn applied_seq(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    fn set_applied(&self, seq: i64) {
        self.applied.store(seq, Ordering::Release);
        self.seen.send_replace(seq);
    }
}

/// How long an answer waits for its audit record's commit before it is
/// refused (503).
const AUDIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn unix_secs(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Applies the ledger's acts after `after_seq` to `graph`, in order: from
/// the replay log, and from the stored JSON for acts written before the
/// log existed (or all of them, should the log be unreadable).
pub async fn replay(
    ledger: &Ledger,
    graph: &mut FamilyGraph,
    after_seq: i64,
) -> Result<ReplayStats, LedgerError> {
    let mut stats = ReplayStats {
        acts: 0,
        last_seq: after_seq,
    };
    let last = ledger.last_seq().await?;
    let json_until = match ledger.log_start().await? {
        Some(first) => first - 1,
        None => last,
    };
    let mut journal = Journal::default();
    if json_until > after_seq {
        let mut rows = std::pin::pin!(ledger.replay_json(after_seq, json_until));
        while let Some(e) = rows.next().await {
            apply_entry(graph, &e?, &mut journal, &mut stats)?;
        }
    }
    if json_until < last {
        let mut rows = std::pin::pin!(ledger.replay_log(stats.last_seq));
        while let Some(row) = rows.next().await {
            let row = row?;
            for e in row.entries()? {
                let e = e?;
                if e.seq > stats.last_seq {
                    apply_next(graph, &e, &mut journal, &mut stats)?;
                }
            }
        }
    }
    if stats.last_seq != last {
        return Err(LedgerError::Corrupt(format!(
            "replay stopped at seq {} of {last}",
            stats.last_seq
        )));
    }
    Ok(stats)
}

/// Applies the record after `stats.last_seq` from the replay log; any
/// other seq means the log has a gap.
fn apply_next(
    graph: &mut FamilyGraph,
    e: &crate::ledger::ReplayEntry,
    journal: &mut Journal,
    stats: &mut ReplayStats,
) -> Result<(), LedgerError> {
    if e.seq != stats.last_seq + 1 {
        return Err(LedgerError::Corrupt(format!(
            "replay log jumps from seq {} to {}",
            stats.last_seq, e.seq
        )));
    }
    apply_entry(graph, e, journal, stats)
}

fn apply_entry(
    graph: &mut FamilyGraph,
    e: &crate::ledger::ReplayEntry,
    journal: &mut Journal,
    stats: &mut ReplayStats,
) -> Result<(), LedgerError> {
    let target = e.target.as_ref().map(|t| Target {
        act: t,
        annulled: false,
        marriage: e.target_target.as_ref(),
    });
    graph.apply(&e.act, target, journal).map_err(|r| {
        LedgerError::Corrupt(format!(
            "seq {} ({}) no longer applies: {r}",
            e.seq, e.act.act_id
        ))
    })?;
    // Nothing to undo: the ledger holds these already.
    journal.commit();
    stats.acts += 1;
    stats.last_seq = e.seq;
    Ok(())
}
