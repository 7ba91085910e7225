//! Splitting NDJSON input into lines in bounded memory, whatever the input:
//! a line longer than [`MAX_LINE_BYTES`] is kept only as its head plus its
//! length, so a multi-gigabyte line costs no more than a normal one. The
//! same splitter serves files (through [`Lines`]) and HTTP bodies (fed chunk
//! by chunk).

use crate::acts::MAX_LINE_BYTES;
use std::io::{self, BufRead};

/// One non-blank input line and its 1-based number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub no: u64,
    /// The line without its newline (at most `MAX_LINE_BYTES + 1` bytes).
    pub bytes: Vec<u8>,
    /// The full length, which exceeds `bytes.len()` for a cut line.
    pub len: u64,
}

impl Line {
    pub fn new(no: u64, bytes: Vec<u8>) -> Line {
        let len = bytes.len() as u64;
        Line { no, bytes, len }
    }

    /// The line as stored among refused records: valid UTF-8 (bad bytes
    /// replaced), no NUL (PostgreSQL TEXT refuses it), at most 64 KiB.
    pub fn stored_text(&self) -> String {
        let cut = &self.bytes[..self.bytes.len().min(MAX_LINE_BYTES)];
        String::from_utf8_lossy(cut).replace('\0', "\u{FFFD}")
    }
}

/// Turns a byte stream, fed in chunks of any size, into numbered lines.
/// Blank lines are counted and numbered but not emitted.
#[derive(Debug, Default)]
pub struct LineSplitter {
    cur: Vec<u8>,
    cur_len: u64,
    started: bool,
    no: u64,
    /// Blank lines skipped so far.
    pub blank: u64,
}

impl LineSplitter {
    /// Feeds `data`, appending every line it completes to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Line>) {
        while !data.is_empty() {
            self.started = true;
            let (chunk, rest, done) = match data.iter().position(|&c| c == b'\n') {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &data[data.len()..], false),
            };
            let room = (MAX_LINE_BYTES + 1).saturating_sub(self.cur.len());
            self.cur.extend_from_slice(&chunk[..chunk.len().min(room)]);
            self.cur_len += chunk.len() as u64;
            if done {
                self.end_line(out);
            }
            data = rest;
        }
    }

    /// Ends the input: a last line without a newline is still a line.
    pub fn finish(&mut self, out: &mut Vec<Line>) {
        if self.started {
            self.end_line(out);
        }
    }

    fn end_line(&mut self, out: &mut Vec<Line>) {
        self.no += 1;
        self.started = false;
        let mut bytes = std::mem::take(&mut self.cur);
        let mut len = std::mem::take(&mut self.cur_len);
        if bytes.last() == Some(&b'\r') && len == bytes.len() as u64 {
            bytes.pop();
            len -= 1;
        }
        if len == bytes.len() as u64 && bytes.iter().all(u8::is_ascii_whitespace) {
            self.blank += 1;
        } else {
            out.push(Line {
                no: self.no,
                bytes,
                len,
            });
        }
    }
}

/// The non-blank lines of a reader, in batches (see [`LineSplitter`]).
pub struct Lines<R> {
    r: R,
    split: LineSplitter,
    ready: std::collections::VecDeque<Line>,
    done: bool,
    /// Bytes consumed so far (for progress).
    pub consumed: u64,
}

impl<R: BufRead> Lines<R> {
    pub fn new(r: R) -> Self {
        Lines {
            r,
            split: LineSplitter::default(),
            ready: Default::default(),
            done: false,
            consumed: 0,
        }
    }

    pub fn blank(&self) -> u64 {
        self.split.blank
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = io::Result<Line>;

    fn next(&mut self) -> Option<io::Result<Line>> {
        let mut out = Vec::new();
        while self.ready.is_empty() && !self.done {
            let buf = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            if buf.is_empty() {
                self.split.finish(&mut out);
                self.done = true;
            } else {
                let n = buf.len();
                self.split.push(buf, &mut out);
                self.r.consume(n);
                self.consumed += n as u64;
            }
            self.ready.extend(out.drain(..));
        }
        self.ready.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_lines_and_skips_blanks() {
        let input = b"a\n\n  \nb\r\nc";
        let mut it = Lines::new(&input[..]);
        let got: Vec<(u64, Vec<u8>)> = it
            .by_ref()
            .map(|l| l.unwrap())
            .map(|l| (l.no, l.bytes))
            .collect();
        assert_eq!(
            got,
            vec![(1, b"a".to_vec()), (4, b"b".to_vec()), (5, b"c".to_vec())]
        );
        assert_eq!(it.blank(), 2);
        assert_eq!(it.consumed, input.len() as u64);
    }

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let input = b"{\"a\":1}\n\n{\"b\":2}\r\n{\"c\"";
        let whole: Vec<Line> = Lines::new(&input[..]).map(Result::unwrap).collect();
        for size in 1..input.len() {
            let mut s = LineSplitter::default();
            let mut out = Vec::new();
            for c in input.chunks(size) {
                s.push(c, &mut out);
            }
            s.finish(&mut out);
            assert_eq!(out, whole, "chunk size {size}");
        }
    }

    #[test]
    fn a_huge_line_is_cut_but_measured() {
        let mut input = vec![b'x'; 5 << 20];
        input.extend_from_slice(b"\n{}\n");
        let r = io::BufReader::with_capacity(8192, &input[..]);
        let lines: Vec<Line> = Lines::new(r).map(|l| l.unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len, 5 << 20);
        assert_eq!(lines[0].bytes.len(), MAX_LINE_BYTES + 1);
        assert_eq!((lines[1].no, lines[1].bytes.as_slice()), (2, &b"{}"[..]));
        assert_eq!(lines[0].stored_text().len(), MAX_LINE_BYTES);
    }

    #[test]
    fn stored_text_is_safe_for_postgres() {
        let l = Line::new(1, b"a\0b\xffc".to_vec());
        assert_eq!(l.stored_text(), "a\u{FFFD}b\u{FFFD}c");
    }
}
