//! Webhook endpoints: the receivers of outbox messages, each with its topics and signing
//! secret. Nothing here reads the secret back: it leaves the service only in the answer that
//! sets it, and the dispatcher reads it for itself.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// An endpoint as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub topics: Vec<String>,
    /// `standard_webhooks` (the signed envelope) or `slack` (a Slack incoming webhook).
    pub format: String,
    /// Only the messages for this person (a rep's or manager's email); every one when none.
    pub recipient: Option<String>,
    pub enabled: bool,
    /// Why it is disabled (`None` while enabled).
    pub disabled_reason: Option<String>,
    /// The rep whose record keeps this endpoint (their Slack channel): it changes only with
    /// the rep's `slack_webhook_url`, never over the endpoints API.
    pub rep_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How many of an endpoint's deliveries are in each status.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema,
)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub delivered: i64,
    pub dead: i64,
}

/// An endpoint with the counts of its deliveries.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EndpointWithCounts {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub endpoint: WebhookEndpoint,
    #[sqlx(flatten)]
    pub deliveries: DeliveryCounts,
}

const COLUMNS: &str =
    "id, url, topics, format, recipient, enabled, disabled_reason, rep_id, created_at, updated_at";
/// The columns an insert through the API writes (the rep's trigger writes `rep_id`).
const INSERTED: &str =
    "id, url, topics, format, recipient, enabled, disabled_reason, created_at, updated_at";

/// Inserts `endpoint` with `secret`; returns it as stored.
pub async fn insert(
    conn: &mut PgConnection,
    endpoint: &WebhookEndpoint,
    secret: &str,
) -> sqlx::Result<WebhookEndpoint> {
    sqlx::query_as(&format!(
        "insert into webhook_endpoints ({INSERTED}, secret)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         returning {COLUMNS}"
    ))
    .bind(endpoint.id)
    .bind(&endpoint.url)
    .bind(&endpoint.topics)
    .bind(&endpoint.format)
    .bind(&endpoint.recipient)
    .bind(endpoint.enabled)
    .bind(&endpoint.disabled_reason)
    .bind(endpoint.created_at)
    .bind(endpoint.updated_at)
    .bind(secret)
    .fetch_one(conn)
    .await
}

/// An endpoint by id. `lock` takes a row lock until the transaction ends, so a concurrent
/// change waits for the caller's.
pub async fn by_id(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> sqlx::Result<Option<WebhookEndpoint>> {
    let lock = if lock { "for update" } else { "" };
    sqlx::query_as(&format!(
        "select {COLUMNS} from webhook_endpoints where id = $1 {lock}"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Overwrites the url, topics and enabled state of `endpoint` (by id); returns it as stored.
pub async fn update(
    conn: &mut PgConnection,
    endpoint: &WebhookEndpoint,
) -> sqlx::Result<WebhookEndpoint> {
    sqlx::query_as(&format!(
        "update webhook_endpoints
            set url = $2, topics = $3, enabled = $4, disabled_reason = $5, updated_at = $6
          where id = $1
         returning {COLUMNS}"
    ))
    .bind(endpoint.id)
    .bind(&endpoint.url)
    .bind(&endpoint.topics)
    .bind(endpoint.enabled)
    .bind(&endpoint.disabled_reason)
    .bind(endpoint.updated_at)
    .fetch_one(conn)
    .await
}

/// Replaces the secret of endpoint `id`; `None` if there is no such endpoint.
pub async fn set_secret(
    conn: &mut PgConnection,
    id: Uuid,
    secret: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<WebhookEndpoint>> {
    sqlx::query_as(&format!(
        "update webhook_endpoints set secret = $2, updated_at = $3 where id = $1
         returning {COLUMNS}"
    ))
    .bind(id)
    .bind(secret)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// The columns of [`EndpointWithCounts`], over `webhook_endpoints e` grouped by `e.id`
/// and left-joined to `deliveries d`.
const WITH_COUNTS: &str =
    "e.id, e.url, e.topics, e.format, e.recipient, e.enabled, e.disabled_reason, e.rep_id,
    e.created_at, e.updated_at,
    count(d.id) filter (where d.status = 'pending') as pending,
    count(d.id) filter (where d.status = 'delivered') as delivered,
    count(d.id) filter (where d.status = 'dead') as dead";

/// A page of endpoints, newest first, with their delivery counts, and the total.
pub async fn list(
    conn: &mut PgConnection,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<EndpointWithCounts>, i64)> {
    let total = sqlx::query_scalar("select count(*) from webhook_endpoints")
        .fetch_one(&mut *conn)
        .await?;
    let items = sqlx::query_as(&format!(
        "select {WITH_COUNTS}
           from (select * from webhook_endpoints
                  order by created_at desc, id desc limit $1 offset $2) e
           left join deliveries d on d.endpoint_id = e.id
          group by e.id, e.url, e.topics, e.format, e.recipient, e.enabled, e.disabled_reason,
                   e.rep_id, e.created_at, e.updated_at
          order by e.created_at desc, e.id desc"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((items, total))
}

/// One endpoint with its delivery counts.
pub async fn with_counts(
    conn: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<EndpointWithCounts>> {
    sqlx::query_as(&format!(
        "select {WITH_COUNTS}
           from webhook_endpoints e
           left join deliveries d on d.endpoint_id = e.id
          where e.id = $1
          group by e.id"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}
