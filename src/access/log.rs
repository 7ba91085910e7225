//! The audit log: a folder of append-only files on local disk where each
//! answer's audit record is made durable (written and fsynced, one
//! `fdatasync` per group) before the answer goes out. A background task
//! moves the log into the database in large groups, each in one
//! transaction with the position it reached (a mark per log in `meta`), so
//! every record is stored exactly once, after a crash too.
//!
//! Why not commit each group to the database before answering: with 64
//! connections each waiting for its group's commit, single checks ran at
//! half the speed of no audit (SQLite's commit path and the thread
//! hand-offs around it, ~8 ms a cycle); an fsynced local append is cheaper
//! and as durable. It also carries the answers through a database outage:
//! the log grows until the database takes it again.
//!
//! Segments are `<number>.audit`: frames of a record's bytes
//! (`AuditRow::encode_into`) behind their length and CRC-32. A segment is
//! filled with zeros when it is made, before any record goes in: an
//! `fdatasync` after writing into blocks the file already has flushes the
//! data alone, where one after growing the file also commits the file
//! system's journal (`benches/fsync.py`: 0.10 against 0.17-0.24 ms median here). A
//! zero length ends a segment's records, and so does a frame whose CRC
//! fails (a write a crash cut short: its answer never went out). Each
//! process starts a new segment; segments grow from 1 MiB to
//! [`SEGMENT_MAX`], the next one made ahead on a thread of its own; a
//! segment is removed once the database holds all of it. The folder is
//! locked by one process: replicas need a folder each.

use crate::ledger::AuditRow;
use parking_lot::Mutex;
use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use tokio::sync::watch;

/// The first segment a process makes; each next one is twice as large.
const SEGMENT_MIN: u64 = 1 << 20;

/// Segments grow to this size.
const SEGMENT_MAX: u64 = 64 << 20;

/// Records read for one move into the database, at most.
const MOVE_ROWS: usize = 20_000;

/// Bytes of log read for one move, at most (batch records are large).
const MOVE_BYTES: u64 = 16 << 20;

/// A frame's head: the record's length and its CRC-32.
const HEAD: u64 = 8;

const EXT: &str = "audit";

/// Segments of the earlier format (JSON lines), read until moved.
const LEGACY: &str = "ndjson";

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

/// Appends `row` to `out` as one frame of the log.
pub fn frame(row: &AuditRow, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEAD as usize]);
    row.encode_into(out);
    let body = &out[start + HEAD as usize..];
    let (len, crc) = (body.len() as u32, crc32fast::hash(body));
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Reads the frames in `bytes` back into records.
pub fn unframe(mut bytes: &[u8]) -> Result<Vec<AuditRow>, String> {
    let mut rows = Vec::new();
    while !bytes.is_empty() {
        let len = sound(bytes).ok_or("a frame is cut short or damaged")?;
        let body = &bytes[HEAD as usize..HEAD as usize + len];
        rows.push(AuditRow::decode(body).map_err(|e| e.to_string())?);
        bytes = &bytes[HEAD as usize + len..];
    }
    Ok(rows)
}

/// The record's length in the frame at the start of `bytes`, when the
/// frame is whole and its CRC holds.
fn sound(bytes: &[u8]) -> Option<usize> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    let body = bytes.get(HEAD as usize..HEAD as usize + len)?;
    (len > 0 && crc32fast::hash(body) == crc).then_some(len)
}

struct Active {
    file: File,
    pos: Pos,
    size: u64,
    /// A failed write may have left part of a frame: the next append
    /// begins a new segment.
    broken: bool,
    /// The next segment, being made.
    next: Option<JoinHandle<std::io::Result<(File, u64)>>>,
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
        let segment = segments(dir)?.last().map_or(1, |s| s + 1);
        let file = create_segment(dir, segment, SEGMENT_MIN)?;
        let pos = Pos { segment, offset: 0 };
        Ok(AuditLog {
            dir: dir.to_owned(),
            id,
            _lock: lock,
            active: Mutex::new(Active {
                file,
                pos,
                size: SEGMENT_MIN,
                broken: false,
                next: make_ahead(dir, segment + 1, SEGMENT_MIN * 2),
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

    /// Appends `frames` (made by [`frame`]), written and fsynced when it
    /// returns. Blocks: call it from a thread of its own.
    pub fn append(&self, frames: &[u8]) -> std::io::Result<()> {
        let mut a = self.active.lock();
        let len = frames.len() as u64;
        if a.broken || (a.pos.offset > 0 && a.pos.offset + len > a.size) {
            self.rotate(&mut a)?;
        }
        let written = a
            .file
            .write_all_at(frames, a.pos.offset)
            .and_then(|()| a.file.sync_data());
        if let Err(e) = written {
            // The write may have reached the disk whole even so (the fsync
            // failed): blank it, as far as possible, so no record of a
            // refused answer is read back, and go on in a new segment.
            let _ = a
                .file
                .write_all_at(&vec![0; frames.len()], a.pos.offset)
                .and_then(|()| a.file.sync_data());
            a.broken = true;
            return Err(e);
        }
        a.pos.offset += len;
        self.durable.send_replace(a.pos);
        Ok(())
    }

    /// Moves appends to the next segment (made ahead when it could be).
    fn rotate(&self, a: &mut Active) -> std::io::Result<()> {
        let size = (a.size * 2).min(SEGMENT_MAX);
        let made = a
            .next
            .take()
            .map(|h| h.join().expect("making a segment does not panic"));
        let (file, segment) = match made {
            Some(Ok(made)) => made,
            other => {
                if let Some(Err(e)) = other {
                    tracing::warn!(error = %e, "the next audit log segment could not be made ahead");
                }
                let segment = free_number(&self.dir, a.pos.segment + 1);
                (create_segment(&self.dir, segment, size)?, segment)
            }
        };
        a.file = file;
        a.pos = Pos { segment, offset: 0 };
        a.size = a.file.metadata().map_or(size, |m| m.len());
        a.broken = false;
        a.next = make_ahead(&self.dir, segment + 1, (size * 2).min(SEGMENT_MAX));
        Ok(())
    }

    /// Records from `from` on, up to what is durable (at most
    /// [`MOVE_ROWS`] and about [`MOVE_BYTES`]), and the position after them.
    pub fn read(&self, from: Pos) -> std::io::Result<(Vec<AuditRow>, Pos)> {
        let durable = self.durable();
        let (mut rows, mut pos, mut bytes) = (Vec::new(), from, 0u64);
        while pos < durable && rows.len() < MOVE_ROWS && bytes < MOVE_BYTES {
            let closed = pos.segment < durable.segment;
            let legacy = legacy_path(&self.dir, pos.segment);
            if closed && legacy.exists() {
                if read_legacy(&legacy, &mut pos, &mut rows, &mut bytes)? {
                    pos = self.next_segment(pos.segment, durable)?;
                }
                continue;
            }
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
            let mut reader =
                BufReader::with_capacity(1 << 20, file.take(end.saturating_sub(pos.offset)));
            let mut frame = Vec::new();
            let mut ended = false;
            while rows.len() < MOVE_ROWS && bytes < MOVE_BYTES {
                frame.resize(HEAD as usize, 0);
                if pos.offset + HEAD > end || reader.read_exact(&mut frame).is_err() {
                    ended = true;
                    break;
                }
                let len = u64::from(u32::from_le_bytes(frame[..4].try_into().expect("4")));
                if len == 0 || pos.offset + HEAD + len > end {
                    ended = true;
                    break;
                }
                frame.resize((HEAD + len) as usize, 0);
                reader.read_exact(&mut frame[HEAD as usize..])?;
                if sound(&frame).is_none() {
                    // A write a stop cut short, or one blanked after it
                    // failed: its answers were never given, and nothing
                    // was written after it in this segment.
                    tracing::warn!(
                        segment = pos.segment,
                        "an audit log segment ends in a frame a crash cut short"
                    );
                    ended = true;
                    break;
                }
                match AuditRow::decode(&frame[HEAD as usize..]) {
                    Ok(r) => rows.push(r),
                    Err(e) => {
                        tracing::error!(segment = pos.segment, error = %e, "skipping a malformed audit log record")
                    }
                }
                pos.offset += HEAD + len;
                bytes += HEAD + len;
            }
            if closed && ended {
                pos = self.next_segment(pos.segment, durable)?;
            } else if ended {
                break;
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
                for path in [segment_path(&self.dir, s), legacy_path(&self.dir, s)] {
                    match std::fs::remove_file(path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // Not left running into the next process that opens the folder.
        if let Some(h) = self.active.get_mut().next.take() {
            let _ = h.join();
        }
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:016}.{EXT}"))
}

/// The first segment number from `from` on that no file has (a number a
/// failed attempt left behind is skipped).
fn free_number(dir: &Path, from: u64) -> u64 {
    (from..)
        .find(|&n| !segment_path(dir, n).exists() && !legacy_path(dir, n).exists())
        .expect("a free number")
}

/// A segment of the earlier format: a JSON line per record.
fn legacy_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:016}.{LEGACY}"))
}

/// The segment numbers in `dir` (of either format), ascending.
fn segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let name = e?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| {
                n.strip_suffix(EXT)
                    .or_else(|| n.strip_suffix(LEGACY))?
                    .strip_suffix('.')
            })
            .and_then(|n| n.parse().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// A record as a segment of the earlier format holds it.
#[derive(serde::Deserialize)]
struct LegacyRow {
    at: i64,
    client_id: i64,
    purpose: String,
    case_ref: Option<String>,
    consent_ref: Option<String>,
    route: String,
    outcome: String,
    iins: Vec<u64>,
}

/// Reads records of a segment of the earlier format from `pos` on (an
/// earlier version's records not moved yet); true at its end.
fn read_legacy(
    path: &Path,
    pos: &mut Pos,
    rows: &mut Vec<AuditRow>,
    bytes: &mut u64,
) -> std::io::Result<bool> {
    use std::io::BufRead;
    let mut file = File::open(path)?;
    file.seek(std::io::SeekFrom::Start(pos.offset))?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    while rows.len() < MOVE_ROWS && *bytes < MOVE_BYTES {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)? as u64;
        pos.offset += n;
        *bytes += n;
        if n == 0 || line.last() != Some(&b'\n') {
            // The end, or a line a crash cut short (never answered).
            return Ok(true);
        }
        match serde_json::from_slice::<LegacyRow>(&line) {
            Ok(r) => rows.push(AuditRow {
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
            }),
            Err(e) => {
                tracing::error!(segment = pos.segment, error = %e, "skipping a malformed audit log line")
            }
        }
    }
    Ok(false)
}

/// Makes segment `segment` (or the first free number after it) on a
/// thread of its own.
/// (None when no thread can be started: the segment is made when needed.)
fn make_ahead(
    dir: &Path,
    segment: u64,
    size: u64,
) -> Option<JoinHandle<std::io::Result<(File, u64)>>> {
    let dir = dir.to_owned();
    std::thread::Builder::new()
        .name("audit-log-ahead".into())
        .spawn(move || {
            let segment = free_number(&dir, segment);
            Ok((create_segment(&dir, segment, size)?, segment))
        })
        .ok()
}

/// A new segment of `size` zeros, on disk with its name in the folder.
fn create_segment(dir: &Path, segment: u64, size: u64) -> std::io::Result<File> {
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .open(segment_path(dir, segment))?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    File::open(dir)?.sync_all()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iin::Iin;

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

    fn frames(purposes: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in purposes {
            frame(&row(p), &mut out);
        }
        out
    }

    fn purposes(rows: &[AuditRow]) -> Vec<&str> {
        rows.iter().map(|r| r.purpose.as_str()).collect()
    }

    #[test]
    fn records_are_read_back_once_across_restarts_rotations_and_torn_frames() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        assert!(
            AuditLog::open(dir.path()).is_err(),
            "a second process is refused the folder"
        );
        let start = log.start().unwrap();
        log.append(&frames(&["a", "b"])).unwrap();
        let (rows, mid) = log.read(start).unwrap();
        assert_eq!(purposes(&rows), ["a", "b"]);
        log.append(&frames(&["c"])).unwrap();
        let id = log.id().to_owned();
        drop(log);
        // A crash in the middle of a write leaves part of a frame.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(segment_path(dir.path(), mid.segment))
            .unwrap();
        let torn = frames(&["lost"]);
        let end_of_c = mid.offset + frames(&["c"]).len() as u64;
        f.write_all_at(&torn[..torn.len() - 3], end_of_c).unwrap();

        let log = AuditLog::open(dir.path()).unwrap();
        assert_eq!(log.id(), id, "the log keeps its name");
        log.append(&frames(&["d"])).unwrap();
        // More than a segment holds: the log moves on to the next.
        let big = "x".repeat(60_000);
        let many: Vec<&str> = std::iter::repeat_n(big.as_str(), 40).collect();
        log.append(&frames(&many)).unwrap();
        log.append(&frames(&["e"])).unwrap();
        let mut read = Vec::new();
        let mut at = mid;
        while at < log.durable() {
            let (rows, to) = log.read(at).unwrap();
            read.extend(rows.into_iter().map(|r| r.purpose[..1].to_owned()));
            at = to;
        }
        let expect: Vec<String> = ["c", "d"]
            .iter()
            .chain(std::iter::repeat_n(&"x", 40))
            .chain(["e"].iter())
            .map(|p| p.to_string())
            .collect();
        assert_eq!(read, expect, "the torn frame is skipped, nothing else");
        assert_eq!(at, log.durable());
        assert_eq!(log.read(at).unwrap().0.len(), 0);
        log.remove_before(at.segment).unwrap();
        assert_eq!(segments(dir.path()).unwrap()[0], at.segment);
        assert_eq!(Pos::decode(&at.encode()), Some(at));
        assert_eq!(
            purposes(&unframe(&frames(&["f", "g"])).unwrap()),
            ["f", "g"]
        );
    }

    #[test]
    fn segments_of_the_earlier_format_are_read_from_the_mark_then_removed() {
        let dir = tempfile::tempdir().unwrap();
        let line = |p: &str| {
            format!(
                r#"{{"at":1,"client_id":1,"purpose":"{p}","case_ref":null,"consent_ref":null,"route":"r","outcome":"answered","iins":[750101400219]}}"#
            ) + "\n"
        };
        let (a, b) = (line("a"), line("b"));
        std::fs::write(
            dir.path().join("0000000000000007.ndjson"),
            format!("{a}{b}"),
        )
        .unwrap();
        let log = AuditLog::open(dir.path()).unwrap();
        assert!(log.durable().segment > 7, "new segments come after it");
        log.append(&frames(&["c"])).unwrap();
        // The database held the earlier log up to the end of "a".
        let mark = Pos {
            segment: 7,
            offset: a.len() as u64,
        };
        let (rows, to) = log.read(mark).unwrap();
        assert_eq!(purposes(&rows), ["b", "c"]);
        assert_eq!(to, log.durable());
        log.remove_before(to.segment).unwrap();
        assert!(!dir.path().join("0000000000000007.ndjson").exists());
    }
}
