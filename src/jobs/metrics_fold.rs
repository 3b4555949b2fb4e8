//! Folding `metrics_daily`: writers append signed deltas (so that they never wait on a hot
//! row); this job replaces each touched day's rows by one row per group, keeping the daily
//! sums small to read. Exact either way: a fold changes no sum.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{app::AppState, db::metrics::daily};

/// Days folded per transaction.
const DAYS_PER_FOLD: i64 = 31;

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FoldReport {
    pub days: usize,
    pub rows: u64,
}

/// Folds every day that has deltas, `DAYS_PER_FOLD` days per transaction. Replicas may fold
/// at once: a row one of them deleted is skipped by the other.
#[tracing::instrument(skip_all)]
pub async fn tick(pool: &PgPool) -> anyhow::Result<FoldReport> {
    let mut report = FoldReport::default();
    loop {
        let mut tx = pool.begin().await?;
        let days = daily::unfolded_days(&mut tx, DAYS_PER_FOLD).await?;
        if days.is_empty() {
            break;
        }
        report.rows += daily::fold(&mut tx, &days).await?;
        tx.commit().await?;
        report.days += days.len();
        if days.len() < DAYS_PER_FOLD as usize {
            break;
        }
    }
    if report.days > 0 {
        tracing::debug!(
            metrics.days = report.days,
            metrics.rows = report.rows,
            "folded daily metrics"
        );
    }
    Ok(report)
}

/// Folds every `interval` until `shutdown`.
pub async fn run(state: AppState, interval: Duration, shutdown: CancellationToken) {
    super::every("metrics_fold", "metrics fold", interval, shutdown, || {
        tick(&state.pool)
    })
    .await;
}
