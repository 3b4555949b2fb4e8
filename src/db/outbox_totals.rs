//! The numbers of the operator's outbox view: deliveries by topic and by endpoint, the
//! oldest pending delivery, and the messages no endpoint was subscribed to.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Deliveries of one topic, by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TopicTotals {
    pub topic: String,
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
}

/// Deliveries to one endpoint, by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EndpointTotals {
    pub endpoint_id: Uuid,
    pub url: String,
    pub enabled: bool,
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
}

const BY_STATUS: &str = "count(*) filter (where d.status = 'pending') as pending,
    count(*) filter (where d.status = 'delivered') as delivered,
    count(*) filter (where d.status = 'dead') as dead";

/// Deliveries by the topic of their message, for topics that have any.
pub async fn by_topic(conn: &mut PgConnection) -> sqlx::Result<Vec<TopicTotals>> {
    sqlx::query_as(&format!(
        "select o.topic, {BY_STATUS}
           from deliveries d join outbox o on o.id = d.message_id
          group by o.topic order by o.topic"
    ))
    .fetch_all(conn)
    .await
}

/// Deliveries by endpoint, for every endpoint (oldest endpoint first).
pub async fn by_endpoint(conn: &mut PgConnection) -> sqlx::Result<Vec<EndpointTotals>> {
    // `count(d.id)`: an endpoint without deliveries has one joined row of nulls.
    let counts = BY_STATUS.replace("count(*)", "count(d.id)");
    sqlx::query_as(&format!(
        "select e.id as endpoint_id, e.url, e.enabled, {counts}
           from webhook_endpoints e left join deliveries d on d.endpoint_id = e.id
          group by e.id order by e.created_at, e.id"
    ))
    .fetch_all(conn)
    .await
}

/// When the oldest pending delivery was created; `None` when nothing is pending.
pub async fn oldest_pending(conn: &mut PgConnection) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("select min(created_at) from deliveries where status = 'pending'")
        .fetch_one(conn)
        .await
}

/// How many outbox messages have no delivery: no enabled endpoint was subscribed to their
/// topic when they were written.
pub async fn messages_without_delivery(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from outbox o
          where not exists (select 1 from deliveries d where d.message_id = o.id)",
    )
    .fetch_one(conn)
    .await
}
