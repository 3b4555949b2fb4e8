//! The nurture log counted per workflow over a stretch of time.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// What happened in one workflow.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkflowCounts {
    pub workflow: String,
    pub enrolled: i64,
    pub moved_in: i64,
    pub advanced: i64,
    pub triggered: i64,
    pub touches: i64,
    pub exited: i64,
    pub exited_to_mql: i64,
}

/// The counts of `[from, to)`, one row per workflow that has any.
pub async fn counts(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<WorkflowCounts>> {
    sqlx::query_as(
        "select workflow,
                count(*) filter (where kind = 'enrolled') as enrolled,
                count(*) filter (where kind = 'moved') as moved_in,
                count(*) filter (where kind = 'advanced') as advanced,
                count(*) filter (where kind = 'triggered') as triggered,
                count(asset_id) as touches,
                count(*) filter (where kind = 'exited') as exited,
                count(*) filter (where kind = 'exited' and reason = 'MQL') as exited_to_mql
           from nurture_log
          where at >= $1 and at < $2
          group by workflow",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
