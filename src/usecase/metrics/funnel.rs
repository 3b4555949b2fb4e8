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
    Grouping,
    funnel::{self, FunnelRow},
};

/// The groupings the funnel takes (`by=`).
pub const GROUPINGS: &[Grouping] = &[
    Grouping::Rep,
    Grouping::Tier,
    Grouping::Source,
    Grouping::Week,
];

/// One funnel, for the total or a group. Cohorts (README, "Metrics"): `leads` were created in
/// the period; `mqls` first became MQL in it, and `sals`, `sqls`, `rejected` are those of
/// them that reached SAL, SQL or were rejected, whenever that happened; `disqualified` counts
/// disqualifications recorded in the period.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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

impl From<&FunnelRow> for FunnelNumbers {
    fn from(row: &FunnelRow) -> Self {
        FunnelNumbers {
            leads: row.leads,
            mqls: row.mqls,
            sals: row.sals,
            sqls: row.sqls,
            rejected: row.rejected,
            disqualified: row.disqualified,
            mql_to_sal: rate(row.sals, row.mqls),
            sal_to_sql: rate(row.sqls, row.sals),
            median_mql_to_ack_seconds: row.median_ack_seconds,
        }
    }
}

/// The funnel report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunnelReport {
    pub period: Period,
    pub by: Option<&'static str>,
    pub total: FunnelNumbers,
    pub groups: Vec<Group<FunnelNumbers>>,
}

/// The funnel over the query's period and grouping.
#[tracing::instrument(skip_all, fields(metrics.by = ?query.by))]
pub async fn report(pool: &PgPool, query: &MetricsQuery) -> sqlx::Result<FunnelReport> {
    let mut conn = pool.acquire().await?;
    let Period { from, to } = query.period;
    let rows = funnel::funnel(&mut conn, from, to, query.by).await?;
    let total = rows
        .iter()
        .find(|r| r.total)
        .map(FunnelNumbers::from)
        .unwrap_or_default();
    let groups = if query.by == Grouping::Total {
        Vec::new()
    } else {
        let by_key: HashMap<Option<String>, FunnelNumbers> = rows
            .iter()
            .filter(|r| !r.total)
            .map(|r| (r.key.clone(), FunnelNumbers::from(r)))
            .collect();
        groups::label(&mut conn, query.by, &query.period, by_key).await?
    };
    Ok(FunnelReport {
        period: query.period,
        by: query.by.name(),
        total,
        groups,
    })
}
