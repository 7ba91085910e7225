//! The audit log: a folder of append-only files on local disk where each
//! answer's audit record is made durable (written and fsynced, one
//! `fdatasync` per group: ~0.2 ms here) before the answer goes out. A
//! background task moves the log into the database in large groups, each
//! in one transaction with the position it reached (a mark per log in
//! `meta`), so every record is stored exactly once, after a crash too.
//!
//! Why not commit each group to the database before answering: with 64
//! connections each waiting for its group's commit, single checks ran at
//! half the speed of no audit (SQLite's commit path and the thread
//! hand-offs around it, ~8 ms a cycle); an fsynced local append is cheaper
//! and as durable. It also carries the answers through a database outage:
//! the log grows until the database takes it again.
//!
//! Segments are `<number>.ndjson`, one JSON line per record; each process
//! starts a new one and rotates at [`SEGMENT_MAX`], and a segment is
//! removed once the database holds all of it. The folder is locked by one
//! process: replicas need a folder each.

use crate::iin::Iin;
use crate::ledger::AuditRow;
use parking_lot::Mutex;
use std::fs::File;
use std::io::{BufRead, Read, Seek, Write};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// A segment is closed and a new one begun beyond this size.
const SEGMENT_MAX: u64 = 64 << 20;

/// Records read for one move into the database, at most.
const MOVE_ROWS: usize = 20_000;

/// Bytes of log read for one move, at most (batch records are large).
const MOVE_BYTES: u64 = 16 << 20;

/// A place in the log: a segment and a byte offset in it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

impl Pos {
    pub fn encode(self) -> String {
        format!("{}:{}", self.segment, self.offset)
    }

    pub fn decode(s: &str) -> Option<Pos> {
        let (segment, offset) = s.split_once(':')?;
        Some(Pos {
            segment: segment.parse().ok()?,
            offset: offset.parse().ok()?,
        })
    }
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

struct Active {
    file: File,
    pos: Pos,
    /// A failed write may have left part of a line: the next append
    /// begins a new segment.
    broken: bool,
}

pub struct AuditLog {
    dir: PathBuf,
    id: String,
    /// Held while this process owns the folder.
    _lock: File,
    active: Mutex<Active>,
    /// The end of what is written and fsynced.
    durable: watch::Sender<Pos>,
}

impl AuditLog {
    /// The log in `dir` (created if missing), with whatever an earlier
    /// process left there; appends go to a new segment.
    pub fn open(dir: &Path) -> std::io::Result<AuditLog> {
        std::fs::create_dir_all(dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        if let Err(e) = lock.try_lock() {
            return Err(std::io::Error::other(format!(
                "the audit log folder {} is in use by another process ({e}); give each replica a folder of its own",
                dir.display()
            )));
        }
        let id_file = dir.join("id");
        let id = match std::fs::read_to_string(&id_file) {
            Ok(id) if !id.trim().is_empty() => id.trim().to_owned(),
            _ => {
                // Durable before anything is marked under it: a name lost
                // in a crash would move the folder in a second time.
                let id = format!("{:032x}", rand::random::<u128>());
                let mut f = File::create(&id_file)?;
                f.write_all(id.as_bytes())?;
                f.sync_all()?;
                File::open(dir)?.sync_all()?;
                id
            }
        };
        let next = segments(dir)?.last().map_or(1, |s| s + 1);
        let pos = Pos {
            segment: next,
            offset: 0,
        };
        let file = create_segment(dir, next)?;
        Ok(AuditLog {
            dir: dir.to_owned(),
            id,
            _lock: lock,
            active: Mutex::new(Active {
                file,
                pos,
                broken: false,
            }),
            durable: watch::Sender::new(pos),
        })
    }

    /// This log's name among the marks in the database.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the log begins when the database holds none of it.
    pub fn start(&self) -> std::io::Result<Pos> {
        Ok(Pos {
            segment: segments(&self.dir)?
                .first()
                .copied()
                .unwrap_or(self.durable().segment),
            offset: 0,
        })
    }

    /// The end of what is durable.
    pub fn durable(&self) -> Pos {
        *self.durable.borrow()
    }

    pub fn watch_durable(&self) -> watch::Receiver<Pos> {
        self.durable.subscribe()
    }

    /// Appends `rows`, written and fsynced when it returns. Blocks: call it
    /// from a thread of its own.
    pub fn append(&self, rows: &[AuditRow]) -> std::io::Result<()> {
        let mut lines = Vec::with_capacity(rows.len() * 256);
        for r in rows {
            serde_json::to_writer(&mut lines, &Row::from(r)).map_err(std::io::Error::other)?;
            lines.push(b'\n');
        }
        let mut a = self.active.lock();
        if a.broken || a.pos.offset >= SEGMENT_MAX {
            // A number a failed rotation left behind is skipped.
            let mut segment = a.pos.segment + 1;
            while segment_path(&self.dir, segment).exists() {
                segment += 1;
            }
            a.file = create_segment(&self.dir, segment)?;
            a.pos = Pos { segment, offset: 0 };
            a.broken = false;
        }
        let written = a.file.write_all(&lines).and_then(|()| a.file.sync_data());
        if let Err(e) = written {
            // Cut off what may have been written, so no torn line stays in
            // the middle of the segment; failing that, the next append
            // starts a segment of its own.
            let offset = a.pos.offset;
            a.broken = a.file.set_len(offset).is_err();
            return Err(e);
        }
        a.pos.offset += lines.len() as u64;
        self.durable.send_replace(a.pos);
        Ok(())
    }

    /// Records from `from` on, up to what is durable (at most
    /// [`MOVE_ROWS`]), and the position after them.
    pub fn read(&self, from: Pos) -> std::io::Result<(Vec<AuditRow>, Pos)> {
        let durable = self.durable();
        let (mut rows, mut pos, mut bytes) = (Vec::new(), from, 0u64);
        while pos < durable && rows.len() < MOVE_ROWS && bytes < MOVE_BYTES {
            let closed = pos.segment < durable.segment;
            let mut file = match File::open(segment_path(&self.dir, pos.segment)) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && closed => {
                    // Removed only once the database holds it; gone before
                    // that, someone deleted it.
                    tracing::error!(
                        segment = pos.segment,
                        "an audit log segment the database does not hold is missing"
                    );
                    pos = self.next_segment(pos.segment, durable)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let end = if closed {
                file.metadata()?.len()
            } else {
                durable.offset
            };
            file.seek(std::io::SeekFrom::Start(pos.offset))?;
            let mut reader = std::io::BufReader::new(file.take(end.saturating_sub(pos.offset)));
            let mut line = Vec::new();
            while rows.len() < MOVE_ROWS && bytes < MOVE_BYTES {
                line.clear();
                let n = reader.read_until(b'\n', &mut line)? as u64;
                if n == 0 || line.last() != Some(&b'\n') {
                    // The segment's end; in a closed one, possibly a line a
                    // crash cut short (its answer never went out).
                    if n > 0 {
                        tracing::warn!(
                            segment = pos.segment,
                            "skipping an unfinished audit log line"
                        );
                        pos.offset += n;
                    }
                    break;
                }
                pos.offset += n;
                bytes += n;
                match serde_json::from_slice::<Row>(&line) {
                    Ok(r) => rows.push(r.into()),
                    Err(e) => {
                        tracing::error!(segment = pos.segment, error = %e, "skipping a malformed audit log line")
                    }
                }
            }
            if closed && pos.offset >= end {
                pos = self.next_segment(pos.segment, durable)?;
            }
        }
        Ok((rows, pos))
    }

    fn next_segment(&self, after: u64, durable: Pos) -> std::io::Result<Pos> {
        let segment = segments(&self.dir)?
            .into_iter()
            .find(|&s| s > after)
            .unwrap_or(durable.segment)
            .min(durable.segment);
        Ok(Pos { segment, offset: 0 })
    }

    /// Removes the segments before `segment` (the database holds them).
    pub fn remove_before(&self, segment: u64) -> std::io::Result<()> {
        for s in segments(&self.dir)? {
            if s < segment {
                std::fs::remove_file(segment_path(&self.dir, s))?;
            }
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:016}.ndjson"))
}

/// The segment numbers in `dir`, ascending.
fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".ndjson"))
            .and_then(|n| n.parse().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A new, empty segment, its name durable in the folder.
fn create_segment(dir: &Path, segment: u64) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, segment))?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

impl From<&AuditRow> for Row {
    fn from(r: &AuditRow) -> Row {
        Row {
            at: r.at,
            client_id: r.client_id,
            purpose: r.purpose.clone(),
            case_ref: r.case_ref.clone(),
            consent_ref: r.consent_ref.clone(),
            route: r.route.clone(),
            outcome: r.outcome.clone(),
            iins: r.iins.iter().map(|i| i.get()).collect(),
        }
    }
}

impl From<Row> for AuditRow {
    fn from(r: Row) -> AuditRow {
        AuditRow {
            at: r.at,
            client_id: r.client_id,
            purpose: r.purpose,
            case_ref: r.case_ref,
            consent_ref: r.consent_ref,
            route: r.route,
            outcome: r.outcome,
            iins: r.iins.into_iter().map(Iin::from_u64_unchecked).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(purpose: &str) -> AuditRow {
        AuditRow {
            at: 1,
            client_id: 1,
            purpose: purpose.into(),
            case_ref: None,
            consent_ref: None,
            route: "r".into(),
            outcome: "answered".into(),
            iins: vec![Iin::parse("750101400219").unwrap()],
        }
    }

    fn purposes(rows: &[AuditRow]) -> Vec<&str> {
        rows.iter().map(|r| r.purpose.as_str()).collect()
    }

    #[test]
    fn records_are_read_back_once_across_restarts_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        assert!(
            AuditLog::open(dir.path()).is_err(),
            "a second process is refused the folder"
        );
        let start = log.start().unwrap();
        log.append(&[row("a"), row("b")]).unwrap();
        let (rows, mid) = log.read(start).unwrap();
        assert_eq!(purposes(&rows), ["a", "b"]);
        log.append(&[row("c")]).unwrap();
        let id = log.id().to_owned();
        drop(log);
        // A crash in the middle of a write leaves part of a line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(segment_path(dir.path(), mid.segment))
            .unwrap();
        f.write_all(br#"{"at":1,"client_"#).unwrap();

        let log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.id(), id, "the log keeps its name");
        log.append(&[row("d")]).unwrap();
        let (rows, end) = log.read(mid).unwrap();
        assert_eq!(purposes(&rows), ["c", "d"], "the torn line is skipped");
        assert_eq!(end, log.durable());
        assert_eq!(log.read(end).unwrap().0.len(), 0);
        log.remove_before(end.segment).unwrap();
        assert_eq!(segments(dir.path()).unwrap(), [end.segment]);
        assert_eq!(Pos::decode(&end.encode()), Some(end));
    }
}
