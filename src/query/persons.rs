//! A person's card (who they are, their names over time, every act record
//! that names them) and one act record as the ledger holds it.

use super::schema::{IinSchema, NameSchema};
use crate::acts::Name;
use crate::iin::Iin;
use crate::ledger::{ActRecord, LedgerError};
use crate::registry::Registry;
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

/// An act record as the ledger holds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActView {
    /// Its sequence number in the ledger.
    pub seq: i64,
    #[schema(example = "B-2001-0002")]
    pub act_id: String,
    #[schema(example = "birth")]
    pub kind: String,
    /// The record in its canonical form.
    #[schema(value_type = Object)]
    pub act: serde_json::Value,
    /// Where it came from: `<import file>:<line>` or
    /// `http:<request id>:<line>`.
    pub source: String,
    /// When it was recorded (RFC 3339, UTC).
    pub received_at: String,
    /// The act_id of the annulment that voided it; null if none did.
    #[schema(required = true)]
    pub annulled_by: Option<String>,
    /// Whoever the record names (what the audit records it revealed).
    #[serde(skip)]
    #[schema(ignore)]
    pub persons: Vec<Iin>,
}

impl From<ActRecord> for ActView {
    fn from(r: ActRecord) -> ActView {
        ActView {
            persons: r.act.persons(),
            seq: r.seq,
            act_id: r.act.act_id.to_string(),
            kind: r.act.kind().as_str().to_owned(),
            act: serde_json::to_value(&r.act).expect("acts serialize"),
            source: r.source,
            received_at: r.received_at,
            annulled_by: r.annulled_by,
        }
    }
}

/// A name and the date it was registered from.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DatedName)]
pub struct NameView {
    pub since: NaiveDate,
    #[serde(flatten)]
    #[schema(value_type = NameSchema)]
    pub name: Name,
}

/// A person's card: who they are and every act record that names them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PersonCard)]
pub struct Card {
    #[schema(value_type = IinSchema)]
    pub iin: Iin,
    /// From the IIN.
    #[schema(example = "female")]
    pub sex: &'static str,
    /// From the IIN.
    pub birth_date: NaiveDate,
    /// Null while alive.
    #[schema(required = true)]
    pub death_date: Option<NaiveDate>,
    /// Every registered name, oldest first.
    pub names: Vec<NameView>,
    /// Every act record that names them, by the act's date (a
    /// registration's `from`), then act_id.
    pub acts: Vec<ActView>,
}

impl Card {
    /// Everyone the card shows: the person and whoever their acts name.
    pub fn persons(&self) -> impl Iterator<Item = Iin> + '_ {
        std::iter::once(self.iin).chain(self.acts.iter().flat_map(|a| a.persons.iter().copied()))
    }
}

/// The card of `iin`, with the seq the graph was read at; `None` when the
/// registry has no record of them.
pub async fn card(reg: &Registry, iin: Iin) -> Result<Option<(Card, i64)>, LedgerError> {
    let (death, seq) = {
        let g = reg.graph();
        let Some(p) = g.person(iin) else {
            return Ok(None);
        };
        (g.death(p), reg.applied_seq())
    };
    let names = reg.names(&[iin]).await?;
    let mut acts = reg.ledger().acts_of(iin).await?;
    // By what the records say, not by when they arrived.
    acts.sort_by(|a, b| (a.act.date(), &a.act.act_id).cmp(&(b.act.date(), &b.act.act_id)));
    let card = Card {
        iin,
        sex: iin.sex().as_str(),
        birth_date: iin.birth_date(),
        death_date: death,
        names: names
            .get(&iin)
            .map(|n| {
                n.0.iter()
                    .map(|(since, name)| NameView {
                        since: *since,
                        name: name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        acts: acts.into_iter().map(ActView::from).collect(),
    };
    Ok(Some((card, seq)))
}
