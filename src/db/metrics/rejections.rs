//! Rejections recorded in a stretch of time (the partial days at the ends of a period), by
//! ISO week and reason.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::week_of;

/// How many rejections carried `reason` (`None`: none of the closed list could be read from
/// the transition) in `week` (its Monday as `YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RejectionCount {
    pub week: String,
    pub reason: Option<String>,
    pub count: i64,
}

/// The rejections recorded in `[from, to)`, one row per (week, reason) that has any.
pub async fn counts(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<RejectionCount>> {
    let week = week_of("occurred_at");
    sqlx::query_as(&format!(
        r#"select {week} as week, substring(reason from 'Rejected_[A-Za-z]+') as reason,
                  count(*) as count
             from lead_transitions
            where to_stage = 'Rejected' and occurred_at >= $1 and occurred_at < $2
            group by 1, 2"#
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
