//! The event log: every accepted event, stored once per `(source, event_id)`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use super::{Bind, unnest};
use crate::domain::{EventType, LeadEvent};

/// Columns of an event row, in the order [`bind_events`] binds them.
pub(crate) const WRITE_COLUMNS: &str =
    "source, event_id, lead_id, event_type, occurred_at, received_at, payload";

const WRITE_TYPES: [&str; 7] = [
    "text",
    "text",
    "uuid",
    "text",
    "timestamptz",
    "timestamptz",
    "jsonb",
];

/// How many parameters [`bind_events`] binds.
pub(crate) const WRITE_PARAMS: usize = WRITE_TYPES.len();

/// `unnest($first::text[], ...) as e(<WRITE_COLUMNS>)`: the rows bound by [`bind_events`].
pub(crate) fn unnest_events(first: usize) -> String {
    unnest("e", WRITE_COLUMNS, &WRITE_TYPES, first)
}

/// An event to store, with the lead it belongs to.
pub struct NewEvent<'a> {
    pub event: &'a LeadEvent,
    pub lead_id: Uuid,
}

/// Binds `events` column by column, matching [`unnest_events`].
pub(crate) fn bind_events<'q, Q: Bind<'q>>(
    query: Q,
    events: &'q [NewEvent<'q>],
    received_at: DateTime<Utc>,
) -> Q {
    query
        .bind(
            events
                .iter()
                .map(|e| e.event.source.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.event.event_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| e.lead_id).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.event.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.event.occurred_at)
                .collect::<Vec<_>>(),
        )
        .bind(vec![received_at; events.len()])
        .bind(
            events
                .iter()
                .map(|e| Json(e.event.canonical()))
                .collect::<Vec<_>>(),
        )
}

/// For the `(source, event_id)` keys already stored, the lead each belongs to.
pub async fn leads_of(
    conn: &mut PgConnection,
    keys: &[(&str, &str)],
) -> sqlx::Result<Vec<(String, String, Uuid)>> {
    let sources: Vec<&str> = keys.iter().map(|k| k.0).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
    sqlx::query_as(
        r#"select e.source, e.event_id, e.lead_id
           from lead_events e join unnest($1::text[], $2::text[]) as k(source, event_id)
             on e.source = k.source and e.event_id = k.event_id"#,
    )
    .bind(sources)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// Every event of the given leads as (lead, type, occurred_at): the input of intent refolds.
pub async fn intent_histories(
    conn: &mut PgConnection,
    lead_ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, EventType, DateTime<Utc>)>> {
    let rows: Vec<(Uuid, String, DateTime<Utc>)> = sqlx::query_as(
        "select lead_id, event_type, occurred_at from lead_events where lead_id = any($1)",
    )
    .bind(lead_ids)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(lead, t, at)| {
            Ok((
                lead,
                t.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                at,
            ))
        })
        .collect()
}

/// An event as shown in a lead's history.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct EventSummary {
    pub source: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// The lead's latest events by `occurred_at`, newest first.
pub async fn recent(
    conn: &mut PgConnection,
    lead_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<EventSummary>> {
    sqlx::query_as(
        r#"select source, event_id, event_type, occurred_at, received_at
           from lead_events where lead_id = $1
           order by occurred_at desc, id desc limit $2"#,
    )
    .bind(lead_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
