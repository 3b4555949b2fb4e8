//! Exactness: every count (and median) a view answered must be the one the generator's own
//! plan (`metrics_bench_plan`, which never goes through the service's tables or triggers)
//! implies, group for group. Views and expectations are both flattened to `path → number`,
//! zeros left out, so the zero rows a view adds for closed lists compare equal to absence.

use std::collections::BTreeMap;

use anyhow::{Context, ensure};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

/// `path → number` of one view.
pub type Flat = BTreeMap<String, f64>;

fn put(flat: &mut Flat, path: String, value: Option<f64>) {
    if let Some(v) = value.filter(|v| *v != 0.0) {
        flat.insert(path, v);
    }
}

/// The key of a group as a path segment (`-` for a null key).
fn seg(key: &Value) -> String {
    key.as_str().map_or("-".to_owned(), str::to_owned)
}

const FUNNEL_FIELDS: [&str; 7] = [
    "leads",
    "mqls",
    "sals",
    "sqls",
    "rejected",
    "disqualified",
    "median_mql_to_ack_seconds",
];
const SLA_FIELDS: [&str; 7] = [
    "assignments",
    "ack/on_time",
    "ack/late",
    "ack/pending",
    "disposition/on_time",
    "disposition/late",
    "disposition/pending",
];

fn field<'a>(numbers: &'a Value, path: &str) -> &'a Value {
    path.split('/').fold(numbers, |v, s| &v[s])
}

/// A funnel or SLA view, flattened: `total/<field>` and `groups/<key>/<field>`.
pub fn flatten_grouped(view: &Value, sla: bool) -> Flat {
    let fields: &[&str] = if sla { &SLA_FIELDS } else { &FUNNEL_FIELDS };
    let mut flat = Flat::new();
    let mut add = |prefix: String, numbers: &Value| {
        for f in fields {
            put(
                &mut flat,
                format!("{prefix}/{f}"),
                field(numbers, f).as_f64(),
            );
        }
        if sla {
            put(
                &mut flat,
                format!("{prefix}/escalations"),
                numbers["escalations"].as_f64(),
            );
        }
    };
    add("total".to_owned(), &view["total"]);
    for group in view["groups"].as_array().into_iter().flatten() {
        add(format!("groups/{}", seg(&group["key"])), group);
    }
    flat
}

/// A rejections or disqualifications view: `total/<reason>` and `weeks/<key>/<reason>`.
pub fn flatten_reasons(view: &Value) -> Flat {
    let mut flat = Flat::new();
    for reason in view["reasons"].as_array().into_iter().flatten() {
        let name = reason["reason"].as_str().unwrap_or_default();
        put(&mut flat, format!("total/{name}"), reason["count"].as_f64());
    }
    for week in view["weeks"].as_array().into_iter().flatten() {
        for reason in week["reasons"].as_array().into_iter().flatten() {
            let name = reason["reason"].as_str().unwrap_or_default();
            let path = format!("weeks/{}/{name}", seg(&week["key"]));
            put(&mut flat, path, reason["count"].as_f64());
        }
    }
    flat
}

/// The plan's SQL for a group key (`by`: total, rep, tier, source, week) of the timestamp
/// `at` (weeks are ISO weeks of each cohort's own moment).
fn plan_key(by: &str, at: &str) -> String {
    match by {
        "rep" => "case when mql_at is not null then md5('mb-rep-' || rep)::uuid::text end".into(),
        "tier" => "tier::text".into(),
        "source" => "source".into(),
        "week" => format!("to_char({at} at time zone 'UTC', 'IYYY-\"W\"IW')"),
        _ => "null::text".into(),
    }
}

async fn rows(
    pool: &PgPool,
    sql: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Vec<sqlx::postgres::PgRow>> {
    sqlx::query(sql)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await
        .with_context(|| sql.to_owned())
}

/// What the funnel grouped `by` must say, from the plan.
pub async fn expected_funnel(
    pool: &PgPool,
    by: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Flat> {
    use sqlx::Row;
    let (made, mql, dq) = (
        plan_key(by, "created"),
        plan_key(by, "mql_at"),
        plan_key(by, "dq_at"),
    );
    let sql = format!(
        "select k, sum(a)::float8, sum(b)::float8, sum(c)::float8, sum(d)::float8, sum(e)::float8,
                sum(f)::float8, max(m) from (
           select {made} as k, count(*) as a, 0 b, 0 c, 0 d, 0 e, 0 f, null::float8 m from metrics_bench_plan
            where created >= $1 and created < $2 group by 1
           union all
           select {mql}, 0, count(*), count(sal_at), count(sql_at), count(rej_at), 0,
                  percentile_cont(0.5) within group (order by extract(epoch from coalesce(ack_at, sal_at, rej_at) - mql_at)::float8)
             from metrics_bench_plan where mql_at >= $1 and mql_at < $2 group by 1
           union all
           select {dq}, 0, 0, 0, 0, 0, count(*), null from metrics_bench_plan
            where dq_at >= $1 and dq_at < $2 group by 1) x group by k"
    );
    let mut flat = Flat::new();
    for row in rows(pool, &sql, from, to).await? {
        let key: Option<String> = row.try_get(0)?;
        let prefix = if by == "total" {
            "total".to_owned()
        } else {
            format!("groups/{}", key.unwrap_or_else(|| "-".into()))
        };
        for (i, f) in FUNNEL_FIELDS.iter().enumerate() {
            put(
                &mut flat,
                format!("{prefix}/{f}"),
                row.try_get::<Option<f64>, _>(i + 1)?,
            );
        }
    }
    // A grouped view also has its total: one more pass without a key.
    if by != "total" {
        flat.extend(Box::pin(expected_funnel(pool, "total", from, to)).await?);
    }
    Ok(flat)
}

/// What the SLA view grouped `by` must say, from the plan (due 4 h and 48 h after
/// assignment, as populated).
pub async fn expected_sla(
    pool: &PgPool,
    by: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Flat> {
    use sqlx::Row;
    let key = plan_key(by, "mql_at");
    let sql = format!(
        "select grouping(k) = 1, k, count(*)::float8,
                count(*) filter (where ack <= mql_at + interval '4 hours')::float8,
                count(*) filter (where ack > mql_at + interval '4 hours'
                                    or ack is null and mql_at + interval '4 hours' <= t_end)::float8,
                count(*) filter (where ack is null and mql_at + interval '4 hours' > t_end)::float8,
                count(*) filter (where disp <= mql_at + interval '48 hours')::float8,
                count(*) filter (where disp > mql_at + interval '48 hours'
                                    or disp is null and mql_at + interval '48 hours' <= t_end)::float8,
                count(*) filter (where disp is null and mql_at + interval '48 hours' > t_end)::float8,
                count(esc_at)::float8
           from (select {key} as k, *, coalesce(ack_at, sal_at, rej_at) as ack,
                        coalesce(sal_at, rej_at) as disp
                   from metrics_bench_plan where mql_at >= $1 and mql_at < $2) p
          group by grouping sets ((), (k))"
    );
    let mut flat = Flat::new();
    for row in rows(pool, &sql, from, to).await? {
        let total: bool = row.try_get(0)?;
        if !total && by == "total" {
            continue;
        }
        let prefix = match row.try_get::<Option<String>, _>(1)? {
            _ if total => "total".to_owned(),
            Some(k) => format!("groups/{k}"),
            None => "groups/-".to_owned(),
        };
        for (i, f) in SLA_FIELDS.iter().chain(["escalations"].iter()).enumerate() {
            put(
                &mut flat,
                format!("{prefix}/{f}"),
                row.try_get::<Option<f64>, _>(i + 2)?,
            );
        }
    }
    Ok(flat)
}

/// What the rejections (`reasons of rej_*`) or disqualifications (`dq_*`) view must say.
pub async fn expected_reasons(
    pool: &PgPool,
    column: &str,
    weeks: bool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Flat> {
    use sqlx::Row;
    let sql = format!(
        "select null::text, {column}_reason, count(*)::float8 from metrics_bench_plan
          where {column}_at >= $1 and {column}_at < $2 group by 2
         union all
         select to_char({column}_at at time zone 'UTC', 'IYYY-\"W\"IW'), {column}_reason, count(*)::float8
           from metrics_bench_plan where {column}_at >= $1 and {column}_at < $2 and $3 group by 1, 2"
    );
    let mut flat = Flat::new();
    let found = sqlx::query(&sql)
        .bind(from)
        .bind(to)
        .bind(weeks)
        .fetch_all(pool)
        .await?;
    for row in found {
        let week: Option<String> = row.try_get(0)?;
        let reason: String = row.try_get(1)?;
        let path = match week {
            Some(w) => format!("weeks/{w}/{reason}"),
            None => format!("total/{reason}"),
        };
        put(&mut flat, path, row.try_get::<Option<f64>, _>(2)?);
    }
    Ok(flat)
}

/// Fails unless `actual` and `expected` hold the same paths with the same numbers (medians
/// to a microsecond: both are `percentile_cont` over the same values, summed differently).
/// A revenue view's opportunity counts and amounts of the total.
pub fn flatten_revenue(view: &Value) -> Flat {
    let mut flat = Flat::new();
    let numbers = [
        "opportunities_opened",
        "marketing_sourced_opportunities",
        "won",
        "lost",
    ];
    let mut add = |prefix: String, n: &Value| {
        for name in numbers {
            put(&mut flat, format!("{prefix}/{name}"), n[name].as_f64());
        }
        put(
            &mut flat,
            format!("{prefix}/pipeline"),
            n["marketing_sourced_pipeline"]["USD"].as_f64(),
        );
        put(
            &mut flat,
            format!("{prefix}/won_amount"),
            n["won_amount"]["USD"].as_f64(),
        );
    };
    add("total".into(), &view["total"]);
    flat
}

/// What the plan says of the opportunities opened and closed in `[from, to)` (all of them
/// marketing-sourced: each opens after its lead's MQL).
pub async fn expected_revenue(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Flat> {
    let (opened, pipeline, won, lost, won_amount): (f64, Option<f64>, f64, f64, Option<f64>) =
        sqlx::query_as(
            "select count(*) filter (where opened >= $1 and opened < $2)::float8,
                    sum(amount) filter (where opened >= $1 and opened < $2)::float8,
                    count(*) filter (where status = 'won' and closed_at >= $1 and closed_at < $2)::float8,
                    count(*) filter (where status = 'lost' and closed_at >= $1 and closed_at < $2)::float8,
                    sum(amount) filter (where status = 'won' and closed_at >= $1 and closed_at < $2)::float8
               from metrics_bench_opps",
        )
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await?;
    let mut flat = Flat::new();
    for (name, value) in [
        ("opportunities_opened", Some(opened)),
        ("marketing_sourced_opportunities", Some(opened)),
        ("won", Some(won)),
        ("lost", Some(lost)),
        ("pipeline", pipeline),
        ("won_amount", won_amount),
    ] {
        put(&mut flat, format!("total/{name}"), value);
    }
    Ok(flat)
}

/// The demand-state view's entries per state.
pub fn flatten_entered(view: &Value) -> Flat {
    let mut flat = Flat::new();
    for state in view["states"].as_array().into_iter().flatten() {
        let name = state["state"].as_str().unwrap_or_default();
        put(
            &mut flat,
            format!("{name}/entered"),
            state["entered"].as_f64(),
        );
    }
    flat
}

/// Every lead enters its state at creation (the plan gives each a behaviour state).
pub async fn expected_entered(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Flat> {
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "select (array['early', 'late'])[1 + (n % 2)::int], count(*)::float8 from metrics_bench_plan
          where created >= $1 and created < $2 group by 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut flat = Flat::new();
    for (state, n) in rows {
        put(&mut flat, format!("{state}/entered"), Some(n));
    }
    Ok(flat)
}

pub fn same(what: &str, actual: &Flat, expected: &Flat) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for path in actual.keys().chain(expected.keys()) {
        let (a, e) = (actual.get(path), expected.get(path));
        let equal = match (a, e) {
            (Some(a), Some(e)) => (a - e).abs() <= 1e-6 * e.abs().max(1.0),
            _ => false,
        };
        if !equal {
            problems.push(format!("{path}: view {a:?}, plan {e:?}"));
        }
    }
    problems.dedup();
    ensure!(
        problems.is_empty(),
        "{what} disagrees with the plan: {}",
        problems.join("; ")
    );
    ensure!(!actual.is_empty(), "{what}: nothing to compare");
    Ok(())
}

/// Fails unless the trigger-kept `lead_funnel` equals its recomputation from the raw tables.
pub async fn facts_match(pool: &PgPool) -> anyhow::Result<()> {
    let differ: i64 = sqlx::query_scalar(
        "select count(*) from ((table lead_funnel except table lead_funnel_derived)
                               union all (table lead_funnel_derived except table lead_funnel)) d",
    )
    .fetch_one(pool)
    .await?;
    ensure!(
        differ == 0,
        "lead_funnel differs from lead_funnel_derived in {differ} rows"
    );
    Ok(())
}

/// The nurture view: `<workflow>/<count>`.
pub fn flatten_nurture(view: &Value) -> Flat {
    let mut flat = Flat::new();
    for line in view["workflows"].as_array().into_iter().flatten() {
        let name = line["workflow"].as_str().unwrap_or_default();
        for count in ["enrolled", "advanced", "touches", "exited", "exited_to_mql"] {
            put(&mut flat, format!("{name}/{count}"), line[count].as_f64());
        }
    }
    flat
}

/// What the nurture view must say, from the plan the nurture log was written from.
pub async fn expected_nurture(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<Flat> {
    use sqlx::Row;
    let rows = sqlx::query(
        "with p as (select 'Nurture_' || (array['early', 'late'])[1 + (n % 2)::int] || '_' || tier as w,
                           created + interval '1 minute' as enrolled_at,
                           case when n % 2 = 0 and created + interval '2 days' <= t_end
                                then created + interval '2 days' end as advanced_at,
                           mql_at, dq_at
                      from metrics_bench_plan where tier is not null)
         select w, count(*) filter (where enrolled_at >= $1 and enrolled_at < $2)::float8,
                count(*) filter (where advanced_at >= $1 and advanced_at < $2)::float8,
                count(*) filter (where mql_at >= $1 and mql_at < $2)::float8,
                count(*) filter (where dq_at >= $1 and dq_at < $2)::float8
           from p group by w",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut flat = Flat::new();
    for row in rows {
        let w: String = row.try_get(0)?;
        let (enrolled, advanced, mql, dq): (f64, f64, f64, f64) = (
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
        );
        for (count, value) in [
            ("enrolled", enrolled),
            ("advanced", advanced),
            ("touches", enrolled + advanced),
            ("exited", mql + dq),
            ("exited_to_mql", mql),
        ] {
            put(&mut flat, format!("{w}/{count}"), Some(value));
        }
    }
    Ok(flat)
}
