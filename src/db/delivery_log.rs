//! The operator's side of deliveries: reading an endpoint's deliveries with their attempts,
//! re-arming failed ones, and the totals of the outbox view. Claiming and recording attempts
//! is the dispatcher's business, not this module's.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// A delivery of one message to one endpoint, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    /// The outbox row id.
    pub message_id: i64,
    pub topic: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Attempt {
    #[serde(skip)]
    pub delivery_id: i64,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; `None` when it did not answer.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
}

/// A page of endpoint `endpoint_id`'s deliveries, newest first, optionally of one `status`,
/// and the total.
pub async fn for_endpoint(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Delivery>, i64)> {
    let total = sqlx::query_scalar(
        "select count(*) from deliveries
          where endpoint_id = $1 and ($2::text is null or status = $2)",
    )
    .bind(endpoint_id)
    .bind(status)
    .fetch_one(&mut *conn)
    .await?;
    let items = sqlx::query_as(
        "select d.id, d.message_id, o.topic, d.status, d.attempts, d.next_attempt_at,
                d.last_error, d.delivered_at, d.created_at
           from deliveries d join outbox o on o.id = d.message_id
          where d.endpoint_id = $1 and ($2::text is null or d.status = $2)
          order by d.id desc
          limit $3 offset $4",
    )
    .bind(endpoint_id)
    .bind(status)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((items, total))
}

/// Every attempt at `deliveries`, oldest first within each delivery.
pub async fn attempts_of(
    conn: &mut PgConnection,
    deliveries: &[i64],
) -> sqlx::Result<Vec<Attempt>> {
    sqlx::query_as(
        "select delivery_id, attempted_at, status_code, latency_ms, error
           from delivery_attempts where delivery_id = any($1)
          order by delivery_id, id",
    )
    .bind(deliveries)
    .fetch_all(conn)
    .await
}

/// A delivery made due again by an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Rearmed {
    pub delivery_id: i64,
    pub endpoint_id: Uuid,
    /// What it was before: `dead` or `pending`.
    pub previous_status: String,
}

/// Makes every dead or pending delivery of message `message_id` to an enabled endpoint due
/// at `now`. The attempt count stays: it counts the attempts made, and the dispatcher's
/// backoff and dead-letter threshold go on from there.
pub async fn rearm_message(
    conn: &mut PgConnection,
    message_id: i64,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Rearmed>> {
    sqlx::query_as(
        "with due as (
             select d.id, d.status
               from deliveries d join webhook_endpoints e on e.id = d.endpoint_id
              where d.message_id = $1 and d.status in ('dead', 'pending') and e.enabled
              for update of d)
         update deliveries d set status = 'pending', next_attempt_at = $2
           from due
          where d.id = due.id
         returning d.id as delivery_id, d.endpoint_id, due.status as previous_status",
    )
    .bind(message_id)
    .bind(now)
    .fetch_all(conn)
    .await
}

/// The dead or pending deliveries of message `message_id` whose endpoint is disabled.
pub async fn held_by_disabled(
    conn: &mut PgConnection,
    message_id: i64,
) -> sqlx::Result<Vec<Rearmed>> {
    sqlx::query_as(
        "select d.id as delivery_id, d.endpoint_id, d.status as previous_status
           from deliveries d join webhook_endpoints e on e.id = d.endpoint_id
          where d.message_id = $1 and d.status in ('dead', 'pending') and not e.enabled
          order by d.id",
    )
    .bind(message_id)
    .fetch_all(conn)
    .await
}

/// Makes every dead delivery of endpoint `endpoint_id` pending and due at `now`; returns
/// how many there were. The attempt counts stay, as in [`rearm_message`].
pub async fn rearm_dead(
    conn: &mut PgConnection,
    endpoint_id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update deliveries set status = 'pending', next_attempt_at = $2
          where endpoint_id = $1 and status = 'dead'",
    )
    .bind(endpoint_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Whether outbox message `id` exists.
pub async fn message_exists(conn: &mut PgConnection, id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from outbox where id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Wakes the dispatchers at commit, on the channel the fan-out trigger notifies.
pub async fn wake_dispatchers(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("select pg_notify('outbox_deliveries', '')")
        .execute(conn)
        .await?;
    Ok(())
}
