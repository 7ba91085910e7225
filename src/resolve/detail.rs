//! The sentence that goes with a verdict. Refusals reach citizens, so they
//! name the record to bring up to date and mask IINs of people the caller
//! did not name; confirmations name the people, as in `checks-api.md`.

use crate::graph::{ActHandle, FamilyGraph, MarriageEnd, PersonId, Role};
use crate::resolve::{InLaw, Side};
use chrono::NaiveDate;

/// What a verdict rests on, in structured form; see [`Detail::render`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    OwnerUnknown,
    ApplicantUnknown,
    SamePerson,
    ParentIs {
        parent: PersonId,
        child: PersonId,
        role: Role,
        act: ActHandle,
    },
    OtherParent {
        child: PersonId,
        role: Role,
    },
    /// `person` (and `other`, when both) not yet born on the date.
    NotBorn {
        person: PersonId,
        other: Option<PersonId>,
    },
    MissingParent {
        person: PersonId,
        role: Role,
        birth: Option<ActHandle>,
    },
    Married {
        act: ActHandle,
        since: NaiveDate,
    },
    MarriageEnded {
        act: ActHandle,
        end: Option<MarriageEnd>,
    },
    NotMarried,
    /// `by_birth`: every link rests on a birth record.
    SameParents {
        mother: PersonId,
        father: PersonId,
        by_birth: bool,
    },
    SameParent {
        role: Role,
        parent: PersonId,
        by_birth: bool,
    },
    ParentsDiffer {
        role: Role,
    },
    Grandparent {
        elder: PersonId,
        middle: PersonId,
        younger: PersonId,
        side: Side,
    },
    InLaw {
        kind: InLaw,
        spouse: PersonId,
        marriage: ActHandle,
    },
    NoInLaw,
    NeitherMarried,
}

impl Detail {
    /// The persons [`Detail::render`] names by their full IIN (the others
    /// it masks): what the sentence reveals, for the audit.
    pub fn named(&self) -> impl Iterator<Item = PersonId> {
        let v: smallvec::SmallVec<[PersonId; 3]> = match *self {
            Detail::ParentIs { parent, child, .. } => [parent, child].into_iter().collect(),
            Detail::SameParents { mother, father, .. } => [mother, father].into_iter().collect(),
            Detail::SameParent { parent, .. } => [parent].into_iter().collect(),
            Detail::Grandparent {
                elder,
                middle,
                younger,
                ..
            } => [elder, middle, younger].into_iter().collect(),
            Detail::InLaw { spouse, .. } => [spouse].into_iter().collect(),
            _ => smallvec::SmallVec::new(),
        };
        v.into_iter()
    }

    /// The sentence, evaluated `on` the date of the question.
    pub fn render(&self, g: &FamilyGraph, on: NaiveDate) -> String {
        let full = |p: PersonId| g.iin(p).to_string();
        let masked = |p: PersonId| g.iin(p).masked();
        let id = |a: ActHandle| g.act_id(a);
        match *self {
            Detail::OwnerUnknown => "the registry has no record of the owner".into(),
            Detail::ApplicantUnknown => "the registry has no record of the applicant".into(),
            Detail::SamePerson => "the owner and the applicant are the same person".into(),
            Detail::ParentIs {
                parent,
                child,
                role,
                act,
            } => {
                format!(
                    "{} is the legal {} of {} by record {}",
                    full(parent),
                    role.as_str(),
                    full(child),
                    id(act)
                )
            }
            Detail::OtherParent { child, role } => format!(
                "the legal {} of {} on {on} is another person; no relation is recorded",
                role.as_str(),
                masked(child)
            ),
            Detail::NotBorn {
                person,
                other: None,
            } => format!("{} was not yet born on {on}", masked(person)),
            Detail::NotBorn {
                person,
                other: Some(other),
            } => format!(
                "{} and {} were not yet born on {on}",
                masked(person),
                masked(other)
            ),
            Detail::MissingParent {
                person,
                role,
                birth: Some(b),
            } => format!(
                "birth record {} of {} names no {}; that record needs to be brought up to date",
                id(b),
                masked(person),
                role.as_str()
            ),
            Detail::MissingParent {
                person,
                role,
                birth: None,
            } => format!(
                "no birth record of {} is registered, so no {} is recorded; the birth needs to be registered",
                masked(person),
                role.as_str()
            ),
            Detail::Married { act, since } => {
                format!("married by marriage record {} since {since}", id(act))
            }
            Detail::MarriageEnded { act, end } => match end {
                Some(MarriageEnd::Divorce { act: d, date }) => {
                    format!(
                        "marriage record {} ended on {date} by divorce record {}",
                        id(act),
                        id(d)
                    )
                }
                Some(MarriageEnd::Death { date, .. }) => {
                    format!(
                        "marriage record {} ended on {date} by the death of a spouse",
                        id(act)
                    )
                }
                None => format!("marriage record {} is not in force on {on}", id(act)),
            },
            Detail::NotMarried => format!("no marriage between them is recorded in force on {on}"),
            Detail::SameParents {
                mother,
                father,
                by_birth: true,
            } => format!(
                "both birth records name mother {} and father {}",
                full(mother),
                full(father)
            ),
            Detail::SameParents {
                mother,
                father,
                by_birth: false,
            } => format!(
                "both have legal mother {} and legal father {}",
                full(mother),
                full(father)
            ),
            Detail::SameParent {
                role,
                parent,
                by_birth: true,
            } => format!("both birth records name {} {}", role.as_str(), full(parent)),
            Detail::SameParent {
                role,
                parent,
                by_birth: false,
            } => format!("both have legal {} {}", role.as_str(), full(parent)),
            Detail::ParentsDiffer { role } => {
                format!(
                    "their legal {}s on {on} are different people; no common {} is recorded",
                    role.as_str(),
                    role.as_str()
                )
            }
            Detail::Grandparent {
                elder,
                middle,
                younger,
                side,
            } => format!(
                "{} is a legal parent of {}, the legal {} of {}",
                full(elder),
                full(middle),
                side.as_str(),
                full(younger)
            ),
            Detail::InLaw {
                kind,
                spouse,
                marriage,
            } => {
                format!(
                    "{} through {} (marriage record {})",
                    kind.name().replace('_', "'s "),
                    full(spouse),
                    id(marriage)
                )
            }
            Detail::NoInLaw => format!("neither is a close relative of the other's spouse on {on}"),
            Detail::NeitherMarried => format!(
                "neither of them is or was married on {on}, so there is no relation by marriage"
            ),
        }
    }
}
