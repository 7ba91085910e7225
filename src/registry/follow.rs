//! Following a ledger other processes write to (replicas over one
//! PostgreSQL): records committed elsewhere are applied to this graph in
//! seq order, when a commit is notified and by polling as a fallback; a
//! writer catches up under the ledger's writer lock before it judges.

use super::{Registry, ReplayStats, apply_next};
use crate::acts::Kind;
use crate::graph::Journal;
use crate::ledger::{LedgerError, ReplayEntry};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Records applied under one hold of the graph's write lock.
const APPLIED_PER_LOCK: usize = 64;

impl Registry {
    /// Applies what the ledger holds beyond this graph; returns how many
    /// records that was.
    pub async fn catch_up(&self) -> Result<u64, LedgerError> {
        let mut last = self.writer.lock().await;
        self.catch_up_locked(&mut last).await
    }

    /// [`Registry::catch_up`] for a holder of `writer`.
    pub(super) async fn catch_up_locked(&self, last: &mut i64) -> Result<u64, LedgerError> {
        if self.ledger.last_seq().await? <= *last {
            return Ok(0);
        }
        let before = *last;
        let mut pending: Vec<ReplayEntry> = Vec::new();
        let mut rows = std::pin::pin!(self.ledger.replay_log(*last));
        while let Some(row) = rows.next().await {
            let row = row?;
            for e in row.entries()? {
                let e = e?;
                if e.seq > *last + pending.len() as i64 {
                    pending.push(e);
                }
            }
            if pending.len() >= 4096 {
                self.apply_followed(&mut pending, last).await?;
            }
        }
        self.apply_followed(&mut pending, last).await?;
        Ok((*last - before) as u64)
    }

    /// Applies records read from the ledger (committed already), a few
    /// dozen per write lock, and publishes how far the graph now goes.
    async fn apply_followed(
        &self,
        pending: &mut Vec<ReplayEntry>,
        last: &mut i64,
    ) -> Result<(), LedgerError> {
        let mut renamed = Vec::new();
        let mut journal = Journal::default();
        for chunk in pending.chunks(APPLIED_PER_LOCK) {
            let mut stats = ReplayStats {
                acts: 0,
                last_seq: *last,
            };
            {
                let mut g = self.graph.write();
                for e in chunk {
                    apply_next(&mut g, e, &mut journal, &mut stats)?;
                }
                self.set_applied(stats.last_seq);
            }
            *last = stats.last_seq;
            renamed.extend(
                chunk
                    .iter()
                    .filter(|e| {
                        matches!(
                            e.act.kind(),
                            Kind::Birth | Kind::NameChange | Kind::Annulment
                        )
                    })
                    .flat_map(|e| e.act.persons()),
            );
        }
        pending.clear();
        if !renamed.is_empty() {
            self.invalidate_names(renamed).await;
        }
        Ok(())
    }

    /// Follows the ledger for as long as the process runs: on each
    /// notified commit, on a request waiting for a seq, and every `poll`
    /// whatever happens (a notification can be lost with its connection).
    /// Returns at once for a ledger only this process writes (SQLite).
    pub async fn follow(self: Arc<Self>, poll: Duration) {
        let mut commits = None;
        loop {
            if commits.is_none() {
                match self.ledger.listen().await {
                    Ok(Some(c)) => commits = Some(c),
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for ledger commits; polling")
                    }
                }
            }
            let woke = tokio::select! {
                c = async { commits.as_mut().expect("guarded").next().await }, if commits.is_some() => Some(c),
                () = tokio::time::sleep(poll) => None,
                () = self.poke.notified() => None,
            };
            let commit = match woke {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "lost the ledger notifications; reconnecting");
                    commits = None;
                    None
                }
                None => None,
            };
            if commit.is_some_and(|c| c.seq <= self.applied_seq()) {
                continue; // this process's own commit, or one applied already
            }
            match self.catch_up().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::debug!(
                        records = n,
                        seq = self.applied_seq(),
                        "caught up with the ledger"
                    );
                    if let Some(c) = commit
                        && let Some(at) = c.at_micros
                        && self.applied_seq() >= c.seq
                    {
                        let lag = (chrono::Utc::now().timestamp_micros() - at).max(0) as f64 / 1e6;
                        metrics::histogram!("kinship_replication_lag_seconds").record(lag);
                        metrics::gauge!("kinship_replication_lag_last_seconds").set(lag);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "catching up with the ledger failed; retrying")
                }
            }
        }
    }

    /// Waits at most `within` for the graph to reach `seq` (asking the
    /// follower to look at once); whether it did.
    pub async fn wait_for_seq(&self, seq: i64, within: Duration) -> bool {
        if self.applied_seq() >= seq {
            return true;
        }
        let mut seen = self.seen.subscribe();
        self.poke.notify_one();
        matches!(
            tokio::time::timeout(within, seen.wait_for(|s| *s >= seq)).await,
            Ok(Ok(_))
        )
    }
}
