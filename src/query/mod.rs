//! The one read path. Every lookup of personal data — a kinship check, a
//! family, a household, a card, relatives, an act, refused records, who
//! looked a person up — goes through a [`Reader`]: it knows the caller and
//! the route, answers from the graph and the ledger, collects the IINs the
//! answer reveals as it builds it (typed, not searched for in the bytes),
//! and records them before it hands the answer over. An [`Answer`] exists
//! only once its audit record is committed, so a handler cannot give one
//! unrecorded; the HTTP layer refuses a personal-data answer that did not
//! come from here.
//!
//! Batches answer their lines with the same builders ([`checks::answer`],
//! [`family::skeleton`] and [`family::dress`]) and record a segment of
//! lines at a time with [`Reader::record`].
//!
//! The answers are the API's shapes (serde, with their OpenAPI schemas
//! from [`schema`]); this layer knows nothing of axum or sqlx.

pub mod checks;
pub mod drawing;
pub mod family;
pub mod gedcom;
pub mod persons;
pub mod quality;
pub mod relations;
pub mod relatives;
pub mod schema;

use crate::access::{AuditError, Caller};
use crate::iin::Iin;
use crate::ledger::{LedgerError, LookupRow, RefusedRow};
use crate::registry::Registry;
use chrono::NaiveDate;
use std::sync::Arc;

/// Reads for one caller on one route.
pub struct Reader {
    reg: Arc<Registry>,
    caller: Caller,
    route: Arc<str>,
}

/// An answer whose audit record is committed, and the ledger seq it
/// reflects (at least).
#[derive(Debug)]
pub struct Answer<T> {
    pub value: T,
    pub seq: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The registry has no record of the person (this too is recorded:
    /// it tells the caller something about them).
    #[error("the registry has no record of this person")]
    PersonUnknown,
    #[error("no act with this act_id is recorded")]
    ActUnknown,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The answer is withheld: its audit record could not be written.
    #[error("the audit record could not be written: {0}")]
    Audit(#[from] AuditError),
}

impl<T> Answer<T> {
    /// The same answer in another shape (a page around rows).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        Answer {
            value: f(self.value),
            seq: self.seq,
        }
    }
}

impl Reader {
    /// `route` is how the audit names what answered (`GET /v1/...`).
    pub fn new(reg: Arc<Registry>, caller: Caller, route: impl Into<Arc<str>>) -> Reader {
        Reader {
            reg,
            caller,
            route: route.into(),
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.reg
    }

    /// Records that this caller was told `outcome` about `iins`; returns
    /// once the record is committed. For batches, which answer many lines
    /// before recording them.
    pub async fn record(&self, outcome: &str, iins: Vec<Iin>) -> Result<(), AuditError> {
        self.reg
            .audit(&self.caller, &self.route, outcome, iins)
            .await
    }

    async fn give<T>(
        &self,
        value: T,
        seq: i64,
        outcome: &str,
        iins: Vec<Iin>,
    ) -> Result<Answer<T>, ReadError> {
        self.record(outcome, iins).await?;
        Ok(Answer { value, seq })
    }

    /// `f` of the person `iin` under one read lock, with the seq it reads;
    /// `PersonUnknown` (recorded) when the graph has no such person.
    async fn in_graph<T>(
        &self,
        iin: Iin,
        f: impl FnOnce(&crate::graph::FamilyGraph, crate::graph::PersonId) -> T,
    ) -> Result<(T, i64), ReadError> {
        let found = {
            let g = self.reg.graph();
            g.person(iin).map(|p| (f(&g, p), self.reg.applied_seq()))
        };
        match found {
            Some(x) => Ok(x),
            None => Err(self.unknown(iin).await),
        }
    }

    /// "No such person" is an answer about `iin` too.
    async fn unknown(&self, iin: Iin) -> ReadError {
        match self.record("not_found", vec![iin]).await {
            Ok(()) => ReadError::PersonUnknown,
            Err(e) => e.into(),
        }
    }

    /// Is `req.applicant` the `req.claim` of `req.owner` on `req.as_of`?
    pub async fn kinship(
        &self,
        req: &checks::CheckRequest,
    ) -> Result<Answer<checks::CheckAnswer>, ReadError> {
        let mut iins = Vec::with_capacity(4);
        let (answer, seq) = {
            let g = self.reg.graph();
            (checks::answer(&g, req, &mut iins), self.reg.applied_seq())
        };
        let outcome = if answer.confirmed {
            "confirmed"
        } else {
            "not_confirmed"
        };
        self.give(answer, seq, outcome, iins).await
    }

    /// The family a housing check counts, on `as_of`.
    pub async fn family(
        &self,
        iin: Iin,
        as_of: NaiveDate,
    ) -> Result<Answer<family::FamilyAnswer>, ReadError> {
        let (sk, seq) = self
            .in_graph(iin, |g, p| family::skeleton(g, p, as_of))
            .await?;
        let answer = family::dress(&self.reg, vec![sk])
            .await?
            .pop()
            .expect("one answer");
        let iins = answer.persons().collect();
        self.give(answer, seq, "answered", iins).await
    }

    /// Who is registered in `dwelling` on `as_of`; with `owner`, how each
    /// is related to them.
    pub async fn household(
        &self,
        dwelling: String,
        as_of: NaiveDate,
        owner: Option<Iin>,
    ) -> Result<Answer<family::HouseholdAnswer>, ReadError> {
        let (answer, seq) = family::household(&self.reg, dwelling, as_of, owner).await?;
        let iins = answer
            .residents
            .iter()
            .map(|r| r.iin)
            .chain(owner)
            .collect();
        self.give(answer, seq, "answered", iins).await
    }

    /// A person's card: who they are and every act that names them.
    pub async fn card(&self, iin: Iin) -> Result<Answer<persons::Card>, ReadError> {
        let Some((card, seq)) = persons::card(&self.reg, iin).await? else {
            return Err(self.unknown(iin).await);
        };
        let iins = card.persons().collect();
        self.give(card, seq, "answered", iins).await
    }

    /// Everyone related to the person on `on`, by kind, and everyone
    /// within `max_degree` by relation name.
    pub async fn relatives(
        &self,
        iin: Iin,
        on: NaiveDate,
        max_degree: u8,
    ) -> Result<Answer<relatives::Relatives>, ReadError> {
        let (answer, seq) = self
            .in_graph(iin, |g, me| {
                let mut r = relatives::find(g, me, on);
                r.by_name = relations::by_name(g, me, on, max_degree).groups;
                r.max_degree = max_degree;
                r
            })
            .await?;
        let iins = answer.persons().collect();
        self.give(answer, seq, "answered", iins).await
    }

    /// Data-quality findings from person `after` on (and, on the first
    /// page, with no `after`, crowded dwellings), about `limit` of them.
    pub async fn quality(
        &self,
        after: Option<u64>,
        limit: usize,
        kind: Option<&str>,
        on: NaiveDate,
        min_residents: i64,
    ) -> Result<Answer<quality::Findings>, ReadError> {
        let seq = self.reg.applied_seq();
        let ledger = self.reg.ledger();
        let mut items = Vec::new();
        let mut more_dwellings = false;
        if after.is_none() && kind.is_none_or(|k| k == "crowded_dwelling") {
            let found = ledger
                .crowded_dwellings(min_residents, on, quality::DWELLINGS as i64 + 1)
                .await?;
            more_dwellings = found.len() > quality::DWELLINGS;
            for (dwelling, _) in found.into_iter().take(quality::DWELLINGS) {
                let mut regs = ledger.registrations(&dwelling, on).await?;
                regs.retain(|r| r.kind == crate::acts::ResidenceType::Permanent);
                let mut persons: Vec<Iin> = regs.iter().map(|r| r.person).collect();
                persons.sort_unstable();
                persons.dedup();
                if persons.len() as i64 > min_residents {
                    items.push(quality::Finding {
                        kind: "crowded_dwelling",
                        detail: format!(
                            "{} persons permanently registered here on {on}",
                            persons.len()
                        ),
                        persons,
                        dwelling: Some(dwelling),
                        acts: regs.into_iter().map(|r| r.act_id).collect(),
                    });
                }
            }
        }
        let mut next = Some(after.unwrap_or(0));
        while let Some(from) = next
            && items.len() < limit
        {
            let mut unknown = Vec::new();
            next = {
                let g = self.reg.graph();
                // `limit` counts what `items` holds already.
                quality::scan(&g, from, on, kind, limit, &mut items, &mut unknown)
            };
            // Known only from the marriage (and its divorce) in the ledger too?
            for (iin, marriage) in unknown {
                let acts = ledger.acts_of(iin).await?;
                let elsewhere = acts.iter().any(|a| {
                    a.act.act_id.as_str() != marriage
                        && !matches!(&a.act.body, crate::acts::ActBody::Divorce { marriage_act, .. }
                            if marriage_act.as_str() == marriage)
                });
                if !elsewhere {
                    items.push(quality::Finding {
                        kind: "spouse_unknown",
                        detail: "known only from one marriage record: no birth record, parents, children or other act".into(),
                        persons: vec![iin],
                        dwelling: None,
                        acts: vec![marriage],
                    });
                }
            }
            tokio::task::yield_now().await;
        }
        let page = quality::Findings {
            as_of: on,
            items,
            next,
            more_dwellings,
        };
        let iins = page.persons().collect();
        self.give(page, seq, "answered", iins).await
    }

    /// The family around the person within `degree` on `on`, to draw.
    pub async fn drawing(
        &self,
        iin: Iin,
        on: NaiveDate,
        degree: u8,
    ) -> Result<Answer<drawing::Drawing>, ReadError> {
        let ((sk, iins), seq) = self
            .in_graph(iin, |g, me| {
                let sk = drawing::skeleton(g, me, on, degree);
                let iins: Vec<Iin> = sk.persons.iter().map(|&p| g.iin(p)).collect();
                (sk, iins)
            })
            .await?;
        // From the cache when the ledger is out of reach, marked.
        let names = self.reg.names_or_cached(&iins).await?;
        let persons = {
            let g = self.reg.graph();
            sk.persons
                .iter()
                .map(|&p| family::view(&g, p, &names, on))
                .collect()
        };
        let answer = drawing::Drawing {
            iin,
            as_of: on,
            degree,
            persons,
            links: sk.links,
        };
        self.give(answer, seq, "answered", iins).await
    }

    /// The person's family within `degree` on `on`, as GEDCOM 7.
    pub async fn gedcom(
        &self,
        iin: Iin,
        on: NaiveDate,
        degree: u8,
    ) -> Result<Answer<gedcom::Gedcom>, ReadError> {
        let (tree, seq) = self
            .in_graph(iin, |g, me| gedcom::Tree::of(g, me, on, degree))
            .await?;
        let iins: Vec<Iin> = tree.persons().collect();
        let names = self.reg.names(&iins).await?;
        let text = tree.render(&names);
        self.give(gedcom::Gedcom(text), seq, "answered", iins).await
    }

    /// Every relation between `a` and `b` on `on` within `max_degree`.
    pub async fn relations(
        &self,
        a: Iin,
        b: Iin,
        on: NaiveDate,
        max_degree: u8,
    ) -> Result<Answer<relations::Relations>, ReadError> {
        let found = {
            let g = self.reg.graph();
            match g.persons(a, b) {
                (Some(pa), Some(pb)) => Some((
                    relations::between(&g, pa, pb, on, max_degree),
                    self.reg.applied_seq(),
                )),
                _ => None,
            }
        };
        let Some((answer, seq)) = found else {
            self.record("not_found", vec![a, b]).await?;
            return Err(ReadError::PersonUnknown);
        };
        let iins = answer.persons().collect();
        self.give(answer, seq, "answered", iins).await
    }

    /// One act record as the ledger holds it.
    pub async fn act(&self, act_id: &str) -> Result<Answer<persons::ActView>, ReadError> {
        let seq = self.reg.applied_seq();
        let Some(rec) = self.reg.ledger().act(act_id).await? else {
            self.record("not_found", Vec::new()).await?;
            return Err(ReadError::ActUnknown);
        };
        let view = persons::ActView::from(rec);
        let iins = view.persons.clone();
        self.give(view, seq, "answered", iins).await
    }

    /// A page of refused records (`code` only, if given), oldest first.
    pub async fn refused(
        &self,
        after: i64,
        limit: i64,
        code: Option<&str>,
    ) -> Result<Answer<Vec<RefusedRow>>, ReadError> {
        let seq = self.reg.applied_seq();
        let rows = self.reg.ledger().refused(after, limit, code).await?;
        // A refused line is whatever was sent: whoever it names is shown.
        let mut iins = Vec::new();
        for r in &rows {
            Iin::scan(r.raw.as_bytes(), &mut iins);
        }
        self.give(rows, seq, "answered", iins).await
    }

    /// Who looked `iin` up, newest first (a lookup of them itself).
    pub async fn lookups(
        &self,
        iin: Iin,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Answer<Vec<LookupRow>>, ReadError> {
        let seq = self.reg.applied_seq();
        // Every answer given so far is listed.
        self.reg.audit_settled().await?;
        let rows = self.reg.ledger().lookups(iin, before, limit).await?;
        self.give(rows, seq, "answered", vec![iin]).await
    }
}
