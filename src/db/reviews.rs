//! The record of review-queue resolutions: who supplied which routing keys, and when.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

/// A resolution to record.
#[derive(Debug, Clone)]
pub struct Resolution<'a> {
    pub lead_id: Uuid,
    pub missing: &'a [String],
    pub queued_at: DateTime<Utc>,
    pub resolved_at: DateTime<Utc>,
    pub resolved_by: &'a str,
    pub demand_state: Option<&'a str>,
    pub account_tier: Option<u8>,
    pub note: Option<&'a str>,
}

/// Records `resolution`.
pub async fn record(conn: &mut PgConnection, resolution: &Resolution<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "insert into lead_reviews (lead_id, missing, queued_at, resolved_at, resolved_by,
                                   demand_state, account_tier, note)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(resolution.lead_id)
    .bind(Json(resolution.missing))
    .bind(resolution.queued_at)
    .bind(resolution.resolved_at)
    .bind(resolution.resolved_by)
    .bind(resolution.demand_state)
    .bind(resolution.account_tier.map(i16::from))
    .bind(resolution.note)
    .execute(conn)
    .await?;
    Ok(())
}
