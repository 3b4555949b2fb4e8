//! Disqualifications recorded in a stretch of time (the partial days at the ends of a
//! period), by standardized reason.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// How many disqualifications carried `reason` (`None`: no reason of the closed list could
/// be read from the transition).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DisqualificationCount {
    pub reason: Option<String>,
    pub count: i64,
}

/// The disqualifications in `[from, to)`, one row per reason that has any. The transition's
/// reason starts with the standardized value (`Disqualified_Inactive by disqualify[6]: …`).
pub async fn counts(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<DisqualificationCount>> {
    sqlx::query_as(
        r#"select substring(reason from 'Disqualified_[A-Za-z]+') as reason, count(*) as count
             from lead_transitions
            where to_stage = 'Disqualified' and occurred_at >= $1 and occurred_at < $2
            group by 1"#,
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
