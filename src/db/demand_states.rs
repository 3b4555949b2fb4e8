//! Demand-state transitions (`lead_demand_state_transitions`), written by triggers on leads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// One move of a lead between demand states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DemandStateMove {
    /// `null`: the lead had no state before.
    pub from_state: Option<String>,
    /// `null`: the lead has no state since.
    pub to_state: Option<String>,
    /// `map` (the state a MAP sent or cleared), `behaviour` (an event a behaviour rule maps to
    /// a state) or `history` (the state the lead had when this history began).
    pub signal: String,
    pub occurred_at: DateTime<Utc>,
}

/// Lead `lead_id`'s moves, oldest first.
pub async fn of_lead(conn: &mut PgConnection, lead_id: Uuid) -> sqlx::Result<Vec<DemandStateMove>> {
    sqlx::query_as(
        "select from_state, to_state, signal, occurred_at from lead_demand_state_transitions
          where lead_id = $1 order by occurred_at, id",
    )
    .bind(lead_id)
    .fetch_all(conn)
    .await
}
