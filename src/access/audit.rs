//! The audit's group commit: requests hand their record to one writer,
//! which takes every record waiting and makes them durable together; each
//! request's answer waits for the group that holds its record (fail
//! closed). With a log folder (the default beside a file ledger) a group
//! is an fsynced append to the local log (`log.rs`), moved into the
//! database in the background; without one it is a database transaction.
//! Records are indexed by person in the background.

use super::log::{AuditLog, Pos};
use crate::ledger::{AuditRow, Ledger};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// Records made durable together at most.
const GROUP: usize = 4096;

/// How long new log records wait to be moved into the database, so many
/// are moved at once (a lookup moves them at once).
const MOVE_EVERY: Duration = Duration::from_millis(20);

/// How long a move waits after the database refused one.
const MOVE_RETRY: Duration = Duration::from_millis(500);

/// How often the background indexer looks for records to index. Each pass
/// rewrites about every leaf page of the per-person index its random keys
/// touch, whatever their number, so fewer, larger passes write less
/// (measured: 2 s passes were most of the SQLite worker's WAL writes);
/// lookups read the records not yet indexed from their own IIN lists.
const INDEX_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit record could not be written: {0}")]
    Unavailable(String),
}

struct Job {
    row: AuditRow,
    done: oneshot::Sender<Result<(), AuditError>>,
}

pub struct Auditor {
    tx: mpsc::Sender<Job>,
    /// How long a request waits for its record's group.
    wait: Duration,
    /// With a log: how far it is and how far the database holds it.
    log: Option<Moving>,
}

struct Moving {
    durable: watch::Receiver<Pos>,
    moved: watch::Receiver<Pos>,
    nudge: Arc<Notify>,
}

impl Auditor {
    /// Starts the writer, the mover and the indexer on the current runtime:
    /// with `log`, records go to the log folder there first.
    pub fn start(ledger: Ledger, wait: Duration, log: Option<&Path>) -> std::io::Result<Auditor> {
        let (tx, rx) = mpsc::channel(GROUP * 4);
        let indexed = Arc::new(Notify::new());
        tokio::spawn(index(ledger.clone(), indexed.clone()));
        let Some(dir) = log else {
            tokio::spawn(commit(ledger, rx, indexed));
            return Ok(Auditor {
                tx,
                wait,
                log: None,
            });
        };
        let log = Arc::new(AuditLog::open(dir)?);
        let (moved_tx, moved) = watch::channel(Pos::default());
        let nudge = Arc::new(Notify::new());
        let durable = log.watch_durable();
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn({
                let log = log.clone();
                move || append(&log, rx)
            })?;
        tokio::spawn(move_in(ledger, log, moved_tx, nudge.clone(), indexed));
        Ok(Auditor {
            tx,
            wait,
            log: Some(Moving {
                durable,
                moved,
                nudge,
            }),
        })
    }

    /// Appends `row`; returns once it is durable.
    pub async fn record(&self, row: AuditRow) -> Result<(), AuditError> {
        let stopped = || AuditError::Unavailable("the audit writer has stopped".into());
        let (done, written) = oneshot::channel();
        let run = async {
            self.tx
                .send(Job { row, done })
                .await
                .map_err(|_| stopped())?;
            written.await.map_err(|_| stopped())?
        };
        self.within(run).await
    }

    /// Returns once the database holds every record made durable before
    /// the call (at once without a log): what a lookup of the audit waits
    /// for, so a record is listed the moment its answer was given.
    pub async fn settled(&self) -> Result<(), AuditError> {
        let Some(m) = &self.log else {
            return Ok(());
        };
        let target = *m.durable.borrow();
        m.nudge.notify_one();
        let mut moved = m.moved.clone();
        self.within(async {
            moved
                .wait_for(|p| *p >= target)
                .await
                .map(|_| ())
                .map_err(|_| AuditError::Unavailable("the audit mover has stopped".into()))
        })
        .await
    }

    async fn within(
        &self,
        run: impl Future<Output = Result<(), AuditError>>,
    ) -> Result<(), AuditError> {
        tokio::time::timeout(self.wait, run)
            .await
            .unwrap_or_else(|_| {
                Err(AuditError::Unavailable(format!(
                    "not written within {} s",
                    self.wait.as_secs_f64()
                )))
            })
    }
}

/// The records waiting now (after `first`), at most a group, and whom
/// to tell when they are written.
type Waiting = Vec<oneshot::Sender<Result<(), AuditError>>>;

fn group(first: Job, rx: &mut mpsc::Receiver<Job>) -> (Vec<AuditRow>, Waiting) {
    let mut rows = Vec::with_capacity(GROUP.min(rx.len() + 1));
    let mut waiting = Vec::with_capacity(rows.capacity());
    let mut job = Some(first);
    while let Some(Job { row, done }) = job {
        rows.push(row);
        waiting.push(done);
        job = if rows.len() < GROUP {
            rx.try_recv().ok()
        } else {
            None
        };
    }
    (rows, waiting)
}

fn answer(waiting: Waiting, result: Result<(), AuditError>) {
    for w in waiting {
        let _ = w.send(result.clone());
    }
}

/// The log's writer, on a thread of its own (an fsync blocks).
fn append(log: &AuditLog, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let (rows, waiting) = group(first, &mut rx);
        let result = log.append(&rows).map_err(|e| {
            tracing::warn!(error = %e, records = rows.len(), "audit records not written; their answers are refused");
            AuditError::Unavailable(format!("the audit log: {e}"))
        });
        answer(waiting, result);
    }
}

/// Without a log: each group is a database transaction.
async fn commit(ledger: Ledger, mut rx: mpsc::Receiver<Job>, indexed: Arc<Notify>) {
    while let Some(first) = rx.recv().await {
        let (rows, waiting) = group(first, &mut rx);
        let result = match ledger.append_audit(&rows, None).await {
            Ok(()) => {
                indexed.notify_one();
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, records = rows.len(), "audit records not written; their answers are refused");
                Err(AuditError::Unavailable(e.to_string()))
            }
        };
        answer(waiting, result);
    }
}

/// Moves the log into the database: from the mark the database holds,
/// whatever is durable, a group at a time, each with its new mark.
async fn move_in(
    ledger: Ledger,
    log: Arc<AuditLog>,
    moved: watch::Sender<Pos>,
    nudge: Arc<Notify>,
    indexed: Arc<Notify>,
) {
    let mut at = loop {
        let mark = ledger.audit_log_mark(log.id()).await;
        match mark.map(|m| m.as_deref().and_then(Pos::decode)) {
            Ok(Some(p)) => break p,
            Ok(None) => match log.start() {
                Ok(p) => break p,
                Err(e) => tracing::warn!(error = %e, "the audit log folder cannot be read"),
            },
            Err(e) => tracing::warn!(error = %e, "the audit log waits for the ledger"),
        }
        tokio::time::sleep(MOVE_RETRY).await;
    };
    moved.send_replace(at);
    let mut durable = log.watch_durable();
    let mut failing = false;
    loop {
        if at >= *durable.borrow_and_update() && durable.changed().await.is_err() {
            return;
        }
        // Let records gather, unless a lookup waits for them.
        tokio::select! {
            () = tokio::time::sleep(MOVE_EVERY) => {}
            () = nudge.notified() => {}
        }
        while at < log.durable() {
            match move_once(&ledger, &log, at).await {
                Ok(to) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("audit records from the log are in the ledger again");
                    }
                    at = to;
                    moved.send_replace(at);
                    indexed.notify_one();
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(error = %e, "the ledger does not take audit records; they wait in the log");
                    }
                    tokio::time::sleep(MOVE_RETRY).await;
                    break;
                }
            }
        }
    }
}

/// Moves one group from `at` on; where it ended.
async fn move_once(ledger: &Ledger, log: &Arc<AuditLog>, at: Pos) -> Result<Pos, String> {
    let read = tokio::task::spawn_blocking({
        let log = log.clone();
        move || log.read(at)
    })
    .await
    .expect("reading the audit log does not panic");
    let (rows, to) = read.map_err(|e| format!("reading the audit log: {e}"))?;
    ledger
        .append_audit(&rows, Some((log.id(), &to.encode())))
        .await
        .map_err(|e| e.to_string())?;
    if let Err(e) = log.remove_before(to.segment) {
        tracing::warn!(error = %e, "an audit log segment the ledger holds was not removed");
    }
    Ok(to)
}

/// Indexes records by person, at start (records a stopped process left)
/// and a few seconds after each commit, so many are indexed at once.
async fn index(ledger: Ledger, wake: Arc<Notify>) {
    loop {
        loop {
            match ledger.index_audit().await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "audit indexing paused");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
        }
        // Many records indexed at once write each index page once.
        wake.notified().await;
        tokio::time::sleep(INDEX_EVERY).await;
    }
}
