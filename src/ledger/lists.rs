//! The per-person and per-dwelling lists of act seqs (`person_acts`,
//! `dwelling_acts`): what to add for a batch, and, for a bulk import, the
//! pairs gathered in file order and given back grouped by key in key
//! order, in bounded memory — sorted runs spilled to temporary files and
//! merged — so the lists are written once, in key order.

use super::NewAct;
use std::collections::BinaryHeap;
use std::io::{self, BufReader, BufWriter, Read, Write};

/// The key of a dwelling id in `dwelling_acts`: 64-bit FNV-1a, written
/// out here because stored keys must never change with a library version
/// (readers compare the dwelling ids themselves, so a collision only costs
/// a lookup).
pub fn dwelling_key(dwelling: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in dwelling.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

/// (key, seq) pairs: a person's packed IIN or a dwelling key, and a record.
pub(super) type Pairs = Vec<(i64, i64)>;

/// (person, seq) and (dwelling key, seq) pairs of a batch.
pub(super) fn pairs(acts: &[NewAct]) -> (Pairs, Pairs) {
    let mut persons = Vec::new();
    let mut dwellings = Vec::new();
    for a in acts {
        persons.extend(a.persons.iter().map(|p| (p.get() as i64, a.seq)));
        if let Some(r) = &a.residence {
            dwellings.push((dwelling_key(&r.dwelling), a.seq));
        }
    }
    (persons, dwellings)
}

/// Pairs grouped by key, in key order: (key, "s1,s2,…") with ascending seqs.
pub(super) fn grouped(mut pairs: Pairs) -> Vec<(i64, String)> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut out: Vec<(i64, String)> = Vec::new();
    for (k, s) in pairs {
        match out.last_mut() {
            Some((lk, list)) if *lk == k => {
                list.push(',');
                list.push_str(&s.to_string());
            }
            _ => out.push((k, s.to_string())),
        }
    }
    out
}

/// Pairs kept in memory before a sorted run is spilled (16 bytes each, so
/// 64 MiB; a whole country spills a few dozen runs, merged in one pass).
const RUN: usize = 4 << 20;

/// (key, seq) pairs in any order, given back grouped by key in key order.
#[derive(Default)]
pub struct KeyedSeqs {
    buf: Vec<(i64, u32)>,
    runs: Vec<std::fs::File>,
}

impl KeyedSeqs {
    pub fn push(&mut self, key: i64, seq: i64) -> io::Result<()> {
        let seq = u32::try_from(seq).expect("seqs below 2^32");
        if self.buf.capacity() == 0 {
            // Once, whole: doubling would copy it again and again.
            self.buf.reserve_exact(RUN);
        }
        self.buf.push((key, seq));
        if self.buf.len() >= RUN {
            self.spill()?;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.runs.is_empty()
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buf.sort_unstable();
        let mut f = tempfile::tempfile()?;
        {
            let mut w = BufWriter::with_capacity(1 << 20, &mut f);
            for (k, s) in self.buf.drain(..) {
                w.write_all(&k.to_le_bytes())?;
                w.write_all(&s.to_le_bytes())?;
            }
            w.flush()?;
        }
        use std::io::Seek;
        f.rewind()?;
        self.runs.push(f);
        Ok(())
    }

    /// Every key with its ascending seqs, in key order.
    pub fn finish(mut self) -> io::Result<Grouped> {
        self.buf.sort_unstable();
        let mem = std::mem::take(&mut self.buf).into_iter();
        let mut sources: Vec<Source> = vec![Source::Mem(mem)];
        sources.extend(
            self.runs
                .into_iter()
                .map(|f| Source::Run(BufReader::with_capacity(1 << 20, f))),
        );
        let mut heap = BinaryHeap::new();
        for (i, s) in sources.iter_mut().enumerate() {
            if let Some(p) = s.next()? {
                heap.push(std::cmp::Reverse((p, i)));
            }
        }
        Ok(Grouped {
            sources,
            heap,
            held: None,
        })
    }
}

enum Source {
    Mem(std::vec::IntoIter<(i64, u32)>),
    Run(BufReader<std::fs::File>),
}

impl Source {
    fn next(&mut self) -> io::Result<Option<(i64, u32)>> {
        match self {
            Source::Mem(it) => Ok(it.next()),
            Source::Run(r) => {
                let mut b = [0u8; 12];
                match r.read_exact(&mut b) {
                    Ok(()) => Ok(Some((
                        i64::from_le_bytes(b[..8].try_into().expect("8")),
                        u32::from_le_bytes(b[8..].try_into().expect("4")),
                    ))),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// The merge of the sorted runs, a key at a time.
pub struct Grouped {
    sources: Vec<Source>,
    heap: BinaryHeap<std::cmp::Reverse<((i64, u32), usize)>>,
    held: Option<(i64, u32)>,
}

impl Grouped {
    fn pop(&mut self) -> io::Result<Option<(i64, u32)>> {
        let Some(std::cmp::Reverse((p, i))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(n) = self.sources[i].next()? {
            self.heap.push(std::cmp::Reverse((n, i)));
        }
        Ok(Some(p))
    }
}

impl Iterator for Grouped {
    type Item = io::Result<(i64, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        let first = match self.held.take() {
            Some(p) => p,
            None => match self.pop() {
                Ok(Some(p)) => p,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            },
        };
        let (key, seq) = first;
        let mut list = seq.to_string();
        let mut last = seq;
        loop {
            match self.pop() {
                Ok(Some((k, s))) if k == key => {
                    if s != last {
                        list.push(',');
                        list.push_str(&s.to_string());
                        last = s;
                    }
                }
                Ok(Some(p)) => {
                    self.held = Some(p);
                    break;
                }
                Ok(None) => break,
                Err(e) => return Some(Err(e)),
            }
        }
        Some(Ok((key, list)))
    }
}

/// The seqs of a stored list.
pub(super) fn parse_list(s: &str) -> Result<Vec<i64>, super::LedgerError> {
    s.split(',')
        .map(|x| {
            x.parse()
                .map_err(|_| super::corrupt(format_args!("a seq list holds {x:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_into_groups_in_key_order() {
        let mut k = KeyedSeqs::default();
        let mut want: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
        let mut x = 7u64;
        for seq in 1..20_000i64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (x >> 50) as i64 - 4000;
            k.push(key, seq).unwrap();
            want.entry(key).or_default().push(seq);
            if seq % 7000 == 0 {
                k.spill().unwrap();
            }
        }
        let got: Vec<(i64, String)> = k.finish().unwrap().map(Result::unwrap).collect();
        let want: Vec<(i64, String)> = want
            .into_iter()
            .map(|(k, v)| {
                let s: Vec<String> = v.iter().map(|s| s.to_string()).collect();
                (k, s.join(","))
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn dwelling_keys_never_change() {
        // Stored in ledgers: a change here would lose every household.
        assert_eq!(dwelling_key(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_eq!(
            dwelling_key("21:320:045:112:17"),
            dwelling_key("21:320:045:112:17")
        );
        assert_eq!(dwelling_key("a"), 0xaf63_dc4c_8601_ec8c_u64 as i64);
    }

    #[test]
    fn a_batch_groups_its_pairs() {
        assert_eq!(
            grouped(vec![(5, 3), (1, 2), (5, 1), (1, 2)]),
            vec![(1, "2".to_owned()), (5, "1,3".to_owned())]
        );
    }
}
