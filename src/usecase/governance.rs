//! The governance cadence's two weekly reports, for any ISO week: the rejection review (the
//! week's rejections by reason, rep, tier and source, with the tuning hints and the leads
//! behind them) and the Monday pipeline forecast (the open marketing-sourced pipeline as of
//! that Monday 00:00 UTC, by expected close month, weighted by stage). Both are read from
//! history (the week's rejections, each opportunity's events up to that Monday), grouped and
//! credited by leads as they are when asked; `jobs::governance` sends each once to the outbox,
//! which keeps what the report said on the day.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::metrics::{
    Period, ReasonCount, Week, rate,
    rejections::{ReasonWithHint, hint_if_high},
    revenue::ByCurrency,
};
use crate::{
    config::RevenueSettings,
    db::governance::{self, Rejection},
    domain::{OpportunityEvent, OpportunityStatus, RejectReason, fold_opportunity},
    error::ApiError,
};

/// The rejections of one group (a rep, a tier, a source) by reason.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReviewGroup {
    /// The rep id, tier or source; `null` for none (unassigned, no tier, unknown source).
    pub key: Option<String>,
    pub label: String,
    pub rejections: i64,
    /// Counts of the reasons that occur, by reason.
    #[schema(value_type = Object)]
    pub reasons: BTreeMap<String, i64>,
}

/// The weekly rejection review.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RejectionReview {
    pub week: String,
    pub period: Period,
    pub rejections: i64,
    /// Every reason of the closed list, with the tuning hint a high share points at.
    pub reasons: Vec<ReasonWithHint>,
    pub by_rep: Vec<ReviewGroup>,
    pub by_tier: Vec<ReviewGroup>,
    pub by_source: Vec<ReviewGroup>,
    /// The leads behind the numbers, oldest rejection first.
    pub leads: Vec<Rejection>,
}

/// The rejection review of `week`.
pub async fn rejection_review(pool: &PgPool, week: Week) -> Result<RejectionReview, ApiError> {
    let period = week.period();
    let rows = {
        let mut conn = pool.acquire().await?;
        governance::rejections(&mut conn, period.from, period.to).await?
    };
    let total = rows.len() as i64;
    let reasons = RejectReason::ALL
        .into_iter()
        .map(|reason| {
            let count = rows.iter().filter(|r| r.reason == reason.as_str()).count() as i64;
            ReasonWithHint {
                count: ReasonCount {
                    reason: reason.as_str(),
                    count,
                    share: rate(count, total),
                },
                hint: hint_if_high(reason, count, total),
            }
        })
        .collect();
    let group = |key: fn(&Rejection) -> (Option<String>, String)| review_groups(&rows, key);
    Ok(RejectionReview {
        week: week.key(),
        period,
        rejections: total,
        reasons,
        by_rep: group(|r| {
            let label = r.rep_name.clone().unwrap_or_else(|| "unassigned".into());
            (r.rep_id.map(|id| id.to_string()), label)
        }),
        by_tier: group(|r| match r.account_tier {
            Some(tier) => (Some(tier.to_string()), format!("Tier {tier}")),
            None => (None, "no tier".into()),
        }),
        by_source: group(|r| match &r.source {
            Some(source) => (Some(source.clone()), source.clone()),
            None => (None, "unknown source".into()),
        }),
        leads: rows,
    })
}

/// `rows` grouped by `key` (the group's key and label), ordered by label, "none" last.
fn review_groups(
    rows: &[Rejection],
    key: impl Fn(&Rejection) -> (Option<String>, String),
) -> Vec<ReviewGroup> {
    let mut groups: BTreeMap<(bool, String, Option<String>), BTreeMap<String, i64>> =
        BTreeMap::new();
    for row in rows {
        let (key, label) = key(row);
        let reasons = groups.entry((key.is_none(), label, key)).or_default();
        *reasons.entry(row.reason.clone()).or_default() += 1;
    }
    groups
        .into_iter()
        .map(|((_, label, key), reasons)| ReviewGroup {
            key,
            label,
            rejections: reasons.values().sum(),
            reasons,
        })
        .collect()
}

/// One expected close month of the forecast.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ForecastMonth {
    /// `2026-12`; `null` for opportunities without a close date.
    pub month: Option<String>,
    pub opportunities: i64,
    /// Their amounts, by currency.
    #[schema(value_type = Object)]
    pub amount: ByCurrency,
    /// Their amounts times their stage's probability, by currency.
    #[schema(value_type = Object)]
    pub weighted: ByCurrency,
}

/// The Monday pipeline forecast.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PipelineForecast {
    pub week: String,
    /// The Monday 00:00 UTC the pipeline is taken at.
    pub as_of: DateTime<Utc>,
    /// Every month with open pipeline, in order, those without a close date last.
    pub months: Vec<ForecastMonth>,
    pub total: ForecastMonth,
}

/// The forecast of `week`: the marketing-sourced opportunities open at its Monday 00:00 UTC,
/// each as its events up to then fold it.
pub async fn pipeline_forecast(
    pool: &PgPool,
    week: Week,
    settings: &RevenueSettings,
) -> Result<PipelineForecast, ApiError> {
    let as_of = week.start();
    let rows = {
        let mut conn = pool.acquire().await?;
        governance::marketing_sourced_events(&mut conn, as_of).await?
    };
    Ok(forecast(week, &rows, settings))
}

/// The forecast of `rows` (events, grouped by opportunity).
fn forecast(
    week: Week,
    rows: &[(Uuid, OpportunityEvent)],
    settings: &RevenueSettings,
) -> PipelineForecast {
    let mut months: BTreeMap<(bool, Option<String>), ForecastMonth> = BTreeMap::new();
    let mut total = ForecastMonth::default();
    for events in rows.chunk_by(|a, b| a.0 == b.0) {
        let events: Vec<OpportunityEvent> = events.iter().map(|(_, e)| e.clone()).collect();
        let Some(state) = fold_opportunity(&events) else {
            continue;
        };
        if state.status != OpportunityStatus::Open {
            continue;
        }
        let month = state.close_date.map(|d| d.format("%Y-%m").to_string());
        let weight = settings.probability(state.stage.as_deref());
        let into = months.entry((month.is_none(), month.clone())).or_default();
        into.month = month;
        for target in [&mut *into, &mut total] {
            target.opportunities += 1;
            if let Some(money) = &state.money {
                let amount: f64 = money.amount.parse().unwrap_or_default();
                *target.amount.entry(money.currency.clone()).or_default() += amount;
                *target.weighted.entry(money.currency.clone()).or_default() += amount * weight;
            }
        }
    }
    PipelineForecast {
        week: week.key(),
        as_of: week.start(),
        months: months.into_values().collect(),
        total,
    }
}
