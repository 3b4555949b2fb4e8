//! `metrics_daily`: the per-day sums the views read for the whole UTC days of a period, and
//! folding each day's appended deltas into one row per group.

use chrono::NaiveDate;
use sqlx::PgConnection;

use super::Grouping;

/// The sums of one group (`key`), kind and reason over some days (or one ISO week's).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailySum {
    pub key: Option<String>,
    pub kind: String,
    pub reason: Option<String>,
    pub n: i64,
    pub sals: i64,
    pub sqls: i64,
    pub rejected: i64,
}

/// The sums over the days `[from, to)` grouped `by` (per ISO week for [`Grouping::Week`]:
/// the key is then the week's Monday as `YYYY-MM-DD`), by kind and reason.
pub async fn sums(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
    by: Grouping,
) -> sqlx::Result<Vec<DailySum>> {
    let (dim, weekly) = match by {
        Grouping::Total => ("total", false),
        Grouping::Week => ("total", true),
        Grouping::Rep => ("rep", false),
        Grouping::Tier => ("tier", false),
        Grouping::Source => ("source", false),
    };
    sqlx::query_as(
        "select case when $4 then to_char(date_trunc('week', day), 'YYYY-MM-DD') else key end as key,
                kind, reason, sum(n)::int8 as n, sum(sals)::int8 as sals, sum(sqls)::int8 as sqls,
                sum(rejected)::int8 as rejected
           from metrics_daily
          where dim = $1 and day >= $2 and day < $3
          group by 1, 2, 3",
    )
    .bind(dim)
    .bind(from)
    .bind(to)
    .bind(weekly)
    .fetch_all(conn)
    .await
}

/// Up to `limit` days that have deltas not folded yet.
pub async fn unfolded_days(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<NaiveDate>> {
    sqlx::query_scalar(
        "select day from (select distinct day from metrics_daily where not folded) d
          order by day limit $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Replaces every row of `days` by one folded row per group with the same sums (groups that
/// sum to nothing vanish); returns how many rows were replaced. Safe beside writers (their
/// uncommitted deltas stay rows of their own) and beside another fold (a row deleted by it
/// is skipped here, and a group it folded meanwhile adds this fold's sums to its one row:
/// the schema keeps one folded row per group).
pub async fn fold(conn: &mut PgConnection, days: &[NaiveDate]) -> sqlx::Result<u64> {
    let folded: i64 = sqlx::query_scalar(
        "with gone as (delete from metrics_daily where day = any($1) returning *),
              kept as (
                  insert into metrics_daily (day, kind, dim, key, reason, n, sals, sqls, rejected, folded)
                  select day, kind, dim, key, reason, sum(n), sum(sals), sum(sqls), sum(rejected), true
                    from gone group by 1, 2, 3, 4, 5
                  having sum(n) <> 0 or sum(sals) <> 0 or sum(sqls) <> 0 or sum(rejected) <> 0
                  on conflict (day, kind, dim, key, reason) where folded do update
                     set n = metrics_daily.n + excluded.n, sals = metrics_daily.sals + excluded.sals,
                         sqls = metrics_daily.sqls + excluded.sqls,
                         rejected = metrics_daily.rejected + excluded.rejected
                  returning 1)
         select count(*) from gone",
    )
    .bind(days)
    .fetch_one(conn)
    .await?;
    Ok(u64::try_from(folded).unwrap_or(0))
}
