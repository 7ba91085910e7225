//! Marriage and divorce records.

use super::super::{FamilyGraph, Journal, MarriageEnd, MarriageLink};
use super::{MIN_MARRIAGE_AGE_YEARS, Target, refuse, years_after};
use crate::acts::{ActBody, ActId, Code, Refusal};
use crate::iin::Iin;
use chrono::NaiveDate;

impl FamilyGraph {
    pub(super) fn apply_marriage(
        &mut self,
        id: &str,
        date: NaiveDate,
        [a, b]: [Iin; 2],
        j: &mut Journal,
    ) -> Result<(), Refusal> {
        if a == b {
            return refuse(
                Code::SamePerson,
                "field spouses: both spouses are the same person",
            );
        }
        if a.sex() == b.sex() {
            return refuse(
                Code::SameSexSpouses,
                format!(
                    "field spouses: both IINs are of {} persons; a marriage is a union of a man and a woman",
                    a.sex().as_str()
                ),
            );
        }
        for (i, s) in [a, b].into_iter().enumerate() {
            let field = format!("spouses[{i}]");
            if years_after(s.birth_date(), MIN_MARRIAGE_AGE_YEARS).is_none_or(|adult| date < adult)
            {
                return refuse(
                    Code::SpouseUnderage,
                    format!("field {field}: is younger than {MIN_MARRIAGE_AGE_YEARS} on {date}"),
                );
            }
            self.check_alive(s, date, &field)?;
            let Some(p) = self.person(s) else { continue };
            let other_death = self
                .person(if i == 0 { b } else { a })
                .and_then(|o| self.death(o));
            let end = other_death.into_iter().chain(self.death(p)).min();
            if let Some(m) = self.marriages(p).find(|m| overlaps(m, date, end)) {
                return refuse(
                    Code::AlreadyMarried,
                    format!(
                        "field {field}: is married by marriage record {} from {}, which is in force on {date} or later",
                        self.act_id(m.act),
                        m.since
                    ),
                );
            }
        }
        if let (Some(pa), Some(pb)) = (self.person(a), self.person(b)) {
            self.check_spouses_not_kin(pa, pb)?;
        }
        let h = self.push_act(id, date, j);
        // The pair is unordered: persons are added in IIN order, so the
        // graph does not depend on how the record listed them.
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let pa = self.ensure_person(lo, j);
        let pb = self.ensure_person(hi, j);
        self.add_marriage(pa, pb, h, j);
        Ok(())
    }

    pub(super) fn apply_divorce(
        &mut self,
        id: &str,
        date: NaiveDate,
        marriage_act: &ActId,
        t: Target<'_>,
        j: &mut Journal,
    ) -> Result<(), Refusal> {
        let ActBody::Marriage { .. } = t.act.body else {
            return refuse(
                Code::WrongActKind,
                format!(
                    "field marriage_act: {marriage_act} is a {} record, not a marriage",
                    t.act.kind().as_str()
                ),
            );
        };
        let (_, m) = self
            .find_marriage(t.act)
            .expect("a recorded, unannulled marriage is in the graph");
        if date < m.since {
            return refuse(
                Code::DivorceBeforeMarriage,
                format!("field date: {date} is before the marriage on {}", m.since),
            );
        }
        match m.end {
            Some(MarriageEnd::Divorce { act, date: d }) => {
                return refuse(
                    Code::MarriageEnded,
                    format!(
                        "field marriage_act: {marriage_act} was already dissolved on {d} by divorce record {}",
                        self.act_id(act)
                    ),
                );
            }
            Some(MarriageEnd::Death { date: d, .. }) if d <= date => {
                return refuse(
                    Code::MarriageEnded,
                    format!(
                        "field marriage_act: {marriage_act} had already ended on {d} by the death of a spouse"
                    ),
                );
            }
            _ => {}
        }
        let h = self.push_act(id, date, j);
        self.set_divorce(m.act, Some(h), j);
        Ok(())
    }

    /// The marriage link recorded by `marriage` (a marriage act), if present.
    pub(super) fn find_marriage(
        &self,
        marriage: &crate::acts::Act,
    ) -> Option<(super::super::PersonId, MarriageLink)> {
        let ActBody::Marriage {
            spouses: [a, _], ..
        } = marriage.body
        else {
            return None;
        };
        let p = self.person(a)?;
        let m = self
            .marriages(p)
            .find(|m| self.act_id(m.act) == marriage.act_id.as_str())?;
        Some((p, m))
    }

    /// A marriage of `who` other than `m` that shares a day with `m`, as
    /// the graph now stands (after a divorce or a death was taken back).
    pub(super) fn overlapping(
        &self,
        who: super::super::PersonId,
        m: &MarriageLink,
    ) -> Option<MarriageLink> {
        let end = m.end.map(|e| e.date());
        self.marriages(who)
            .filter(|x| x.act != m.act)
            .find(|x| overlaps(x, m.since, end))
    }
}

/// Does marriage `m` share a day with a marriage from `since` to `end`?
fn overlaps(m: &MarriageLink, since: NaiveDate, end: Option<NaiveDate>) -> bool {
    let m_end = m.end.map(|e| e.date());
    m_end.is_none_or(|e| since < e) && end.is_none_or(|e| m.since < e)
}
