//! Inbound dead letters: records a connector authenticated but could not map (see the
//! migration), kept for listing and replay.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{bind::column, unnest};
use crate::domain::Unmappable;

/// A dead letter as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeadLetter {
    pub id: Uuid,
    pub source: String,
    /// The vendor's id for the record (Salesforce: the notification Id).
    pub event_id: String,
    pub reason: String,
    pub payload: String,
    pub received_at: DateTime<Utc>,
    /// When a replay ingested it; a dead letter is replayed at most once.
    pub replayed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, source, event_id, reason, payload, received_at, replayed_at";

/// Stores `letters` from `source` in one statement, each unless one with its event id is
/// kept already (a redelivery). Returns how many were new.
pub async fn insert_new(
    conn: &mut PgConnection,
    source: &str,
    letters: &[Unmappable],
    at: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let ids: Vec<Uuid> = letters.iter().map(|_| Uuid::now_v7()).collect();
    let rows = unnest(
        "d",
        "id, event_id, reason, payload",
        &["uuid", "text", "text", "text"],
        3,
    );
    let done = sqlx::query(&format!(
        "insert into inbound_dead_letters (id, source, event_id, reason, payload, received_at)
         select d.id, $1, d.event_id, d.reason, d.payload, $2 from {rows}
         on conflict on constraint inbound_dead_letters_source_event_id_key do nothing"
    ))
    .bind(source)
    .bind(at)
    .bind(ids)
    .bind(column(letters, |l| l.event_id.as_str()))
    .bind(column(letters, |l| l.reason.as_str()))
    .bind(column(letters, |l| l.payload.as_str()))
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A page of dead letters, newest first, optionally of one source, with the total.
pub async fn list(
    conn: &mut PgConnection,
    source: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<DeadLetter>, i64)> {
    let total = sqlx::query_scalar(
        "select count(*) from inbound_dead_letters where $1::text is null or source = $1",
    )
    .bind(source)
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query_as(&format!(
        "select {COLUMNS} from inbound_dead_letters
          where $1::text is null or source = $1
          order by received_at desc, id desc
          limit $2 offset $3"
    ))
    .bind(source)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

/// Dead letter `id`, locked until the transaction ends so that one replay runs at a time.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<DeadLetter>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from inbound_dead_letters where id = $1 for update"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Marks dead letter `id` replayed at `at`.
pub async fn mark_replayed(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<DeadLetter> {
    sqlx::query_as(&format!(
        "update inbound_dead_letters set replayed_at = $2 where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(at)
    .fetch_one(conn)
    .await
}
