//! The nurture log: every enrollment, move, advance, trigger and exit, with the touch it sent;
//! and nurture's messages, addressed to a lead's owner by the statement that writes them
//! (`db::lead_write`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::bind::{Bind, column, unnest};

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
/// insert of [`WRITE_COLUMNS`]: each one that tells the owner gets the email the writing
/// statement's CTE `ow` found for its lead (see `db::lead_write`).
pub(crate) fn entries_select(first: usize) -> String {
    let rows = unnest("n", BOUND_COLUMNS, &WRITE_TYPES, first);
    // A subquery, not a join, keeps the rows in the order given, which their ids follow.
    format!(
        "n.lead_id, n.kind, n.workflow, n.enrollment, n.step, n.asset_id, n.channel, n.reason,
                    case when n.tells_owner then (select ow.email from ow where ow.id = n.lead_id)
                    end,
                    n.at
               from {rows}"
    )
}

/// The leads of CTE `ow` that have nobody to tell, for the statement's last select.
pub(crate) const UNOWNED: &str =
    "coalesce((select array_agg(id) from ow where email is null), '{}')";

/// A select, for an insert into the outbox, of the messages bound by [`bind_messages`] from
/// `$first` on, in their order; those to an owner go to the one CTE `ow` found, or nowhere.
pub(crate) fn messages_select(first: usize) -> String {
    // `$first` is the leads for `ow`.
    let rows = unnest(
        "m",
        "lead_id, recipient, topic, payload, dedupe_key, created_at",
        &["uuid", "text", "text", "jsonb", "text", "timestamptz"],
        first + 1,
    );
    format!(
        "select m.topic, r.recipient, m.payload, m.dedupe_key, m.created_at
               from {rows}
              cross join lateral (select coalesce(m.recipient,
                                                  (select ow.email from ow
                                                    where ow.id = m.lead_id))) as r(recipient)
              where r.recipient is not null"
    )
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

/// What makes an insert of entries skip a touch already logged for its lead, enrollment and
/// step, so a retried write cannot send a step twice.
pub(crate) const ON_CONFLICT: &str =
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
