//! The audit's group commit: requests hand their record to one writer,
//! which takes every record waiting and commits them in one transaction;
//! each request's answer waits for the commit that holds its record
//! (fail closed). When the database does not take a group in time, the
//! group goes to the local spool (`spool.rs`) and the answers go out; the
//! spool is moved into the database when it answers again. Large records
//! are indexed by person in the background.

use super::spool::Spool;
use crate::ledger::{AuditRow, Ledger};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

/// Records committed together at most.
const GROUP: usize = 4096;

/// How long a group waits for the database before it goes to the spool.
const DB_WAIT: Duration = Duration::from_millis(250);

/// How often the background indexer looks for records to index.
const INDEX_EVERY: Duration = Duration::from_secs(2);

/// How often the spool is moved into the database while it holds records.
const DRAIN_EVERY: Duration = Duration::from_millis(500);

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
    /// How long a request waits for its record's commit.
    wait: Duration,
}

impl Auditor {
    /// Starts the writer (and the indexer, and with a spool its drain) on
    /// the current runtime. Without a spool, an answer whose group the
    /// database does not take is refused.
    pub fn start(ledger: Ledger, wait: Duration, spool: Option<PathBuf>) -> Auditor {
        let (tx, rx) = mpsc::channel(GROUP * 4);
        let spool = spool.map(|p| Arc::new(Spool::open(p)));
        tokio::spawn(write(ledger, rx, spool));
        Auditor { tx, wait }
    }

    /// Appends `row`; returns once it is committed.
    pub async fn record(&self, row: AuditRow) -> Result<(), AuditError> {
        let (done, committed) = oneshot::channel();
        let run = async {
            self.tx
                .send(Job { row, done })
                .await
                .map_err(|_| AuditError::Unavailable("the audit writer has stopped".into()))?;
            committed
                .await
                .map_err(|_| AuditError::Unavailable("the audit writer has stopped".into()))?
        };
        tokio::time::timeout(self.wait, run)
            .await
            .unwrap_or_else(|_| {
                Err(AuditError::Unavailable(format!(
                    "no commit within {} s",
                    self.wait.as_secs_f64()
                )))
            })
    }
}

async fn write(ledger: Ledger, mut rx: mpsc::Receiver<Job>, spool: Option<Arc<Spool>>) {
    let wake = Arc::new(Notify::new());
    let indexer = tokio::spawn(index(ledger.clone(), wake.clone()));
    let drainer = spool
        .clone()
        .map(|s| tokio::spawn(drain(ledger.clone(), s, wake.clone())));
    let mut waiting = Vec::with_capacity(GROUP);
    while let Some(first) = rx.recv().await {
        let mut rows = Vec::with_capacity(GROUP.min(rx.len() + 1));
        let mut job = Some(first);
        while let Some(j) = job {
            rows.push(j.row);
            waiting.push(j.done);
            job = if rows.len() < GROUP {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        let n = rows.len();
        let result = match commit(&ledger, spool.as_ref(), Arc::new(rows)).await {
            Ok(()) => {
                wake.notify_one();
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, records = n, "audit records not written; their answers are refused");
                Err(e)
            }
        };
        for w in waiting.drain(..) {
            let _ = w.send(result.clone());
        }
    }
    indexer.abort();
    if let Some(d) = drainer {
        d.abort();
    }
}

/// Writes one group to the database, or to the spool when the database
/// does not take it in time (or while the spool holds earlier groups, so
/// they keep their order).
async fn commit(
    ledger: &Ledger,
    spool: Option<&Arc<Spool>>,
    rows: Arc<Vec<AuditRow>>,
) -> Result<(), AuditError> {
    let unavailable = |e: &dyn std::fmt::Display| AuditError::Unavailable(e.to_string());
    let Some(spool) = spool else {
        return ledger
            .append_audit(&rows)
            .await
            .map_err(|e| unavailable(&e));
    };
    if spool.holding() {
        spool
            .append(&rows, None)
            .await
            .map_err(|e| unavailable(&e))?;
        return Ok(());
    }
    let mut write = tokio::spawn({
        let (ledger, rows) = (ledger.clone(), rows.clone());
        async move { ledger.append_audit(&rows).await }
    });
    match tokio::time::timeout(DB_WAIT, &mut write).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) if e.is_unavailable() => {
            tracing::warn!(error = %e, "the ledger does not take audit records; keeping them in the spool");
            spool.append(&rows, None).await.map_err(|e| unavailable(&e))
        }
        Ok(Ok(Err(e))) => Err(unavailable(&e)),
        Ok(Err(e)) => Err(unavailable(&e)),
        Err(_) => {
            tracing::warn!(
                wait_ms = DB_WAIT.as_millis() as u64,
                "the ledger did not take audit records in time; keeping them in the spool"
            );
            spool
                .append(&rows, Some(write))
                .await
                .map_err(|e| unavailable(&e))
        }
    }
}

/// Moves the spool into the database whenever it holds records.
async fn drain(ledger: Ledger, spool: Arc<Spool>, wake: Arc<Notify>) {
    loop {
        if spool.holding() {
            match spool.drain(&ledger).await {
                Ok(()) => {
                    tracing::info!("audit records from the spool are in the ledger");
                    wake.notify_one();
                }
                Err(e) => tracing::debug!(error = %e, "the audit spool waits for the ledger"),
            }
        }
        tokio::time::sleep(DRAIN_EVERY).await;
    }
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
