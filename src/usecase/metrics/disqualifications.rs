//! `GET /api/v1/metrics/disqualifications`: disqualifications recorded in the period, by
//! standardized reason.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::PgPool;

use super::{MetricsQuery, Period, ReasonCount, rate};
use crate::{
    db::metrics::{self, Grouping, daily, disqualifications},
    domain::DisqualifyReason,
};

/// The disqualifications report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DisqualificationReport {
    pub period: Period,
    /// Disqualifications recorded in the period (a lead disqualified, reinstated and
    /// disqualified again counts twice: each was a decision).
    pub total: i64,
    /// Of those, how many carried no reason of the closed list (none should).
    pub unclassified: i64,
    /// Every reason of the closed list, zeros included.
    pub reasons: Vec<ReasonCount>,
}

/// The disqualifications in the query's period: whole days from the daily sums, the partial
/// days at the ends from the transition log, in one snapshot.
#[tracing::instrument(skip_all)]
pub async fn report(pool: &PgPool, query: &MetricsQuery) -> sqlx::Result<DisqualificationReport> {
    let split = query.period.split();
    let mut tx = pool.begin().await?;
    metrics::snapshot(&mut tx).await?;
    let mut counts: HashMap<Option<String>, i64> = HashMap::new();
    if let Some((first, end)) = split.days {
        for sum in daily::sums(&mut tx, first, end, Grouping::Total).await? {
            if sum.kind == "dq" {
                *counts.entry(sum.reason).or_default() += sum.n;
            }
        }
    }
    for (start, stop) in split.edges {
        for row in disqualifications::counts(&mut tx, start, stop).await? {
            *counts.entry(row.reason).or_default() += row.count;
        }
    }
    tx.commit().await?;
    let total = counts.values().sum();
    let reasons = DisqualifyReason::ALL
        .iter()
        .map(|r| {
            let count = counts
                .get(&Some(r.as_str().to_owned()))
                .copied()
                .unwrap_or(0);
            ReasonCount {
                reason: r.as_str(),
                count,
                share: rate(count, total),
            }
        })
        .collect::<Vec<ReasonCount>>();
    let classified: i64 = reasons.iter().map(|r| r.count).sum();
    Ok(DisqualificationReport {
        period: query.period,
        total,
        unclassified: total - classified,
        reasons,
    })
}
