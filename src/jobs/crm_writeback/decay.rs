//! Intent decays without events (by default 50 % per 30 days of inactivity), and no trigger
//! sees that: this job, daily by default and once at start, queues in one statement per CRM
//! the leads whose intent as written (whole points) now differs from what the CRM was sent.
//! Leads whose rounded score did not change are not rewritten.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::Target;
use crate::{app::AppState, db::crm_writes, engine::RuleSet};

/// Queues the decayed leads of every target at `now`; returns how many were queued.
#[tracing::instrument(skip_all)]
pub async fn tick(
    pool: &PgPool,
    targets: &[Target],
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let mut conn = pool.acquire().await?;
    let mut queued = 0;
    for target in targets {
        let n = crm_writes::enqueue_decayed(
            &mut conn,
            target.crm(),
            &target.settings.fields.intent_score,
            &rules.rules.intent.decay,
            now,
        )
        .await?;
        if n > 0 {
            tracing::info!(
                crm = target.crm(),
                leads = n,
                "intent decayed: queued for write-back"
            );
        }
        queued += n;
    }
    Ok(queued)
}

/// Ticks every `writeback.decay_interval_secs` (the first at once) until `shutdown`.
pub async fn run(state: AppState, targets: Vec<Target>, shutdown: CancellationToken) {
    let interval = Duration::from_secs(state.settings.writeback.decay_interval_secs);
    super::super::every(
        "crm_decay",
        "CRM intent decay check",
        interval,
        shutdown,
        || tick(&state.pool, &targets, &state.rules, state.now()),
    )
    .await;
}
