//! Is a check's `detail` true of the records it names? Each structured
//! detail is held against the accepted act records as the ledger stores
//! them (not against the graph), so a sentence that tells a citizen to fix
//! a record that is fine, or names a record that says something else, is
//! caught.

use chrono::NaiveDate;
use futures_util::StreamExt;
use kinship::acts::{Act, ActBody};
use kinship::graph::{FamilyGraph, MarriageEnd, PersonId, Role};
use kinship::iin::Iin;
use kinship::ledger::Ledger;
use kinship::resolve::Detail;
use std::collections::{HashMap, HashSet};

/// The accepted records, by act_id, and which of them are annulled.
pub struct Records {
    acts: HashMap<String, Act>,
    annulled: HashSet<String>,
}

impl Records {
    pub async fn load(ledger: &Ledger) -> Records {
        let mut acts = HashMap::new();
        let mut annulled = HashSet::new();
        // From the stored JSON: the records as they were sent (the replay
        // log leaves names out).
        let mut rows = std::pin::pin!(ledger.replay_json(0, i64::MAX));
        while let Some(row) = rows.next().await {
            let act = row.unwrap().act;
            if let ActBody::Annulment { target_act, .. } = &act.body {
                annulled.insert(target_act.to_string());
            }
            acts.insert(act.act_id.to_string(), act);
        }
        Records { acts, annulled }
    }

    /// The records in force (accepted, not annulled).
    fn live(&self) -> impl Iterator<Item = &Act> {
        self.acts
            .values()
            .filter(|a| !self.annulled.contains(a.act_id.as_str()))
    }

    fn live_act(&self, id: &str) -> Result<&Act, String> {
        let a = self
            .acts
            .get(id)
            .ok_or_else(|| format!("names {id}, which is not recorded"))?;
        if self.annulled.contains(id) {
            return Err(format!("names {id}, which is annulled"));
        }
        Ok(a)
    }

    /// Does `act` make `parent` the `role` parent of `child`?
    fn gives_parent(act: &Act, child: Iin, role: Role, parent: Option<Iin>) -> bool {
        let named = match (&act.body, role) {
            (
                ActBody::Birth {
                    child: c, mother, ..
                },
                Role::Mother,
            ) => (*c, *mother),
            (
                ActBody::Birth {
                    child: c, father, ..
                },
                Role::Father,
            ) => (*c, *father),
            (
                ActBody::Paternity {
                    child: c, father, ..
                },
                Role::Father,
            ) => (*c, Some(*father)),
            (
                ActBody::Adoption {
                    child: c,
                    adoptive_mother,
                    ..
                },
                Role::Mother,
            ) => (*c, *adoptive_mother),
            (
                ActBody::Adoption {
                    child: c,
                    adoptive_father,
                    ..
                },
                Role::Father,
            ) => (*c, *adoptive_father),
            _ => return false,
        };
        named.0 == child && named.1.is_some() && (parent.is_none() || named.1 == parent)
    }

    /// Records in force on `on` that give `child` a `role` parent.
    fn role_records(&self, child: Iin, role: Role, on: NaiveDate) -> Vec<&Act> {
        self.live()
            .filter(|a| Self::gives_parent(a, child, role, None))
            .filter(|a| !matches!(a.body, ActBody::Adoption { date, .. } if date > on))
            .collect()
    }

    /// A record in force names `parent` as `child`'s `role` parent (a birth
    /// record, when `by_birth`).
    fn names_parent(
        &self,
        child: Iin,
        role: Role,
        parent: Iin,
        by_birth: bool,
        on: NaiveDate,
    ) -> Result<(), String> {
        let recs: Vec<&Act> = self
            .role_records(child, role, on)
            .into_iter()
            .filter(|a| Self::gives_parent(a, child, role, Some(parent)))
            .collect();
        if recs.is_empty() {
            return Err("no record names that common parent".into());
        }
        if by_birth && !recs.iter().any(|a| matches!(a.body, ActBody::Birth { .. })) {
            return Err("said to be by birth records, but no birth record names them".into());
        }
        Ok(())
    }

    fn is_known(&self, iin: Iin) -> bool {
        self.acts.values().any(|a| {
            a.persons().contains(&iin)
                || matches!(&a.body, ActBody::Marriage { spouses, .. } if spouses.contains(&iin))
        })
    }

    fn marriages_of(&self, iin: Iin) -> impl Iterator<Item = &Act> {
        self.live().filter(
            move |a| matches!(&a.body, ActBody::Marriage { spouses, .. } if spouses.contains(&iin)),
        )
    }

    /// Checks that `detail`, given for a question about `owner` and
    /// `applicant` on `on`, says only what the records say.
    pub fn verify(
        &self,
        g: &FamilyGraph,
        d: &Detail,
        owner: Iin,
        applicant: Iin,
        on: NaiveDate,
    ) -> Result<(), String> {
        let iin = |p: PersonId| g.iin(p);
        let id = |h| g.act_id(h).to_owned();
        let both = [owner, applicant];
        let check = |ok: bool, why: &str| if ok { Ok(()) } else { Err(why.to_owned()) };
        match *d {
            Detail::OwnerUnknown => check(!self.is_known(owner), "the owner is recorded"),
            Detail::ApplicantUnknown => {
                check(!self.is_known(applicant), "the applicant is recorded")
            }
            Detail::SamePerson => check(owner == applicant, "they are two people"),
            Detail::NotBorn { person, other } => {
                for p in [Some(person), other].into_iter().flatten() {
                    check(on < iin(p).birth_date(), "the person is born by then")?;
                }
                Ok(())
            }
            Detail::ParentIs {
                parent,
                child,
                role,
                act,
            } => {
                let a = self.live_act(&id(act))?;
                check(
                    Self::gives_parent(a, iin(child), role, Some(iin(parent))),
                    "the record does not make them parent and child",
                )
            }
            Detail::OtherParent { child, role } => check(
                self.role_records(iin(child), role, on).iter().any(|a| {
                    both.iter()
                        .all(|&p| !Self::gives_parent(a, iin(child), role, Some(p)))
                }),
                "no record gives the child another parent in that role",
            ),
            Detail::MissingParent {
                person,
                role,
                birth,
            } => {
                check(
                    self.role_records(iin(person), role, on).is_empty(),
                    "a record in force gives the person that parent",
                )?;
                match birth {
                    Some(b) => {
                        let a = self.live_act(&id(b))?;
                        check(
                            matches!(&a.body, ActBody::Birth { child, .. } if *child == iin(person)),
                            "the named record is not the person's birth record",
                        )
                    }
                    None => check(
                        !self.live().any(|a| {
                            matches!(&a.body, ActBody::Birth { child, .. } if *child == iin(person))
                        }),
                        "the person has a birth record",
                    ),
                }
            }
            Detail::Married { act, since } => {
                let a = self.live_act(&id(act))?;
                check(
                    matches!(&a.body, ActBody::Marriage { date, spouses }
                        if *date == since && spouses.contains(&owner) && spouses.contains(&applicant)),
                    "the record is not their marriage of that date",
                )
            }
            Detail::MarriageEnded { act, end } => {
                let a = self.live_act(&id(act))?;
                let ActBody::Marriage { spouses, .. } = &a.body else {
                    return Err("the named record is not a marriage".into());
                };
                match end {
                    Some(MarriageEnd::Divorce { act: r, date }) => {
                        let r = self.live_act(&id(r))?;
                        check(
                            matches!(&r.body, ActBody::Divorce { date: d, marriage_act }
                                if *d == date && marriage_act == &a.act_id),
                            "the divorce record does not end that marriage on that date",
                        )
                    }
                    Some(MarriageEnd::Death { of, date }) => check(
                        spouses.contains(&iin(of))
                            && self.live().any(|x| {
                                matches!(&x.body, ActBody::Death { person, died, .. }
                                    if *person == iin(of) && *died == date)
                            }),
                        "no death record of a spouse on that date",
                    ),
                    None => Err("a marriage said to have ended has no end".into()),
                }
            }
            Detail::NotMarried => check(
                !self.marriages_of(owner).any(|a| {
                    a.date() <= on
                        && matches!(&a.body, ActBody::Marriage { spouses, .. } if spouses.contains(&applicant))
                }),
                "they have a marriage that began by then",
            ),
            Detail::SameParents {
                mother,
                father,
                by_birth,
            } => {
                for p in both {
                    for (role, parent) in [(Role::Mother, mother), (Role::Father, father)] {
                        self.names_parent(p, role, iin(parent), by_birth, on)?;
                    }
                }
                Ok(())
            }
            Detail::SameParent {
                role,
                parent,
                by_birth,
            } => {
                for p in both {
                    self.names_parent(p, role, iin(parent), by_birth, on)?;
                }
                Ok(())
            }
            Detail::ParentsDiffer { role } => {
                for p in both {
                    check(
                        !self.role_records(p, role, on).is_empty(),
                        "one of them has no parent in that role at all",
                    )?;
                }
                Ok(())
            }
            Detail::Grandparent {
                elder,
                middle,
                younger,
                side,
            } => {
                check(
                    self.role_records(iin(younger), side, on)
                        .iter()
                        .any(|a| Self::gives_parent(a, iin(younger), side, Some(iin(middle)))),
                    "no record names the middle person as that parent",
                )?;
                let role = g.parent_role(elder);
                check(
                    self.role_records(iin(middle), role, on)
                        .iter()
                        .any(|a| Self::gives_parent(a, iin(middle), role, Some(iin(elder)))),
                    "no record names the elder as the middle person's parent",
                )
            }
            Detail::InLaw {
                spouse, marriage, ..
            } => {
                let a = self.live_act(&id(marriage))?;
                check(
                    matches!(&a.body, ActBody::Marriage { spouses, .. }
                        if spouses.contains(&iin(spouse))
                            && (spouses.contains(&owner) || spouses.contains(&applicant))),
                    "the marriage record is not of that spouse and one of them",
                )
            }
            Detail::NoInLaw => check(
                both.iter()
                    .any(|&p| self.marriages_of(p).any(|a| a.date() <= on)),
                "neither has a marriage by then",
            ),
            Detail::NeitherMarried => check(
                !both
                    .iter()
                    .any(|&p| self.marriages_of(p).any(|a| a.date() <= on)),
                "one of them has a marriage by then",
            ),
        }
    }
}
