//! The ops lists over leads: the suppression list and the manual review queue.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use crate::domain::DisqualifyReason;

/// A lead on the suppression list.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SuppressedLead {
    pub id: Uuid,
    pub email: String,
    pub disqualified_reason: String,
    /// When it was disqualified, and by which rule (the transition's reason).
    pub disqualified_at: Option<DateTime<Utc>>,
    pub rule: Option<String>,
    pub fit_score: i32,
    pub account_domain: Option<String>,
}

/// A page of the suppression list, newest first, with the total across pages.
pub async fn suppressed(
    conn: &mut PgConnection,
    reason: Option<DisqualifyReason>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<SuppressedLead>, i64)> {
    let reason = reason.map(DisqualifyReason::as_str);
    let total = sqlx::query_scalar(
        "select count(*) from leads
          where lifecycle_stage = 'Disqualified' and ($1::text is null or disqualified_reason = $1)",
    )
    .bind(reason)
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query_as(
        "select l.id, l.email, l.disqualified_reason, t.occurred_at as disqualified_at,
                t.reason as rule, l.fit_score, a.domain as account_domain
           from leads l
           left join accounts a on a.id = l.account_id
           left join lateral (
                select occurred_at, reason from lead_transitions
                 where lead_id = l.id and to_stage = 'Disqualified'
                 order by occurred_at desc, id desc limit 1) t on true
          where l.lifecycle_stage = 'Disqualified'
            and ($1::text is null or l.disqualified_reason = $1)
          order by l.stage_changed_at desc, l.id
          limit $2 offset $3",
    )
    .bind(reason)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

/// A lead waiting in the manual review queue.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ReviewItem {
    pub lead_id: Uuid,
    pub email: String,
    /// The routing keys it lacks.
    #[schema(value_type = Vec<String>)]
    pub missing: Json<Vec<String>>,
    pub queued_at: DateTime<Utc>,
    pub fit_score: i32,
    pub demand_state: Option<String>,
    pub account_tier: Option<i16>,
    pub account_domain: Option<String>,
}

/// A page of the review queue, oldest first (first in, first reviewed), with the total.
pub async fn review_queue(
    conn: &mut PgConnection,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<ReviewItem>, i64)> {
    let total = sqlx::query_scalar("select count(*) from leads where review_missing is not null")
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query_as(
        "select l.id as lead_id, l.email, l.review_missing as missing,
                l.review_queued_at as queued_at, l.fit_score,
                coalesce(l.demand_state, l.derived_demand_state) as demand_state,
                l.account_tier, a.domain as account_domain
           from leads l left join accounts a on a.id = l.account_id
          where l.review_missing is not null
          order by l.review_queued_at, l.id
          limit $1 offset $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}
