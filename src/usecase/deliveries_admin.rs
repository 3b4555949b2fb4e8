//! What operators do with deliveries: read an endpoint's delivery log, send a message again,
//! replay an endpoint's dead letters, and see the outbox as a whole.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Page, webhook_endpoints::not_found};
use crate::{
    db::{
        delivery_log::{self, Attempt, Rearmed},
        outbox_totals::{self, EndpointTotals, TopicTotals},
        webhook_endpoints::{self, DeliveryCounts},
    },
    domain::{Topic, message_id},
    error::ApiError,
};

/// The statuses a delivery can be in (`deliveries_status_known`).
pub const STATUSES: [&str; 3] = ["pending", "delivered", "dead"];

/// A delivery as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    /// The message's public id, `msg_<outbox id>`.
    pub message_id: String,
    pub topic: String,
    pub status: String,
    /// How many attempts were made.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<Attempt>,
}

/// A page of endpoint `id`'s deliveries, newest first, optionally only those in `status`.
pub async fn for_endpoint(
    pool: &PgPool,
    id: Uuid,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Page<DeliveryView>, ApiError> {
    if let Some(status) = status.filter(|s| !STATUSES.contains(s)) {
        return Err(ApiError::field(
            "status",
            format!("{status:?} is not one of {}", STATUSES.join(", ")),
        ));
    }
    let mut conn = pool.acquire().await?;
    webhook_endpoints::by_id(&mut conn, id, false)
        .await?
        .ok_or_else(|| not_found(id))?;
    let (deliveries, total) =
        delivery_log::for_endpoint(&mut conn, id, status, limit, offset).await?;
    let ids: Vec<i64> = deliveries.iter().map(|d| d.id).collect();
    let mut attempts: HashMap<i64, Vec<Attempt>> = HashMap::new();
    for attempt in delivery_log::attempts_of(&mut conn, &ids).await? {
        attempts
            .entry(attempt.delivery_id)
            .or_default()
            .push(attempt);
    }
    let items = deliveries
        .into_iter()
        .map(|d| DeliveryView {
            attempt_log: attempts.remove(&d.id).unwrap_or_default(),
            id: d.id,
            message_id: message_id(d.message_id),
            topic: d.topic,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_error: d.last_error,
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        })
        .collect();
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}

/// What retrying a message did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Retried {
    pub message_id: String,
    /// The deliveries now due.
    #[schema(value_type = Vec<Object>)]
    pub rearmed: Vec<Rearmed>,
    /// Dead or pending deliveries left alone because their endpoint is disabled.
    #[schema(value_type = Vec<Object>)]
    pub skipped_disabled: Vec<Rearmed>,
}

/// Makes every dead or pending delivery of outbox message `id` due now, except those to
/// disabled endpoints, which are listed apart.
#[tracing::instrument(skip_all, fields(message.id = id))]
pub async fn retry_message(
    pool: &PgPool,
    id: i64,
    now: DateTime<Utc>,
) -> Result<Retried, ApiError> {
    let mut tx = pool.begin().await?;
    if !delivery_log::message_exists(&mut tx, id).await? {
        return Err(ApiError::NotFound(format!(
            "outbox message {}",
            message_id(id)
        )));
    }
    let rearmed = delivery_log::rearm_message(&mut tx, id, now).await?;
    let skipped_disabled = delivery_log::held_by_disabled(&mut tx, id).await?;
    wake_if_any(&mut tx, rearmed.len() as u64).await?;
    tx.commit().await?;
    tracing::info!(
        deliveries.rearmed = rearmed.len(),
        "re-armed a message's deliveries"
    );
    Ok(Retried {
        message_id: message_id(id),
        rearmed,
        skipped_disabled,
    })
}

/// What replaying an endpoint's dead deliveries did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    pub endpoint_id: Uuid,
    /// How many dead deliveries are pending again.
    pub rearmed: u64,
}

/// Makes every dead delivery of endpoint `id` pending and due now; refused (409) while the
/// endpoint is disabled, since nothing would be sent.
#[tracing::instrument(skip_all, fields(endpoint.id = %id))]
pub async fn replay_dead(
    pool: &PgPool,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Replayed, ApiError> {
    let mut tx = pool.begin().await?;
    // Locked, so that it cannot be disabled between this check and the re-arming.
    let endpoint = webhook_endpoints::by_id(&mut tx, id, true)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !endpoint.enabled {
        return Err(ApiError::Conflict(format!(
            "webhook endpoint {id} is disabled ({}); enable it before replaying",
            endpoint
                .disabled_reason
                .as_deref()
                .unwrap_or("no reason given")
        )));
    }
    let rearmed = delivery_log::rearm_dead(&mut tx, id, now).await?;
    wake_if_any(&mut tx, rearmed).await?;
    tx.commit().await?;
    tracing::info!(deliveries.rearmed = rearmed, "replayed dead deliveries");
    Ok(Replayed {
        endpoint_id: id,
        rearmed,
    })
}

/// Tells the dispatchers (at commit) that deliveries are due, as the fan-out trigger does.
async fn wake_if_any(conn: &mut PgConnection, rearmed: u64) -> Result<(), ApiError> {
    if rearmed > 0 {
        delivery_log::wake_dispatchers(conn).await?;
    }
    Ok(())
}

/// The operator's view of the outbox.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Every delivery, by status.
    pub deliveries: DeliveryCounts,
    /// Deliveries by their message's topic; every known topic is listed.
    pub by_topic: Vec<TopicTotals>,
    /// Deliveries by endpoint; every endpoint is listed.
    pub by_endpoint: Vec<EndpointTotals>,
    /// When the oldest pending delivery was created, and how long ago (the lag); `None`
    /// when nothing is pending.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub lag_seconds: Option<i64>,
    /// Messages that no endpoint was subscribed to when they were written: they have no
    /// deliveries at all, and are not in the counts above.
    pub messages_without_endpoint: i64,
}

/// The outbox's numbers as of `now`, all read from one snapshot.
pub async fn overview(pool: &PgPool, now: DateTime<Utc>) -> Result<Overview, ApiError> {
    let mut tx = pool.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let mut by_topic = outbox_totals::by_topic(&mut tx).await?;
    let by_endpoint = outbox_totals::by_endpoint(&mut tx).await?;
    let oldest_pending_at = outbox_totals::oldest_pending(&mut tx).await?;
    let messages_without_endpoint = outbox_totals::messages_without_delivery(&mut tx).await?;
    tx.commit().await?;
    let mut deliveries = DeliveryCounts::default();
    for t in &by_topic {
        deliveries.pending += t.pending;
        deliveries.delivered += t.delivered;
        deliveries.dead += t.dead;
    }
    for topic in Topic::ALL.map(Topic::as_str) {
        if !by_topic.iter().any(|t| t.topic == topic) {
            by_topic.push(TopicTotals {
                topic: topic.to_owned(),
                pending: 0,
                delivered: 0,
                dead: 0,
            });
        }
    }
    by_topic.sort_by(|a, b| a.topic.cmp(&b.topic));
    // A test clock (or a replica's skew) can put `now` before the row: no negative lag.
    let lag_seconds = oldest_pending_at.map(|at| (now - at).num_seconds().max(0));
    Ok(Overview {
        deliveries,
        by_topic,
        by_endpoint,
        oldest_pending_at,
        lag_seconds,
        messages_without_endpoint,
    })
}
