//! Where an MQL stands in the handoff, as the answer to the write that touched it names it:
//! the rep it went to, or what it waits for.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{db::assignments, error::ApiError};

/// An MQL's place in the handoff.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum HandoffStatus {
    /// In a rep's hands, by `rule` (`tier1_owner`, `territory`, `round_robin`), to be
    /// acknowledged by `ack_due`.
    Assigned {
        rep_id: Uuid,
        rep_name: String,
        rule: String,
        ack_due: DateTime<Utc>,
    },
    /// In the manual review queue until someone supplies the routing keys it lacks
    /// (`POST /api/v1/review-queue/{lead_id}/resolve`).
    WaitingForReview { missing: Vec<String> },
    /// No active rep matches its routing; the SLA clock assigns it once one does.
    WaitingForRep,
}

/// The handoff status of each of `lead_ids` (MQLs), logging why those not assigned wait.
pub async fn of(
    pool: &PgPool,
    lead_ids: &[Uuid],
) -> Result<HashMap<Uuid, HandoffStatus>, ApiError> {
    let mut conn = pool.acquire().await?;
    let rows = assignments::handoff_of(&mut conn, lead_ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let status = status(row.clone());
            match &status {
                HandoffStatus::Assigned { .. } => {}
                HandoffStatus::WaitingForReview { missing } => tracing::info!(
                    lead.id = %row.lead_id,
                    missing = missing.join(","),
                    "MQL waits in the review queue for its missing routing keys"
                ),
                HandoffStatus::WaitingForRep => tracing::info!(
                    lead.id = %row.lead_id,
                    "MQL waits for a rep: no active rep matches its routing"
                ),
            }
            (row.lead_id, status)
        })
        .collect())
}

fn status(row: assignments::HandoffRow) -> HandoffStatus {
    match (row.rep_id, row.rep_name, row.rule, row.ack_due) {
        (Some(rep_id), Some(rep_name), Some(rule), Some(ack_due)) => HandoffStatus::Assigned {
            rep_id,
            rep_name,
            rule,
            ack_due,
        },
        _ => match row.review_missing {
            Some(missing) => HandoffStatus::WaitingForReview { missing: missing.0 },
            None => HandoffStatus::WaitingForRep,
        },
    }
}
