//! Rejections made in a period, by reason, overall and per ISO week.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::week_of;

/// How many rejections carried `reason` (`None`: none of the closed list could be read from
/// the transition) in `week` (its Monday as `YYYY-MM-DD`; `None` on the rows for the whole
/// period).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RejectionCount {
    pub week: Option<String>,
    pub reason: Option<String>,
    pub count: i64,
}

/// The rejections recorded in `[from, to)`: one row per reason for the whole period, and one
/// per (week, reason) that has any.
pub async fn counts(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<RejectionCount>> {
    let week = week_of("occurred_at");
    sqlx::query_as(&format!(
        r#"select case when grouping(week) = 1 then null else week end as week, reason,
                  count(*) as count
             from (select {week} as week, substring(reason from 'Rejected_[A-Za-z]+') as reason
                     from lead_transitions
                    where to_stage = 'Rejected' and occurred_at >= $1 and occurred_at < $2) x
            group by grouping sets ((reason), (week, reason))"#
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
