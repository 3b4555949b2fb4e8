//! What the weekly governance reports read: the rejections of a week with who and what they
//! were, and the events of the marketing-sourced opportunities up to an instant.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use crate::domain::OpportunityEvent;

/// One rejection, with the lead's rep (of its first assignment), tier and source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Rejection {
    pub lead_id: Uuid,
    pub email: String,
    pub reason: String,
    /// The reason with the rep's note, as the lead's history shows it.
    pub detail: String,
    pub rejected_at: DateTime<Utc>,
    pub rep_id: Option<Uuid>,
    pub rep_name: Option<String>,
    pub account_tier: Option<i16>,
    pub source: Option<String>,
}

/// The rejections recorded in `[from, to)`, oldest first.
pub async fn rejections(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<Rejection>> {
    sqlx::query_as(
        "select t.lead_id, l.email, t.reason_code as reason, t.reason as detail,
                t.occurred_at as rejected_at, f.rep_id, r.name as rep_name, f.account_tier,
                f.source
           from lead_transitions t
           join leads l on l.id = t.lead_id
           left join lead_funnel f on f.lead_id = t.lead_id
           left join reps r on r.id = f.rep_id
          where t.to_stage = 'Rejected' and t.occurred_at >= $1 and t.occurred_at < $2
          order by t.occurred_at, t.lead_id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// The events before `before` of every marketing-sourced opportunity, by opportunity.
pub async fn marketing_sourced_events(
    conn: &mut PgConnection,
    before: DateTime<Utc>,
) -> sqlx::Result<Vec<(Uuid, OpportunityEvent)>> {
    let rows: Vec<(Uuid, Json<OpportunityEvent>)> = sqlx::query_as(
        "select e.opportunity_id, e.payload
           from opportunity_events e
           join opportunity_attribution a
             on a.opportunity_id = e.opportunity_id and a.marketing_sourced
          where e.occurred_at < $1
          order by e.opportunity_id",
    )
    .bind(before)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id, Json(e))| (id, e)).collect())
}
