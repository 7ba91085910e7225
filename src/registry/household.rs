//! Who is registered in a dwelling on a date: persons, not registration
//! rows (`civil-acts.md`, "Settled questions").

use super::Registry;
use crate::acts::ResidenceType;
use crate::graph::FamilyGraph;
use crate::iin::Iin;
use crate::ledger::{LedgerError, Registration};
use chrono::NaiveDate;

/// A person registered in the dwelling, by the registration that counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resident {
    pub iin: Iin,
    pub kind: ResidenceType,
    pub since: NaiveDate,
}

impl Registry {
    /// The residents of `dwelling` on `on`, oldest registration first.
    pub async fn household(
        &self,
        dwelling: &str,
        on: NaiveDate,
    ) -> Result<Vec<Resident>, LedgerError> {
        let regs = self.ledger.registrations(dwelling, on).await?;
        let g = self.graph();
        Ok(residents(&g, regs, on))
    }
}

/// One resident per person (a permanent registration over a temporary one,
/// then the earliest `from`), and nobody after the day of their death.
fn residents(g: &FamilyGraph, regs: Vec<Registration>, on: NaiveDate) -> Vec<Resident> {
    let mut best: std::collections::BTreeMap<Iin, (Resident, String)> = Default::default();
    for r in regs {
        let (iin, kind, since) = (r.person, r.kind, r.since);
        if g.person(iin)
            .and_then(|p| g.death(p))
            .is_some_and(|died| died < on)
        {
            continue;
        }
        // Permanent first, then the earliest start, then the act id.
        let key =
            |x: &Resident, id: &str| (x.kind != ResidenceType::Permanent, x.since, id.to_owned());
        let new = Resident { iin, kind, since };
        match best.get(&iin) {
            Some((old, id)) if key(old, id) <= key(&new, &r.act_id) => {}
            _ => {
                best.insert(iin, (new, r.act_id));
            }
        }
    }
    let mut out: Vec<Resident> = best.into_values().map(|(r, _)| r).collect();
    out.sort_by_key(|r| (r.since, r.iin));
    out
}
