//! Bulk import (`kinship import`): a file of records into the ledger and
//! the graph as fast as the database takes them.
//!
//! Three stages run at once, joined by bounded channels, so memory stays
//! constant whatever the file's size: a thread reads and parses lines; the
//! importer judges them against the graph, in file order, exactly as
//! `Registry::ingest` does; a task writes transactions of many thousands
//! of records to the ledger (`Ledger::write_bulk`: COPY on PostgreSQL).
//! Nothing about correctness changes: refused records are kept with their
//! reason, and every transaction holds its records' projections and
//! replay-log entry. The graph runs ahead of the ledger by the
//! transactions in flight; should one fail, those are rolled back, so the
//! graph never holds a record the ledger does not. A process killed at any
//! moment leaves the ledger at a transaction boundary; running the same
//! import again finishes the job (what is stored counts as duplicates).
//!
//! Two things make it fast besides the batching: a Bloom filter of the
//! act ids the ledger holds, so a new record's id is looked up in the
//! database only when it may be there; and the per-person and
//! per-dwelling lists (random keys) left out of the transactions and
//! written once at the end, in key order, from an external sort of what
//! the committed transactions hold. Until then the ledger carries a mark
//! that makes its next open list them from the records themselves.

use super::ingest::{Judged, Known, Parsed, judge, parse, refusal_row};
use super::{IngestReport, Line, LineOutcome, Lines, Registry};
use crate::acts::{ActBody, Kind, compact};
use crate::graph::Journal;
use crate::ledger::{LedgerError, NewAct, NewRefusal, StoredAct};
use futures_util::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::Ordering;

/// How a bulk import runs.
#[derive(Clone, Debug)]
pub struct BulkOptions {
    /// Records per ledger transaction.
    pub transaction: usize,
}

impl Default for BulkOptions {
    fn default() -> BulkOptions {
        BulkOptions {
            transaction: 50_000,
        }
    }
}

/// Where an import stands: bytes of the file read, and what the committed
/// transactions hold.
#[derive(Clone, Debug, Default)]
pub struct BulkProgress {
    pub bytes: u64,
    pub report: IngestReport,
}

#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("reading the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing to the ledger: {0}")]
    Ledger(#[from] LedgerError),
}

/// Lines parsed per message from the reading thread.
const PARSED_CHUNK: usize = 8192;

/// One ledger transaction being built or in flight.
#[derive(Default)]
struct Txn {
    acts: Vec<NewAct>,
    refusals: Vec<NewRefusal>,
    outcomes: Vec<LineOutcome>,
    last_seq: i64,
    bytes: u64,
}

/// Estimated bytes per record of an NDJSON file (to size things upfront).
const BYTES_PER_RECORD: u64 = 150;

impl Registry {
    /// Imports `file` (see the module documentation); `progress` is called
    /// after each committed transaction. Bad records are outcomes, not
    /// errors; an error means the file could not be read or the ledger not
    /// written, and everything committed before it stays.
    pub async fn import_bulk(
        &self,
        file: &Path,
        opts: &BulkOptions,
        mut progress: impl FnMut(&BulkProgress),
    ) -> Result<IngestReport, BulkError> {
        let mut last_seq = self.writer.lock().await;
        let size = std::fs::metadata(file)?.len();
        let source = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let expected = size / BYTES_PER_RECORD;
        self.ledger.defer_lists(*last_seq).await?;
        let mut persons = crate::ledger::KeyedSeqs::default();
        let mut dwellings = crate::ledger::KeyedSeqs::default();
        let mut seen = fastbloom::BloomFilter::with_false_pos(0.01)
            .hasher(foldhash::fast::FixedState::with_seed(3))
            .expected_items((*last_seq as u64 + expected).max(1024) as usize);
        if *last_seq > 0 {
            let mut ids = std::pin::pin!(self.ledger.act_ids());
            while let Some(id) = ids.next().await {
                seen.insert(&id?);
            }
        }

        let (lines_tx, mut lines_rx) =
            tokio::sync::mpsc::channel::<std::io::Result<(Vec<(Line, Parsed)>, u64)>>(8);
        let reader = {
            let f = std::fs::File::open(file)?;
            std::thread::spawn(move || {
                let mut lines = Lines::new(BufReader::with_capacity(1 << 20, f));
                let mut chunk = Vec::with_capacity(PARSED_CHUNK);
                loop {
                    match lines.next() {
                        Some(Ok(l)) => {
                            let p = parse(&l);
                            chunk.push((l, p));
                            if chunk.len() < PARSED_CHUNK {
                                continue;
                            }
                        }
                        Some(Err(e)) => {
                            let _ = lines_tx.blocking_send(Err(e));
                            return lines.blank();
                        }
                        None => {}
                    }
                    let done = chunk.len() < PARSED_CHUNK;
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(PARSED_CHUNK));
                    if lines_tx.blocking_send(Ok((full, lines.consumed))).is_err() || done {
                        return lines.blank();
                    }
                }
            })
        };

        let (txn_tx, mut txn_rx) = tokio::sync::mpsc::channel::<Txn>(2);
        let (ack_tx, mut ack_rx) = tokio::sync::mpsc::unbounded_channel::<Txn>();
        let writer = {
            let ledger = self.ledger.clone();
            tokio::spawn(async move {
                while let Some(t) = txn_rx.recv().await {
                    ledger.write_bulk(&t.acts, &t.refusals).await?;
                    if ack_tx.send(t).is_err() {
                        break;
                    }
                }
                Ok::<_, LedgerError>(())
            })
        };

        let received = crate::calendar::today();
        let started = std::time::Instant::now();
        let transaction = opts.transaction;
        let mut known = Known::default();
        // For each act in `known`: the last seq whose transaction needs it.
        let mut needed_until: HashMap<String, i64, foldhash::fast::RandomState> =
            HashMap::default();
        // Journals of transactions judged but not yet committed, oldest first.
        let mut in_flight: VecDeque<(i64, Journal)> = VecDeque::new();
        let mut seq = *last_seq;
        let mut txn = Txn::default();
        let mut journal = Journal::default();
        let mut done = BulkProgress::default();
        let mut failed: Option<BulkError> = None;

        let mut settle = |t: Txn,
                          in_flight: &mut VecDeque<(i64, Journal)>,
                          known: &mut Known,
                          needed_until: &mut HashMap<String, i64, foldhash::fast::RandomState>,
                          done: &mut BulkProgress|
         -> std::io::Result<()> {
            in_flight.pop_front();
            for a in &t.acts {
                for p in &a.persons {
                    persons.push(p.get() as i64, a.seq)?;
                }
                if let Some(r) = &a.residence {
                    dwellings.push(crate::ledger::dwelling_key(&r.dwelling), a.seq)?;
                }
            }
            done.report.add(&t.outcomes);
            done.bytes = t.bytes;
            // Pruned now and then, not at every transaction: a pass over
            // the map costs as much as a few thousand inserts.
            if known.acts.len() > 8 * transaction {
                known
                    .acts
                    .retain(|id, _| needed_until.get(id).is_some_and(|&s| s > t.last_seq));
                needed_until.retain(|_, s| *s > t.last_seq);
            }
            progress(done);
            Ok(())
        };

        while let Some(msg) = lines_rx.recv().await {
            let (chunk, consumed) = match msg {
                Ok(m) => m,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            // What the chunk may need from the ledger: ids that may be
            // recorded, and the acts records refer to.
            let mut ask: Vec<&str> = Vec::new();
            for (_, p) in &chunk {
                let Ok(act) = p else { continue };
                let id = act.act_id.as_str();
                if !known.acts.contains_key(id) && seen.contains(id) {
                    ask.push(id);
                }
                if let Some(r) = act.reference()
                    && !known.acts.contains_key(r.as_str())
                {
                    ask.push(r.as_str());
                }
            }
            ask.sort_unstable();
            ask.dedup();
            let fetched = match self.fetch(&ask).await {
                Ok(f) => f,
                Err(e) => {
                    failed = Some(e.into());
                    break;
                }
            };
            let mut touched: Vec<String> = fetched.keys().cloned().collect();
            known.acts.extend(fetched);

            {
                let mut g = self.graph.write();
                for (line, p) in chunk {
                    let outcome = match p {
                        Err((act_id, r)) => Err((act_id, r)),
                        Ok(act) => {
                            let judged = match judge(&mut g, &mut journal, &act, &known, received) {
                                Ok(j) => j,
                                Err(e) => {
                                    failed = Some(e.into());
                                    break;
                                }
                            };
                            match judged {
                                Judged::Duplicate(s) => Ok(LineOutcome::Duplicate { seq: s }),
                                Judged::Refused(r) => Err((Some(act.act_id.to_string()), r)),
                                Judged::Accepted {
                                    target_seq,
                                    mentions,
                                    target,
                                    target_target,
                                } => {
                                    seq += 1;
                                    let entry = compact::Entry {
                                        seq,
                                        act,
                                        target: target.map(|t| *t),
                                        target_target: target_target.map(|t| *t),
                                    };
                                    let src = format!("{source}:{}", line.no);
                                    txn.acts
                                        .push(NewAct::new(&entry, target_seq, &mentions, src));
                                    let act = entry.act;
                                    if let ActBody::Annulment { target_act, .. } = &act.body
                                        && let Some(t) = known.acts.get_mut(target_act.as_str())
                                    {
                                        t.annulled = true;
                                        touched.push(target_act.to_string());
                                    }
                                    if let Some(r) = act.reference() {
                                        touched.push(r.to_string());
                                    }
                                    let id = act.act_id.to_string();
                                    seen.insert(&id);
                                    touched.push(id.clone());
                                    known.acts.insert(
                                        id,
                                        StoredAct {
                                            seq,
                                            act,
                                            target_seq,
                                            annulled: false,
                                        },
                                    );
                                    Ok(LineOutcome::Accepted { seq })
                                }
                            }
                        }
                    };
                    txn.outcomes.push(outcome.unwrap_or_else(|(act_id, r)| {
                        txn.refusals
                            .push(refusal_row(&line, &source, act_id.clone(), &r));
                        LineOutcome::Refused {
                            act_id,
                            code: r.code,
                            detail: r.detail,
                        }
                    }));
                }
            }
            if failed.is_some() {
                break;
            }
            for id in touched {
                needed_until.insert(id, seq);
            }
            txn.last_seq = seq;
            txn.bytes = consumed;
            if txn.outcomes.len() >= opts.transaction {
                in_flight.push_back((seq, std::mem::take(&mut journal)));
                if txn_tx.send(std::mem::take(&mut txn)).await.is_err() {
                    break;
                }
            }
            while let Ok(t) = ack_rx.try_recv() {
                if let Err(e) = settle(t, &mut in_flight, &mut known, &mut needed_until, &mut done)
                {
                    failed.get_or_insert(e.into());
                }
            }
            if failed.is_some() {
                break;
            }
        }
        if failed.is_none() && !txn.outcomes.is_empty() {
            in_flight.push_back((seq, std::mem::take(&mut journal)));
            let _ = txn_tx.send(std::mem::take(&mut txn)).await;
        }
        drop(txn_tx);
        drop(lines_rx);
        let written = writer.await.expect("the ledger writer does not panic");
        while let Ok(t) = ack_rx.try_recv() {
            if let Err(e) = settle(t, &mut in_flight, &mut known, &mut needed_until, &mut done) {
                failed.get_or_insert(e.into());
            }
        }
        let blank = reader.join().unwrap_or(0);
        if let Err(e) = written {
            failed.get_or_insert(e.into());
        }
        // Whatever the ledger did not take leaves the graph again.
        if !in_flight.is_empty() || !journal.is_empty() {
            let mut g = self.graph.write();
            g.rollback(&mut journal);
            while let Some((_, mut j)) = in_flight.pop_back() {
                g.rollback(&mut j);
            }
        }
        tracing::info!(
            records = done.report.lines,
            secs = started.elapsed().as_secs_f64(),
            "records judged and written"
        );
        let committed = done.report.last_seq.max(*last_seq);
        *last_seq = committed;
        self.applied.store(committed, Ordering::Release);
        self.names.invalidate_all();
        if let Some(e) = failed {
            return Err(e);
        }
        let listing = std::time::Instant::now();
        self.ledger
            .add_lists(persons.finish()?, dwellings.finish()?)
            .await?;
        tracing::info!(
            secs = listing.elapsed().as_secs_f64(),
            "listed the acts of each person and dwelling"
        );
        done.report.blank = blank;
        Ok(done.report)
    }

    /// The recorded acts with these ids, and for divorces among them the
    /// marriages they ended.
    async fn fetch(&self, ids: &[&str]) -> Result<HashMap<String, StoredAct>, LedgerError> {
        let mut acts = self.ledger.find_by_ids(ids).await?;
        let inner: Vec<i64> = acts
            .values()
            .filter(|a| a.act.kind() == Kind::Divorce)
            .filter_map(|a| a.target_seq)
            .collect();
        for (_, a) in self.ledger.find_by_seqs(&inner).await? {
            acts.entry(a.act.act_id.to_string()).or_insert(a);
        }
        Ok(acts)
    }
}
