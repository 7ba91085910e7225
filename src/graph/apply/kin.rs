//! Close relatives in the sense of the marriage law: parent and child
//! (adoptive included), grandparent and grandchild, full or half siblings.
//!
//! Judged on every parent link ever recorded and not annulled — birth
//! record, paternity, adoption — whatever its dates: an adoption does not
//! make a birth parent a stranger to marry, and an adoptive parent stays
//! one. So the relation does not depend on a date, and an annulment, which
//! only takes links away, can never create it.

use super::super::{ActHandle, FamilyGraph, PersonId, Role};
use super::refuse;
use crate::acts::{Code, Refusal};

/// How `a` is related to `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    ParentOf,
    ChildOf,
    GrandparentOf,
    GrandchildOf,
    Siblings,
}

impl Close {
    fn pair(self) -> &'static str {
        match self {
            Close::ParentOf | Close::ChildOf => "parent and child",
            Close::GrandparentOf | Close::GrandchildOf => "grandparent and grandchild",
            Close::Siblings => "siblings",
        }
    }
}

impl FamilyGraph {
    /// Are `a` and `b` close relatives? With the records that make them so.
    fn close_kin(&self, a: PersonId, b: PersonId) -> Option<(Close, [Option<ActHandle>; 2])> {
        for (x, y, down, up) in [
            (a, b, Close::ParentOf, Close::GrandparentOf),
            (b, a, Close::ChildOf, Close::GrandchildOf),
        ] {
            for l in self.parent_links(y) {
                if l.parent == x {
                    return Some((down, [Some(l.act), None]));
                }
                if let Some(l2) = self.parent_links(l.parent).find(|l2| l2.parent == x) {
                    return Some((up, [Some(l.act), Some(l2.act)]));
                }
            }
        }
        for la in self.parent_links(a) {
            if let Some(lb) = self.parent_links(b).find(|lb| lb.parent == la.parent) {
                return Some((Close::Siblings, [Some(la.act), Some(lb.act)]));
            }
        }
        None
    }

    fn acts_text(&self, acts: [Option<ActHandle>; 2]) -> String {
        let ids: Vec<&str> = acts.into_iter().flatten().map(|a| self.act_id(a)).collect();
        ids.join(" and ")
    }

    /// Refuses a marriage of `a` and `b` when they are close relatives.
    pub(super) fn check_spouses_not_kin(&self, a: PersonId, b: PersonId) -> Result<(), Refusal> {
        if let Some((close, acts)) = self.close_kin(a, b) {
            return refuse(
                Code::CloseRelatives,
                format!(
                    "field spouses: they are {} by record {}; the law forbids their marriage",
                    close.pair(),
                    self.acts_text(acts)
                ),
            );
        }
        Ok(())
    }

    /// Refuses a new link making `parent` a parent of `child` when it would
    /// make two spouses close relatives: the child and the parent, the
    /// child and a parent or another child of the parent, or the parent and
    /// a child of the child.
    pub(super) fn check_link_weds_no_kin(
        &self,
        child: PersonId,
        parent: PersonId,
        field: &str,
    ) -> Result<(), Refusal> {
        let clash = |m: &super::super::MarriageLink, what: &str| {
            refuse(
                Code::CloseRelatives,
                format!(
                    "field {field}: {what} by marriage record {}; this record would make the spouses close relatives",
                    self.act_id(m.act)
                ),
            )
        };
        for m in self.marriages(child) {
            if m.spouse == parent {
                return clash(&m, "is married to the child");
            }
            if self.parent_links(parent).any(|l| l.parent == m.spouse) {
                return clash(&m, "has a parent who is married to the child");
            }
            if self.children_ever(parent).any(|c| c == m.spouse) {
                return clash(&m, "has another child who is married to the child");
            }
        }
        for m in self.marriages(parent) {
            if self.children_ever(child).any(|c| c == m.spouse) {
                return clash(&m, "is married to a child of the child");
            }
        }
        Ok(())
    }

    /// Refuses a second adoption giving `child` a parent in `role` from the
    /// same day as an earlier one: there would be two legal parents in one
    /// role, and nothing but arrival to choose between them.
    pub(super) fn check_role_free_on(
        &self,
        child: PersonId,
        role: Role,
        date: chrono::NaiveDate,
        field: &str,
    ) -> Result<(), Refusal> {
        if let Some(l) = self
            .parent_links(child)
            .find(|l| l.role == role && l.basis == super::super::Basis::Adoption && l.since == date)
        {
            return refuse(
                Code::ParentRoleTaken,
                format!(
                    "field {field}: adoption record {} already gives the child an adoptive {} from {date}",
                    self.act_id(l.act),
                    role.as_str()
                ),
            );
        }
        Ok(())
    }
}
