//! Multi-row writes and the residence query.

use super::{Backend, Ledger, LedgerError, NewAct, NewRefusal, placeholders};
use sqlx::{Any, Row, Transaction};

/// Rows per INSERT: well under SQLite's 32766 and PostgreSQL's 65535 binds.
const ROWS_PER_INSERT: usize = 400;

/// Runs `INSERT INTO <head> VALUES (…),(…)` for `rows`, `cols` binds each.
type Query<'a> = sqlx::query::Query<'a, Any, sqlx::any::AnyArguments<'a>>;

async fn insert_rows<T>(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    head: &str,
    cols: usize,
    rows: &[T],
    bind: impl for<'a> Fn(Query<'a>, &'a T) -> Query<'a>,
) -> Result<(), LedgerError> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| format!("({})", placeholders(backend, r * cols + 1, cols)))
            .collect();
        let sql = format!("INSERT INTO {head} VALUES {}", values.join(","));
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = bind(q, row);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

pub(super) async fn insert_acts(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    acts: &[NewAct],
    now: &str,
) -> Result<(), LedgerError> {
    insert_rows(
        backend,
        tx,
        "acts (seq, act_id, kind, body, target_seq, source, received_at)",
        7,
        acts,
        |q, a| {
            q.bind(a.seq)
                .bind(a.act_id.as_str())
                .bind(a.kind.as_str())
                .bind(a.body.as_str())
                .bind(a.target_seq)
                .bind(a.source.as_str())
                .bind(now.to_owned())
        },
    )
    .await?;
    let mentions: Vec<(i64, i64)> = {
        let mut v: Vec<(i64, i64)> = acts
            .iter()
            .flat_map(|a| a.persons.iter().map(move |&p| (p, a.seq)))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    insert_rows(
        backend,
        tx,
        "act_persons (iin, seq)",
        2,
        &mentions,
        |q, (p, s)| q.bind(*p).bind(*s),
    )
    .await?;
    let annulments: Vec<(i64, i64)> = acts
        .iter()
        .filter(|a| a.kind == crate::acts::Kind::Annulment)
        .filter_map(|a| a.target_seq.map(|t| (t, a.seq)))
        .collect();
    insert_rows(
        backend,
        tx,
        "annulments (target_seq, seq)",
        2,
        &annulments,
        |q, (t, s)| q.bind(*t).bind(*s),
    )
    .await?;
    let residences: Vec<(i64, &super::NewResidence)> = acts
        .iter()
        .filter_map(|a| a.residence.as_ref().map(|r| (a.seq, r)))
        .collect();
    insert_rows(
        backend,
        tx,
        "residences (seq, dwelling, person, from_date, to_date, type)",
        6,
        &residences,
        |q, (s, r)| {
            q.bind(*s)
                .bind(r.dwelling.as_str())
                .bind(r.person)
                .bind(r.from.as_str())
                .bind(r.to.as_deref())
                .bind(r.kind)
        },
    )
    .await
}

pub(super) async fn insert_refusals(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    refusals: &[NewRefusal],
    now: &str,
) -> Result<(), LedgerError> {
    insert_rows(
        backend,
        tx,
        "refused (act_id, code, detail, raw, raw_bytes, source, line, received_at)",
        8,
        refusals,
        |q, r| {
            q.bind(r.act_id.as_deref())
                .bind(r.code)
                .bind(r.detail.as_str())
                .bind(r.raw.as_str())
                .bind(r.raw_bytes)
                .bind(r.source.as_str())
                .bind(r.line)
                .bind(now.to_owned())
        },
    )
    .await
}

/// A registration in a dwelling, as the ledger holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub person: i64,
    pub kind: String,
    pub since: String,
    pub act_id: String,
}

impl Ledger {
    /// Registrations in `dwelling` in force on `date` (ISO): started by then,
    /// not deregistered (`to` is the first day away), not annulled, and for
    /// a permanent one not replaced by the person's later permanent one (of
    /// two from the same day, the greater act_id holds: never arrival).
    /// A person may have several here; see `Registry::household`.
    pub async fn registrations(
        &self,
        dwelling: &str,
        date: &str,
    ) -> Result<Vec<Registration>, LedgerError> {
        let rows = sqlx::query(
            "SELECT r.person, r.type, r.from_date, a.act_id FROM residences r \
             JOIN acts a ON a.seq = r.seq \
             WHERE r.dwelling = $1 AND r.from_date <= $2 AND (r.to_date IS NULL OR r.to_date > $2) \
               AND NOT EXISTS (SELECT 1 FROM annulments x WHERE x.target_seq = r.seq) \
               AND (r.type = 'temporary' OR NOT EXISTS ( \
                    SELECT 1 FROM residences n JOIN acts na ON na.seq = n.seq \
                    WHERE n.person = r.person AND n.type = 'permanent' \
                      AND n.seq <> r.seq AND n.from_date <= $2 \
                      AND (n.from_date > r.from_date OR (n.from_date = r.from_date AND na.act_id > a.act_id)) \
                      AND NOT EXISTS (SELECT 1 FROM annulments y WHERE y.target_seq = n.seq))) \
             ORDER BY r.from_date, r.person",
        )
        .bind(dwelling)
        .bind(date)
        .fetch_all(&self.pool)
        .await?;
        let regs = rows
            .iter()
            .map(|r| {
                Ok(Registration {
                    person: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    since: r.try_get(2)?,
                    act_id: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(regs)
    }
}

impl Ledger {
    /// The bodies of the birth and name-change acts (not annulled) that
    /// mention each of `iins`, for working out names over time.
    pub async fn name_acts(&self, iins: &[i64]) -> Result<Vec<(i64, String)>, LedgerError> {
        let mut out = Vec::new();
        for chunk in iins.chunks(500) {
            let sql = format!(
                "SELECT ap.iin, a.body FROM act_persons ap JOIN acts a ON a.seq = ap.seq \
                 WHERE ap.iin IN ({}) AND a.kind IN ('birth', 'name_change') \
                   AND NOT EXISTS (SELECT 1 FROM annulments x WHERE x.target_seq = a.seq) \
                 ORDER BY a.seq",
                placeholders(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for i in chunk {
                q = q.bind(*i);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push((row.try_get(0)?, row.try_get(1)?));
            }
        }
        Ok(out)
    }
}

/// An act as shown to staff.
#[derive(Clone, Debug)]
pub struct ActRecord {
    pub seq: i64,
    pub act_id: String,
    pub kind: String,
    pub body: String,
    pub source: String,
    pub received_at: String,
    /// The annulment that voided it, if any.
    pub annulled_by: Option<String>,
}

const ACT_RECORD_SELECT: &str = "SELECT a.seq, a.act_id, a.kind, a.body, a.source, a.received_at, \
     (SELECT x.act_id FROM annulments n JOIN acts x ON x.seq = n.seq WHERE n.target_seq = a.seq) FROM acts a";

fn act_record(r: &sqlx::any::AnyRow) -> Result<ActRecord, sqlx::Error> {
    Ok(ActRecord {
        seq: r.try_get(0)?,
        act_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        body: r.try_get(3)?,
        source: r.try_get(4)?,
        received_at: r.try_get(5)?,
        annulled_by: r.try_get(6)?,
    })
}

impl Ledger {
    pub async fn act(&self, act_id: &str) -> Result<Option<ActRecord>, LedgerError> {
        let sql = format!("{ACT_RECORD_SELECT} WHERE a.act_id = $1");
        let row = sqlx::query(&sql)
            .bind(act_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(act_record).transpose()?)
    }

    /// Every act that mentions `iin`, in ledger order.
    pub async fn acts_of(&self, iin: i64) -> Result<Vec<ActRecord>, LedgerError> {
        let sql = format!(
            "{ACT_RECORD_SELECT} JOIN act_persons ap ON ap.seq = a.seq WHERE ap.iin = $1 ORDER BY a.seq"
        );
        let rows = sqlx::query(&sql).bind(iin).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(act_record).collect::<Result<_, _>>()?)
    }
}
