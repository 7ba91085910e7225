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
//! Three things make it fast besides the batching: a Bloom filter of the
//! act ids the ledger holds and the file has shown so far, so a new
//! record's id is looked up in the database only when it may be there;
//! the canonical JSON of each record made on the reading thread; and the per-person and
//! per-dwelling lists (random keys) left out of the transactions and
//! written once at the end, in key order, from an external sort of what
//! the committed transactions hold. Until then the ledger carries a mark
//! that makes its next open list them from the records themselves.

use super::ingest::{Filed, Known, Parsed, judge_and_file, parse};
use super::{IngestReport, Line, LineOutcome, Lines, Registry};
use crate::graph::Journal;
use crate::ledger::{LedgerError, NewAct, NewRefusal};
use futures_util::StreamExt;
use std::collections::VecDeque;
use std::io::BufReader;
use std::path::Path;

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
    #[error("another bulk import is running on this ledger; wait for it to end")]
    Busy,
}

/// Lines parsed per message from the reading thread.
const PARSED_CHUNK: usize = 8192;

/// One ledger transaction being built or in flight. Its buffers are
/// reused once it is committed: fresh ones of this size cost page faults
/// and copies in growth that took a tenth of an import's time.
#[derive(Default)]
struct Txn {
    acts: Vec<NewAct>,
    refusals: Vec<NewRefusal>,
    outcomes: Vec<LineOutcome>,
    last_seq: i64,
    bytes: u64,
}

impl Txn {
    fn with_capacity(n: usize) -> Txn {
        Txn {
            acts: Vec::with_capacity(n),
            outcomes: Vec::with_capacity(n),
            ..Txn::default()
        }
    }

    fn clear(&mut self) {
        self.acts.clear();
        self.refusals.clear();
        self.outcomes.clear();
    }
}

/// A line as the reading thread hands it over: parsed, and for a good
/// record what its row needs that does not depend on the judgement (its
/// canonical JSON and its source), made there so the judging thread,
/// which sets the pace, does not have to.
struct Read {
    line: Line,
    parsed: Parsed,
    body: String,
    source: String,
}

impl Read {
    fn new(line: Line, file: &str) -> Read {
        let parsed = parse(&line);
        let (body, source) = match &parsed {
            Ok(act) => (act.canonical_json(), format!("{file}:{}", line.no)),
            Err(_) => (String::new(), String::new()),
        };
        Read {
            line,
            parsed,
            body,
            source,
        }
    }
}

/// Buffers of committed transactions, for the next ones.
#[derive(Default)]
struct Spare {
    txns: Vec<Txn>,
    journals: Vec<Journal>,
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
        let _lock = self.import_lock().await?;
        // The lock holds off replicas' writers too; what they wrote before
        // it was taken is applied first, so the import numbers on from it.
        self.catch_up_locked(&mut last_seq).await?;
        let source = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let expected = size / BYTES_PER_RECORD;
        // A whole population has about one person per four records and a
        // link per two; room that goes unused is address space, not memory.
        self.graph.write().reserve(
            expected as usize / 4,
            expected as usize / 2,
            expected as usize,
        );
        self.ledger.defer_lists(*last_seq).await?;
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
            tokio::sync::mpsc::channel::<std::io::Result<(Vec<Read>, u64)>>(8);
        let reader = {
            let f = std::fs::File::open(file)?;
            let source = source.clone();
            std::thread::spawn(move || {
                let mut lines = Lines::new(BufReader::with_capacity(1 << 20, f));
                let mut chunk = Vec::with_capacity(PARSED_CHUNK);
                loop {
                    match lines.next() {
                        Some(Ok(line)) => {
                            chunk.push(Read::new(line, &source));
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
        // The writer also notes each committed record in the lists' sorts
        // and frees its rows: work kept off the judging thread, which sets
        // the pace.
        let writer = {
            let ledger = self.ledger.clone();
            tokio::spawn(async move {
                let mut persons = crate::ledger::KeyedSeqs::default();
                let mut dwellings = crate::ledger::KeyedSeqs::default();
                while let Some(mut t) = txn_rx.recv().await {
                    ledger.write_bulk(&t.acts, &t.refusals).await?;
                    for a in &t.acts {
                        for p in &a.persons {
                            persons.push(p.get() as i64, a.seq)?;
                        }
                        if let Some(r) = &a.residence {
                            dwellings.push(crate::ledger::dwelling_key(&r.dwelling), a.seq)?;
                        }
                    }
                    t.acts.clear();
                    t.refusals.clear();
                    if ack_tx.send(t).is_err() {
                        break;
                    }
                }
                Ok::<_, BulkError>((persons, dwellings))
            })
        };

        let received = crate::calendar::today();
        let started = std::time::Instant::now();
        let transaction = opts.transaction;
        let mut known = Known::default();
        // Journals of transactions judged but not yet committed, oldest first.
        let mut in_flight: VecDeque<(i64, Journal)> = VecDeque::new();
        let mut seq = *last_seq;
        let mut txn = Txn::with_capacity(transaction);
        let mut spare = Spare::default();
        let mut journal = Journal::default();
        let mut done = BulkProgress::default();
        let mut failed: Option<BulkError> = None;
        // Bytes of the file in the chunks judged before this one.
        let mut bytes = 0;
        let mut writer_gone = false;

        let mut settle = |mut t: Txn,
                          spare: &mut Spare,
                          in_flight: &mut VecDeque<(i64, Journal)>,
                          known: &mut Known,
                          done: &mut BulkProgress| {
            if let Some((_, mut j)) = in_flight.pop_front() {
                j.commit();
                spare.journals.push(j);
            }
            done.report.add(&t.outcomes);
            done.bytes = t.bytes;
            // Pruned now and then, not at every transaction: a pass over
            // the map costs as much as a few thousand inserts.
            if known.len() > 8 * transaction {
                known.prune(t.last_seq);
            }
            progress(done);
            t.clear();
            spare.txns.push(t);
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
            for r in &chunk {
                let Ok(act) = &r.parsed else { continue };
                let id = act.act_id.as_str();
                // Every id goes into the filter now, whether it will be
                // accepted or not: one pass over its bits instead of a
                // test now and an insert later (each bit a cache miss),
                // and a refused id in it costs only a lookup, should it
                // come again.
                if seen.insert(id) && !known.contains(id) {
                    ask.push(id);
                }
                if let Some(r) = act.reference()
                    && !known.contains(r.as_str())
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
            known.extend(fetched, seq);

            // Judged in pieces that end where a transaction fills up, each
            // sent off at once; acknowledgements are taken only between
            // chunks, so nothing fetched for this chunk is pruned under it.
            let mut todo = chunk.into_iter().peekable();
            while todo.peek().is_some() {
                {
                    let mut g = self.graph.write();
                    for Read {
                        line,
                        parsed,
                        body,
                        source: src,
                    } in todo.by_ref()
                    {
                        let mut out = Filed {
                            seq: &mut seq,
                            acts: &mut txn.acts,
                            refusals: &mut txn.refusals,
                        };
                        match judge_and_file(
                            &mut g,
                            &mut journal,
                            &mut known,
                            received,
                            &line,
                            parsed,
                            &source,
                            &mut out,
                            |_| (src, body),
                        ) {
                            Ok(o) => txn.outcomes.push(o),
                            Err(e) => {
                                failed = Some(e.into());
                                break;
                            }
                        }
                        if txn.outcomes.len() >= transaction {
                            break;
                        }
                    }
                }
                if failed.is_some() {
                    break;
                }
                txn.last_seq = seq;
                txn.bytes = if todo.peek().is_some() {
                    bytes
                } else {
                    consumed
                };
                if txn.outcomes.len() >= transaction {
                    let j = spare.journals.pop().unwrap_or_default();
                    in_flight.push_back((seq, std::mem::replace(&mut journal, j)));
                    let next = spare
                        .txns
                        .pop()
                        .unwrap_or_else(|| Txn::with_capacity(transaction));
                    if txn_tx
                        .send(std::mem::replace(&mut txn, next))
                        .await
                        .is_err()
                    {
                        // The writer stopped on an error, which its
                        // result gives below.
                        writer_gone = true;
                        break;
                    }
                }
            }
            bytes = consumed;
            if failed.is_some() || writer_gone {
                break;
            }
            while let Ok(t) = ack_rx.try_recv() {
                settle(t, &mut spare, &mut in_flight, &mut known, &mut done);
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
            settle(t, &mut spare, &mut in_flight, &mut known, &mut done);
        }
        let blank = reader.join().unwrap_or(0);
        let lists = match written {
            Ok(lists) => Some(lists),
            Err(e) => {
                failed.get_or_insert(e);
                None
            }
        };
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
        self.set_applied(committed);
        self.names.invalidate_all();
        if let Some(e) = failed {
            return Err(e);
        }
        let (persons, dwellings) = lists.expect("a writer that did not fail returns its lists");
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

    /// The ledger's import lock, waiting a few seconds for a process
    /// that opens the ledger (and holds it while checking the lists).
    async fn import_lock(&self) -> Result<crate::ledger::ImportLock, BulkError> {
        for _ in 0..50 {
            if let Some(lock) = self.ledger.try_lock_import().await? {
                return Ok(lock);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(BulkError::Busy)
    }
}
