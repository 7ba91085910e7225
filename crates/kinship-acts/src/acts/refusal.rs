//! Why a record was refused: one stable code per reason, plus a sentence.
//!
//! This enum is the one place the refusal codes are defined; `docs/ERRORS.md`
//! lists them for callers and a test keeps the two in step.

use std::fmt;

macro_rules! codes {
    ($($variant:ident = $code:literal: $doc:literal,)*) => {
        /// A stable, machine-readable refusal code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $(#[doc = $doc] $variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// What the code means, for the documentation.
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$variant => $doc,)* }
            }

            pub fn from_code(s: &str) -> Option<Code> {
                match s { $($code => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    // The line itself
    InvalidUtf8 = "invalid_utf8": "the line is not valid UTF-8",
    LineTooLong = "line_too_long": "the line is longer than the largest record the service accepts",
    MalformedJson = "malformed_json": "the line is not one complete JSON value (syntax error, truncated line, nesting too deep)",
    NotAnObject = "not_an_object": "the JSON value is not an object",
    UnknownKind = "unknown_kind": "`kind` is missing or is not one of the nine record kinds",
    UnknownField = "unknown_field": "a field that this kind of record does not have",
    MissingField = "missing_field": "a required field is absent or null",
    InvalidField = "invalid_field": "a field has the wrong JSON type or a value outside its allowed set",
    InvalidIin = "invalid_iin": "an IIN fails the length, digit, date, century or check-digit rule",
    InvalidDate = "invalid_date": "a date is not a real YYYY-MM-DD date",
    InvalidActId = "invalid_act_id": "an act_id is not 1-64 characters of A-Z a-z 0-9 - _ / .",
    InvalidName = "invalid_name": "a name part is empty, too long, or the name has fields other than surname, given, patronymic",
    InvalidDwelling = "invalid_dwelling": "the dwelling id is empty or too long",
    // Against what is already recorded
    ActIdConflict = "act_id_conflict": "an act with this act_id is already recorded with other content",
    UnknownAct = "unknown_act": "the record refers to an act that is not recorded (it may be sent again once that act is)",
    WrongActKind = "wrong_act_kind": "the referenced act is of the wrong kind (a divorce must name a marriage)",
    ActAnnulled = "act_annulled": "the referenced act has been annulled",
    AlreadyAnnulled = "already_annulled": "the target act has already been annulled",
    NotAnnullable = "not_annullable": "an annulment cannot itself be annulled",
    AnnulmentBeforeAct = "annulment_before_act": "the annulment is dated before the act it voids",
    SamePerson = "same_person": "one person fills two roles that must be different people",
    ParentBornAfterChild = "parent_born_after_child": "a parent is not born before the child (birth dates come from the IINs)",
    ParentSexMismatch = "parent_sex_mismatch": "a mother whose IIN says male, or a father whose IIN says female",
    ParentTooYoung = "parent_too_young": "a parent is younger than 12 on the child's birth date (birth dates come from the IINs)",
    ParentDiedBeforeBirth = "parent_died_before_birth": "the mother died before the child's birth date, or the father more than 300 days before it",
    ParentRoleTaken = "parent_role_taken": "another adoption record already gives the child a parent in the same role from the same date",
    BirthAlreadyRegistered = "birth_already_registered": "the child already has a birth record that has not been annulled",
    FatherAlreadyRecorded = "father_already_recorded": "the child already has a legal father (paternity needs a child without one)",
    NoAdoptiveParent = "no_adoptive_parent": "an adoption names neither adoptive_mother nor adoptive_father",
    DateBeforeBirth = "date_before_birth": "the record is dated before the birth of the person it concerns",
    PersonDead = "person_dead": "a party had already died on the record's date",
    EventAfterDeath = "event_after_death": "the stated death is before a marriage, divorce, adoption or birth already recorded for the person (a child of a man may be born up to 300 days after his death)",
    SpouseUnderage = "spouse_underage": "a spouse is younger than 16 on the marriage date",
    SameSexSpouses = "same_sex_spouses": "the spouses are of the same sex (by their IINs); a marriage is a union of a man and a woman",
    CloseRelatives = "close_relatives": "the spouses are close relatives (parent and child, adoptive included; grandparent and grandchild; full or half siblings), or a parent record would make two spouses such relatives",
    AlreadyMarried = "already_married": "a spouse is married to someone else during the new marriage",
    MarriageEnded = "marriage_ended": "the marriage had already ended (divorce or death) by the divorce date",
    DivorceBeforeMarriage = "divorce_before_marriage": "the divorce is dated before the marriage",
    MarriageOverlap = "marriage_overlap": "annulling this divorce or death would leave a spouse married to two people at once",
    DeathAlreadyRegistered = "death_already_registered": "the person already has a death record that has not been annulled",
    DeathBeforeBirth = "death_before_birth": "the date of death is before the person's birth",
    RegisteredBeforeEvent = "registered_before_event": "the death is registered before the date of death",
    InvalidPeriod = "invalid_period": "a registration ends before it starts",
    DateInFuture = "date_in_future": "the record is dated after the day it is received (in Kazakhstan, UTC+5)",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused record's reason: the code and a sentence naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub code: Code,
    pub detail: String,
}

impl Refusal {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Refusal {
            code,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
            assert_eq!(Code::from_code(c.as_str()), Some(c));
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            );
        }
    }

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../../../docs/ERRORS.md");
        for &c in Code::ALL {
            assert!(
                doc.contains(&format!("`{}`", c.as_str())),
                "docs/ERRORS.md lacks `{c}`"
            );
        }
    }
}
