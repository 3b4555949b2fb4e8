//! The backward metrics read from the facts: the MQL cohort and what it led to, the
//! opportunities opened and closed, each credited to one lead (`opportunity_attribution`).
//! Every statement returns the total (`total = true`) and each group in one pass.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

use super::week_of;

/// What the revenue view groups by; the keys are the credited lead's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevenueGrouping {
    Total,
    Rep,
    Tier,
    Source,
    DemandState,
    Week,
}

impl RevenueGrouping {
    pub const NAMES: &[&str] = &["rep", "tier", "source", "demand_state", "week"];

    /// The grouping `by=` names; the total for `None`.
    pub fn named(name: Option<&str>) -> Self {
        match name {
            Some("rep") => RevenueGrouping::Rep,
            Some("tier") => RevenueGrouping::Tier,
            Some("source") => RevenueGrouping::Source,
            Some("demand_state") => RevenueGrouping::DemandState,
            Some("week") => RevenueGrouping::Week,
            _ => RevenueGrouping::Total,
        }
    }

    /// The key of a row of lead facts (`rep_id`, `account_tier`, `source`, `demand_state`)
    /// whose week is that of the timestamp `when`.
    fn key(self, when: &str) -> String {
        match self {
            RevenueGrouping::Total => "null::text".to_owned(),
            RevenueGrouping::Rep => "rep_id::text".to_owned(),
            RevenueGrouping::Tier => "account_tier::text".to_owned(),
            RevenueGrouping::Source => "source".to_owned(),
            RevenueGrouping::DemandState => "demand_state".to_owned(),
            RevenueGrouping::Week => week_of(when),
        }
    }
}

/// The MQLs of a period and how far they got.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct MqlCohort {
    pub total: bool,
    pub key: Option<String>,
    pub mqls: i64,
    pub sals: i64,
    /// Those with an opportunity opened at or after they became MQL.
    pub with_opportunity: i64,
}

/// The MQLs of `[from, to)` grouped `by` (week: of becoming MQL).
pub async fn mql_cohort(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: RevenueGrouping,
) -> sqlx::Result<Vec<MqlCohort>> {
    let key = by.key("mql_at");
    sqlx::query_as(&format!(
        "select grouping(k) = 1 as total, k as key, count(*)::int8 as mqls,
                count(*) filter (where sal_at is not null)::int8 as sals,
                count(*) filter (where with_opportunity)::int8 as with_opportunity
           from (select {key} as k, sal_at,
                        exists (select 1 from opportunity_leads ol
                                  join opportunities o on o.id = ol.opportunity_id
                                 where ol.lead_id = m.lead_id and o.opened_at >= m.mql_at)
                          as with_opportunity
                   from (select f.lead_id, f.mql_at, f.sal_at, f.rep_id, f.account_tier, f.source,
                                coalesce(l.demand_state, l.derived_demand_state) as demand_state
                           from lead_funnel f join leads l on l.id = f.lead_id
                          where f.mql_at >= $1 and f.mql_at < $2) m) x
          group by grouping sets ((), (k))"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// The opportunities opened in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Opened {
    pub total: bool,
    pub key: Option<String>,
    pub opened: i64,
    pub marketing_sourced: i64,
}

/// The opportunities opened in `[from, to)` grouped `by` (week: of opening).
pub async fn opened(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: RevenueGrouping,
) -> sqlx::Result<Vec<Opened>> {
    let key = by.key("opened_at");
    sqlx::query_as(&format!(
        "select grouping(k) = 1 as total, k as key, count(*)::int8 as opened,
                count(*) filter (where marketing_sourced)::int8 as marketing_sourced
           from (select {key} as k, marketing_sourced from opportunity_attribution
                  where opened_at >= $1 and opened_at < $2) x
          group by grouping sets ((), (k))"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// The marketing-sourced opportunities closed in a period.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct Closed {
    pub total: bool,
    pub key: Option<String>,
    pub won: i64,
    pub lost: i64,
    /// Medians over the won, in days.
    pub mql_to_opportunity_days: Option<f64>,
    pub opportunity_to_won_days: Option<f64>,
}

/// The marketing-sourced opportunities closed in `[from, to)` grouped `by` (week: of
/// closing).
pub async fn closed(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: RevenueGrouping,
) -> sqlx::Result<Vec<Closed>> {
    let key = by.key("closed_at");
    let days = |a: &str, b: &str| format!("date_part('epoch', {b} - {a}) / 86400");
    let (mql_to_opp, opp_to_won) = (days("mql_at", "opened_at"), days("opened_at", "closed_at"));
    sqlx::query_as(&format!(
        "select grouping(k) = 1 as total, k as key,
                count(*) filter (where status = 'won')::int8 as won,
                count(*) filter (where status = 'lost')::int8 as lost,
                percentile_cont(0.5) within group (order by {mql_to_opp})
                  filter (where status = 'won') as mql_to_opportunity_days,
                percentile_cont(0.5) within group (order by {opp_to_won})
                  filter (where status = 'won') as opportunity_to_won_days
           from (select {key} as k, * from opportunity_attribution
                  where closed_at >= $1 and closed_at < $2 and marketing_sourced) x
          group by grouping sets ((), (k))"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// A sum of money of one group in one currency.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Amount {
    pub total: bool,
    pub key: Option<String>,
    pub currency: String,
    pub amount: f64,
}

/// Which marketing-sourced opportunities [`amounts`] sums: opened in the period (the
/// pipeline) or won in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Summed {
    Pipeline,
    Won,
}

/// The amounts of the marketing-sourced opportunities of `[from, to)` grouped `by`, per
/// currency.
pub async fn amounts(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: RevenueGrouping,
    summed: Summed,
) -> sqlx::Result<Vec<Amount>> {
    let (when, status) = match summed {
        Summed::Pipeline => ("opened_at", "true"),
        Summed::Won => ("closed_at", "status = 'won'"),
    };
    let key = by.key(when);
    sqlx::query_as(&format!(
        "select grouping(k) = 1 as total, k as key, currency, sum(amount)::float8 as amount
           from (select {key} as k, currency, amount from opportunity_attribution
                  where {when} >= $1 and {when} < $2 and marketing_sourced and {status}
                    and amount is not null) x
          group by grouping sets ((currency), (k, currency))"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// A recorded spend that overlaps a period.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SpendRow {
    pub segment: Option<String>,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub amount: f64,
    pub currency: String,
}

/// The spend recorded on segments of `segment_by` (`total` for the whole) on any of the days
/// `[from, to)`.
pub async fn spend(
    conn: &mut PgConnection,
    segment_by: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<SpendRow>> {
    sqlx::query_as(
        "select segment, first_day, last_day, amount::float8 as amount, currency
           from marketing_spend
          where segment_by = $1 and first_day < $3 and last_day >= $2",
    )
    .bind(segment_by)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
