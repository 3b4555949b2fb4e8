//! `GET /api/v1/metrics/rejections`: what sales rejected in the period, by reason and by
//! week, with the tuning hint each dominant reason points at (DESIGN §2: sales rejections
//! feed the model).

use std::collections::HashMap;

use serde::Serialize;
use sqlx::PgPool;

use super::{
    MetricsQuery, Period, ReasonCount,
    groups::{self, Group},
    rate,
};
use crate::{
    db::metrics::{self, Grouping, daily, rejections},
    domain::RejectReason,
};

/// A reason is "high" from this share of the period's rejections ...
pub const HINT_MIN_SHARE: f64 = 0.30;
/// ... once there are at least this many rejections, so that two rejections out of three do
/// not send anyone retuning the model.
pub const HINT_MIN_REJECTIONS: i64 = 10;

/// What a high share of `reason` suggests changing.
pub fn hint(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::NotIcp => {
            "Sales finds these leads outside the ICP: raise the fit threshold (mql.fit) or \
             revisit the fit rules (industries, company size, titles, geography)."
        }
        RejectReason::WrongTiming => {
            "Right fit, wrong time: the intent threshold (mql.intent) or its decay is too \
             loose; recycle these leads to nurture instead of handing them off."
        }
        RejectReason::NoBudget => {
            "No budget: check the revenue band rule (fit.revenue_band) and the points it gives."
        }
        RejectReason::AlreadyInPipeline => {
            "Already in the pipeline: fix CRM dedupe and sync so contacts of open opportunities \
             do not become MQLs."
        }
    }
}

/// The hint for `reason` if it has `count` of `total` rejections and that is high.
pub fn hint_if_high(reason: RejectReason, count: i64, total: i64) -> Option<&'static str> {
    let high = total >= HINT_MIN_REJECTIONS && count as f64 >= HINT_MIN_SHARE * total as f64;
    high.then(|| hint(reason))
}

/// A reason's count and share over the period, with its hint when the share is high.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReasonWithHint {
    #[serde(flatten)]
    pub count: ReasonCount,
    pub hint: Option<&'static str>,
}

/// One week's rejections.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WeekRejections {
    pub total: i64,
    pub reasons: Vec<ReasonCount>,
}

/// When a reason counts as high.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HintRule {
    pub min_share: f64,
    pub min_rejections: i64,
}

/// The rejections report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RejectionReport {
    pub period: Period,
    /// Rejections recorded in the period.
    pub total: i64,
    /// Of those, how many carried no reason of the closed list (none should).
    pub unclassified: i64,
    /// Every reason of the closed list, in its order, zeros included.
    pub reasons: Vec<ReasonWithHint>,
    /// Every ISO week overlapping the period.
    pub weeks: Vec<Group<WeekRejections>>,
    pub hint_rule: HintRule,
}

fn shares(counts: &HashMap<Option<String>, i64>, total: i64) -> Vec<ReasonCount> {
    RejectReason::ALL
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
        .collect()
}

/// The rejections recorded in the query's period: whole days from the daily sums, the
/// partial days at the ends from the transition log, in one snapshot.
#[tracing::instrument(skip_all)]
pub async fn report(pool: &PgPool, query: &MetricsQuery) -> sqlx::Result<RejectionReport> {
    let split = query.period.split();
    let mut tx = pool.begin().await?;
    metrics::snapshot(&mut tx).await?;
    // week (Monday) → reason → count
    let mut weekly: HashMap<Option<String>, HashMap<Option<String>, i64>> = HashMap::new();
    if let Some((first, end)) = split.days {
        for sum in daily::sums(&mut tx, first, end, Grouping::Week).await? {
            if sum.kind == "rejection" {
                *weekly
                    .entry(sum.key)
                    .or_default()
                    .entry(sum.reason)
                    .or_default() += sum.n;
            }
        }
    }
    for (start, stop) in split.edges {
        for row in rejections::counts(&mut tx, start, stop).await? {
            *weekly
                .entry(Some(row.week))
                .or_default()
                .entry(row.reason)
                .or_default() += row.count;
        }
    }
    let mut overall: HashMap<Option<String>, i64> = HashMap::new();
    for counts in weekly.values() {
        for (reason, n) in counts {
            *overall.entry(reason.clone()).or_default() += n;
        }
    }
    let total: i64 = overall.values().sum();
    let classified: i64 = shares(&overall, total).iter().map(|r| r.count).sum();
    let reasons = shares(&overall, total)
        .into_iter()
        .zip(RejectReason::ALL)
        .map(|(count, reason)| ReasonWithHint {
            hint: hint_if_high(reason, count.count, total),
            count,
        })
        .collect();
    let weekly = weekly
        .into_iter()
        .map(|(week, counts)| {
            let total = counts.values().sum();
            let reasons = shares(&counts, total);
            (week, WeekRejections { total, reasons })
        })
        .collect();
    let mut weeks = groups::label(&mut tx, Grouping::Week, &query.period, weekly).await?;
    tx.commit().await?;
    for week in &mut weeks {
        if week.values.reasons.is_empty() {
            week.values.reasons = shares(&HashMap::new(), 0);
        }
    }
    Ok(RejectionReport {
        period: query.period,
        total,
        unclassified: total - classified,
        reasons,
        weeks,
        hint_rule: HintRule {
            min_share: HINT_MIN_SHARE,
            min_rejections: HINT_MIN_REJECTIONS,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_high_from_30_percent_of_at_least_10_rejections() {
        let not_icp = RejectReason::NotIcp;
        assert_eq!(hint_if_high(not_icp, 3, 10), Some(hint(not_icp)));
        assert_eq!(hint_if_high(not_icp, 2, 10), None, "20%");
        assert_eq!(hint_if_high(not_icp, 9, 9), None, "too few rejections");
        assert_eq!(hint_if_high(not_icp, 0, 0), None);
        assert_eq!(hint_if_high(not_icp, 30, 100), Some(hint(not_icp)));
        assert_eq!(hint_if_high(not_icp, 29, 100), None);
    }

    #[test]
    fn each_reason_points_at_its_own_lever() {
        assert!(hint(RejectReason::NotIcp).contains("fit threshold"));
        assert!(hint(RejectReason::WrongTiming).contains("intent threshold"));
        assert!(hint(RejectReason::WrongTiming).contains("nurture"));
        assert!(hint(RejectReason::NoBudget).contains("revenue band"));
        assert!(hint(RejectReason::AlreadyInPipeline).contains("CRM dedupe"));
    }
}
