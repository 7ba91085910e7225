//! Audit records kept on local disk while the database cannot take them,
//! and moved into it once it can: checks answered from memory go on
//! through a database outage, and no answer is given without its record
//! written somewhere durable (fail closed when neither can be written).
//!
//! One JSON line per group of records, appended and fsynced before the
//! group's answers go out. Groups whose database write timed out without
//! an answer are "uncertain": the drain waits for that write's outcome
//! and stores the group only if it failed, so nothing is stored twice. (A
//! process killed with uncertain groups in its spool may store one twice
//! on its next start: a repeated record, never a lost one.)

use crate::ledger::{AuditRow, Ledger, LedgerError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::task::JoinHandle;

/// A database write whose outcome was not known in time.
pub type Uncertain = JoinHandle<Result<(), LedgerError>>;

#[derive(serde::Serialize, serde::Deserialize)]
struct Group {
    /// Number of the group in this process (keys `uncertain`).
    g: u64,
    rows: Vec<Row>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    at: i64,
    client_id: i64,
    purpose: String,
    case_ref: Option<String>,
    consent_ref: Option<String>,
    route: String,
    outcome: String,
    iins: Vec<u64>,
}

pub struct Spool {
    path: PathBuf,
    /// Serializes appends and the drain's truncation.
    file: Mutex<()>,
    /// Bytes in the file (0: the database is taking records directly).
    len: AtomicU64,
    next_group: AtomicU64,
    uncertain: Mutex<HashMap<u64, Uncertain>>,
    /// Groups in the file whose timed-out write turned out to commit.
    committed: Mutex<std::collections::HashSet<u64>>,
}

impl Spool {
    /// The spool at `path`, with whatever a previous process left in it.
    pub fn open(path: PathBuf) -> Spool {
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        if len > 0 {
            tracing::warn!(spool = %path.display(), bytes = len, "audit records left in the spool; moving them into the ledger");
        }
        Spool {
            path,
            file: Mutex::new(()),
            len: AtomicU64::new(len),
            // Numbers of this process's groups: never those of a file left
            // by an earlier one.
            next_group: AtomicU64::new(super::now_micros() as u64),
            uncertain: Mutex::default(),
            committed: Mutex::default(),
        }
    }

    /// True while records wait here: new ones come here too, in order.
    pub fn holding(&self) -> bool {
        self.len.load(Ordering::Acquire) > 0
    }

    /// Appends a group durably (written and fsynced), with the database
    /// write that may have stored it already.
    pub async fn append(
        self: &Arc<Self>,
        rows: &[AuditRow],
        uncertain: Option<Uncertain>,
    ) -> std::io::Result<()> {
        let g = self.next_group.fetch_add(1, Ordering::Relaxed);
        let group = Group {
            g,
            rows: rows
                .iter()
                .map(|r| Row {
                    at: r.at,
                    client_id: r.client_id,
                    purpose: r.purpose.clone(),
                    case_ref: r.case_ref.clone(),
                    consent_ref: r.consent_ref.clone(),
                    route: r.route.clone(),
                    outcome: r.outcome.clone(),
                    iins: r.iins.iter().map(|i| i.get()).collect(),
                })
                .collect(),
        };
        let mut line = serde_json::to_vec(&group).expect("spool rows serialize");
        line.push(b'\n');
        if let Some(u) = uncertain {
            self.uncertain.lock().insert(g, u);
        }
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let _held = me.file.lock();
            if let Some(dir) = me.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&me.path)?;
            f.write_all(&line)?;
            f.sync_data()?;
            me.len.fetch_add(line.len() as u64, Ordering::AcqRel);
            Ok(())
        })
        .await
        .expect("spool append does not panic")
    }

    /// Moves what the spool holds into the ledger.
    pub async fn drain(self: &Arc<Self>, ledger: &Ledger) -> Result<(), LedgerError> {
        let upto = self.len.load(Ordering::Acquire);
        if upto == 0 {
            return Ok(());
        }
        let me = self.clone();
        let groups = tokio::task::spawn_blocking(move || me.read(upto))
            .await
            .expect("spool read does not panic")
            .map_err(|e| LedgerError::Unavailable(format!("reading the audit spool: {e}")))?;
        let mut rows = Vec::new();
        for group in groups {
            let handle = self.uncertain.lock().remove(&group.g);
            if let Some(h) = handle
                && matches!(h.await, Ok(Ok(_)))
            {
                self.committed.lock().insert(group.g);
            }
            if self.committed.lock().contains(&group.g) {
                continue; // the timed-out write did commit
            }
            rows.extend(group.rows.into_iter().map(|r| {
                AuditRow {
                    at: r.at,
                    client_id: r.client_id,
                    purpose: r.purpose,
                    case_ref: r.case_ref,
                    consent_ref: r.consent_ref,
                    route: r.route,
                    outcome: r.outcome,
                    iins: r
                        .iins
                        .into_iter()
                        .map(crate::iin::Iin::from_u64_unchecked)
                        .collect(),
                }
            }));
        }
        // All in one transaction: stored entirely or not at all.
        if !rows.is_empty() {
            ledger.append_audit(&rows).await?;
        }
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.cut(upto))
            .await
            .expect("spool cut does not panic")
            .map_err(|e| LedgerError::Unavailable(format!("emptying the audit spool: {e}")))
    }

    fn read(&self, upto: u64) -> std::io::Result<Vec<Group>> {
        use std::io::Read;
        let f = std::fs::File::open(&self.path)?;
        let mut groups = Vec::new();
        for line in std::io::BufReader::new(f.take(upto)).lines() {
            let line = line?;
            match serde_json::from_str::<Group>(&line) {
                Ok(g) => groups.push(g),
                // A line cut short by a crash mid-append: its answers were
                // never given (the append had not returned).
                Err(e) => tracing::warn!(error = %e, "skipping an unfinished audit spool line"),
            }
        }
        Ok(groups)
    }

    /// Removes the first `upto` bytes (stored in the ledger now).
    fn cut(&self, upto: u64) -> std::io::Result<()> {
        let _held = self.file.lock();
        let len = self.len.load(Ordering::Acquire);
        if len == upto {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.path)?
                .set_len(0)?;
        } else {
            let all = std::fs::read(&self.path)?;
            let tmp = self.path.with_extension("tmp");
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&all[upto as usize..])?;
            f.sync_data()?;
            std::fs::rename(&tmp, &self.path)?;
        }
        self.len.fetch_sub(upto, Ordering::AcqRel);
        self.committed.lock().clear();
        Ok(())
    }
}
