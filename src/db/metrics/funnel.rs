//! The funnel read from the facts themselves: for the partial days at the ends of a period,
//! and the median time to acknowledgement (a median cannot be summed from days).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Grouping, week_of};

/// One group's counts over a stretch of time.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct FunnelCounts {
    pub key: Option<String>,
    pub leads: i64,
    pub mqls: i64,
    pub sals: i64,
    pub sqls: i64,
    pub rejected: i64,
    pub disqualified: i64,
}

/// The group key of a `lead_funnel f` row for each cohort: created, MQL, disqualified (a
/// disqualification `t` falls in its own week, not its lead's).
fn keys(by: Grouping) -> [String; 3] {
    let col = |c: &str| [c.to_owned(), c.to_owned(), c.to_owned()];
    match by {
        Grouping::Total => col("null::text"),
        Grouping::Rep => col("f.rep_id::text"),
        Grouping::Tier => col("f.account_tier::text"),
        Grouping::Source => col("f.source"),
        Grouping::Week => [
            week_of("f.created_at"),
            week_of("f.mql_at"),
            week_of("t.occurred_at"),
        ],
    }
}

/// The counts of `[from, to)` grouped `by`, one row per key that has any.
pub async fn counts(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: Grouping,
) -> sqlx::Result<Vec<FunnelCounts>> {
    let [made, mql, dq] = keys(by);
    sqlx::query_as(&format!(
        r#"select k as key, sum(leads)::int8 as leads, sum(mqls)::int8 as mqls,
                  sum(sals)::int8 as sals, sum(sqls)::int8 as sqls,
                  sum(rejected)::int8 as rejected, sum(disqualified)::int8 as disqualified
             from (select {made} as k, 1 as leads, 0 as mqls, 0 as sals, 0 as sqls, 0 as rejected,
                          0 as disqualified
                     from lead_funnel f where f.created_at >= $1 and f.created_at < $2
                   union all
                   select {mql}, 0, 1, (f.sal_at is not null)::int, (f.sql_at is not null)::int,
                          (f.rejected_at is not null)::int, 0
                     from lead_funnel f where f.mql_at >= $1 and f.mql_at < $2
                   union all
                   select {dq}, 0, 0, 0, 0, 0, 1
                     from lead_transitions t
                     join lead_funnel f on f.lead_id = t.lead_id
                    where t.to_stage = 'Disqualified' and t.occurred_at >= $1 and t.occurred_at < $2) x
            group by k"#
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// The median seconds from MQL to the first assignment's acknowledgement of the MQLs of
/// `[from, to)`: the total's (`total = true`) and each key's, `None` where nobody was
/// acknowledged.
pub async fn medians(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: Grouping,
) -> sqlx::Result<Vec<(bool, Option<String>, Option<f64>)>> {
    // Sorted on the raw key and formatted once per group: formatting (and numeric interval
    // arithmetic, hence date_part's float) on every row was most of this statement's cost.
    let (key, shown) = match by {
        Grouping::Total => ("null::int", "null::text"),
        Grouping::Rep => ("f.rep_id", "k::text"),
        Grouping::Tier => ("f.account_tier", "k::text"),
        Grouping::Source => ("f.source", "k"),
        Grouping::Week => (
            "date_trunc('week', f.mql_at at time zone 'UTC')",
            "to_char(k, 'YYYY-MM-DD')",
        ),
    };
    sqlx::query_as(&format!(
        r#"select grouping(k) = 1, {shown},
                  percentile_cont(0.5) within group (order by ack_seconds)
             from (select {key} as k, date_part('epoch', f.acknowledged_at - f.mql_at) as ack_seconds
                     from lead_funnel f
                    where f.mql_at >= $1 and f.mql_at < $2 and f.acknowledged_at is not null) x
            group by grouping sets ((), (k))"#
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
