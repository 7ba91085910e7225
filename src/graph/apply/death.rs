//! Death records (registered deaths and court declarations alike).

use super::super::{FamilyGraph, Journal, LinkKind};
use super::parents::posthumous_limit;
use super::{POSTHUMOUS_DAYS, refuse};
use crate::acts::{Code, Refusal};
use crate::iin::Iin;
use chrono::NaiveDate;
use petgraph::Direction;

impl FamilyGraph {
    pub(super) fn apply_death(
        &mut self,
        date: NaiveDate,
        person: Iin,
        died: NaiveDate,
        j: &mut Journal,
    ) -> Result<(), Refusal> {
        if died < person.birth_date() {
            return refuse(
                Code::DeathBeforeBirth,
                format!(
                    "field died: {died} is before the birth on {}",
                    person.birth_date()
                ),
            );
        }
        if died > date {
            return refuse(
                Code::RegisteredBeforeEvent,
                format!("field died: {died} is after the registration date {date}"),
            );
        }
        if let Some(p) = self.person(person) {
            if let Some(d) = self.death(p) {
                return refuse(
                    Code::DeathAlreadyRegistered,
                    format!("field person: a death on {d} is already recorded (annul it first)"),
                );
            }
            self.check_nothing_after(p, died)?;
        }
        let p = self.ensure_person(person, j);
        self.set_death(p, Some(died), j);
        Ok(())
    }

    /// What a death on `died` would contradict among `p`'s recorded acts:
    /// the same rules that refuse those acts after a recorded death.
    fn check_nothing_after(
        &self,
        p: super::super::PersonId,
        died: NaiveDate,
    ) -> Result<(), Refusal> {
        let after = |what: String| {
            refuse(
                Code::EventAfterDeath,
                format!("field died: the person {what}, after {died}"),
            )
        };
        for m in self.marriages(p) {
            if m.since >= died {
                return after(format!(
                    "married on {} (marriage record {})",
                    m.since,
                    self.act_id(m.act)
                ));
            }
            if let Some(d) = self.divorce_of(m.act)
                && self.act_date(d) >= died
            {
                return after(format!(
                    "was divorced on {} (divorce record {})",
                    self.act_date(d),
                    self.act_id(d)
                ));
            }
        }
        // As a parent: children born after the death (a father's up to
        // 300 days after it), adoptions on or after it.
        for (child, kind, act) in self.edges(p, Direction::Outgoing) {
            let born = self.birth_date(child);
            match kind {
                LinkKind::MotherBirth if born > died => {
                    return after(format!(
                        "gave birth on {born} (birth record {})",
                        self.act_id(act)
                    ));
                }
                LinkKind::FatherBirth | LinkKind::FatherPaternity
                    if posthumous_limit(died) < born =>
                {
                    return after(format!(
                        "is the father of a child born on {born} (record {}), more than {POSTHUMOUS_DAYS} days",
                        self.act_id(act)
                    ));
                }
                _ => {}
            }
        }
        // As an adoptive parent or as the adopted child.
        for (_, kind, act) in self
            .edges(p, Direction::Outgoing)
            .chain(self.edges(p, Direction::Incoming))
        {
            let date = self.act_date(act);
            if matches!(kind, LinkKind::MotherAdoption | LinkKind::FatherAdoption) && date >= died {
                return after(format!(
                    "is party to adoption record {} of {date}",
                    self.act_id(act)
                ));
            }
        }
        Ok(())
    }
}
