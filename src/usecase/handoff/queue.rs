//! A rep's queue: their open MQLs with context packets, the most urgent SLA first.

use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    db::assignments::{self, QueueItem},
    error::ApiError,
};

/// The open MQLs of `rep_id`.
pub async fn queue(pool: &PgPool, rep_id: Uuid) -> Result<Vec<QueueItem>, ApiError> {
    let mut conn = pool.acquire().await?;
    Ok(assignments::queue(&mut conn, rep_id).await?)
}
