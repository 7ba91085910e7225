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

mod household;
mod ingest;
pub mod lines;
mod names;

pub use household::Resident;
pub use ingest::{IngestReport, LineOutcome};
pub use lines::{Line, LineSplitter, Lines};
pub use names::Names;

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
    /// Last sequence number visible in the graph (for freshness headers).
    applied: AtomicI64,
    names: names::NameCache,
    names_generation: AtomicU64,
}

/// What a replay did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReplayStats {
    pub acts: u64,
    pub last_seq: i64,
}

impl Registry {
    /// Builds the graph from the whole ledger.
    pub async fn open(ledger: Ledger) -> Result<Registry, LedgerError> {
        let counts = ledger.counts().await?;
        let mut graph = FamilyGraph::with_capacity(
            counts.persons_upper as usize,
            // a birth names up to two parents
            (counts.link_acts as usize).saturating_mul(2),
            counts.link_acts as usize,
        );
        let stats = replay(&ledger, &mut graph, 0).await?;
        tracing::info!(
            acts = stats.acts,
            persons = graph.person_count(),
            links = graph.link_count(),
            graph_mib = graph.heap_bytes() >> 20,
            "graph built from the ledger"
        );
        Ok(Registry {
            graph: RwLock::new(graph),
            ledger,
            writer: Mutex::new(stats.last_seq),
            applied: AtomicI64::new(stats.last_seq),
            names: names::new_cache(),
            names_generation: AtomicU64::new(0),
        })
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
                let e = e.map_err(|err| {
                    LedgerError::Corrupt(format!("replay log at seq {}: {err}", row.first_seq))
                })?;
                if e.seq <= stats.last_seq {
                    continue;
                }
                if e.seq != stats.last_seq + 1 {
                    return Err(LedgerError::Corrupt(format!(
                        "replay log jumps from seq {} to {}",
                        stats.last_seq, e.seq
                    )));
                }
                apply_entry(graph, &e, &mut journal, &mut stats)?;
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
