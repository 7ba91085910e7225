//! Snapshots on disk: a folder of graph images named by the ledger
//! sequence number they reflect. Writing one is atomic (a temporary file,
//! fsync, rename); starting up takes the newest that is intact, of this
//! ledger, not ahead of it and agreeing with it on the record it ends at,
//! and replays only the ledger after it. Anything else is skipped with a
//! warning, never trusted.

use super::Registry;
use crate::graph::{FamilyGraph, SnapshotError, SnapshotMeta};
use crate::ledger::{Ledger, LedgerError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a ledger's snapshots live, and how many are kept.
#[derive(Clone, Debug)]
pub struct Snapshots {
    pub dir: PathBuf,
    /// The newest this many are kept; older ones are removed.
    pub keep: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotFailure {
    #[error("writing the snapshot: {0}")]
    Io(#[from] io::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

const SUFFIX: &str = ".kgs";

impl Snapshots {
    pub fn new(dir: impl Into<PathBuf>) -> Snapshots {
        Snapshots {
            dir: dir.into(),
            keep: 2,
        }
    }

    /// The default folder for the ledger at `db` (as `--db` takes it):
    /// beside a SQLite file, `./kinship-snapshots` for PostgreSQL.
    pub fn beside(db: &str) -> Snapshots {
        match crate::ledger::normalize_url(db) {
            Ok((_, crate::ledger::Backend::Sqlite)) => {
                let path = db
                    .strip_prefix("sqlite://")
                    .or_else(|| db.strip_prefix("sqlite:"))
                    .unwrap_or(db);
                let path = path.split('?').next().unwrap_or(path);
                Snapshots::new(format!("{path}.snapshots"))
            }
            _ => Snapshots::new("kinship-snapshots"),
        }
    }

    fn path_for(&self, seq: i64) -> PathBuf {
        self.dir.join(format!("snapshot-{seq:012}{SUFFIX}"))
    }

    /// Snapshot files in the folder, newest (highest seq) first.
    pub fn files(&self) -> Vec<(i64, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<(i64, PathBuf)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?;
                let seq = name.strip_prefix("snapshot-")?.strip_suffix(SUFFIX)?;
                Some((seq.parse().ok()?, p))
            })
            .collect();
        v.sort_by(|a, b| b.cmp(a));
        v
    }

    /// Writes `g` as the snapshot of `meta.seq`, atomically, and removes
    /// snapshots beyond the newest `keep`.
    pub fn write(&self, g: &FamilyGraph, meta: &SnapshotMeta) -> io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path_for(meta.seq);
        let tmp = self.dir.join(format!(".snapshot-{}.tmp", meta.seq));
        {
            let f = std::fs::File::create(&tmp)?;
            g.write_snapshot(meta, &f)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        for (_, old) in self.files().into_iter().skip(self.keep) {
            let _ = std::fs::remove_file(old);
        }
        Ok(path)
    }
}

/// Why a snapshot was not used.
#[derive(Debug, thiserror::Error)]
enum Skip {
    #[error(transparent)]
    Bad(#[from] SnapshotError),
    #[error("it is of another ledger")]
    OtherLedger,
    #[error("it reflects seq {0}, ahead of the ledger (last seq {1})")]
    Ahead(i64, i64),
    #[error("the ledger's record at seq {0} is not the one it ends at")]
    Diverged(i64),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What the ledger must say for a snapshot with `meta` to be trusted.
async fn check(ledger: &Ledger, meta: &SnapshotMeta, last: i64) -> Result<(), Skip> {
    if meta.ledger_id != ledger.id().await? {
        return Err(Skip::OtherLedger);
    }
    if meta.seq > last {
        return Err(Skip::Ahead(meta.seq, last));
    }
    if meta.seq > 0 {
        let at = ledger.find_by_seqs(&[meta.seq]).await?;
        if at.get(&meta.seq).map(|a| a.act.act_id.as_str()) != Some(meta.act_id.as_str()) {
            return Err(Skip::Diverged(meta.seq));
        }
    }
    Ok(())
}

fn read_meta(path: &Path) -> Result<SnapshotMeta, SnapshotError> {
    FamilyGraph::snapshot_meta(std::fs::File::open(path)?)
}

/// The newest usable snapshot in `snaps` for `ledger` (whose last seq is
/// `last`), loaded; `None` when there is none.
pub(super) async fn load_newest(
    ledger: &Ledger,
    snaps: &Snapshots,
    last: i64,
) -> Result<Option<(FamilyGraph, SnapshotMeta, PathBuf)>, LedgerError> {
    for (_, path) in snaps.files() {
        let tried = async {
            let meta = read_meta(&path)?;
            check(ledger, &meta, last).await?;
            let p = path.clone();
            let loaded = tokio::task::spawn_blocking(move || {
                FamilyGraph::read_snapshot(std::fs::File::open(&p)?)
            })
            .await
            .expect("snapshot loading does not panic")?;
            Ok::<_, Skip>(loaded)
        };
        match tried.await {
            Ok((g, meta)) => return Ok(Some((g, meta, path))),
            Err(Skip::Ledger(e)) => return Err(e),
            Err(why) => tracing::warn!(snapshot = %path.display(), "snapshot ignored: {why}"),
        }
    }
    Ok(None)
}

impl Registry {
    /// Writes a snapshot of the graph as committed now into `snaps`. Holds
    /// the writer lock meanwhile (so no batch is half judged); readers go
    /// on.
    pub async fn snapshot(self: &Arc<Self>, snaps: &Snapshots) -> Result<PathBuf, SnapshotFailure> {
        let last = self.writer.lock().await;
        let seq = *last;
        let act_id = if seq > 0 {
            let at = self.ledger.find_by_seqs(&[seq]).await?;
            at.get(&seq)
                .map(|a| a.act.act_id.to_string())
                .ok_or_else(|| LedgerError::Corrupt(format!("no record at seq {seq}")))?
        } else {
            String::new()
        };
        let meta = SnapshotMeta {
            ledger_id: self.ledger.id().await?,
            seq,
            act_id,
        };
        let (reg, snaps) = (self.clone(), snaps.clone());
        let path = tokio::task::spawn_blocking(move || snaps.write(&reg.graph(), &meta))
            .await
            .expect("snapshot writing does not panic")?;
        self.snapshot_seq
            .store(seq, std::sync::atomic::Ordering::Release);
        self.snapshot_at.store(
            super::unix_secs(std::time::SystemTime::now()),
            std::sync::atomic::Ordering::Release,
        );
        drop(last);
        Ok(path)
    }

    /// The sequence number of the newest snapshot written or loaded.
    pub fn snapshot_seq(&self) -> i64 {
        self.snapshot_seq.load(std::sync::atomic::Ordering::Acquire)
    }

    /// When the newest snapshot loaded or written was made, if there is one.
    pub fn snapshot_time(&self) -> Option<std::time::SystemTime> {
        let secs = self.snapshot_at.load(std::sync::atomic::Ordering::Acquire);
        (secs > 0).then(|| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64))
    }
}
