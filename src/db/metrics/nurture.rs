//! Nurture's numbers per workflow: whole UTC days from the daily sums, partial days from the
//! nurture log's `(at)` index.

use chrono::{DateTime, NaiveDate, Utc};
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

impl WorkflowCounts {
    /// Adds `other`'s counts (of the same workflow, or into a total).
    pub fn add(&mut self, other: &WorkflowCounts) {
        self.enrolled += other.enrolled;
        self.moved_in += other.moved_in;
        self.advanced += other.advanced;
        self.triggered += other.triggered;
        self.touches += other.touches;
        self.exited += other.exited;
        self.exited_to_mql += other.exited_to_mql;
    }
}

/// The counts of the whole days `[from, to)`, from `metrics_daily`.
pub async fn daily_counts(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<WorkflowCounts>> {
    sqlx::query_as(
        "select key as workflow,
                coalesce(sum(n) filter (where reason = 'enrolled'), 0)::int8 as enrolled,
                coalesce(sum(n) filter (where reason = 'moved'), 0)::int8 as moved_in,
                coalesce(sum(n) filter (where reason = 'advanced'), 0)::int8 as advanced,
                coalesce(sum(n) filter (where reason = 'triggered'), 0)::int8 as triggered,
                coalesce(sum(n) filter (where reason = 'touch'), 0)::int8 as touches,
                coalesce(sum(n) filter (where reason = 'exited'), 0)::int8 as exited,
                coalesce(sum(n) filter (where reason = 'exited_to_mql'), 0)::int8 as exited_to_mql
           from metrics_daily
          where dim = 'workflow' and kind = 'nurture' and day >= $1 and day < $2
          group by key",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// The counts of `[from, to)` read from the log itself (the partial days of a period).
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
