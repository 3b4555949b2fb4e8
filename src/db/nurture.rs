//! The nurture log: every enrollment, move, advance, trigger and exit, with the touch it sent;
//! and nurture's messages, addressed to a lead's owner by the statement that writes them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::{
    bind::{Bind, column, unnest},
    outbox,
};

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
    /// Whether it told the lead's owner, whose email the writing statement puts in `notified`
    /// (see [`Message`]).
    pub tells_owner: bool,
}

/// A message nurture sends: a touch for the MAP, or a task or notice for the lead's owner
/// rep. The statement that writes it finds the owner ([`owners_cte`]), so telling one costs no
/// round trip of its own, and writes nothing for a lead that has none.
#[derive(Debug, Clone)]
pub struct Message {
    pub lead_id: Uuid,
    /// Who receives it; `None` for the lead's owner.
    pub recipient: Option<String>,
    pub topic: &'static str,
    pub payload: serde_json::Value,
    pub dedupe_key: String,
}

pub(crate) const WRITE_COLUMNS: &str =
    "lead_id, kind, workflow, enrollment, step, asset_id, channel, reason, notified, at";
/// The columns the entries are bound as: [`WRITE_COLUMNS`] with `tells_owner` for `notified`.
const BOUND_COLUMNS: &str =
    "lead_id, kind, workflow, enrollment, step, asset_id, channel, reason, tells_owner, at";
const WRITE_TYPES: [&str; 10] = [
    "uuid",
    "text",
    "text",
    "int4",
    "int2",
    "text",
    "text",
    "text",
    "bool",
    "timestamptz",
];
pub(crate) const WRITE_PARAMS: usize = WRITE_TYPES.len();

/// The rows bound by [`bind_entries`] from `$first` on, as the select list and source of an
/// insert of [`WRITE_COLUMNS`]; with `owners`, each one that tells the owner gets the email
/// CTE `ow` ([`owners_cte`]) found, else none does.
pub(crate) fn entries_select(first: usize, owners: bool) -> String {
    let rows = unnest("n", BOUND_COLUMNS, &WRITE_TYPES, first);
    let columns = "n.lead_id, n.kind, n.workflow, n.enrollment, n.step, n.asset_id, n.channel, \
                   n.reason";
    if owners {
        // A subquery, not a join, keeps the rows in the order given, which their ids follow.
        format!(
            "{columns},
                    case when n.tells_owner then (select ow.email from ow where ow.id = n.lead_id)
                    end,
                    n.at
               from {rows}"
        )
    } else {
        format!("{columns}, null::text, n.at from {rows}")
    }
}

/// The CTE `ow`: for each lead named in the `uuid[]` parameter `$ids`, who hears about its
/// nurture (the account owner, else the rep it was last assigned to; null for nobody).
pub(crate) fn owners_cte(ids: usize) -> String {
    format!(
        "ow as (select l.id, coalesce(a.owner_email,
                                      (select r.email from assignments s
                                         join reps r on r.id = s.rep_id
                                        where s.lead_id = l.id
                                        order by s.assigned_at desc, s.id desc limit 1)) as email
                  from leads l left join accounts a on a.id = l.account_id
                 where l.id = any(${ids}::uuid[]))"
    )
}

/// The leads of CTE `ow` that have nobody to tell, for a statement's last select; `'{}'`
/// without `ow`.
pub(crate) fn unowned(owners: bool) -> &'static str {
    if owners {
        "coalesce((select array_agg(id) from ow where email is null), '{}')"
    } else {
        "'{}'::uuid[]"
    }
}

/// An insert into the outbox of the messages bound by [`bind_messages`] from `$first` on, in
/// their order; with `owners`, those to an owner go to the one CTE `ow` found, or nowhere.
pub(crate) fn insert_messages(first: usize, owners: bool) -> String {
    // `$first` is the leads for `ow`.
    let rows = unnest(
        "m",
        "lead_id, recipient, topic, payload, dedupe_key, created_at",
        &["uuid", "text", "text", "jsonb", "text", "timestamptz"],
        first + 1,
    );
    let columns = outbox::WRITE_COLUMNS;
    if owners {
        format!(
            "insert into outbox ({columns})
             select m.topic, r.recipient, m.payload, m.dedupe_key, m.created_at
               from {rows}
              cross join lateral (select coalesce(m.recipient,
                                                  (select ow.email from ow
                                                    where ow.id = m.lead_id))) as r(recipient)
              where r.recipient is not null"
        )
    } else {
        format!(
            "insert into outbox ({columns})
             select m.topic, m.recipient, m.payload, m.dedupe_key, m.created_at from {rows}"
        )
    }
}

/// How many parameters [`bind_messages`] binds; the first is the leads whose owner to find
/// (for [`owners_cte`]).
pub(crate) const MESSAGE_PARAMS: usize = 7;

/// Binds `messages`, created at `now`, for [`insert_messages`], after the leads whose owner
/// they need.
pub(crate) fn bind_messages<'q, Q: Bind<'q>>(
    query: Q,
    messages: &'q [Message],
    now: DateTime<Utc>,
) -> Q {
    let owner_of: Vec<Uuid> = messages
        .iter()
        .filter(|m| m.recipient.is_none())
        .map(|m| m.lead_id)
        .collect();
    query
        .bind(owner_of)
        .bind(column(messages, |m| m.lead_id))
        .bind(column(messages, |m| m.recipient.as_deref()))
        .bind(column(messages, |m| m.topic))
        .bind(column(messages, |m| Json(&m.payload)))
        .bind(column(messages, |m| m.dedupe_key.as_str()))
        .bind(vec![now; messages.len()])
}

/// Whether any of `messages` goes to an owner (the statement needs [`owners_cte`]).
pub(crate) fn to_owners(messages: &[Message]) -> bool {
    messages.iter().any(|m| m.recipient.is_none())
}

/// What makes an insert of entries skip a touch already logged for its lead, enrollment and
/// step, so a retried write cannot send a step twice.
const ON_CONFLICT: &str =
    "on conflict (lead_id, enrollment, step) where asset_id is not null do nothing";

/// Binds `entries`, logged at `at`, column by column, matching [`entries_select`].
pub(crate) fn bind_entries<'q, Q: Bind<'q>>(
    query: Q,
    entries: &'q [NewEntry],
    at: DateTime<Utc>,
) -> Q {
    query
        .bind(column(entries, |e| e.lead_id))
        .bind(column(entries, |e| e.kind))
        .bind(column(entries, |e| e.workflow.as_str()))
        .bind(column(entries, |e| e.enrollment))
        .bind(column(entries, |e| e.step))
        .bind(column(entries, |e| e.asset_id.as_deref()))
        .bind(column(entries, |e| e.channel))
        .bind(column(entries, |e| e.reason.as_str()))
        .bind(column(entries, |e| e.tells_owner))
        .bind(vec![at; entries.len()])
}

/// What an insert into the log returns for [`count_into_daily`].
const RETURNING: &str = "returning workflow, kind, asset_id, reason, at";

/// The insert that adds to `metrics_daily` (kind `nurture`, by workflow) what the log rows
/// of CTE `logged` (inserted `... RETURNING` [`RETURNING`]) count for: their kind, a
/// `touch` if they sent one, and `exited_to_mql` for an exit on MQL. A statement that may
/// skip rows it was given (see [`ON_CONFLICT`]) counts what it inserted this way; one that
/// inserts every row or fails counts them beforehand ([`DailyCounts`]). Either way the daily
/// sums stay exact, and counting in the writing statement spares each write the PL/pgSQL
/// call and transition table of the statement trigger that did it before.
fn count_into_daily(logged: &str) -> String {
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

/// What log rows, all written at one moment, add to `metrics_daily`: per workflow and
/// reason, as [`count_into_daily`] counts them. For a statement that inserts every row or
/// fails, so that the sums need neither the rows back nor an aggregate over them.
pub(crate) struct DailyCounts<'e> {
    day: NaiveDate,
    counts: BTreeMap<(&'e str, &'static str), i64>,
}

impl<'e> DailyCounts<'e> {
    pub(crate) fn of(entries: &'e [NewEntry], at: DateTime<Utc>) -> Self {
        let mut counts = BTreeMap::new();
        for e in entries {
            let touch = e.asset_id.is_some().then_some("touch");
            let to_mql = (e.kind == "exited" && e.reason == "MQL").then_some("exited_to_mql");
            for what in [Some(e.kind), touch, to_mql].into_iter().flatten() {
                *counts.entry((e.workflow.as_str(), what)).or_insert(0) += 1;
            }
        }
        DailyCounts {
            day: at.date_naive(),
            counts,
        }
    }

    /// The insert of these counts, bound from parameter `$first` on by [`Self::bind`].
    pub(crate) fn insert(first: usize) -> String {
        format!(
            "insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected)
             select ${first}::date, 'nurture', 'workflow', m.key, m.reason, m.n, 0, 0, 0
               from unnest(${}::text[], ${}::text[], ${}::int8[]) as m(key, reason, n)",
            first + 1,
            first + 2,
            first + 3,
        )
    }

    /// How many parameters [`Self::bind`] binds.
    pub(crate) const PARAMS: usize = 4;

    pub(crate) fn bind<'q, Q: Bind<'q>>(&self, query: Q) -> Q {
        let (mut keys, mut reasons, mut ns) = (Vec::new(), Vec::new(), Vec::new());
        for (&(workflow, what), &n) in &self.counts {
            keys.push(workflow.to_owned());
            reasons.push(what);
            ns.push(n);
        }
        query.bind(self.day).bind(keys).bind(reasons).bind(ns)
    }
}

/// Writes `entries` (see [`ON_CONFLICT`]), counts them into the daily sums, and enqueues
/// `messages` (skipping those whose key is there already), in one statement. Returns the leads
/// with messages for an owner but none: nobody was told.
pub async fn record(
    conn: &mut PgConnection,
    entries: &[NewEntry],
    messages: &[Message],
    at: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let owners = to_owners(messages);
    let messages_at = 1 + WRITE_PARAMS;
    let mut ctes = Vec::new();
    if owners {
        ctes.push(owners_cte(messages_at));
    }
    ctes.push(format!(
        "logged as (insert into nurture_log ({WRITE_COLUMNS})
                    select {} {ON_CONFLICT} {RETURNING})",
        entries_select(1, owners)
    ));
    ctes.push(format!("counted as ({})", count_into_daily("logged")));
    if !messages.is_empty() {
        ctes.push(format!(
            "sent as ({} {})",
            insert_messages(messages_at, owners),
            outbox::ON_CONFLICT
        ));
    }
    let sql = format!("with {} select {}", ctes.join(",\n"), unowned(owners));
    let mut query = bind_entries(sqlx::query_scalar(&sql), entries, at);
    if !messages.is_empty() {
        query = bind_messages(query, messages, at);
    }
    query.fetch_one(conn).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(workflow: &str, kind: &'static str, asset: Option<&str>, reason: &str) -> NewEntry {
        NewEntry {
            lead_id: Uuid::nil(),
            kind,
            workflow: workflow.to_owned(),
            enrollment: 1,
            step: 0,
            asset_id: asset.map(str::to_owned),
            channel: asset.map(|_| "email"),
            reason: reason.to_owned(),
            tells_owner: false,
        }
    }

    #[test]
    fn daily_counts_count_kinds_touches_and_exits_to_mql_per_workflow() {
        let entries = [
            entry("Nurture_late_2", "enrolled", Some("guide"), "segmented"),
            entry(
                "Nurture_late_2",
                "enrolled",
                Some("guide"),
                "recycled: Rejected_NoBudget",
            ),
            entry("Nurture_late_2", "advanced", Some("demo"), "pricing_spike"),
            entry("Nurture_late_2", "triggered", None, "pricing_spike"),
            entry("Nurture_late_2", "exited", None, "MQL"),
            entry("Nurture_early_3", "exited", None, "Disqualified"),
            entry(
                "Nurture_early_3",
                "moved",
                Some("guide"),
                "moved from Nurture_late_3",
            ),
        ];
        let at = "2026-11-20T23:59:59Z".parse().unwrap();
        let counts = DailyCounts::of(&entries, at);
        assert_eq!(counts.day, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
        let got: Vec<(&str, &str, i64)> = counts
            .counts
            .iter()
            .map(|(&(w, what), &n)| (w, what, n))
            .collect();
        assert_eq!(
            got,
            [
                ("Nurture_early_3", "exited", 1),
                ("Nurture_early_3", "moved", 1),
                ("Nurture_early_3", "touch", 1),
                ("Nurture_late_2", "advanced", 1),
                ("Nurture_late_2", "enrolled", 2),
                ("Nurture_late_2", "exited", 1),
                ("Nurture_late_2", "exited_to_mql", 1),
                ("Nurture_late_2", "touch", 3),
                ("Nurture_late_2", "triggered", 1),
            ]
        );
    }
}
