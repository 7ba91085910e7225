//! Annulments: the target act is treated as if it had never been
//! registered. Taking away a link never makes a forbidden state (close
//! relatives are judged on the links that remain); taking back a divorce or
//! a death lengthens marriages, so those are tried on the graph and
//! refused, naming the marriage in the way, when a spouse would be married
//! to two people at once.

use super::super::{FamilyGraph, Journal};
use super::{Target, refuse};
use crate::acts::{ActBody, Code, Refusal};

impl FamilyGraph {
    pub(super) fn annul(&mut self, t: Target<'_>, j: &mut Journal) -> Result<(), Refusal> {
        let target_id = t.act.act_id.as_str();
        match &t.act.body {
            ActBody::Birth { child: subject, .. }
            | ActBody::Paternity { child: subject, .. }
            | ActBody::Adoption { child: subject, .. } => {
                let p = self
                    .person(*subject)
                    .expect("the subject of a recorded act is in the graph");
                if let Some(h) = self.handle_of(p, target_id) {
                    self.remove_links_of_act(p, h, j);
                }
            }
            ActBody::Marriage {
                spouses: [subject, _],
                ..
            } => {
                let p = self
                    .person(*subject)
                    .expect("the spouses of a recorded marriage are in the graph");
                let found = self
                    .marriage_slots(p)
                    .find(|&(_, _, h)| self.act_id(h) == target_id);
                if let Some((slot, _, h)) = found {
                    if self.divorce_raw(h).is_some() {
                        self.set_divorce(h, None, j);
                    }
                    self.remove_marriage(slot, j);
                }
            }
            ActBody::Divorce { marriage_act, .. } => {
                let marriage = t.marriage.expect("ingest passes the marriage of a divorce");
                let Some((p, m)) = self.find_marriage(marriage) else {
                    // The marriage itself was annulled: the divorce has no effect left.
                    return Ok(());
                };
                let mark = j.mark();
                self.set_divorce(m.act, None, j);
                let what = format!("restoring marriage {marriage_act}");
                self.refuse_two_marriages(p, m.act, &what, j, mark)?;
            }
            ActBody::Death { person, .. } => {
                let p = self
                    .person(*person)
                    .expect("a recorded death's person is in the graph");
                let mark = j.mark();
                self.set_death(p, None, j);
                let marriages: Vec<_> = self.marriages(p).map(|m| m.act).collect();
                for m in marriages {
                    let what = format!("lengthening marriage {} beyond the death", self.act_id(m));
                    self.refuse_two_marriages(p, m, &what, j, mark)?;
                }
            }
            // Names and residences live in the ledger only.
            ActBody::NameChange { .. } | ActBody::Residence { .. } | ActBody::Annulment { .. } => {}
        }
        Ok(())
    }

    /// After a change since `mark` that lengthened marriage `m` of `a`: if
    /// either spouse is now married to two people at once, undoes the
    /// change and refuses, naming the other marriage.
    fn refuse_two_marriages(
        &mut self,
        a: super::super::PersonId,
        m: super::super::ActHandle,
        what: &str,
        j: &mut Journal,
        mark: usize,
    ) -> Result<(), Refusal> {
        let link = self
            .marriages(a)
            .find(|x| x.act == m)
            .expect("the marriage is in the graph");
        for who in [a, link.spouse] {
            if let Some(clash) = self.overlapping(who, &link) {
                let detail = format!(
                    "field target_act: {what} would overlap marriage record {} from {}; annul that marriage first",
                    self.act_id(clash.act),
                    clash.since
                );
                self.rollback_to(j, mark);
                return refuse(Code::MarriageOverlap, detail);
            }
        }
        Ok(())
    }

    /// The handle of act `id` among the parent links touching `p`.
    fn handle_of(&self, p: super::super::PersonId, id: &str) -> Option<super::super::ActHandle> {
        use petgraph::Direction::{Incoming, Outgoing};
        self.edges(p, Incoming)
            .chain(self.edges(p, Outgoing))
            .map(|(_, _, a)| a)
            .find(|&a| self.act_id(a) == id)
    }
}
