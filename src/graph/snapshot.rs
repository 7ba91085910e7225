//! The graph as bytes: what a snapshot saves, and how it is read back.
//!
//! Layout (little-endian): a header — magic, format version, the identity
//! of the ledger the graph was built from, the ledger sequence number it
//! reflects, the act id of that record, and the counts — then one section
//! per array of `store` (persons, parent links, marriages, act ids, act
//! dates, divorces), each with its length and CRC-32, then a CRC of the
//! header. Reading streams section by section into the new graph (no copy
//! of the whole file in memory) and checks every length and checksum: a
//! truncated, corrupt or foreign image is an error, never a wrong graph.

use super::index::IinIndex;
use super::store::{Ix, Link, MarriageRec, PersonW};
use super::{ActHandle, FamilyGraph, PersonId};
use chrono::NaiveDate;
use std::io::{self, Read, Write};

const MAGIC: &[u8; 8] = b"KINGRAPH";
/// Bumped whenever the layout of `store` or of this file changes.
pub const FORMAT: u32 = 1;

/// What a snapshot says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The ledger's identity (`Ledger::id`).
    pub ledger_id: String,
    /// The last ledger record the graph reflects.
    pub seq: i64,
    /// That record's act id (to tell a ledger rewritten since).
    pub act_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a snapshot (bad magic)")]
    Magic,
    #[error("snapshot format {0}, this version reads format {FORMAT}")]
    Version(u32),
    #[error("snapshot is truncated or unreadable: {0}")]
    Io(#[from] io::Error),
    #[error("snapshot section {0} fails its checksum")]
    Checksum(&'static str),
    #[error("snapshot is inconsistent: {0}")]
    Invalid(String),
}

/// A writer that keeps a CRC-32 of what passes through.
struct Crc<W> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(b)?;
        self.crc.update(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The sections in file order, with the size of one element.
const SECTIONS: [(&str, usize); 7] = [
    ("persons", 12),
    ("parent links", 12),
    ("marriages", 20),
    ("act ids", 1),
    ("act id ends", 4),
    ("act dates", 4),
    ("divorces", 8),
];

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

impl FamilyGraph {
    /// Writes the graph (as readers see it: call with no write deferred).
    pub fn write_snapshot<W: Write>(&self, meta: &SnapshotMeta, w: W) -> io::Result<()> {
        assert!(self.pending.is_none(), "a snapshot of a write in progress");
        let mut w = io::BufWriter::with_capacity(1 << 20, w);
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(MAGIC);
        put_u32(&mut head, FORMAT);
        put_str(&mut head, &meta.ledger_id);
        head.extend_from_slice(&meta.seq.to_le_bytes());
        put_str(&mut head, &meta.act_id);
        put_u32(&mut head, self.dead_marriages as u32);
        let crc = crc32fast::hash(&head);
        w.write_all(&head)?;
        w.write_all(&crc.to_le_bytes())?;

        let nodes = self.g.raw_nodes();
        let edges = self.g.raw_edges();
        let lens = [
            nodes.len(),
            edges.len(),
            self.marriages.len(),
            self.acts.bytes.len(),
            self.acts.ends.len(),
            self.acts.dates.len(),
            self.divorces.len(),
        ];
        for (i, ((_, size), len)) in SECTIONS.iter().zip(lens).enumerate() {
            w.write_all(&((len * size) as u64).to_le_bytes())?;
            let mut c = Crc {
                inner: &mut w,
                crc: crc32fast::Hasher::new(),
            };
            let mut buf = Vec::with_capacity(1 << 16);
            let flush = |buf: &mut Vec<u8>, c: &mut Crc<_>, last: bool| -> io::Result<()> {
                if last || buf.len() >= (1 << 16) - 32 {
                    c.write_all(buf)?;
                    buf.clear();
                }
                Ok(())
            };
            match i {
                0 => {
                    for n in nodes {
                        let p = n.weight;
                        for v in [p.iin, p.death, p.marriages] {
                            put_u32(&mut buf, v);
                        }
                        flush(&mut buf, &mut c, false)?;
                    }
                }
                1 => {
                    for e in edges {
                        for v in [
                            e.source().index() as u32,
                            e.target().index() as u32,
                            e.weight.0,
                        ] {
                            put_u32(&mut buf, v);
                        }
                        flush(&mut buf, &mut c, false)?;
                    }
                }
                2 => {
                    for m in &self.marriages {
                        for v in [m.spouses[0], m.spouses[1], m.next[0], m.next[1], m.act.0] {
                            put_u32(&mut buf, v);
                        }
                        flush(&mut buf, &mut c, false)?;
                    }
                }
                3 => c.write_all(&self.acts.bytes)?,
                4 => {
                    for &e in &self.acts.ends {
                        put_u32(&mut buf, e);
                        flush(&mut buf, &mut c, false)?;
                    }
                }
                5 => {
                    for d in &self.acts.dates {
                        buf.extend_from_slice(&chrono::Datelike::num_days_from_ce(d).to_le_bytes());
                        flush(&mut buf, &mut c, false)?;
                    }
                }
                _ => {
                    // In marriage order, so the same graph gives the same bytes.
                    let mut pairs: Vec<(u32, u32)> =
                        self.divorces.iter().map(|(m, d)| (m.0, d.0)).collect();
                    pairs.sort_unstable();
                    for (m, d) in pairs {
                        put_u32(&mut buf, m);
                        put_u32(&mut buf, d);
                        flush(&mut buf, &mut c, false)?;
                    }
                }
            }
            flush(&mut buf, &mut c, true)?;
            let crc = c.crc.finalize();
            w.write_all(&crc.to_le_bytes())?;
        }
        w.flush()
    }

    /// Reads the header of a snapshot (cheap: to pick one before loading).
    pub fn snapshot_meta<R: Read>(r: R) -> Result<SnapshotMeta, SnapshotError> {
        let mut r = io::BufReader::new(r);
        Ok(read_head(&mut r)?.0)
    }

    /// Reads a whole snapshot back into a graph.
    pub fn read_snapshot<R: Read>(r: R) -> Result<(FamilyGraph, SnapshotMeta), SnapshotError> {
        let mut r = io::BufReader::with_capacity(1 << 20, r);
        let (meta, dead_marriages) = read_head(&mut r)?;
        let mut lens = [0usize; 7];
        let mut g = FamilyGraph::default();
        for (i, (name, size)) in SECTIONS.iter().enumerate() {
            let bytes = read_u64(&mut r)? as usize;
            if !bytes.is_multiple_of(*size) {
                return Err(SnapshotError::Invalid(format!("{name}: odd length")));
            }
            let n = bytes / size;
            lens[i] = n;
            let mut crc = crc32fast::Hasher::new();
            let mut left = bytes;
            let mut buf = vec![0u8; (1 << 16) / size * size];
            // Each section is read in chunks of whole elements.
            let mut each =
                |r: &mut io::BufReader<R>, f: &mut dyn FnMut(&[u8])| -> Result<(), SnapshotError> {
                    while left > 0 {
                        let k = left.min(buf.len());
                        r.read_exact(&mut buf[..k])?;
                        crc.update(&buf[..k]);
                        for el in buf[..k].chunks_exact(*size) {
                            f(el);
                        }
                        left -= k;
                    }
                    Ok(())
                };
            let u =
                |b: &[u8], i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().expect("4"));
            match i {
                0 => {
                    g.g.reserve_nodes(n);
                    g.advise_pages();
                    g.index = IinIndex::with_capacity(n);
                    each(&mut r, &mut |b| {
                        let w = PersonW {
                            iin: u(b, 0),
                            death: u(b, 1),
                            marriages: u(b, 2),
                            birth: super::store::BirthParents::EMPTY,
                        };
                        let node = g.g.add_node(w).index() as Ix;
                        g.index.insert_packed(w.iin, node);
                    })?;
                }
                1 => {
                    g.g.reserve_edges(n);
                    g.advise_pages();
                    let persons = g.g.node_count() as u32;
                    let mut bad = false;
                    each(&mut r, &mut |b| {
                        let (s, t) = (u(b, 0), u(b, 1));
                        if s >= persons || t >= persons {
                            bad = true;
                            return;
                        }
                        g.add_edge(PersonId(s), PersonId(t), Link(u(b, 2)));
                    })?;
                    if bad {
                        return Err(SnapshotError::Invalid("a link to no person".into()));
                    }
                }
                2 => {
                    g.marriages.reserve_exact(n);
                    g.advise_pages();
                    each(&mut r, &mut |b| {
                        g.marriages.push(MarriageRec {
                            spouses: [u(b, 0), u(b, 1)],
                            next: [u(b, 2), u(b, 3)],
                            act: ActHandle(u(b, 4)),
                        })
                    })?;
                }
                3 => {
                    g.acts.bytes.reserve_exact(n);
                    each(&mut r, &mut |b| g.acts.bytes.extend_from_slice(b))?;
                }
                4 => {
                    g.acts.ends.reserve_exact(n);
                    each(&mut r, &mut |b| g.acts.ends.push(u(b, 0)))?;
                }
                5 => {
                    g.acts.dates.reserve_exact(n);
                    g.advise_pages();
                    let mut bad = false;
                    each(
                        &mut r,
                        &mut |b| match NaiveDate::from_num_days_from_ce_opt(u(b, 0) as i32) {
                            Some(d) => g.acts.dates.push(d),
                            None => bad = true,
                        },
                    )?;
                    if bad {
                        return Err(SnapshotError::Invalid("a bad act date".into()));
                    }
                }
                _ => {
                    g.divorces.reserve(n);
                    each(&mut r, &mut |b| {
                        g.divorces.insert(ActHandle(u(b, 0)), ActHandle(u(b, 1)));
                    })?;
                }
            }
            let want = read_u32(&mut r)?;
            if crc.finalize() != want {
                return Err(SnapshotError::Checksum(name));
            }
        }
        let mut rest = [0u8; 1];
        if r.read(&mut rest)? != 0 {
            return Err(SnapshotError::Invalid(
                "bytes after the last section".into(),
            ));
        }
        g.dead_marriages = dead_marriages;
        validate(&g, &lens)?;
        Ok((g, meta))
    }
}

fn read_u32<R: Read>(r: &mut R) -> Result<u32, SnapshotError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64<R: Read>(r: &mut R) -> Result<u64, SnapshotError> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_head<R: Read>(r: &mut R) -> Result<(SnapshotMeta, usize), SnapshotError> {
    let mut head = Vec::new();
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(SnapshotError::Magic);
    }
    head.extend_from_slice(&magic);
    let field = |r: &mut R, n: usize, head: &mut Vec<u8>| -> Result<Vec<u8>, SnapshotError> {
        let mut b = vec![0u8; n];
        r.read_exact(&mut b)?;
        head.extend_from_slice(&b);
        Ok(b)
    };
    let version = u32::from_le_bytes(field(r, 4, &mut head)?.try_into().expect("4"));
    if version != FORMAT {
        return Err(SnapshotError::Version(version));
    }
    let string = |r: &mut R, head: &mut Vec<u8>| -> Result<String, SnapshotError> {
        let n = u32::from_le_bytes(field(r, 4, head)?.try_into().expect("4")) as usize;
        if n > 1024 {
            return Err(SnapshotError::Invalid("header string too long".into()));
        }
        String::from_utf8(field(r, n, head)?)
            .map_err(|_| SnapshotError::Invalid("header string".into()))
    };
    let ledger_id = string(r, &mut head)?;
    let seq = i64::from_le_bytes(field(r, 8, &mut head)?.try_into().expect("8"));
    let act_id = string(r, &mut head)?;
    let dead = u32::from_le_bytes(field(r, 4, &mut head)?.try_into().expect("4")) as usize;
    if read_u32(r)? != crc32fast::hash(&head) {
        return Err(SnapshotError::Checksum("header"));
    }
    Ok((
        SnapshotMeta {
            ledger_id,
            seq,
            act_id,
        },
        dead,
    ))
}

/// Cross-checks that the sections fit together (every checksum passed, so
/// this only catches an image written inconsistently).
fn validate(g: &FamilyGraph, lens: &[usize; 7]) -> Result<(), SnapshotError> {
    let bad = |what: &str| Err(SnapshotError::Invalid(what.to_owned()));
    let (persons, acts) = (g.g.node_count() as u32, g.acts.dates.len());
    if lens[4] != acts || g.acts.ends.last().copied().unwrap_or(0) as usize != g.acts.bytes.len() {
        return bad("act ids and dates disagree");
    }
    let marriages = g.marriages.len() as u32;
    for m in &g.marriages {
        let live = m.spouses[0] != super::store::NONE;
        if live
            && (m.spouses.iter().any(|&s| s >= persons)
                || m.next
                    .iter()
                    .any(|&n| n != super::store::NONE && n >= marriages))
            || m.act.0 as usize >= acts
        {
            return bad("a marriage out of range");
        }
    }
    if g.g
        .raw_edges()
        .iter()
        .any(|e| e.weight.act().0 as usize >= acts)
        || g.g
            .raw_nodes()
            .iter()
            .any(|n| n.weight.marriages != super::store::NONE && n.weight.marriages >= marriages)
        || g.divorces
            .iter()
            .any(|(m, d)| m.0 as usize >= acts || d.0 as usize >= acts)
    {
        return bad("a reference out of range");
    }
    Ok(())
}
