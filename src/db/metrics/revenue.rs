//! The backward metrics read from the facts: the MQL cohort and what it led to, the
//! opportunities opened and closed, each credited to one lead (`opportunity_attribution`).
//! Every statement returns the total (`total = true`) and each group in one pass.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

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
    /// whose week is that of the timestamp `when`, as its column's own type: grouping by it
    /// and then formatting the few groups (`text`) costs less than formatting every row.
    fn key(self, when: &str) -> String {
        match self {
            RevenueGrouping::Total => "null::text".to_owned(),
            RevenueGrouping::Rep => "rep_id".to_owned(),
            RevenueGrouping::Tier => "account_tier".to_owned(),
            RevenueGrouping::Source => "source".to_owned(),
            RevenueGrouping::DemandState => "demand_state".to_owned(),
            RevenueGrouping::Week => format!("date_trunc('week', {when} at time zone 'UTC')"),
        }
    }

    /// The text of a group's key `k` (of [`Self::key`]): a week as its Monday, `YYYY-MM-DD`.
    fn text(self, k: &str) -> String {
        match self {
            RevenueGrouping::Week => format!("to_char({k}, 'YYYY-MM-DD')"),
            _ => format!("{k}::text"),
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
    let (key, text) = (by.key("mql_at"), by.text("k"));
    sqlx::query_as(&format!(
        "select grouping(k) = 1 as total, {text} as key, count(*)::int8 as mqls,
                count(*) filter (where sal_at is not null)::int8 as sals,
                count(*) filter (where with_opportunity)::int8 as with_opportunity
           from (select {key} as k, sal_at,
                        coalesce(last_opportunity_opened_at >= mql_at, false) as with_opportunity
                   from lead_funnel
                  where mql_at >= $1 and mql_at < $2) x
          group by grouping sets ((), (k))"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// What one cohort of opportunities of a period says of one group (or the total).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OpportunityPart {
    pub part: Part,
    pub total: bool,
    pub key: Option<String>,
    /// For [`Part::Pipeline`] and [`Part::Won`]: the currency `amount` is in.
    pub currency: Option<String>,
    /// Opened: the count; Closed: those won; Pipeline and Won: the amount.
    pub first: Option<f64>,
    /// Opened: the marketing-sourced; Closed: those lost.
    pub second: Option<f64>,
    /// Closed: the median days from the lead's MQL to the opening, over the won.
    pub mql_to_opportunity_days: Option<f64>,
    /// Closed: the median days from opening to winning.
    pub opportunity_to_won_days: Option<f64>,
}

/// The opportunity cohorts of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Part {
    /// Opened in the period.
    Opened,
    /// Marketing-sourced, closed in the period.
    Closed,
    /// The amounts of the marketing-sourced opened in the period.
    Pipeline,
    /// The amounts of the marketing-sourced won in the period.
    Won,
}

/// Every opportunity cohort of `[from, to)` grouped `by` (week: of the cohort's own event),
/// in one statement: the opportunities opened in the period and those closed in it, each an
/// index-only read of the credits, counted four ways.
pub async fn opportunity_parts(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: RevenueGrouping,
) -> sqlx::Result<Vec<OpportunityPart>> {
    let (opened_key, closed_key, text) = (by.key("opened_at"), by.key("closed_at"), by.text("k"));
    let days = |a: &str, b: &str| format!("date_part('epoch', {b} - {a}) / 86400");
    let (mql_to_opp, opp_to_won) = (days("mql_at", "opened_at"), days("opened_at", "closed_at"));
    sqlx::query_as(&format!(
        "with opened as (
             select {opened_key} as k, marketing_sourced, amount, currency
               from opportunity_attribution where opened_at >= $1 and opened_at < $2
         ), closed as (
             select {closed_key} as k, status, amount, currency,
                    {mql_to_opp} as mql_to_opportunity, {opp_to_won} as opportunity_to_won
               from opportunity_attribution
              where closed_at >= $1 and closed_at < $2 and marketing_sourced
         )
         select part, total, {text} as key, currency, first, second, mql_to_opportunity_days,
                opportunity_to_won_days
           from (
         select 'opened' as part, grouping(k) = 1 as total, k, null::text as currency,
                count(*)::float8 as first,
                (count(*) filter (where marketing_sourced))::float8 as second,
                null::float8 as mql_to_opportunity_days, null::float8 as opportunity_to_won_days
           from opened group by grouping sets ((), (k))
         union all
         select 'closed', grouping(k) = 1, k, null,
                (count(*) filter (where status = 'won'))::float8,
                (count(*) filter (where status = 'lost'))::float8,
                percentile_cont(0.5) within group (order by mql_to_opportunity)
                  filter (where status = 'won'),
                percentile_cont(0.5) within group (order by opportunity_to_won)
                  filter (where status = 'won')
           from closed group by grouping sets ((), (k))
         union all
         select 'pipeline', grouping(k) = 1, k, currency, sum(amount)::float8, null, null, null
           from opened where marketing_sourced and amount is not null
          group by grouping sets ((currency), (k, currency))
         union all
         select 'won', grouping(k) = 1, k, currency, sum(amount)::float8, null, null, null
           from closed where status = 'won' and amount is not null
          group by grouping sets ((currency), (k, currency))) parts"
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
