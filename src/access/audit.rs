//! The audit's group commit: requests hand their record to one writer,
//! which takes every record waiting and makes them durable together; each
//! request's answer waits for the group that holds its record (fail
//! closed). With a log folder (the default beside a file ledger) a group
//! is an fsynced append to the local log (`log.rs`), moved into the
//! database in the background; without one it is a database transaction.
//! Records are indexed by person in the background.

use super::log::{AuditLog, Pos};
use crate::ledger::{AuditRow, Ledger};
use parking_lot::{Condvar, Mutex};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// A group is taken at most this often. Each group costs the writer's
/// thread a wake-up and an fsync, and each wake-up of a thread costs
/// ~20 µs of CPU on this machine (measured: with groups taken as soon as
/// the last was written, ~7 records each, the writer spent 6-7 µs per
/// answer and woke 0.3 times per answer; with 0.5 ms, 2.9 µs and 0.12).
/// An answer waits for it, which with 64 connections costs no throughput
/// while the cores are busy.
const GATHER: Duration = Duration::from_micros(500);

/// How long new log records wait to be moved into the database, so many
/// are moved at once (a lookup moves them at once).
const MOVE_EVERY: Duration = Duration::from_millis(20);

/// How long a move waits after the database refused one.
const MOVE_RETRY: Duration = Duration::from_millis(500);

/// How often the background indexer looks for records to index. A pass
/// appends one sorted run, its cost in proportion to its records (when the
/// index was one random-key B-tree, each pass rewrote most of its leaf
/// pages and 10 s passes were needed); lookups read the records not yet
/// indexed from their own IIN lists, so fewer wait.
const INDEX_EVERY: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit record could not be written: {0}")]
    Unavailable(String),
}

/// Records waiting for the writer, as log frames, and the group they
/// will be written in. A request appends its frame and waits on the
/// group's outcome: one lock and one wake-up per answer, and one watch
/// per group, where a channel and a oneshot per answer were two
/// allocations and two cross-thread hand-offs.
struct Queue {
    state: Mutex<Waiting>,
    ready: Condvar,
}

type Outcome = watch::Sender<Option<Result<(), AuditError>>>;

struct Waiting {
    frames: Vec<u8>,
    group: Outcome,
    /// The writer sleeps until told.
    idle: bool,
    stopped: bool,
}

pub struct Auditor {
    queue: Arc<Queue>,
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
        let queue = Arc::new(Queue {
            state: Mutex::new(Waiting {
                frames: Vec::new(),
                group: watch::Sender::new(None),
                idle: false,
                stopped: false,
            }),
            ready: Condvar::new(),
        });
        let indexed = Arc::new(Notify::new());
        tokio::spawn(index(ledger.clone(), indexed.clone()));
        let writer = std::thread::Builder::new().name("audit-writer".into());
        let Some(dir) = log else {
            // Without a log each group is a database transaction.
            let (q, rt) = (queue.clone(), tokio::runtime::Handle::current());
            writer.spawn(move || {
                write_groups(&q, |frames| {
                    let rows = super::log::unframe(frames).map_err(AuditError::Unavailable)?;
                    rt.block_on(ledger.append_audit(&rows, None))
                        .map_err(|e| AuditError::Unavailable(e.to_string()))?;
                    indexed.notify_one();
                    Ok(())
                })
            })?;
            return Ok(Auditor {
                queue,
                wait,
                log: None,
            });
        };
        let log = Arc::new(AuditLog::open(dir)?);
        let (moved_tx, moved) = watch::channel(Pos::default());
        let nudge = Arc::new(Notify::new());
        let durable = log.watch_durable();
        writer.spawn({
            let (queue, log) = (queue.clone(), log.clone());
            move || {
                write_groups(&queue, |frames| {
                    log.append(frames)
                        .map_err(|e| AuditError::Unavailable(format!("the audit log: {e}")))
                })
            }
        })?;
        tokio::spawn(move_in(ledger, log, moved_tx, nudge.clone(), indexed));
        Ok(Auditor {
            queue,
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
        // Encoded before the lock: a batch's record holds thousands of IINs.
        let mut bytes =
            Vec::with_capacity(64 + row.purpose.len() + row.route.len() + row.iins.len() * 5);
        super::log::frame(&row, &mut bytes);
        let mut outcome = {
            let mut q = self.queue.state.lock();
            if q.stopped {
                return Err(AuditError::Unavailable(
                    "the audit writer has stopped".into(),
                ));
            }
            q.frames.extend_from_slice(&bytes);
            if std::mem::take(&mut q.idle) {
                self.queue.ready.notify_one();
            }
            q.group.subscribe()
        };
        self.within(async {
            match outcome.wait_for(Option::is_some).await {
                Ok(done) => done.clone().expect("waited for"),
                Err(_) => Err(AuditError::Unavailable(
                    "the audit writer has stopped".into(),
                )),
            }
        })
        .await
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

impl Drop for Auditor {
    fn drop(&mut self) {
        self.queue.state.lock().stopped = true;
        self.queue.ready.notify_one();
    }
}

/// The writer, on a thread of its own (an fsync blocks): takes every
/// frame waiting, writes them with `write`, tells their group.
fn write_groups(queue: &Queue, mut write: impl FnMut(&[u8]) -> Result<(), AuditError>) {
    /// Should the writer stop (or panic), requests are refused at once
    /// and those waiting told, not left to their deadline.
    struct Stopped<'a>(&'a Queue);
    impl Drop for Stopped<'_> {
        fn drop(&mut self) {
            let mut q = self.0.state.lock();
            q.stopped = true;
            q.frames = Vec::new();
            q.group = watch::Sender::new(None);
        }
    }
    let _stopped = Stopped(queue);
    let mut frames = Vec::new();
    let mut began = std::time::Instant::now();
    loop {
        if let Some(rest) = GATHER.checked_sub(began.elapsed()) {
            std::thread::sleep(rest);
        }
        let group = {
            let mut q = queue.state.lock();
            while q.frames.is_empty() {
                if q.stopped {
                    return;
                }
                q.idle = true;
                queue.ready.wait(&mut q);
            }
            frames.clear();
            began = std::time::Instant::now();
            std::mem::swap(&mut frames, &mut q.frames);
            std::mem::replace(&mut q.group, watch::Sender::new(None))
        };
        let written = write(&frames);
        if let Err(e) = &written {
            tracing::warn!(error = %e, bytes = frames.len(), "audit records not written; their answers are refused");
        }
        group.send_replace(Some(written));
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
        // Up to where the log was when the wait ended: under load more is
        // always durable by the end of a move, and moving it at once made
        // the moves back-to-back and small, each a dozen wake-ups of the
        // database's thread (a thread wake-up costs ~20 µs of CPU here).
        let target = log.durable();
        while at < target {
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
        wake.notified().await;
        tokio::time::sleep(INDEX_EVERY).await;
    }
}
