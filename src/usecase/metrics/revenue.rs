//! `GET /api/v1/metrics/revenue`: the backward metrics, from revenue back to the MQLs that
//! led to it. Three cohorts of one period (docs/http-api.md, "Revenue"), each grouped by the
//! credited lead's rep, tier, source, demand state, or by week:
//! - the MQLs of the period: how many were accepted (SAL) and how many led to an opportunity;
//! - the opportunities opened in it: how many were marketing-sourced (their lead was MQL
//!   before they opened) and the pipeline those hold;
//! - the marketing-sourced opportunities closed in it: won, lost, the amounts won, the median
//!   days MQL → opportunity → won, and the spend recorded for the segment over the period
//!   divided by the deals won (CAC).

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate};
use serde::Serialize;
use sqlx::PgPool;

use super::{
    Grouping, Period, groups,
    groups::Group,
    period::{midnight, parse_period},
    rate,
};
use crate::{
    db::metrics::{
        self,
        revenue::{self, Part, RevenueGrouping, SpendRow},
    },
    error::ApiError,
};

/// Amounts by ISO 4217 currency: amounts in different currencies are never added up.
pub type ByCurrency = BTreeMap<String, f64>;

/// The backward numbers of the total or of one group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RevenueNumbers {
    /// Leads that first became MQL in the period.
    pub mqls: i64,
    /// Of them, those a rep accepted (SAL), whenever.
    pub sals: i64,
    /// `sals / mqls`.
    pub sal_rate: Option<f64>,
    /// Of the MQLs, those with an opportunity opened at or after they became MQL.
    pub mqls_with_opportunity: i64,
    /// `mqls_with_opportunity / mqls`.
    pub opportunity_rate: Option<f64>,
    /// Opportunities opened in the period.
    pub opportunities_opened: i64,
    /// Of them, those whose lead was MQL before they opened.
    pub marketing_sourced_opportunities: i64,
    /// The amounts of those, by currency.
    #[schema(value_type = Object)]
    pub marketing_sourced_pipeline: ByCurrency,
    /// Marketing-sourced opportunities won in the period.
    pub won: i64,
    /// Marketing-sourced opportunities lost in the period.
    pub lost: i64,
    /// `won / (won + lost)`.
    pub won_rate: Option<f64>,
    /// The amounts won, by currency.
    #[schema(value_type = Object)]
    pub won_amount: ByCurrency,
    /// Median days from the lead's MQL to the opportunity's opening, over the deals won.
    pub median_days_mql_to_opportunity: Option<f64>,
    /// Median days from opening to winning, over the deals won.
    pub median_days_opportunity_to_won: Option<f64>,
    /// The spend recorded for the segment over the period, by currency (spread evenly over
    /// each record's days); empty by rep, which spend is not recorded for.
    #[schema(value_type = Object)]
    pub spend: ByCurrency,
    /// `spend / won` by currency; absent without deals won.
    #[schema(value_type = Object)]
    pub cac: ByCurrency,
}

/// The revenue report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RevenueReport {
    pub period: Period,
    pub by: Option<&'static str>,
    pub total: RevenueNumbers,
    pub groups: Vec<Group<RevenueNumbers>>,
}

/// A revenue request: its period and grouping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RevenueQuery {
    pub period: Period,
    pub by: RevenueGrouping,
    name: Option<&'static str>,
}

impl RevenueQuery {
    /// `from`, `to` as every metrics view reads them, and `by` one of
    /// [`RevenueGrouping::NAMES`].
    pub fn parse(
        query: &HashMap<String, String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, ApiError> {
        let (period, name) = parse_period(query, RevenueGrouping::NAMES, now)?;
        Ok(RevenueQuery {
            period,
            by: RevenueGrouping::named(name),
            name,
        })
    }
}

/// The report over the query's period and grouping, in one snapshot; `demand_states` are the
/// configured ones, each shown even at zero.
#[tracing::instrument(skip_all, fields(metrics.by = ?query.by))]
pub async fn report(
    pool: &PgPool,
    query: &RevenueQuery,
    demand_states: &[String],
) -> sqlx::Result<RevenueReport> {
    let Period { from, to } = query.period;
    let by = query.by;
    let mut tx = pool.begin().await?;
    metrics::snapshot(&mut tx).await?;
    let mut numbers: HashMap<(bool, Option<String>), RevenueNumbers> = HashMap::new();
    for row in revenue::mql_cohort(&mut tx, from, to, by).await? {
        let n = at(&mut numbers, row.total, &row.key);
        (n.mqls, n.sals, n.mqls_with_opportunity) = (row.mqls, row.sals, row.with_opportunity);
    }
    for row in revenue::opportunity_parts(&mut tx, from, to, by).await? {
        let n = at(&mut numbers, row.total, &row.key);
        let (first, second) = (
            row.first.unwrap_or_default(),
            row.second.unwrap_or_default(),
        );
        match row.part {
            Part::Opened => {
                n.opportunities_opened = first as i64;
                n.marketing_sourced_opportunities = second as i64;
            }
            Part::Closed => {
                (n.won, n.lost) = (first as i64, second as i64);
                n.median_days_mql_to_opportunity = row.mql_to_opportunity_days;
                n.median_days_opportunity_to_won = row.opportunity_to_won_days;
            }
            Part::Pipeline | Part::Won => {
                let into = match row.part {
                    Part::Pipeline => &mut n.marketing_sourced_pipeline,
                    _ => &mut n.won_amount,
                };
                into.insert(row.currency.unwrap_or_default(), first);
            }
        }
    }
    let (first_day, end_day) = days(&query.period);
    for (total, segment_by) in [(true, "total"), (false, spend_segments(by))] {
        let rows = revenue::spend(&mut tx, segment_by, first_day, end_day).await?;
        let spread_by = if total { RevenueGrouping::Total } else { by };
        for (key, spent) in spread(&rows, spread_by, &query.period) {
            at(&mut numbers, total, &key).spend = spent;
        }
        if by == RevenueGrouping::Total {
            break;
        }
    }
    let total = numbers.remove(&(true, None)).unwrap_or_default();
    let groups = if by == RevenueGrouping::Total {
        Vec::new()
    } else {
        let rows = numbers
            .into_iter()
            .filter(|((t, _), _)| !t)
            .map(|((_, k), n)| (k, n));
        label(&mut tx, query, rows.collect(), demand_states).await?
    };
    tx.commit().await?;
    Ok(RevenueReport {
        period: query.period,
        by: query.name,
        total: derive(total),
        groups: groups
            .into_iter()
            .map(|g| Group {
                values: derive(g.values),
                ..g
            })
            .collect(),
    })
}

/// The numbers of the total (`total`) or of group `key`.
fn at<'n>(
    numbers: &'n mut HashMap<(bool, Option<String>), RevenueNumbers>,
    total: bool,
    key: &Option<String>,
) -> &'n mut RevenueNumbers {
    numbers.entry((total, key.clone())).or_default()
}

/// The rates and CAC of counted numbers.
fn derive(mut n: RevenueNumbers) -> RevenueNumbers {
    n.sal_rate = rate(n.sals, n.mqls);
    n.opportunity_rate = rate(n.mqls_with_opportunity, n.mqls);
    n.won_rate = rate(n.won, n.won + n.lost);
    n.cac = if n.won == 0 {
        ByCurrency::new()
    } else {
        n.spend
            .iter()
            .map(|(currency, spent)| (currency.clone(), spent / n.won as f64))
            .collect()
    };
    n
}

/// Which spend records a grouping's groups read: the whole spend for weeks, none by rep.
fn spend_segments(by: RevenueGrouping) -> &'static str {
    match by {
        RevenueGrouping::Tier => "tier",
        RevenueGrouping::Source => "source",
        RevenueGrouping::DemandState => "demand_state",
        RevenueGrouping::Total | RevenueGrouping::Week => "total",
        // No record's segment_by is this, so nothing is read.
        RevenueGrouping::Rep => "rep",
    }
}

/// The whole UTC days `[first, end)` a period touches: the spend records to read.
fn days(period: &Period) -> (NaiveDate, NaiveDate) {
    let first = period.from.date_naive();
    let last = (period.to - Duration::microseconds(1)).date_naive();
    (first, last + Duration::days(1))
}

/// Each group's share of `rows`: a record is spent evenly over its days, and counts with the
/// share of that time inside `period` (by week: inside each week of it). The key is the
/// record's segment, or for weeks the Monday as `YYYY-MM-DD`.
fn spread(
    rows: &[SpendRow],
    by: RevenueGrouping,
    period: &Period,
) -> Vec<(Option<String>, ByCurrency)> {
    let mut spent: BTreeMap<Option<String>, ByCurrency> = BTreeMap::new();
    let share = |row: &SpendRow, window: Period| {
        let days = Period {
            from: midnight(row.first_day),
            to: midnight(row.last_day + Duration::days(1)),
        };
        let inside = days.within(&window);
        let seconds = |p: Period| (p.to - p.from).num_seconds().max(0) as f64;
        seconds(inside) / seconds(days)
    };
    for row in rows {
        let shares: Vec<(Option<String>, f64)> = if by == RevenueGrouping::Week {
            period
                .weeks()
                .into_iter()
                .map(|week| {
                    let key = week.monday.format("%Y-%m-%d").to_string();
                    (Some(key), share(row, week.period().within(period)))
                })
                .collect()
        } else {
            vec![(row.segment.clone(), share(row, *period))]
        };
        for (key, share) in shares.into_iter().filter(|(_, s)| *s > 0.0) {
            let into = spent.entry(key).or_default();
            *into.entry(row.currency.clone()).or_default() += row.amount * share;
        }
    }
    spent.into_iter().collect()
}

/// Labels the groups: as the funnel does for reps, tiers, sources and weeks; by demand state
/// with every configured state shown.
async fn label(
    conn: &mut sqlx::PgConnection,
    query: &RevenueQuery,
    mut rows: HashMap<Option<String>, RevenueNumbers>,
    demand_states: &[String],
) -> sqlx::Result<Vec<Group<RevenueNumbers>>> {
    let as_funnel = match query.by {
        RevenueGrouping::Rep => Grouping::Rep,
        RevenueGrouping::Tier => Grouping::Tier,
        RevenueGrouping::Source => Grouping::Source,
        RevenueGrouping::Week => Grouping::Week,
        RevenueGrouping::Total | RevenueGrouping::DemandState => {
            for state in demand_states {
                rows.entry(Some(state.clone())).or_default();
            }
            let mut groups: Vec<Group<RevenueNumbers>> = rows
                .into_iter()
                .map(|(key, values)| Group {
                    label: key.clone().unwrap_or_else(|| "no demand state".to_owned()),
                    key,
                    values,
                })
                .collect();
            groups.sort_by(|a, b| (a.key.is_none(), &a.key).cmp(&(b.key.is_none(), &b.key)));
            return Ok(groups);
        }
    };
    groups::label(conn, as_funnel, &query.period, rows).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn row(segment: &str, first: &str, last: &str, amount: f64) -> SpendRow {
        SpendRow {
            segment: Some(segment.to_owned()),
            first_day: day(first),
            last_day: day(last),
            amount,
            currency: "USD".to_owned(),
        }
    }

    fn period(from: &str, to: &str) -> Period {
        Period {
            from: from.parse().unwrap(),
            to: to.parse().unwrap(),
        }
    }

    #[test]
    fn spend_is_spread_evenly_over_its_days() {
        // 10 days, 4 of them in the period.
        let rows = [row("webinar", "2026-10-27", "2026-11-05", 1000.0)];
        let november = period("2026-11-02T00:00:00Z", "2026-12-01T00:00:00Z");
        let spent = spread(&rows, RevenueGrouping::Source, &november);
        assert_eq!(
            spent,
            vec![(
                Some("webinar".to_owned()),
                [("USD".to_owned(), 400.0)].into()
            )]
        );
        // By week: Oct 26 week holds 6 of its days, Nov 2 week 4, clipped to the period.
        let autumn = period("2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z");
        let weekly = spread(&rows, RevenueGrouping::Week, &autumn);
        let shares: Vec<f64> = weekly.iter().map(|(_, m)| m["USD"]).collect();
        assert_eq!(weekly[0].0.as_deref(), Some("2026-10-26"));
        assert_eq!(shares, vec![600.0, 400.0]);
        // A period that does not start at midnight counts the part of its first day it holds:
        // noon to noon is one day's spend, not two.
        let noon = period("2026-11-01T12:00:00Z", "2026-11-02T12:00:00Z");
        let spent = spread(&rows, RevenueGrouping::Total, &noon);
        assert_eq!(spent[0].1["USD"], 100.0);
        let weekly = spread(&rows, RevenueGrouping::Week, &noon);
        let shares: Vec<f64> = weekly.iter().map(|(_, m)| m["USD"]).collect();
        assert_eq!(
            shares,
            vec![50.0, 50.0],
            "Sunday's afternoon, Monday's morning"
        );
    }

    #[test]
    fn cac_divides_spend_by_deals_won_and_rates_never_divide_by_zero() {
        let n = derive(RevenueNumbers {
            won: 4,
            lost: 1,
            spend: [("USD".to_owned(), 1000.0), ("EUR".to_owned(), 10.0)].into(),
            ..RevenueNumbers::default()
        });
        assert_eq!(n.cac["USD"], 250.0);
        assert_eq!(n.cac["EUR"], 2.5);
        assert_eq!(n.won_rate, Some(0.8));
        assert_eq!((n.sal_rate, n.opportunity_rate), (None, None));
        let none_won = derive(RevenueNumbers {
            spend: [("USD".to_owned(), 1000.0)].into(),
            ..RevenueNumbers::default()
        });
        assert!(none_won.cac.is_empty());
    }

    #[test]
    fn a_period_covers_the_days_it_touches() {
        let period = Period {
            from: "2026-11-02T00:00:00Z".parse().unwrap(),
            to: "2026-11-09T00:00:00Z".parse().unwrap(),
        };
        assert_eq!(days(&period), (day("2026-11-02"), day("2026-11-09")));
        let partial = Period {
            from: "2026-11-02T10:00:00Z".parse().unwrap(),
            to: "2026-11-08T10:00:00Z".parse().unwrap(),
        };
        assert_eq!(days(&partial), (day("2026-11-02"), day("2026-11-09")));
    }
}
