//! A compact binary form of what the graph needs of a record, for the
//! ledger's replay log: rebuilding the graph from it skips parsing every
//! record's JSON again.
//!
//! Names and dwellings are left out (the graph never reads them: a decoded
//! name change has an empty name, a decoded residence an empty dwelling);
//! everything else round-trips. A divorce carries the marriage it ends and
//! an annulment the act it voids (and, for a divorce, that divorce's
//! marriage) inline, so replay needs nothing but the log. Persons are packed
//! IINs (4 bytes), dates days from the common era (4 bytes).

use super::{Act, ActBody, ActId, DeathBasis, Name, ResidenceType};
use crate::iin::Iin;
use chrono::{Datelike, NaiveDate};

/// Bumped when the encoding changes; a log of another version is not read.
pub const VERSION: u8 = 1;

/// One replay step: a record with the acts it refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub act: Act,
    /// The act a divorce or annulment names.
    pub target: Option<Act>,
    /// For the annulment of a divorce: the marriage that divorce ended.
    pub target_target: Option<Act>,
}

/// Appends `e` to `out`.
pub fn encode(e: &Entry, out: &mut Vec<u8>) {
    out.extend_from_slice(&e.seq.to_le_bytes());
    let refs = match (&e.target, &e.target_target) {
        (None, _) => 0u8,
        (Some(_), None) => 1,
        (Some(_), Some(_)) => 2,
    };
    out.push(refs);
    record(&e.act, out);
    for t in e.target.iter().chain(&e.target_target) {
        record(t, out);
    }
}

fn date(d: NaiveDate, out: &mut Vec<u8>) {
    out.extend_from_slice(&d.num_days_from_ce().to_le_bytes());
}

fn person(p: Iin, out: &mut Vec<u8>) {
    out.extend_from_slice(&p.pack().to_le_bytes());
}

fn maybe(p: Option<Iin>, out: &mut Vec<u8>) {
    match p {
        Some(p) => {
            out.push(1);
            person(p, out);
        }
        None => out.push(0),
    }
}

fn record(a: &Act, out: &mut Vec<u8>) {
    out.push(a.kind() as u8);
    let id = a.act_id.as_str().as_bytes();
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    match &a.body {
        ActBody::Birth {
            date: d,
            child,
            mother,
            father,
            ..
        } => {
            date(*d, out);
            person(*child, out);
            maybe(*mother, out);
            maybe(*father, out);
        }
        ActBody::Paternity {
            date: d,
            child,
            father,
        } => {
            date(*d, out);
            person(*child, out);
            person(*father, out);
        }
        ActBody::Adoption {
            date: d,
            child,
            adoptive_mother,
            adoptive_father,
        } => {
            date(*d, out);
            person(*child, out);
            maybe(*adoptive_mother, out);
            maybe(*adoptive_father, out);
        }
        ActBody::Marriage { date: d, spouses } => {
            // In IIN order, as the canonical form stores them.
            date(*d, out);
            person(spouses[0].min(spouses[1]), out);
            person(spouses[0].max(spouses[1]), out);
        }
        ActBody::Divorce {
            date: d,
            marriage_act,
        } => {
            date(*d, out);
            act_id(marriage_act, out);
        }
        ActBody::Death {
            date: d,
            person: p,
            died,
            basis,
        } => {
            date(*d, out);
            person(*p, out);
            date(*died, out);
            out.push(*basis as u8);
        }
        ActBody::NameChange {
            date: d, person: p, ..
        } => {
            date(*d, out);
            person(*p, out);
        }
        ActBody::Annulment {
            date: d,
            target_act,
        } => {
            date(*d, out);
            act_id(target_act, out);
        }
        ActBody::Residence {
            person: p,
            from,
            to,
            kind,
            ..
        } => {
            person(*p, out);
            date(*from, out);
            match to {
                Some(t) => {
                    out.push(1);
                    date(*t, out);
                }
                None => out.push(0),
            }
            out.push(*kind as u8);
        }
    }
}

fn act_id(id: &ActId, out: &mut Vec<u8>) {
    out.push(id.as_str().len() as u8);
    out.extend_from_slice(id.as_str().as_bytes());
}

/// Why bytes are not a log entry.
#[derive(Debug, thiserror::Error)]
#[error("replay log: {0}")]
pub struct DecodeError(&'static str);

/// Reads the entries of a log row one after another.
pub struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn date(&mut self) -> Result<NaiveDate, DecodeError> {
        let n = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
        NaiveDate::from_num_days_from_ce_opt(n).ok_or(DecodeError("bad date"))
    }

    fn person(&mut self) -> Result<Iin, DecodeError> {
        // Only packed valid IINs are written, but these bytes come from the
        // database: a serial without a valid check digit is an error here
        // (found by fuzzing: fuzz/replay_log), not a panic.
        Iin::try_unpack(self.u32()?).ok_or(DecodeError("bad person"))
    }

    fn maybe(&mut self) -> Result<Option<Iin>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.person()?)),
            _ => Err(DecodeError("bad flag")),
        }
    }

    fn act_id(&mut self) -> Result<ActId, DecodeError> {
        let n = self.u8()? as usize;
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| DecodeError("bad act id"))?;
        ActId::parse(s).ok_or(DecodeError("bad act id"))
    }

    fn record(&mut self) -> Result<Act, DecodeError> {
        let kind = self.u8()?;
        let act_id = self.act_id()?;
        let body = match kind {
            0 => ActBody::Birth {
                date: self.date()?,
                child: self.person()?,
                mother: self.maybe()?,
                father: self.maybe()?,
                name: None,
            },
            1 => ActBody::Paternity {
                date: self.date()?,
                child: self.person()?,
                father: self.person()?,
            },
            2 => ActBody::Adoption {
                date: self.date()?,
                child: self.person()?,
                adoptive_mother: self.maybe()?,
                adoptive_father: self.maybe()?,
            },
            3 => ActBody::Marriage {
                date: self.date()?,
                spouses: [self.person()?, self.person()?],
            },
            4 => ActBody::Divorce {
                date: self.date()?,
                marriage_act: self.act_id()?,
            },
            5 => ActBody::Death {
                date: self.date()?,
                person: self.person()?,
                died: self.date()?,
                basis: match self.u8()? {
                    0 => DeathBasis::Registered,
                    1 => DeathBasis::CourtDeclaration,
                    _ => return Err(DecodeError("bad death basis")),
                },
            },
            6 => ActBody::NameChange {
                date: self.date()?,
                person: self.person()?,
                name: Name {
                    surname: String::new(),
                    given: String::new(),
                    patronymic: None,
                },
            },
            7 => ActBody::Annulment {
                date: self.date()?,
                target_act: self.act_id()?,
            },
            8 => ActBody::Residence {
                person: self.person()?,
                dwelling: String::new(),
                from: self.date()?,
                to: match self.u8()? {
                    0 => None,
                    1 => Some(self.date()?),
                    _ => return Err(DecodeError("bad flag")),
                },
                kind: match self.u8()? {
                    0 => ResidenceType::Permanent,
                    1 => ResidenceType::Temporary,
                    _ => return Err(DecodeError("bad residence type")),
                },
            },
            _ => return Err(DecodeError("unknown kind")),
        };
        Ok(Act { act_id, body })
    }
}

impl Iterator for Reader<'_> {
    type Item = Result<Entry, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.b.is_empty() {
            return None;
        }
        let mut entry = || -> Result<Entry, DecodeError> {
            let seq = i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
            let refs = self.u8()?;
            let act = self.record()?;
            let target = (refs >= 1).then(|| self.record()).transpose()?;
            let target_target = (refs >= 2).then(|| self.record()).transpose()?;
            Ok(Entry {
                seq,
                act,
                target,
                target_target,
            })
        };
        let r = entry();
        if r.is_err() {
            self.b = &[];
        }
        Some(r)
    }
}

/// `a` as the log gives it back: without names and dwellings, spouses in
/// IIN order.
pub fn as_logged(a: &Act) -> Act {
    let mut a = a.clone();
    match &mut a.body {
        ActBody::Marriage { spouses, .. } => spouses.sort(),
        ActBody::Birth { name, .. } => *name = None,
        ActBody::NameChange { name, .. } => {
            *name = Name {
                surname: String::new(),
                given: String::new(),
                patronymic: None,
            }
        }
        ActBody::Residence { dwelling, .. } => dwelling.clear(),
        _ => {}
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_numbers() {
        // The encoding writes `Kind as u8` and reads these numbers back.
        use super::super::Kind;
        let kinds: Vec<u8> = Kind::ALL.iter().map(|k| *k as u8).collect();
        assert_eq!(kinds, (0..9).collect::<Vec<u8>>());
        assert_eq!(DeathBasis::CourtDeclaration as u8, 1);
        assert_eq!(ResidenceType::Temporary as u8, 1);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b"\x01"[..],
            &[0u8; 9],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 42, 1, b'A'],
            // fuzz/replay_log, crash-ccf4ecaa: a person whose serial has no
            // valid check digit (unpacking it panicked).
            &[
                0x0a, 0, 0, 0, 0xbd, 0, 0xd3, 0xf6, 0x3d, 0, 0x01, 0x32, 0x0a, 0, 0xe9, 0, 0, 0,
                0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2d, 0x20,
            ],
        ] {
            assert!(Reader::new(bytes).any(|r| r.is_err()));
        }
    }
}
