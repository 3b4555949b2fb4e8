//! What operators see of CRM write-back and do with it: the pending and failed writes per
//! CRM, and replaying the records a CRM refused for good.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::{
    db::crm_writes::{self, CrmTotals},
    error::ApiError,
};

/// The CRMs write-back knows.
pub const CRMS: [&str; 2] = ["hubspot", "salesforce"];

/// `GET /api/v1/crm-writes`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CrmWritesOverview)]
pub struct Overview {
    /// Per CRM that write-back is on for or that has writes or failures.
    pub crms: Vec<CrmTotals>,
}

/// `POST /api/v1/crm-writes/{crm}/replay`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CrmReplayed)]
pub struct Replayed {
    pub crm: String,
    /// Leads queued again.
    pub replayed: u64,
}

/// Every CRM's write-back as it stands at `now`.
pub async fn overview(pool: &PgPool, now: DateTime<Utc>) -> Result<Overview, ApiError> {
    let mut conn = pool.acquire().await?;
    Ok(Overview {
        crms: crm_writes::totals(&mut conn, now).await?,
    })
}

/// Queues every record `crm` refused for good again, due at `now`.
pub async fn replay(pool: &PgPool, crm: &str, now: DateTime<Utc>) -> Result<Replayed, ApiError> {
    if !CRMS.contains(&crm) {
        return Err(ApiError::field(
            "crm",
            format!(
                "{crm:?} is not a CRM write-back knows ({})",
                CRMS.join(", ")
            ),
        ));
    }
    let mut tx = pool.begin().await?;
    let replayed = crm_writes::replay_failures(&mut tx, crm, now).await?;
    tx.commit().await?;
    Ok(Replayed {
        crm: crm.to_owned(),
        replayed,
    })
}
