//! Birth, paternity and adoption records: the legal-parent links.

use super::super::{Basis, FamilyGraph, Journal, LinkKind, Role};
use super::{MIN_PARENT_AGE_YEARS, POSTHUMOUS_DAYS, check_not_before_birth, refuse, years_after};
use crate::acts::{Code, Refusal};
use crate::iin::{Iin, Sex};
use chrono::NaiveDate;

impl FamilyGraph {
    pub(super) fn apply_birth(
        &mut self,
        id: &str,
        date: NaiveDate,
        child: Iin,
        mother: Option<Iin>,
        father: Option<Iin>,
        j: &mut Journal,
    ) -> Result<(), Refusal> {
        let named = [(Role::Mother, mother), (Role::Father, father)];
        check_named_parents(child, named, "")?;
        check_not_before_birth(date, child, "date", "the child")?;
        if let Some(c) = self.person(child) {
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
        for (role, parent) in named {
            if let Some(p) = parent {
                self.check_new_link(child, p, role, Basis::Birth, role.as_str())?;
            }
        }
        let h = self.push_act(id, date, j);
        let c = self.ensure_person(child, j);
        let mut any = false;
        for (role, parent) in named {
            if let Some(p) = parent {
                let p = self.ensure_person(p, j);
                self.add_link(p, c, LinkKind::parent(role, Basis::Birth), h, j);
                any = true;
            }
        }
        if !any {
            self.add_link(c, c, LinkKind::BirthRecord, h, j);
        }
        Ok(())
    }

    pub(super) fn apply_paternity(
        &mut self,
        id: &str,
        date: NaiveDate,
        child: Iin,
        father: Iin,
        j: &mut Journal,
    ) -> Result<(), Refusal> {
        check_named_parents(child, [(Role::Father, Some(father))], "")?;
        check_not_before_birth(date, child, "date", "the child")?;
        if let Some(c) = self.person(child)
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
        self.check_new_link(child, father, Role::Father, Basis::Paternity, "father")?;
        let h = self.push_act(id, date, j);
        let c = self.ensure_person(child, j);
        let f = self.ensure_person(father, j);
        self.add_link(f, c, LinkKind::FatherPaternity, h, j);
        Ok(())
    }

    pub(super) fn apply_adoption(
        &mut self,
        id: &str,
        date: NaiveDate,
        child: Iin,
        mother: Option<Iin>,
        father: Option<Iin>,
        j: &mut Journal,
    ) -> Result<(), Refusal> {
        let named = [(Role::Mother, mother), (Role::Father, father)];
        check_named_parents(child, named, "adoptive_")?;
        check_not_before_birth(date, child, "date", "the child")?;
        self.check_alive(child, date, "child")?;
        for (role, parent) in named {
            if let Some(p) = parent {
                let field = format!("adoptive_{}", role.as_str());
                self.check_alive(p, date, &field)?;
                if let Some(c) = self.person(child) {
                    self.check_role_free_on(c, role, date, &field)?;
                }
                self.check_new_link(child, p, role, Basis::Adoption, &field)?;
            }
        }
        let h = self.push_act(id, date, j);
        let c = self.ensure_person(child, j);
        for (role, parent) in named {
            if let Some(p) = parent {
                let p = self.ensure_person(p, j);
                self.add_link(p, c, LinkKind::parent(role, Basis::Adoption), h, j);
            }
        }
        Ok(())
    }

    /// What a new link from `parent` to `child` must not contradict: the
    /// parent's death (a mother alive at the birth, a father dead at most
    /// 300 days before it) and the marriages of both.
    fn check_new_link(
        &self,
        child: Iin,
        parent: Iin,
        role: Role,
        basis: Basis,
        field: &str,
    ) -> Result<(), Refusal> {
        let Some(p) = self.person(parent) else {
            return Ok(());
        };
        let born = child.birth_date();
        if let Some(died) = self.death(p) {
            match (role, basis) {
                (_, Basis::Adoption) => {}
                (Role::Mother, _) if died < born => {
                    return refuse(
                        Code::ParentDiedBeforeBirth,
                        format!(
                            "field {field}: died on {died}, before the child's birth on {born}"
                        ),
                    );
                }
                (Role::Father, _) if posthumous_limit(died) < born => {
                    return refuse(
                        Code::ParentDiedBeforeBirth,
                        format!(
                            "field {field}: died on {died}, more than {POSTHUMOUS_DAYS} days before the child's birth on {born}"
                        ),
                    );
                }
                _ => {}
            }
        }
        if let Some(c) = self.person(child) {
            self.check_link_weds_no_kin(c, p, field)?;
        }
        Ok(())
    }
}

/// The last day a child of a man who died on `died` can be born.
pub(super) fn posthumous_limit(died: NaiveDate) -> NaiveDate {
    died + chrono::Days::new(POSTHUMOUS_DAYS)
}

/// Checks on the parents a record names that need only the record: not
/// the child, not one person in both roles, of the role's sex, and at
/// least 12 years older than the child (so born before it).
fn check_named_parents<const N: usize>(
    child: Iin,
    parents: [(Role, Option<Iin>); N],
    prefix: &str,
) -> Result<(), Refusal> {
    if let [(_, Some(m)), (_, Some(f))] = parents[..]
        && m == f
    {
        return refuse(
            Code::SamePerson,
            format!("fields {prefix}mother, {prefix}father: the same person cannot be both"),
        );
    }
    for (role, p) in parents {
        let Some(p) = p else { continue };
        let field = format!("{prefix}{}", role.as_str());
        if p == child {
            return refuse(
                Code::SamePerson,
                format!("field {field}: is the child itself"),
            );
        }
        let expected = match role {
            Role::Mother => Sex::Female,
            Role::Father => Sex::Male,
        };
        if p.sex() != expected {
            return refuse(
                Code::ParentSexMismatch,
                format!("field {field}: the IIN is of a {} person", p.sex().as_str()),
            );
        }
        let (born, child_born) = (p.birth_date(), child.birth_date());
        if born >= child_born {
            return refuse(
                Code::ParentBornAfterChild,
                format!("field {field}: born {born}, not before the child (born {child_born})"),
            );
        }
        if years_after(born, MIN_PARENT_AGE_YEARS).is_none_or(|d| child_born < d) {
            return refuse(
                Code::ParentTooYoung,
                format!(
                    "field {field}: born {born}, is younger than {MIN_PARENT_AGE_YEARS} on the child's birth on {child_born}"
                ),
            );
        }
    }
    Ok(())
}
