//! Undo log for graph mutations, so a batch of records applied to the graph
//! can be taken back exactly when its ledger transaction fails.

use super::store::{Link, MarriageRec};
use super::{ActHandle, FamilyGraph, PersonId};

#[derive(Debug)]
pub(super) enum Undo {
    /// The last node was added (undone in reverse order, so it is still last).
    PersonAdded,
    LinkAdded {
        from: PersonId,
        to: PersonId,
        link: Link,
    },
    LinkRemoved {
        from: PersonId,
        to: PersonId,
        link: Link,
    },
    /// The last marriage record was added.
    MarriageAdded,
    MarriageRemoved {
        slot: u32,
        rec: MarriageRec,
    },
    Death {
        person: PersonId,
        raw: u32,
    },
    ActPushed,
    Divorce {
        marriage: ActHandle,
        old: Option<ActHandle>,
    },
    /// The changes a deferred write keeps aside (see `store::Pending`).
    PendingDeath {
        person: PersonId,
        prev: Option<u32>,
    },
    PendingRemoved,
    PendingDivorce {
        marriage: ActHandle,
        prev: Option<Option<ActHandle>>,
    },
}

/// The mutations made since the journal was started; see [`FamilyGraph::rollback`].
#[derive(Debug, Default)]
pub struct Journal {
    ops: Vec<Undo>,
}

impl Journal {
    pub(super) fn push(&mut self, op: Undo) {
        self.ops.push(op);
    }

    /// Forgets the log: the mutations are now permanent.
    pub fn commit(&mut self) {
        self.ops.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// A point to roll back to with [`FamilyGraph::rollback_to`].
    pub(super) fn mark(&self) -> usize {
        self.ops.len()
    }
}

impl FamilyGraph {
    /// Undoes every mutation in `journal`, newest first, leaving the graph
    /// as it was when the journal was empty.
    pub fn rollback(&mut self, journal: &mut Journal) {
        self.rollback_to(journal, 0);
    }

    /// Undoes the mutations made since `mark`, newest first.
    pub(super) fn rollback_to(&mut self, journal: &mut Journal, mark: usize) {
        while journal.ops.len() > mark {
            match journal.ops.pop().expect("above the mark") {
                Undo::PersonAdded => self.pop_person(),
                Undo::LinkAdded { from, to, link } => {
                    let e = self.find_edge(from, to, link).expect("link to undo exists");
                    self.remove_edge(e);
                }
                Undo::LinkRemoved { from, to, link } => self.add_edge(from, to, link),
                Undo::MarriageAdded => self.pop_marriage(),
                Undo::MarriageRemoved { slot, rec } => self.restore_marriage(slot, rec),
                Undo::Death { person, raw } => self.g[person.node()].death = raw,
                Undo::ActPushed => self.acts.pop(),
                Undo::Divorce { marriage, old } => match old {
                    Some(d) => {
                        self.divorces.insert(marriage, d);
                    }
                    None => {
                        self.divorces.remove(&marriage);
                    }
                },
                // A discarded batch has handed its pending changes back
                // already: nothing to undo in the graph for those.
                Undo::PendingDeath { person, prev } => {
                    if let Some(pd) = self.pending.as_mut() {
                        match prev {
                            Some(raw) => pd.deaths.insert(person, raw),
                            None => pd.deaths.remove(&person),
                        };
                    }
                }
                Undo::PendingRemoved => {
                    let Some(removal) = self.pending.as_mut().and_then(|pd| pd.removed.pop())
                    else {
                        continue;
                    };
                    let act = match removal {
                        super::store::Removal::Links(_, act) => act,
                        super::store::Removal::Marriage(slot) => self.marriages[slot as usize].act,
                    };
                    if let Some(pd) = self.pending.as_mut() {
                        pd.removed_acts.remove(&act);
                    }
                }
                Undo::PendingDivorce { marriage, prev } => {
                    if let Some(pd) = self.pending.as_mut() {
                        match prev {
                            Some(d) => pd.divorces.insert(marriage, d),
                            None => pd.divorces.remove(&marriage),
                        };
                    }
                }
            }
        }
    }
}
