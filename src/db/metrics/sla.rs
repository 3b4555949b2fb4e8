//! SLA compliance of the assignments made in a period, against the due times stored with
//! each assignment (so a later change of the business calendar does not rewrite history).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::Grouping;

/// One group's numbers (or the total's, `total = true`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SlaRow {
    pub total: bool,
    pub key: Option<String>,
    pub assignments: i64,
    pub ack_on_time: i64,
    pub ack_late: i64,
    pub ack_pending: i64,
    pub disposition_on_time: i64,
    pub disposition_late: i64,
    pub disposition_pending: i64,
    pub escalations: i64,
}

/// The SLA numbers of the assignments made in `[from, to)`, as of `now`, grouped `by` (rep or
/// tier; anything else gives the total only).
///
/// A deadline is met when the action came by it, missed when it came later or had not come
/// when the deadline passed with the assignment still open (or closed after it), and pending
/// while open and not yet due. An assignment closed before its deadline without the action
/// (the lead was disqualified) counts in neither.
pub async fn sla(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    by: Grouping,
) -> sqlx::Result<Vec<SlaRow>> {
    let key = match by {
        Grouping::Rep => "rep_id::text",
        Grouping::Tier => "account_tier::text",
        _ => "null::text",
    };
    let mut rows: Vec<SlaRow> = sqlx::query_as(&format!(
        r#"select grouping(k) = 1 as total, k as key, count(*) as assignments,
                  count(*) filter (where acknowledged_at <= ack_due) as ack_on_time,
                  count(*) filter (where acknowledged_at > ack_due
                                      or (acknowledged_at is null
                                          and ack_due <= coalesce(closed_at, $3))) as ack_late,
                  count(*) filter (where acknowledged_at is null and closed_at is null
                                     and ack_due > $3) as ack_pending,
                  count(*) filter (where disposed_at <= disposition_due) as disposition_on_time,
                  count(*) filter (where disposed_at > disposition_due
                                      or (disposed_at is null
                                          and disposition_due <= coalesce(closed_at, $3)))
                      as disposition_late,
                  count(*) filter (where disposed_at is null and closed_at is null
                                     and disposition_due > $3) as disposition_pending,
                  count(escalated_at) as escalations
             from (select {key} as k, ack_due, acknowledged_at, disposition_due, disposed_at,
                          escalated_at, closed_at
                     from assignments
                    where assigned_at >= $1 and assigned_at < $2) a
            group by grouping sets ((), (k))"#
    ))
    .bind(from)
    .bind(to)
    .bind(now)
    .fetch_all(conn)
    .await?;
    if !rows.iter().any(|r| r.total) {
        rows.push(SlaRow {
            total: true,
            key: None,
            assignments: 0,
            ack_on_time: 0,
            ack_late: 0,
            ack_pending: 0,
            disposition_on_time: 0,
            disposition_late: 0,
            disposition_pending: 0,
            escalations: 0,
        });
    }
    if !matches!(by, Grouping::Rep | Grouping::Tier) {
        rows.retain(|r| r.total);
    }
    Ok(rows)
}
