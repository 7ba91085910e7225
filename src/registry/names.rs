//! Names over time, read from the ledger (names are not kept in the graph:
//! at 25M persons they would double its memory) and cached with moka.
//!
//! The cache is invalidated for every person a newly accepted birth, name
//! change or annulment concerns; a generation counter keeps a lookup that
//! raced with such a write from caching what it read before the write.

use super::Registry;
use crate::acts::{ActBody, Name};
use crate::iin::Iin;
use crate::ledger::LedgerError;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// A person's registered names, oldest first: (from when, name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names(pub Vec<(NaiveDate, Name)>);

impl Names {
    /// The name in force on `on` (the birth name before any change, and
    /// also before the birth itself).
    pub fn on(&self, on: NaiveDate) -> Option<&Name> {
        self.0
            .iter()
            .rev()
            .find(|(d, _)| *d <= on)
            .or(self.0.first())
            .map(|(_, n)| n)
    }
}

pub type NameCache = moka::future::Cache<u64, Arc<Names>>;

/// Entries kept: a person's names are a few hundred bytes, so this bounds
/// the cache to tens of MiB beside the graph's memory budget.
const NAME_CACHE_ENTRIES: u64 = 200_000;

/// How long names come from the cache alone after the ledger did not
/// answer, before it is asked again.
const NAMES_DOWN: std::time::Duration = std::time::Duration::from_secs(2);

pub fn new_cache() -> NameCache {
    moka::future::Cache::builder()
        .max_capacity(NAME_CACHE_ENTRIES)
        .build()
}

impl Registry {
    /// Names of each of `iins` (every IIN asked for gets an entry, empty
    /// when no name is registered).
    pub async fn names(&self, iins: &[Iin]) -> Result<HashMap<Iin, Arc<Names>>, LedgerError> {
        let (mut out, missing) = self.cached_names(iins).await;
        if !missing.is_empty() {
            self.read_names(&missing, &mut out).await?;
        }
        Ok(out)
    }

    /// The cached names of `iins`, and those not cached.
    async fn cached_names(&self, iins: &[Iin]) -> (HashMap<Iin, Arc<Names>>, Vec<Iin>) {
        let mut out = HashMap::with_capacity(iins.len());
        let mut missing = Vec::new();
        for &iin in iins {
            match self.names.get(&iin.get()).await {
                Some(n) => {
                    out.insert(iin, n);
                }
                None => missing.push(iin),
            }
        }
        (out, missing)
    }

    /// Reads the names of `missing` from the ledger into `out`, caching
    /// them unless a write raced with the read.
    async fn read_names(
        &self,
        missing: &[Iin],
        out: &mut HashMap<Iin, Arc<Names>>,
    ) -> Result<(), LedgerError> {
        let generation = self.names_generation.load(Ordering::Acquire);
        let found = self.names_from_ledger(missing).await?;
        let fresh = self.names_generation.load(Ordering::Acquire) == generation;
        for (iin, names) in found {
            let names = Arc::new(names);
            if fresh {
                self.names.insert(iin.get(), names.clone()).await;
            }
            out.insert(iin, names);
        }
        Ok(())
    }

    /// As [`Registry::names`], but while the ledger is out of reach the
    /// cached names alone: a person missing from the map has a name that
    /// could not be read (not "no name registered").
    pub async fn names_or_cached(
        &self,
        iins: &[Iin],
    ) -> Result<HashMap<Iin, Arc<Names>>, LedgerError> {
        let (mut out, missing) = self.cached_names(iins).await;
        let now = chrono::Utc::now().timestamp_millis();
        if missing.is_empty() || self.names_down_until.load(Ordering::Relaxed) > now {
            return Ok(out);
        }
        match self.read_names(&missing, &mut out).await {
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "names served from the cache alone for {} s", NAMES_DOWN.as_secs());
                self.names_down_until
                    .store(now + NAMES_DOWN.as_millis() as i64, Ordering::Relaxed);
                Ok(out)
            }
            r => r.map(|()| out),
        }
    }

    /// Names of each of `iins` read from the ledger, bypassing the cache.
    pub async fn names_from_ledger(
        &self,
        iins: &[Iin],
    ) -> Result<HashMap<Iin, Names>, LedgerError> {
        // Per person: (from, birth first, act id, name), so names on one
        // date are ordered by the records, never by arrival.
        type Entry = (NaiveDate, bool, crate::acts::ActId, Name);
        let mut found: HashMap<Iin, Vec<Entry>> = iins.iter().map(|&i| (i, Vec::new())).collect();
        for (iin, act) in self.ledger.name_acts(iins).await? {
            let entry = match act.body {
                ActBody::Birth {
                    child,
                    name: Some(name),
                    ..
                } if child == iin => (child.birth_date(), false, act.act_id, name),
                ActBody::NameChange { date, name, .. } => (date, true, act.act_id, name),
                _ => continue,
            };
            found.get_mut(&iin).expect("asked for").push(entry);
        }
        Ok(found
            .into_iter()
            .map(|(iin, mut entries)| {
                entries.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
                let names = entries.into_iter().map(|(d, _, _, n)| (d, n)).collect();
                (iin, Names(names))
            })
            .collect())
    }

    /// Forgets cached names of `iins` after a write that may change them.
    pub(super) async fn invalidate_names(&self, iins: impl IntoIterator<Item = Iin>) {
        self.names_generation.fetch_add(1, Ordering::AcqRel);
        for i in iins {
            self.names.invalidate(&i.get()).await;
        }
    }
}
