//! The nurture log: every enrollment, move, advance, trigger and exit, with the touch it sent.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::bind::{Bind, unnest};

/// A row to write.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub lead_id: Uuid,
    pub kind: &'static str,
    pub workflow: String,
    pub enrollment: i32,
    pub step: i16,
    pub asset_id: Option<String>,
    pub channel: Option<&'static str>,
    pub reason: String,
    pub notified: Option<String>,
}

pub(crate) const WRITE_COLUMNS: &str =
    "lead_id, kind, workflow, enrollment, step, asset_id, channel, reason, notified, at";
const WRITE_TYPES: [&str; 10] = [
    "uuid",
    "text",
    "text",
    "int4",
    "int2",
    "text",
    "text",
    "text",
    "text",
    "timestamptz",
];
pub(crate) const WRITE_PARAMS: usize = WRITE_TYPES.len();

/// `unnest($first::uuid[], ...) as n(<WRITE_COLUMNS>)`: the rows bound by [`bind_entries`].
pub(crate) fn unnest_entries(first: usize) -> String {
    unnest("n", WRITE_COLUMNS, &WRITE_TYPES, first)
}

/// What makes an insert of entries skip a touch already logged for its lead, enrollment and
/// step, so a retried write cannot send a step twice.
const ON_CONFLICT: &str =
    "on conflict (lead_id, enrollment, step) where asset_id is not null do nothing";

/// Binds `entries`, logged at `at`, column by column, matching [`unnest_entries`].
pub(crate) fn bind_entries<'q, Q: Bind<'q>>(
    query: Q,
    entries: &'q [NewEntry],
    at: DateTime<Utc>,
) -> Q {
    fn col<'e, T>(entries: &'e [NewEntry], f: impl Fn(&'e NewEntry) -> T) -> Vec<T> {
        entries.iter().map(f).collect()
    }
    query
        .bind(col(entries, |e| e.lead_id))
        .bind(col(entries, |e| e.kind))
        .bind(col(entries, |e| e.workflow.as_str()))
        .bind(col(entries, |e| e.enrollment))
        .bind(col(entries, |e| e.step))
        .bind(col(entries, |e| e.asset_id.as_deref()))
        .bind(col(entries, |e| e.channel))
        .bind(col(entries, |e| e.reason.as_str()))
        .bind(col(entries, |e| e.notified.as_deref()))
        .bind(vec![at; entries.len()])
}

/// What an insert into the log returns for [`count_into_daily`].
pub(crate) const RETURNING: &str = "returning workflow, kind, asset_id, reason, at";

/// The insert that adds to `metrics_daily` (kind `nurture`, by workflow) what the log rows
/// of CTE `logged` (inserted `... RETURNING` [`RETURNING`]) count for: their kind, a
/// `touch` if they sent one, and `exited_to_mql` for an exit on MQL. Every statement that
/// writes the log runs it, so the daily sums stay exact; counting in the writing statement
/// spares each write the PL/pgSQL call and transition table of the statement trigger that
/// did it before.
pub(crate) fn count_into_daily(logged: &str) -> String {
    format!(
        "insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected)
         select (r.at at time zone 'UTC')::date, 'nurture', 'workflow', r.workflow, c.what,
                count(*), 0, 0, 0
           from {logged} r
          cross join lateral (values (r.kind),
                                     (case when r.asset_id is not null then 'touch' end),
                                     (case when r.kind = 'exited' and r.reason = 'MQL'
                                           then 'exited_to_mql' end)) as c(what)
          where c.what is not null
          group by 1, 4, 5"
    )
}

/// Writes `entries` (see [`ON_CONFLICT`]) and counts them into the daily sums.
pub async fn record(
    conn: &mut PgConnection,
    entries: &[NewEntry],
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "with logged as (insert into nurture_log ({WRITE_COLUMNS})
                         select {WRITE_COLUMNS} from {} {ON_CONFLICT} {RETURNING})
         {}",
        unnest_entries(1),
        count_into_daily("logged"),
    );
    bind_entries(sqlx::query(&sql), entries, at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Per lead of `ids` that has one, who hears about its nurture: the account owner, else the
/// rep it was last assigned to.
pub async fn owners(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<HashMap<Uuid, String>> {
    let rows: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "select l.id, coalesce(a.owner_email,
                               (select r.email from assignments s join reps r on r.id = s.rep_id
                                 where s.lead_id = l.id
                                 order by s.assigned_at desc, s.id desc limit 1))
           from leads l left join accounts a on a.id = l.account_id
          where l.id = any($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, owner)| owner.map(|o| (id, o)))
        .collect())
}

/// A log row as the lead view shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EntryView {
    pub kind: String,
    pub workflow: String,
    pub enrollment: i32,
    pub step: i16,
    pub asset_id: Option<String>,
    pub channel: Option<String>,
    pub reason: String,
    pub notified: Option<String>,
    pub at: DateTime<Utc>,
}

/// The newest `limit` log rows of a lead, oldest first.
pub async fn for_lead(
    conn: &mut PgConnection,
    lead_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<EntryView>> {
    sqlx::query_as(
        "select * from (select kind, workflow, enrollment, step, asset_id, channel, reason,
                               notified, at, id
                          from nurture_log where lead_id = $1 order by id desc limit $2) t
          order by id",
    )
    .bind(lead_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
