//! The event log: every accepted event, stored once per `(source, event_id)`.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use crate::domain::{EventType, LeadEvent};

/// Stores `event` for `lead_id` unless its `(source, event_id)` is already stored.
/// Returns the new row id, or `None` for a duplicate.
pub async fn insert_if_new(
    conn: &mut PgConnection,
    event: &LeadEvent,
    payload: &serde_json::Value,
    lead_id: Uuid,
    received_at: DateTime<Utc>,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        r#"insert into lead_events (source, event_id, lead_id, event_type, occurred_at, received_at, payload)
           values ($1, $2, $3, $4, $5, $6, $7)
           on conflict on constraint lead_events_source_event_id_key do nothing
           returning id"#,
    )
    .bind(&event.source)
    .bind(&event.event_id)
    .bind(lead_id)
    .bind(event.event_type.as_str())
    .bind(event.occurred_at)
    .bind(received_at)
    .bind(Json(payload))
    .fetch_optional(conn)
    .await
}

/// The lead an already stored event belongs to.
pub async fn lead_of(
    conn: &mut PgConnection,
    source: &str,
    event_id: &str,
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("select lead_id from lead_events where source = $1 and event_id = $2")
        .bind(source)
        .bind(event_id)
        .fetch_optional(conn)
        .await
}

/// Every event of a lead as (type, occurred_at): the input of an intent refold.
pub async fn intent_history(
    conn: &mut PgConnection,
    lead_id: Uuid,
) -> sqlx::Result<Vec<(EventType, DateTime<Utc>)>> {
    let rows: Vec<(String, DateTime<Utc>)> =
        sqlx::query_as("select event_type, occurred_at from lead_events where lead_id = $1")
            .bind(lead_id)
            .fetch_all(conn)
            .await?;
    rows.into_iter()
        .map(|(t, at)| Ok((t.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?, at)))
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
