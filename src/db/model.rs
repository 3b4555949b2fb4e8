//! What the predictive model learns from: each lead's outcome (the closed opportunities it is
//! credited with), and the MQLs whose intent may have decayed.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::PgConnection;
use uuid::Uuid;

/// A lead credited with at least one closed opportunity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LeadOutcome {
    pub lead_id: Uuid,
    /// Whether any of them was won (else all were lost).
    pub won: bool,
    pub first_closed_at: DateTime<Utc>,
    pub last_closed_at: DateTime<Utc>,
}

/// Every lead credited with a closed opportunity, in id order: one row per lead, so the
/// result grows with the closed opportunities, not with the leads or their events.
pub async fn outcomes(conn: &mut PgConnection) -> sqlx::Result<Vec<LeadOutcome>> {
    sqlx::query_as(
        "select lead_id, bool_or(status = 'won') as won,
                min(closed_at) as first_closed_at, max(closed_at) as last_closed_at
           from opportunity_attribution
          where status in ('won', 'lost') and lead_id is not null and closed_at is not null
          group by lead_id
          order by lead_id",
    )
    .fetch_all(conn)
    .await
}

/// Calls `each` with the intent (as of its last signal) and the last signal's time of every
/// lead now at MQL, streamed.
pub async fn mql_intents(
    conn: &mut PgConnection,
    mut each: impl FnMut(f64, Option<DateTime<Utc>>),
) -> sqlx::Result<()> {
    let mut rows = sqlx::query_as::<_, (f64, Option<DateTime<Utc>>)>(
        "select intent_at_last_activity, last_activity_at from leads where lifecycle_stage = 'MQL'",
    )
    .fetch(conn);
    while let Some((intent, at)) = rows.try_next().await? {
        each(intent, at);
    }
    Ok(())
}
