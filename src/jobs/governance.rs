//! The governance cadence: each Monday (UTC) the rejection review of the week before and the
//! pipeline forecast of the new week go to the outbox once, for the dispatcher to deliver to
//! whoever subscribes to their topics. A tick sends what is due and not sent yet (the outbox's
//! dedupe key says), so a replica that was down on Monday catches up, and replicas ticking at
//! once send each report once.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;

use crate::{
    app::AppState,
    config::RevenueSettings,
    db::outbox::{self, Message},
    domain::Topic,
    usecase::{governance, metrics::Week},
};

/// What one tick sent.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GovernanceReport {
    /// The dedupe keys of the reports enqueued.
    pub sent: Vec<String>,
}

/// Enqueues this week's reports if not sent yet.
pub async fn tick(
    pool: &PgPool,
    settings: &RevenueSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<GovernanceReport> {
    let week = Week::of(now);
    let review_key = format!(
        "{}:{}",
        Topic::GovernanceRejectionReview,
        week.previous().key()
    );
    let forecast_key = format!("{}:{}", Topic::GovernancePipelineForecast, week.key());
    let mut conn = pool.acquire().await?;
    let sent = outbox::existing_keys(&mut conn, &[&review_key, &forecast_key]).await?;
    drop(conn);
    let mut messages = Vec::new();
    if !sent.contains(&review_key) {
        let review = governance::rejection_review(pool, week.previous()).await?;
        messages.push(Message {
            topic: Topic::GovernanceRejectionReview.as_str(),
            recipient: settings.report_recipient.clone(),
            payload: json!(review),
            dedupe_key: review_key,
        });
    }
    if !sent.contains(&forecast_key) {
        let forecast = governance::pipeline_forecast(pool, week, settings).await?;
        messages.push(Message {
            topic: Topic::GovernancePipelineForecast.as_str(),
            recipient: settings.report_recipient.clone(),
            payload: json!(forecast),
            dedupe_key: forecast_key,
        });
    }
    let mut conn = pool.acquire().await?;
    outbox::enqueue(&mut conn, &messages, now).await?;
    let report = GovernanceReport {
        sent: messages.into_iter().map(|m| m.dedupe_key).collect(),
    };
    if !report.sent.is_empty() {
        tracing::info!(sent = ?report.sent, "governance reports sent to the outbox");
    }
    Ok(report)
}

/// Ticks every `revenue.governance_interval_secs` until `shutdown`.
pub async fn run(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    let interval = std::time::Duration::from_secs(state.settings.revenue.governance_interval_secs);
    super::every(
        "governance",
        "governance reports",
        interval,
        shutdown,
        || tick(&state.pool, &state.settings.revenue, state.now()),
    )
    .await;
}
