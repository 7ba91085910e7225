//! Applying one record to the graph, after refusing what cannot be true.
//!
//! Each record is checked completely before the graph is touched, so a
//! refused record changes nothing. Checks that need only the record itself
//! were done by `acts`; here are those that need what is already recorded.
//! Every rule of `civil-acts.md` ("Consistency rules") is checked from both
//! sides: of two records that clash, the one that arrives second is
//! refused, also when it records the earlier facts.
//!
//! One file per kind of fact: `parents` (birth, paternity, adoption),
//! `marriage` (marriage, divorce), `death`, `annul`; `kin` is the marriage
//! law's notion of close relatives, which both marriages and parent links
//! are checked against.

mod annul;
mod death;
mod kin;
mod marriage;
mod parents;

use super::{FamilyGraph, Journal};
use crate::acts::{Act, ActBody, ActId, Code, Refusal};
use crate::iin::Iin;
use chrono::{Months, NaiveDate};

/// The act a divorce or annulment refers to, as found in the ledger.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub act: &'a Act,
    pub annulled: bool,
    /// When `act` is a divorce: the marriage it ended (needed to annul it).
    pub marriage: Option<&'a Act>,
}

/// Marriageable age (Code on marriage and family).
const MIN_MARRIAGE_AGE_YEARS: u32 = 16;
/// The youngest a parent can be on the child's birth date.
const MIN_PARENT_AGE_YEARS: u32 = 12;
/// A child born up to this many days after the father's death is his.
const POSTHUMOUS_DAYS: u64 = 300;

fn refuse<T>(code: Code, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(code, detail))
}

/// The day `years` years after `d` (`None` past the calendar's end).
fn years_after(d: NaiveDate, years: u32) -> Option<NaiveDate> {
    d.checked_add_months(Months::new(years * 12))
}

impl FamilyGraph {
    /// Checks `act` against the graph and applies it, or refuses it leaving
    /// the graph untouched. `target` is the act a divorce or annulment names
    /// (`None` when the ledger does not know it).
    pub fn apply(
        &mut self,
        act: &Act,
        target: Option<Target<'_>>,
        j: &mut Journal,
    ) -> Result<(), Refusal> {
        let id = act.act_id.as_str();
        match &act.body {
            ActBody::Birth {
                date,
                child,
                mother,
                father,
                ..
            } => self.apply_birth(id, *date, *child, *mother, *father, j)?,
            ActBody::Paternity {
                date,
                child,
                father,
            } => self.apply_paternity(id, *date, *child, *father, j)?,
            ActBody::Adoption {
                date,
                child,
                adoptive_mother,
                adoptive_father,
            } => self.apply_adoption(id, *date, *child, *adoptive_mother, *adoptive_father, j)?,
            ActBody::Marriage { date, spouses } => self.apply_marriage(id, *date, *spouses, j)?,
            ActBody::Divorce { date, marriage_act } => {
                let t = resolve(target, marriage_act, "marriage_act")?;
                self.apply_divorce(id, *date, marriage_act, t, j)?;
            }
            ActBody::Death {
                date, person, died, ..
            } => self.apply_death(*date, *person, *died, j)?,
            ActBody::NameChange { date, person, .. } => {
                check_not_before_birth(*date, *person, "date", "the person")?;
            }
            ActBody::Residence {
                person, from, to, ..
            } => {
                check_not_before_birth(*from, *person, "from", "the person")?;
                if let Some(to) = to
                    && to < from
                {
                    return refuse(
                        Code::InvalidPeriod,
                        format!("field to: {to} is before from {from}"),
                    );
                }
                if let Some(p) = self.person(*person)
                    && let Some(d) = self.death(p)
                    && d < *from
                {
                    return refuse(
                        Code::PersonDead,
                        format!("field from: the person died on {d}, before {from}"),
                    );
                }
            }
            ActBody::Annulment { date, target_act } => {
                let t = resolve(target, target_act, "target_act")?;
                if t.act.kind() == crate::acts::Kind::Annulment {
                    return refuse(
                        Code::NotAnnullable,
                        format!("field target_act: {target_act} is itself an annulment"),
                    );
                }
                if *date < t.act.date() {
                    return refuse(
                        Code::AnnulmentBeforeAct,
                        format!(
                            "field date: {date} is before {target_act} of {}",
                            t.act.date()
                        ),
                    );
                }
                self.annul(t, j)?;
            }
        }
        // Every IIN that appears anywhere gets a node, even one only named.
        for iin in act.persons() {
            self.ensure_person(iin, j);
        }
        Ok(())
    }

    fn check_alive(&self, iin: Iin, date: NaiveDate, field: &str) -> Result<(), Refusal> {
        if let Some(d) = self.person(iin).and_then(|p| self.death(p))
            && d <= date
        {
            return refuse(
                Code::PersonDead,
                format!("field {field}: died on {d}, not after {date}"),
            );
        }
        Ok(())
    }
}

fn check_not_before_birth(
    date: NaiveDate,
    who: Iin,
    field: &str,
    name: &str,
) -> Result<(), Refusal> {
    if date < who.birth_date() {
        return refuse(
            Code::DateBeforeBirth,
            format!(
                "field {field}: {date} is before the birth of {name} on {}",
                who.birth_date()
            ),
        );
    }
    Ok(())
}

fn resolve<'a>(target: Option<Target<'a>>, id: &ActId, field: &str) -> Result<Target<'a>, Refusal> {
    let t = target.ok_or_else(|| {
        Refusal::new(
            Code::UnknownAct,
            format!("field {field}: no act {id} is recorded (send it first)"),
        )
    })?;
    if t.annulled {
        let code = if field == "target_act" {
            Code::AlreadyAnnulled
        } else {
            Code::ActAnnulled
        };
        return refuse(code, format!("field {field}: act {id} has been annulled"));
    }
    Ok(t)
}
