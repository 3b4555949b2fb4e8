//! `GET /api/v1/metrics/funnel`: leads, MQLs and how far the MQL cohort got, disqualified.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::PgPool;

use super::{
    MetricsQuery, Period,
    groups::{self, Group},
    rate,
};
use crate::db::metrics::{
    self, Grouping, daily,
    funnel::{self, FunnelCounts},
};

/// The groupings the funnel takes (`by=`).
pub const GROUPINGS: &[Grouping] = &[
    Grouping::Rep,
    Grouping::Tier,
    Grouping::Source,
    Grouping::Week,
];

/// One funnel, for the total or a group. Cohorts (docs/http-api.md, "Metrics"): `leads` were created in
/// the period; `mqls` first became MQL in it, and `sals`, `sqls`, `rejected` are those of
/// them that reached SAL, SQL or were rejected, whenever that happened; `disqualified` counts
/// disqualifications recorded in the period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelNumbers {
    pub leads: i64,
    pub mqls: i64,
    pub sals: i64,
    pub sqls: i64,
    pub rejected: i64,
    pub disqualified: i64,
    /// `sals / mqls`; `null` without MQLs.
    pub mql_to_sal: Option<f64>,
    /// `sqls / sals`; `null` without SALs.
    pub sal_to_sql: Option<f64>,
    /// Median wall-clock seconds from becoming MQL to the first assignment's
    /// acknowledgement, over the cohort's acknowledged MQLs; `null` when none is.
    pub median_mql_to_ack_seconds: Option<f64>,
}

impl FunnelNumbers {
    fn new(c: &FunnelCounts, median: Option<f64>) -> Self {
        FunnelNumbers {
            leads: c.leads,
            mqls: c.mqls,
            sals: c.sals,
            sqls: c.sqls,
            rejected: c.rejected,
            disqualified: c.disqualified,
            mql_to_sal: rate(c.sals, c.mqls),
            sal_to_sql: rate(c.sqls, c.sals),
            median_mql_to_ack_seconds: median,
        }
    }
}

/// The funnel report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelReport {
    pub period: Period,
    pub by: Option<&'static str>,
    pub total: FunnelNumbers,
    pub groups: Vec<Group<FunnelNumbers>>,
}

fn add(into: &mut FunnelCounts, c: &FunnelCounts) {
    into.leads += c.leads;
    into.mqls += c.mqls;
    into.sals += c.sals;
    into.sqls += c.sqls;
    into.rejected += c.rejected;
    into.disqualified += c.disqualified;
}

/// A day sum as funnel counts (rejection sums are the rejections view's).
fn from_daily(sum: &daily::DailySum) -> FunnelCounts {
    let mut c = FunnelCounts {
        key: sum.key.clone(),
        ..FunnelCounts::default()
    };
    match sum.kind.as_str() {
        "lead" => c.leads = sum.n,
        "mql" => {
            c.mqls = sum.n;
            c.sals = sum.sals;
            c.sqls = sum.sqls;
            c.rejected = sum.rejected;
        }
        "dq" => c.disqualified = sum.n,
        _ => {}
    }
    c
}

/// The funnel over the query's period and grouping: whole days from the daily sums, the
/// partial days at the ends and the medians from the per-lead facts, in one snapshot.
#[tracing::instrument(skip_all, fields(metrics.by = ?query.by))]
pub async fn report(pool: &PgPool, query: &MetricsQuery) -> sqlx::Result<FunnelReport> {
    let Period { from, to } = query.period;
    let split = query.period.split();
    let mut tx = pool.begin().await?;
    metrics::snapshot(&mut tx).await?;
    let mut parts: Vec<FunnelCounts> = Vec::new();
    if let Some((first, end)) = split.days {
        let sums = daily::sums(&mut tx, first, end, query.by).await?;
        parts.extend(sums.iter().map(from_daily));
    }
    for (start, stop) in split.edges {
        parts.extend(funnel::counts(&mut tx, start, stop, query.by).await?);
    }
    let medians = funnel::medians(&mut tx, from, to, query.by).await?;
    let groups_rows = if query.by == Grouping::Total {
        Vec::new()
    } else {
        let mut by_key: HashMap<Option<String>, FunnelCounts> = HashMap::new();
        for part in &parts {
            add(by_key.entry(part.key.clone()).or_default(), part);
        }
        let median_of: HashMap<Option<String>, Option<f64>> = medians
            .iter()
            .filter(|(total, _, _)| !total)
            .map(|(_, key, m)| (key.clone(), *m))
            .collect();
        let numbers = by_key
            .into_iter()
            // Deltas that cancel out can leave a group with nothing in it.
            .filter(|(_, c)| has_any(c))
            .map(|(key, c)| {
                let median = median_of.get(&key).copied().flatten();
                (key, FunnelNumbers::new(&c, median))
            })
            .collect();
        groups::label(&mut tx, query.by, &query.period, numbers).await?
    };
    tx.commit().await?;
    let mut total = FunnelCounts::default();
    for part in &parts {
        add(&mut total, part);
    }
    let total_median = medians.iter().find(|(t, _, _)| *t).and_then(|(_, _, m)| *m);
    Ok(FunnelReport {
        period: query.period,
        by: query.by.name(),
        total: FunnelNumbers::new(&total, total_median),
        groups: groups_rows,
    })
}

fn has_any(c: &FunnelCounts) -> bool {
    c.leads != 0 || c.mqls != 0 || c.disqualified != 0
}
