//! Civil-act records: the typed form of one line of the interchange format.
//!
//! [`parse_line`] turns raw bytes into an [`Act`] or a [`Refusal`] and checks
//! everything that can be checked on the record alone (shape, IINs, dates,
//! names). Checks against what is already recorded live in `graph`.
//! [`Act::canonical_json`] gives the form stored in the ledger: defaults
//! filled in and nulls dropped, so two records mean the same thing exactly
//! when their canonical forms are equal.

pub mod compact;
mod parse;
pub mod refusal;

pub use parse::{MAX_LINE_BYTES, ParseError, parse_date, parse_line, parse_value};
pub use refusal::{Code, Refusal};

use crate::iin::Iin;
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

/// The registry's own number of an act record (1-64 of `A-Za-z0-9-_/.`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ActId(Box<str>);

impl ActId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/' | b'.'));
        ok.then(|| ActId(s.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ActId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ActId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// A person's name as registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Name {
    pub surname: String,
    pub given: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patronymic: Option<String>,
}

impl Name {
    /// Longest accepted name part, in characters.
    pub const MAX_PART_CHARS: usize = 100;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeathBasis {
    Registered,
    CourtDeclaration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidenceType {
    Permanent,
    Temporary,
}

impl ResidenceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ResidenceType::Permanent => "permanent",
            ResidenceType::Temporary => "temporary",
        }
    }
}

/// What a record says, by kind. Field names follow the interchange format.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActBody {
    Birth {
        date: NaiveDate,
        child: Iin,
        #[serde(skip_serializing_if = "Option::is_none")]
        mother: Option<Iin>,
        #[serde(skip_serializing_if = "Option::is_none")]
        father: Option<Iin>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<Name>,
    },
    Paternity {
        date: NaiveDate,
        child: Iin,
        father: Iin,
    },
    Adoption {
        date: NaiveDate,
        child: Iin,
        #[serde(skip_serializing_if = "Option::is_none")]
        adoptive_mother: Option<Iin>,
        #[serde(skip_serializing_if = "Option::is_none")]
        adoptive_father: Option<Iin>,
    },
    Marriage {
        date: NaiveDate,
        spouses: [Iin; 2],
    },
    Divorce {
        date: NaiveDate,
        marriage_act: ActId,
    },
    Death {
        date: NaiveDate,
        person: Iin,
        died: NaiveDate,
        basis: DeathBasis,
    },
    NameChange {
        date: NaiveDate,
        person: Iin,
        name: Name,
    },
    Annulment {
        date: NaiveDate,
        target_act: ActId,
    },
    Residence {
        person: Iin,
        dwelling: String,
        from: NaiveDate,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<NaiveDate>,
        #[serde(rename = "type")]
        kind: ResidenceType,
    },
}

/// The kinds of record, in the order of the spec's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Birth,
    Paternity,
    Adoption,
    Marriage,
    Divorce,
    Death,
    NameChange,
    Annulment,
    Residence,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Birth,
        Kind::Paternity,
        Kind::Adoption,
        Kind::Marriage,
        Kind::Divorce,
        Kind::Death,
        Kind::NameChange,
        Kind::Annulment,
        Kind::Residence,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Birth => "birth",
            Kind::Paternity => "paternity",
            Kind::Adoption => "adoption",
            Kind::Marriage => "marriage",
            Kind::Divorce => "divorce",
            Kind::Death => "death",
            Kind::NameChange => "name_change",
            Kind::Annulment => "annulment",
            Kind::Residence => "residence",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One civil-act record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Act {
    pub act_id: ActId,
    #[serde(flatten)]
    pub body: ActBody,
}

impl Act {
    pub fn kind(&self) -> Kind {
        match self.body {
            ActBody::Birth { .. } => Kind::Birth,
            ActBody::Paternity { .. } => Kind::Paternity,
            ActBody::Adoption { .. } => Kind::Adoption,
            ActBody::Marriage { .. } => Kind::Marriage,
            ActBody::Divorce { .. } => Kind::Divorce,
            ActBody::Death { .. } => Kind::Death,
            ActBody::NameChange { .. } => Kind::NameChange,
            ActBody::Annulment { .. } => Kind::Annulment,
            ActBody::Residence { .. } => Kind::Residence,
        }
    }

    /// The date the act takes effect (a residence's `from`).
    pub fn date(&self) -> NaiveDate {
        match &self.body {
            ActBody::Birth { date, .. }
            | ActBody::Paternity { date, .. }
            | ActBody::Adoption { date, .. }
            | ActBody::Marriage { date, .. }
            | ActBody::Divorce { date, .. }
            | ActBody::Death { date, .. }
            | ActBody::NameChange { date, .. }
            | ActBody::Annulment { date, .. } => *date,
            ActBody::Residence { from, .. } => *from,
        }
    }

    /// The name of the field [`Act::date`] reads.
    pub fn date_field(&self) -> &'static str {
        match self.body {
            ActBody::Residence { .. } => "from",
            _ => "date",
        }
    }

    /// The act this record refers to (divorce, annulment), if any.
    pub fn reference(&self) -> Option<&ActId> {
        match &self.body {
            ActBody::Divorce { marriage_act, .. } => Some(marriage_act),
            ActBody::Annulment { target_act, .. } => Some(target_act),
            _ => None,
        }
    }

    /// Every IIN the record names, in field order.
    pub fn persons(&self) -> Vec<Iin> {
        match &self.body {
            ActBody::Birth {
                child,
                mother,
                father,
                ..
            } => [Some(*child), *mother, *father]
                .into_iter()
                .flatten()
                .collect(),
            ActBody::Paternity { child, father, .. } => vec![*child, *father],
            ActBody::Adoption {
                child,
                adoptive_mother,
                adoptive_father,
                ..
            } => [Some(*child), *adoptive_mother, *adoptive_father]
                .into_iter()
                .flatten()
                .collect(),
            ActBody::Marriage { spouses, .. } => spouses.to_vec(),
            ActBody::Death { person, .. }
            | ActBody::NameChange { person, .. }
            | ActBody::Residence { person, .. } => vec![*person],
            ActBody::Divorce { .. } | ActBody::Annulment { .. } => vec![],
        }
    }

    /// The stored form: fixed field order, defaults explicit, no nulls, the
    /// spouses of a marriage (an unordered pair) in IIN order.
    pub fn canonical_json(&self) -> String {
        if let ActBody::Marriage { date, spouses } = &self.body
            && spouses[0] > spouses[1]
        {
            let sorted = Act {
                act_id: self.act_id.clone(),
                body: ActBody::Marriage {
                    date: *date,
                    spouses: [spouses[1], spouses[0]],
                },
            };
            return sorted.canonical_json();
        }
        serde_json::to_string(self).expect("acts always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_ids_follow_the_alphabet() {
        assert!(ActId::parse("B-2001-0002").is_some());
        assert!(ActId::parse("a/b_c.d-9").is_some());
        assert!(ActId::parse("").is_none());
        assert!(ActId::parse("has space").is_none());
        assert!(ActId::parse("Б-1").is_none());
        assert!(ActId::parse(&"x".repeat(64)).is_some());
        assert!(ActId::parse(&"x".repeat(65)).is_none());
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
        }
    }
}
