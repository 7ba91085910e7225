//! The write path: a batch of lines → outcomes, graph and ledger in step.

use super::{Line, Registry};
use crate::acts::{Act, ActBody, Code, Kind, MAX_LINE_BYTES, Refusal, compact, parse_line};
use crate::graph::{Batch, FamilyGraph, Journal, Target};
use crate::ledger::{LedgerError, NewAct, NewRefusal, StoredAct};
use std::collections::{BTreeMap, HashMap};

/// What happened to one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineOutcome {
    Accepted {
        seq: i64,
    },
    /// Same act_id and same meaning as a recorded act: nothing to do.
    Duplicate {
        seq: i64,
    },
    Refused {
        act_id: Option<String>,
        code: Code,
        detail: String,
    },
}

/// Totals over many batches (what `kinship import` prints).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Non-blank lines (records) read.
    pub lines: u64,
    pub blank: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub refused: BTreeMap<Code, u64>,
    pub last_seq: i64,
}

impl IngestReport {
    pub fn add(&mut self, outcomes: &[LineOutcome]) {
        for o in outcomes {
            self.lines += 1;
            match o {
                LineOutcome::Accepted { seq } => {
                    self.accepted += 1;
                    self.last_seq = self.last_seq.max(*seq);
                }
                LineOutcome::Duplicate { .. } => self.duplicates += 1,
                LineOutcome::Refused { code, .. } => *self.refused.entry(*code).or_default() += 1,
            }
        }
    }

    pub fn refused_total(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// Records judged under one hold of the graph's write lock (~1 µs each).
const JUDGED_PER_LOCK: usize = 64;

/// A parsed line, or why it could not be parsed.
pub(super) type Parsed = Result<Act, (Option<String>, Refusal)>;

pub(super) fn parse(line: &Line) -> Parsed {
    if line.len > MAX_LINE_BYTES as u64 {
        return Err((
            None,
            Refusal::new(
                Code::LineTooLong,
                format!(
                    "the line is {} bytes; a record may be at most {MAX_LINE_BYTES}",
                    line.len
                ),
            ),
        ));
    }
    parse_line(&line.bytes).map_err(|e| (e.act_id, e.refusal))
}

/// Acts a batch needs to know about, by act_id: those in the ledger plus
/// those accepted earlier in the same batch.
#[derive(Default)]
pub(super) struct Known {
    acts: HashMap<String, KnownAct, foldhash::fast::RandomState>,
}

struct KnownAct {
    /// Boxed: a bulk import prunes this map as its transactions commit, and
    /// hashbrown then regrows it; moving 40-byte entries instead of
    /// 200-byte ones made that regrowth cheap.
    stored: Box<StoredAct>,
    /// The last seq whose transaction uses this entry: until that one is
    /// committed the entry may say more than the ledger does.
    until: i64,
}

impl Known {
    pub(super) fn get(&self, id: &str) -> Option<&StoredAct> {
        self.acts.get(id).map(|k| &*k.stored)
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.acts.contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.acts.len()
    }

    /// Acts read from the ledger. One already known stays as it is: it
    /// may say more than the ledger yet does (an annulment in flight).
    pub(super) fn extend(&mut self, acts: HashMap<String, StoredAct>, until: i64) {
        for (id, stored) in acts {
            self.acts.entry(id).or_insert_with(|| KnownAct {
                stored: Box::new(stored),
                until,
            });
        }
    }

    /// Marks an act as used by record `seq`, and with a divorce the
    /// marriage it ended, which judging an annulment of it needs too.
    pub(super) fn touch(&mut self, id: &str, seq: i64) {
        let Some(k) = self.acts.get_mut(id) else {
            return;
        };
        k.until = k.until.max(seq);
        if let ActBody::Divorce { marriage_act, .. } = &k.stored.act.body {
            let m = marriage_act.to_string();
            if let Some(k) = self.acts.get_mut(&m) {
                k.until = k.until.max(seq);
            }
        }
    }

    /// Records accepted record `seq`: known to the records after it, and an
    /// annulment marks its target.
    pub(super) fn accept(&mut self, act: Act, seq: i64, target_seq: Option<i64>) {
        if let Some(r) = act.reference() {
            self.touch(r.as_str(), seq);
        }
        if let ActBody::Annulment { target_act, .. } = &act.body
            && let Some(t) = self.acts.get_mut(target_act.as_str())
        {
            t.stored.annulled = true;
        }
        let stored = StoredAct {
            seq,
            act,
            target_seq,
            annulled: false,
        };
        let id = stored.act.act_id.to_string();
        self.acts.insert(
            id,
            KnownAct {
                stored: Box::new(stored),
                until: seq,
            },
        );
    }

    /// Forgets what the ledger now holds as well: entries no record after
    /// `committed` uses.
    pub(super) fn prune(&mut self, committed: i64) {
        self.acts.retain(|_, k| k.until > committed);
    }
}

impl Registry {
    /// Ingests a batch of lines from `source` (a file name or request id),
    /// returning one outcome per line, in order. Errors only when the
    /// database fails; bad records are outcomes, not errors.
    pub async fn ingest(
        &self,
        lines: &[Line],
        source: &str,
    ) -> Result<Vec<LineOutcome>, LedgerError> {
        let mut last_seq = self.writer.lock().await;
        // A shared ledger: take its writer lock, then apply what other
        // replicas committed, so this batch is judged against all of it.
        let lock = self.ledger.lock_writer().await?;
        if lock.is_some() {
            self.catch_up_locked(&mut last_seq).await?;
        }
        let out = self.ingest_under_lock(lines, source, &mut last_seq).await;
        if let Some(l) = lock {
            l.release().await;
        }
        out
    }

    async fn ingest_under_lock(
        &self,
        lines: &[Line],
        source: &str,
        last_seq: &mut i64,
    ) -> Result<Vec<LineOutcome>, LedgerError> {
        match self.ingest_locked(lines, source, last_seq).await {
            Ok(out) => Ok(out),
            Err(e) if lines.len() > 1 => {
                tracing::warn!(error = %e, lines = lines.len(), "batch write failed; retrying record by record");
                let mut out = Vec::with_capacity(lines.len());
                for line in lines {
                    out.extend(self.ingest_one_locked(line, source, last_seq).await?);
                }
                Ok(out)
            }
            Err(e) => Err(clash_is_a_second_writer(e)),
        }
    }

    /// One record alone. A unique-key clash can only mean that another
    /// process wrote to the ledger (this one checks act ids before writing
    /// and numbers records itself): that is an error, never a refusal, so
    /// no record is turned away for a reason that is not its own.
    async fn ingest_one_locked(
        &self,
        line: &Line,
        source: &str,
        last_seq: &mut i64,
    ) -> Result<Vec<LineOutcome>, LedgerError> {
        self.ingest_locked(std::slice::from_ref(line), source, last_seq)
            .await
            .map_err(clash_is_a_second_writer)
    }

    async fn ingest_locked(
        &self,
        lines: &[Line],
        source: &str,
        last_seq: &mut i64,
    ) -> Result<Vec<LineOutcome>, LedgerError> {
        let parsed: Vec<Parsed> = lines.iter().map(parse).collect();
        let mut known = self.lookup(&parsed).await?;
        let received = crate::calendar::today();

        let mut batch = Batch::default();
        let mut journal = Journal::default();
        let mut outcomes = Vec::with_capacity(lines.len());
        let mut new_acts = Vec::new();
        let mut refusals = Vec::new();
        let mut seq = *last_seq;
        let mut todo = lines.iter().zip(parsed);
        // A few dozen records per write lock, so readers wait microseconds.
        loop {
            let mut g = self.graph.write();
            let more = g.deferred(&mut batch, |g| -> Result<bool, LedgerError> {
                for (line, p) in todo.by_ref().take(JUDGED_PER_LOCK) {
                    let mut out = Filed {
                        seq: &mut seq,
                        acts: &mut new_acts,
                        refusals: &mut refusals,
                    };
                    let row = |act: &Act| (format!("{source}:{}", line.no), act.canonical_json());
                    outcomes.push(judge_and_file(
                        g,
                        &mut journal,
                        &mut known,
                        received,
                        line,
                        p,
                        source,
                        &mut out,
                        row,
                    )?);
                }
                Ok(outcomes.len() < lines.len())
            });
            match more {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    g.discard(batch, &mut journal);
                    return Err(e);
                }
            }
        }
        // The commit runs with no graph lock: readers go on meanwhile.
        if let Err(e) = self.ledger.write_batch(&new_acts, &refusals).await {
            self.graph.write().discard(batch, &mut journal);
            return Err(e);
        }
        {
            // The seq moves under the same lock, so a reader of the graph
            // reads the seq it reflects.
            let mut g = self.graph.write();
            g.publish(batch, &mut journal);
            self.set_applied(seq);
        }
        *last_seq = seq;
        let renamed = new_acts
            .iter()
            .filter(|a| matches!(a.kind, Kind::Birth | Kind::NameChange | Kind::Annulment))
            .flat_map(|a| a.persons.iter().copied());
        self.invalidate_names(renamed.collect::<Vec<_>>()).await;
        Ok(outcomes)
    }

    /// Fetches every act the batch names (its own ids and the acts its
    /// divorces and annulments refer to, and for a divorce being annulled
    /// the marriage it ended) in two queries.
    async fn lookup(&self, parsed: &[Parsed]) -> Result<Known, LedgerError> {
        let mut ids: Vec<&str> = Vec::with_capacity(parsed.len() * 2);
        for a in parsed.iter().flatten() {
            ids.push(a.act_id.as_str());
            ids.extend(a.reference().map(|r| r.as_str()));
        }
        ids.sort_unstable();
        ids.dedup();
        let mut known = Known::default();
        known.extend(self.fetch(&ids).await?, 0);
        Ok(known)
    }

    /// The recorded acts with these ids, and for divorces among them the
    /// marriages they ended.
    pub(super) async fn fetch(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, StoredAct>, LedgerError> {
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

fn clash_is_a_second_writer(e: LedgerError) -> LedgerError {
    if e.is_unique_violation() {
        LedgerError::ConcurrentWriter(e.to_string())
    } else {
        e
    }
}

/// What an accepted record adds to its ledger row: the persons it
/// concerns through the act it names, and the acts it names (for the
/// replay log).
pub(super) struct Accepted {
    target_seq: Option<i64>,
    mentions: Vec<crate::iin::Iin>,
    target: Option<Box<Act>>,
    target_target: Option<Box<Act>>,
}

/// Numbers an accepted record `seq`, builds its ledger row and makes it
/// known to the records after it.
pub(super) fn accepted(
    known: &mut Known,
    act: Act,
    a: Accepted,
    seq: i64,
    source: String,
    body: String,
) -> NewAct {
    let entry = compact::Entry {
        seq,
        act,
        target: a.target.map(|t| *t),
        target_target: a.target_target.map(|t| *t),
    };
    let row = NewAct::new(&entry, a.target_seq, &a.mentions, source, body);
    known.accept(entry.act, seq, a.target_seq);
    row
}

/// Where judged lines go: the rows of accepted records and of refusals,
/// numbered from `seq` on.
pub(super) struct Filed<'a> {
    pub(super) seq: &'a mut i64,
    pub(super) acts: &'a mut Vec<NewAct>,
    pub(super) refusals: &'a mut Vec<NewRefusal>,
}

/// Judges one parsed line in file order and files it: an accepted record
/// gets the next seq and its row (`row` gives its source and canonical
/// body), a refused one its refusal row. Errors only when the ledger
/// fails.
#[allow(clippy::too_many_arguments)]
pub(super) fn judge_and_file(
    graph: &mut FamilyGraph,
    journal: &mut Journal,
    known: &mut Known,
    received: chrono::NaiveDate,
    line: &Line,
    parsed: Parsed,
    source: &str,
    out: &mut Filed<'_>,
    row: impl FnOnce(&Act) -> (String, String),
) -> Result<LineOutcome, LedgerError> {
    let outcome = match parsed {
        Err((act_id, r)) => Err((act_id, r)),
        Ok(act) => match judge(graph, journal, &act, known, received)? {
            Judged::Duplicate(s) => Ok(LineOutcome::Duplicate { seq: s }),
            Judged::Refused(r) => Err((Some(act.act_id.to_string()), r)),
            Judged::Accepted(a) => {
                *out.seq += 1;
                let (src, body) = row(&act);
                out.acts.push(accepted(known, act, a, *out.seq, src, body));
                Ok(LineOutcome::Accepted { seq: *out.seq })
            }
        },
    };
    Ok(outcome.unwrap_or_else(|(act_id, r)| {
        out.refusals
            .push(refusal_row(line, source, act_id.clone(), &r));
        LineOutcome::Refused {
            act_id,
            code: r.code,
            detail: r.detail,
        }
    }))
}

pub(super) enum Judged {
    Accepted(Accepted),
    Duplicate(i64),
    Refused(Refusal),
}

/// Decides one parsed record against the ledger and the graph, applying it
/// to the graph when accepted.
pub(super) fn judge(
    graph: &mut FamilyGraph,
    journal: &mut Journal,
    act: &Act,
    known: &Known,
    received: chrono::NaiveDate,
) -> Result<Judged, LedgerError> {
    if let Some(prev) = known.get(act.act_id.as_str()) {
        // Compared by meaning: the canonical forms of both.
        return Ok(if prev.act.canonical_json() == act.canonical_json() {
            Judged::Duplicate(prev.seq)
        } else {
            Judged::Refused(Refusal::new(
                Code::ActIdConflict,
                format!(
                    "field act_id: {} is already recorded with other content",
                    act.act_id
                ),
            ))
        });
    }
    if act.date() > received {
        return Ok(Judged::Refused(Refusal::new(
            Code::DateInFuture,
            format!(
                "field {}: {} is after the day the record was received ({received})",
                act.date_field(),
                act.date()
            ),
        )));
    }
    let Some(reference) = act.reference() else {
        return Ok(match graph.apply(act, None, journal) {
            Ok(()) => Judged::Accepted(Accepted {
                target_seq: None,
                mentions: Vec::new(),
                target: None,
                target_target: None,
            }),
            Err(r) => Judged::Refused(r),
        });
    };
    let Some(stored) = known.get(reference.as_str()) else {
        return Ok(Judged::Refused(
            graph
                .apply(act, None, journal)
                .expect_err("unknown reference"),
        ));
    };
    let marriage = match &stored.act.body {
        ActBody::Divorce { marriage_act, .. } => {
            known.get(marriage_act.as_str()).map(|m| m.act.clone())
        }
        _ => None,
    };
    let t = Target {
        act: &stored.act,
        annulled: stored.annulled,
        marriage: marriage.as_ref(),
    };
    Ok(match graph.apply(act, Some(t), journal) {
        Ok(()) => {
            let via = marriage.as_ref().unwrap_or(&stored.act);
            Judged::Accepted(Accepted {
                target_seq: Some(stored.seq),
                mentions: via.persons(),
                target: Some(Box::new(stored.act.clone())),
                target_target: marriage.map(Box::new),
            })
        }
        Err(r) => Judged::Refused(r),
    })
}

pub(super) fn refusal_row(
    line: &Line,
    source: &str,
    act_id: Option<String>,
    r: &Refusal,
) -> NewRefusal {
    NewRefusal {
        act_id,
        code: r.code,
        detail: r.detail.clone(),
        raw: line.stored_text(),
        raw_bytes: line.len as i64,
        source: format!("{source}:{}", line.no),
        line: Some(line.no as i64),
    }
}
