//! Applying one record to the graph, after refusing what cannot be true.
//!
//! Each record is checked completely before the graph is touched, so a
//! refused record changes nothing. Checks that need only the record itself
//! were done by `acts`; here are those that need what is already recorded.

use super::{ActHandle, Basis, FamilyGraph, Journal, LinkKind, MarriageLink, PersonId, Role};
use crate::acts::{Act, ActBody, ActId, Code, Refusal};
use crate::iin::{Iin, Sex};
use chrono::{Months, NaiveDate};

/// The act a divorce or annulment refers to, as found in the ledger.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub act: &'a Act,
    pub annulled: bool,
    /// When `act` is a divorce: the marriage it ended (needed to annul it).
    pub marriage: Option<&'a Act>,
}

const MIN_MARRIAGE_AGE_MONTHS: u32 = 16 * 12;

fn refuse<T>(code: Code, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(code, detail))
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
            } => {
                self.check_parents(
                    *child,
                    [(Role::Mother, *mother), (Role::Father, *father)],
                    "",
                )?;
                check_not_before_birth(*date, *child, "date", "the child")?;
                if let Some(c) = self.person(*child) {
                    if let Some(b) = self.birth_record(c) {
                        return refuse(
                            Code::BirthAlreadyRegistered,
                            format!(
                                "field child: already has birth record {} (annul it first to re-register)",
                                self.act_id(b)
                            ),
                        );
                    }
                    if father.is_some()
                        && let Some(l) = self.parent_links(c).find(|l| l.basis == Basis::Paternity)
                    {
                        return refuse(
                            Code::FatherAlreadyRecorded,
                            format!(
                                "field father: the child's father is already set by paternity record {}",
                                self.act_id(l.act)
                            ),
                        );
                    }
                }
                let h = self.push_act(id, *date, j);
                let c = self.ensure_person(*child, j);
                let mut any = false;
                for (role, parent) in [(Role::Mother, mother), (Role::Father, father)] {
                    if let Some(p) = parent {
                        let p = self.ensure_person(*p, j);
                        self.add_link(p, c, LinkKind::parent(role, Basis::Birth), h, j);
                        any = true;
                    }
                }
                if !any {
                    self.add_link(c, c, LinkKind::BirthRecord, h, j);
                }
            }
            ActBody::Paternity {
                date,
                child,
                father,
            } => {
                self.check_parents(*child, [(Role::Father, Some(*father))], "")?;
                check_not_before_birth(*date, *child, "date", "the child")?;
                if let Some(c) = self.person(*child)
                    && let Some(l) = self.parent_links(c).find(|l| l.role == Role::Father)
                {
                    return refuse(
                        Code::FatherAlreadyRecorded,
                        format!(
                            "field child: already has a legal father by {} record {}",
                            l.basis.as_str(),
                            self.act_id(l.act)
                        ),
                    );
                }
                let h = self.push_act(id, *date, j);
                let c = self.ensure_person(*child, j);
                let f = self.ensure_person(*father, j);
                self.add_link(f, c, LinkKind::FatherPaternity, h, j);
            }
            ActBody::Adoption {
                date,
                child,
                adoptive_mother,
                adoptive_father,
            } => {
                self.check_parents(
                    *child,
                    [
                        (Role::Mother, *adoptive_mother),
                        (Role::Father, *adoptive_father),
                    ],
                    "adoptive_",
                )?;
                check_not_before_birth(*date, *child, "date", "the child")?;
                for (field, who) in [
                    ("child", Some(*child)),
                    ("adoptive_mother", *adoptive_mother),
                    ("adoptive_father", *adoptive_father),
                ] {
                    if let Some(who) = who {
                        self.check_alive(who, *date, field)?;
                    }
                }
                let h = self.push_act(id, *date, j);
                let c = self.ensure_person(*child, j);
                for (role, parent) in [
                    (Role::Mother, adoptive_mother),
                    (Role::Father, adoptive_father),
                ] {
                    if let Some(p) = parent {
                        let p = self.ensure_person(*p, j);
                        self.add_link(p, c, LinkKind::parent(role, Basis::Adoption), h, j);
                    }
                }
            }
            ActBody::Marriage {
                date,
                spouses: [a, b],
            } => {
                if a == b {
                    return refuse(
                        Code::SamePerson,
                        "field spouses: both spouses are the same person",
                    );
                }
                for (i, s) in [a, b].into_iter().enumerate() {
                    let field = format!("spouses[{i}]");
                    let adult = s
                        .birth_date()
                        .checked_add_months(Months::new(MIN_MARRIAGE_AGE_MONTHS));
                    if adult.is_none_or(|adult| *date < adult) {
                        return refuse(
                            Code::SpouseUnderage,
                            format!("field {field}: is younger than 16 on {date}"),
                        );
                    }
                    self.check_alive(*s, *date, &field)?;
                    if let Some(p) = self.person(*s) {
                        let other_death = self
                            .person(if i == 0 { *b } else { *a })
                            .and_then(|o| self.death(o));
                        let end = other_death.into_iter().chain(self.death(p)).min();
                        if let Some(m) = self.marriages(p).find(|m| overlaps(m, *date, end)) {
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
                }
                let h = self.push_act(id, *date, j);
                let pa = self.ensure_person(*a, j);
                let pb = self.ensure_person(*b, j);
                self.add_link(pa, pb, LinkKind::Marriage, h, j);
            }
            ActBody::Divorce { date, marriage_act } => {
                let t = resolve(target, marriage_act, "marriage_act")?;
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
                if *date < m.since {
                    return refuse(
                        Code::DivorceBeforeMarriage,
                        format!("field date: {date} is before the marriage on {}", m.since),
                    );
                }
                match m.end {
                    Some(super::MarriageEnd::Divorce { act, date: d }) => {
                        return refuse(
                            Code::MarriageEnded,
                            format!(
                                "field marriage_act: {marriage_act} was already dissolved on {d} by divorce record {}",
                                self.act_id(act)
                            ),
                        );
                    }
                    Some(super::MarriageEnd::Death { date: d, .. }) if d <= *date => {
                        return refuse(
                            Code::MarriageEnded,
                            format!(
                                "field marriage_act: {marriage_act} had already ended on {d} by the death of a spouse"
                            ),
                        );
                    }
                    _ => {}
                }
                let h = self.push_act(id, *date, j);
                self.set_divorce(m.act, Some(h), j);
            }
            ActBody::Death {
                date, person, died, ..
            } => {
                if *died < person.birth_date() {
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
                if let Some(p) = self.person(*person) {
                    if let Some(d) = self.death(p) {
                        return refuse(
                            Code::DeathAlreadyRegistered,
                            format!(
                                "field person: a death on {d} is already recorded (annul it first)"
                            ),
                        );
                    }
                    if let Some(m) = self.marriages(p).find(|m| m.since >= *died) {
                        return refuse(
                            Code::EventAfterDeath,
                            format!(
                                "field died: the person married on {} (marriage record {}), after {died}",
                                m.since,
                                self.act_id(m.act)
                            ),
                        );
                    }
                    if let Some(a) = self
                        .adoptions_involving(p)
                        .find(|&a| self.act_date(a) >= *died)
                    {
                        return refuse(
                            Code::EventAfterDeath,
                            format!(
                                "field died: the person is party to adoption record {} of {}, after {died}",
                                self.act_id(a),
                                self.act_date(a)
                            ),
                        );
                    }
                }
                let p = self.ensure_person(*person, j);
                self.set_death(p, Some(*died), j);
            }
            ActBody::NameChange { date, person, .. } => {
                check_not_before_birth(*date, *person, "date", "the person")?;
                self.ensure_person(*person, j);
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
                self.ensure_person(*person, j);
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

    /// Sex, same-person and birth-order checks for the parents a record names.
    fn check_parents<const N: usize>(
        &self,
        child: Iin,
        parents: [(Role, Option<Iin>); N],
        prefix: &str,
    ) -> Result<(), Refusal> {
        let named: Vec<(Role, Iin)> = parents
            .iter()
            .filter_map(|(r, p)| p.map(|p| (*r, p)))
            .collect();
        if let [(_, m), (_, f)] = named[..]
            && m == f
        {
            return refuse(
                Code::SamePerson,
                format!("fields {prefix}mother, {prefix}father: the same person cannot be both"),
            );
        }
        for (role, p) in named {
            let field = format!("{prefix}{}", role.as_str());
            if p == child {
                return refuse(
                    Code::SamePerson,
                    format!("field {field}: is the child itself"),
                );
            }
            let expected = if role == Role::Mother {
                Sex::Female
            } else {
                Sex::Male
            };
            if p.sex() != expected {
                return refuse(
                    Code::ParentSexMismatch,
                    format!("field {field}: the IIN is of a {} person", p.sex().as_str()),
                );
            }
            if p.birth_date() >= child.birth_date() {
                return refuse(
                    Code::ParentBornAfterChild,
                    format!(
                        "field {field}: born {}, not before the child (born {})",
                        p.birth_date(),
                        child.birth_date()
                    ),
                );
            }
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

    /// The marriage link recorded by `marriage` (a marriage act), if present.
    fn find_marriage(&self, marriage: &Act) -> Option<(PersonId, MarriageLink)> {
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

    fn adoptions_involving(&self, p: PersonId) -> impl Iterator<Item = ActHandle> + '_ {
        use petgraph::Direction::{Incoming, Outgoing};
        self.edges(p, Incoming)
            .chain(self.edges(p, Outgoing))
            .filter(|(_, k, _)| matches!(k, LinkKind::MotherAdoption | LinkKind::FatherAdoption))
            .map(|(_, _, a)| a)
    }

    fn annul(&mut self, t: Target<'_>, j: &mut Journal) -> Result<(), Refusal> {
        let target_id = t.act.act_id.as_str();
        let link_subject = match &t.act.body {
            ActBody::Birth { child, .. }
            | ActBody::Paternity { child, .. }
            | ActBody::Adoption { child, .. } => Some(*child),
            ActBody::Marriage {
                spouses: [a, _], ..
            } => Some(*a),
            _ => None,
        };
        if let Some(subject) = link_subject {
            let p = self
                .person(subject)
                .expect("the subject of a recorded act is in the graph");
            let handle = self.handle_of(p, target_id);
            if let Some(h) = handle {
                if t.act.kind() == crate::acts::Kind::Marriage && self.divorces.contains_key(&h) {
                    self.set_divorce(h, None, j);
                }
                self.remove_links_of_act(p, h, j);
            }
            return Ok(());
        }
        match &t.act.body {
            ActBody::Divorce { marriage_act, .. } => {
                let marriage = t.marriage.expect("ingest passes the marriage of a divorce");
                let Some((p, m)) = self.find_marriage(marriage) else {
                    // The marriage itself was annulled: the divorce has no effect left.
                    return Ok(());
                };
                let deaths = [p, m.spouse]
                    .into_iter()
                    .filter_map(|x| self.death(x))
                    .min();
                for who in [p, m.spouse] {
                    if let Some(clash) = self
                        .marriages(who)
                        .filter(|x| x.act != m.act)
                        .find(|x| overlaps(x, m.since, deaths))
                    {
                        return refuse(
                            Code::MarriageOverlap,
                            format!(
                                "field target_act: restoring marriage {marriage_act} would overlap marriage record {} from {}; annul that marriage first",
                                self.act_id(clash.act),
                                clash.since
                            ),
                        );
                    }
                }
                self.set_divorce(m.act, None, j);
            }
            ActBody::Death { person, .. } => {
                let p = self
                    .person(*person)
                    .expect("a recorded death's person is in the graph");
                self.set_death(p, None, j);
            }
            // Names and residences live in the ledger only.
            _ => {}
        }
        Ok(())
    }

    /// The handle of act `id` among the links touching `p`.
    fn handle_of(&self, p: PersonId, id: &str) -> Option<ActHandle> {
        use petgraph::Direction::{Incoming, Outgoing};
        self.edges(p, Incoming)
            .chain(self.edges(p, Outgoing))
            .map(|(_, _, a)| a)
            .find(|&a| self.act_id(a) == id)
    }
}

/// Does marriage `m` share a day with a marriage from `since` to `end`?
fn overlaps(m: &MarriageLink, since: NaiveDate, end: Option<NaiveDate>) -> bool {
    let m_end = m.end.map(|e| e.date());
    m_end.is_none_or(|e| since < e) && end.is_none_or(|e| m.since < e)
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
