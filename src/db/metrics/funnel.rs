//! The funnel: leads created, the MQL cohort and how far it got, disqualifications.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{Grouping, week_of};

/// One group's numbers (or the total's, `total = true`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FunnelRow {
    pub total: bool,
    pub key: Option<String>,
    pub leads: i64,
    pub mqls: i64,
    pub sals: i64,
    pub sqls: i64,
    pub rejected: i64,
    pub disqualified: i64,
    pub median_ack_seconds: Option<f64>,
}

/// The group key of a `lead_funnel f` row, and of a disqualification transition `t` (whose
/// week is its own, not its lead's).
fn keys(by: Grouping) -> (String, String, String) {
    let simple = |col: &str| (col.to_owned(), col.to_owned(), col.to_owned());
    match by {
        Grouping::Total => simple("null::text"),
        Grouping::Rep => simple("f.rep_id::text"),
        Grouping::Tier => simple("f.account_tier::text"),
        Grouping::Source => simple("f.source"),
        Grouping::Week => (
            week_of("f.created_at"),
            week_of("f.mql_at"),
            week_of("t.occurred_at"),
        ),
    }
}

fn sql(by: Grouping) -> String {
    let (made_key, mql_key, dq_key) = keys(by);
    // Only a key from the lead's facts needs them for a disqualification.
    let dq_join = if matches!(by, Grouping::Total | Grouping::Week) {
        ""
    } else {
        "left join lead_funnel f on f.lead_id = t.lead_id"
    };
    format!(
        r#"with made as (
               select grouping(k) = 1 as total, k, count(*) as leads
                 from (select {made_key} as k from lead_funnel f
                        where f.created_at >= $1 and f.created_at < $2) x
                group by grouping sets ((), (k))),
           cohort as (
               select grouping(k) = 1 as total, k, count(*) as mqls, count(sal_at) as sals,
                      count(sql_at) as sqls, count(rejected_at) as rejected,
                      percentile_cont(0.5) within group (order by ack_seconds) as median_ack
                 from (select {mql_key} as k, f.sal_at, f.sql_at, f.rejected_at,
                              extract(epoch from f.acknowledged_at - f.mql_at)::float8 as ack_seconds
                         from lead_funnel f
                        where f.mql_at >= $1 and f.mql_at < $2) x
                group by grouping sets ((), (k))),
           dq as (
               select grouping(k) = 1 as total, k, count(*) as disqualified
                 from (select {dq_key} as k from lead_transitions t {dq_join}
                        where t.to_stage = 'Disqualified'
                          and t.occurred_at >= $1 and t.occurred_at < $2) x
                group by grouping sets ((), (k)))
           select total, k as key, sum(leads)::int8 as leads, sum(mqls)::int8 as mqls,
                  sum(sals)::int8 as sals, sum(sqls)::int8 as sqls,
                  sum(rejected)::int8 as rejected, sum(disqualified)::int8 as disqualified,
                  max(median_ack) as median_ack_seconds
             from (select total, k, leads, 0 as mqls, 0 as sals, 0 as sqls, 0 as rejected,
                          0 as disqualified, null::float8 as median_ack from made
                   union all
                   select total, k, 0, mqls, sals, sqls, rejected, 0, median_ack from cohort
                   union all
                   select total, k, 0, 0, 0, 0, 0, disqualified, null from dq) u
            group by total, k"#
    )
}

/// The funnel over `[from, to)` grouped `by`: the total row (`total = true`; always there,
/// zeros when the period is empty) and one row per key that has any number.
pub async fn funnel(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: Grouping,
) -> sqlx::Result<Vec<FunnelRow>> {
    let mut rows: Vec<FunnelRow> = sqlx::query_as(&sql(by))
        .bind(from)
        .bind(to)
        .fetch_all(conn)
        .await?;
    // `grouping sets (())` yields no row over no input; the caller wants zeros.
    if !rows.iter().any(|r| r.total) {
        rows.push(FunnelRow {
            total: true,
            key: None,
            leads: 0,
            mqls: 0,
            sals: 0,
            sqls: 0,
            rejected: 0,
            disqualified: 0,
            median_ack_seconds: None,
        });
    }
    if by == Grouping::Total {
        rows.retain(|r| r.total);
    }
    Ok(rows)
}
