//! Sweeper benchmark: fills a scratch database with `--leads` realistic leads, of which exactly
//! `--due` are due under the time-based rules (half inactive, half below size) beside a few
//! thousand near misses that are not, then per round times `sweeper::tick` over them and, in the
//! same run, the baseline of one plain set-based UPDATE plus INSERT of the same rows.
//!
//! `cargo run --release --bin sweepbench -- [--leads 1000000] [--due 10000] [--rounds 5] [--database-url URL]`

use std::time::Instant;

use chrono::{DateTime, Utc};
use leadrouter::{
    bench::{self, ScaleArgs},
    jobs::sweeper,
};
use sqlx::PgPool;
use uuid::Uuid;

fn args() -> anyhow::Result<ScaleArgs> {
    let args = ScaleArgs::parse("leadrouter_sweep_bench")?;
    anyhow::ensure!(
        args.due >= 2 && args.leads >= 2 * args.due,
        "need --due >= 2, --leads >= 2 × --due"
    );
    Ok(args)
}

/// Fills `leads` in one statement ($1 leads, $2 stride, $3 due, $4 near misses, $5 now,
/// $6 rules version). Every `stride`-th lead is due (odd ones by inactivity, even ones by
/// size); halfway between due leads sit the near misses: inactive 179 days, below size for 5
/// months, or inactive but exempt from that rule. The rest engaged within 170 days (or never,
/// created recently), or are SAL and out of the sweep's reach however old. Ids are uuidv7-like
/// from `created_at` and rows go in in id order, as the service's `Uuid::now_v7` ids would.
/// Due leads and near misses are also copied to `sweep_bench_rows`, to reset and check against.
const POPULATE: &str = r#"
with g as (
    select n,
           case when n % $2 = 0 and n / $2 <= $3
                  then case when (n / $2) % 2 = 1 then 'due_inactive' else 'due_size' end
                when n % $2 = $2 / 2 and n / $2 < $4
                  then (array['near_inactive', 'near_size', 'near_exempt'])[1 + ((n / $2) % 3)::int]
                else 'other' end as kind
      from generate_series(1, $1::bigint) as n
), t as (
    select n, kind,
           case when kind in ('due_inactive', 'near_exempt')
                  then $5 - make_interval(days => 181 + (n % 300)::int)
                when kind = 'near_inactive' then $5 - interval '179 days'
                when kind = 'other' and n % 20 = 7 then $5 - make_interval(days => (n % 600)::int)
                else $5 - make_interval(days => (n % 170)::int, secs => (n % 86400)::float8)
           end as engaged,
           case kind when 'due_size' then $5 - interval '7 months'
                     when 'near_size' then $5 - interval '5 months' end as below_since,
           case when kind = 'other' and n % 20 = 7 then 'SAL'
                when kind = 'other' and n % 10 in (1, 4) then 'MQL'
                when kind <> 'other' and (n / $2) % 5 = 0 then 'MQL'
                else 'Lead' end as stage
      from g
), r as (
    select t.*, n % 10 = 3 and kind = 'other' and stage <> 'SAL' as never,
           engaged - make_interval(days => (n % 400)::int, hours => (n % 24)::int) as created
      from t
), v as (
    select r.*, (lpad(to_hex((extract(epoch from created) * 1000)::bigint), 12, '0') || '7'
                 || substr(md5(n::text), 1, 3) || substr('89ab', 1 + (n % 4)::int, 1)
                 || substr(md5(n::text), 4, 15))::uuid as id
      from r
), ins as (
    insert into leads (id, email, first_name, last_name, title, company, industry,
                       employee_count, annual_revenue, country, demand_state, profile_stamps,
                       lifecycle_stage, fit_score, intent_at_last_activity, last_activity_at,
                       last_engaged_at, derived_demand_state, below_size_since, exempt_reasons,
                       rules_version, version, created_at, updated_at, stage_changed_at)
    select id, 'p' || n || '@company' || n % 50000 || '.example',
           (array['Ana', 'Ben', 'Chen', 'Dana', 'Eli', 'Fatima', 'Gus', 'Hana'])[1 + (n % 8)::int],
           'Lee' || n % 997,
           (array['VP Marketing', 'Director of IT', 'Analyst', 'Head of Sales',
                  'Software Engineer', 'CMO', 'Operations Manager'])[1 + (n % 7)::int],
           'Company ' || n % 50000,
           (array['software', 'saas', 'fintech', 'retail', 'manufacturing', 'healthcare'])[1 + (n % 6)::int],
           case when below_since is null then 50 + n % 5000 else 20 end,
           case when below_since is null then 50 + n % 5000 else 20 end * 150000,
           (array['US', 'GB', 'DE', 'CA', 'FR', 'BR', 'IN'])[1 + (n % 7)::int],
           (array['early', 'late', null])[1 + (n % 3)::int],
           jsonb_build_object('title', created, 'industry', created,
                              'employee_count', coalesce(below_since, created)),
           stage, (n % 100)::int, (n % 80)::float8,
           case when never then null else engaged end,
           case when never then null else engaged end,
           case when never then null else (array['early', 'late'])[1 + (n % 2)::int] end,
           below_since,
           case when kind = 'near_exempt' then '["Disqualified_Inactive"]' else '[]' end::jsonb,
           $6, n % 5,
           case when never then engaged else created end,
           case when never then engaged else greatest(engaged, below_since) end,
           created
      from v
     order by id
    returning *
)
insert into sweep_bench_rows
select v.kind, ins.* from ins join v on v.id = ins.id and v.kind <> 'other'
"#;

/// Puts the due leads back as they were before a sweep or the baseline and drops their
/// transitions, then vacuums so that every round starts from the same kind of table.
const RESET: &str = r#"
delete from lead_transitions
 where lead_id in (select id from sweep_bench_rows where kind like 'due%');
update leads l
   set lifecycle_stage = s.lifecycle_stage, disqualified_reason = s.disqualified_reason,
       fit_score = s.fit_score, fit_breakdown = s.fit_breakdown, account_tier = s.account_tier,
       review_missing = s.review_missing, review_queued_at = s.review_queued_at,
       rules_version = s.rules_version, updated_at = s.updated_at, version = s.version,
       stage_changed_at = s.stage_changed_at
  from sweep_bench_rows s
 where s.id = l.id and s.kind like 'due%' and l.version <> s.version
"#;

async fn reset(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(RESET).execute(pool).await?;
    sqlx::raw_sql("vacuum leads, lead_transitions")
        .execute(pool)
        .await?;
    Ok(())
}

/// Fails unless exactly the due leads are disqualified, each for its reason with one
/// transition, and every near miss is as it was.
async fn check(pool: &PgPool, due: i64, what: &str, reasons: bool) -> anyhow::Result<()> {
    let found: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "select count(*) filter (where s.kind = 'due_inactive'
                                   and l.disqualified_reason = 'Disqualified_Inactive'),
                count(*) filter (where s.kind = 'due_size'
                                   and l.disqualified_reason = 'Disqualified_Size'),
                count(*) filter (where s.kind like 'near%' and (l.lifecycle_stage, l.version)
                                   is distinct from (s.lifecycle_stage, s.version)),
                (select count(*) from leads where lifecycle_stage = 'Disqualified'),
                (select count(*) from lead_transitions)
           from leads l join sweep_bench_rows s using (id)",
    )
    .fetch_one(pool)
    .await?;
    // The baseline gives every lead the inactivity reason.
    let (inactive, size) = if reasons {
        (due - due / 2, due / 2)
    } else {
        (found.0, found.1)
    };
    let expected = (inactive, size, 0, due, due);
    anyhow::ensure!(
        found == expected,
        "{what}: expected (inactive, size, near misses changed, disqualified, transitions) = \
         {expected:?}, found {found:?}"
    );
    Ok(())
}

/// The floor: disqualify the same leads and log their transitions with one plain set-based
/// UPDATE and one INSERT ($1 ids, $2 rules version, $3 now), ids known and nothing read back.
const BASELINE: [&str; 2] = [
    "update leads set lifecycle_stage = 'Disqualified', disqualified_reason = 'Disqualified_Inactive',
                      rules_version = $2, updated_at = $3,
                      stage_changed_at = $3
      where id = any($1)",
    "insert into lead_transitions (lead_id, from_stage, to_stage, actor, reason, reason_code,
                                   fit_score, intent_score, rules_version, occurred_at)
     select id, 'Lead', 'Disqualified', 'system', 'Disqualified_Inactive (baseline)',
            'Disqualified_Inactive', 0, 0, $2, $3
       from unnest($1::uuid[]) as id",
];

/// Runs [`BASELINE`] in one transaction; returns its milliseconds.
async fn baseline(
    pool: &PgPool,
    ids: &[Uuid],
    now: DateTime<Utc>,
    rules: &str,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    for sql in BASELINE {
        sqlx::query(sql)
            .bind(ids)
            .bind(rules)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let (settings, rules) = bench::shipped_config(&args.database_url)?;
    let pool = bench::scratch_database(&settings).await?;

    let now = Utc::now();
    let stride = args.leads / args.due;
    let near = args.due / 2;
    let started = Instant::now();
    sqlx::query("create table sweep_bench_rows (kind text not null, like leads)")
        .execute(&pool)
        .await?;
    sqlx::query(POPULATE)
        .bind(args.leads)
        .bind(stride)
        .bind(args.due)
        .bind(near)
        .bind(now)
        .bind(&rules.version)
        .execute(&pool)
        .await?;
    sqlx::raw_sql("vacuum analyze leads, sweep_bench_rows")
        .execute(&pool)
        .await?;
    let size: i64 = sqlx::query_scalar("select pg_total_relation_size('leads')")
        .fetch_one(&pool)
        .await?;
    println!(
        "populated {} leads ({} due, {near} near misses) in {:.1} s; leads table with indexes {} MB",
        args.leads,
        args.due,
        started.elapsed().as_secs_f64(),
        size / (1 << 20)
    );
    let ids: Vec<Uuid> =
        sqlx::query_scalar("select id from sweep_bench_rows where kind like 'due%' order by id")
            .fetch_all(&pool)
            .await?;

    let batch = settings.jobs.sweep_batch;
    println!(
        "leadrouter sweeper benchmark: {} rounds, sweep batch {batch}, {} cores\n",
        args.rounds,
        std::thread::available_parallelism()?
    );
    let print = |label: &str, [sweep, base, ratio, rate]: [f64; 4]| {
        println!("{label:<7} {sweep:>10.0} {base:>12.0} {ratio:>7.2} {rate:>13.0}");
    };
    println!(
        "{:<7} {:>10} {:>12} {:>7} {:>13}",
        "round", "sweep ms", "baseline ms", "ratio", "due leads/s"
    );
    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        reset(&pool).await?;
        let started = Instant::now();
        let report = sweeper::tick(&pool, &rules, now, batch).await?;
        let sweep = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            report.claimed == ids.len() && report.disqualified == ids.len(),
            "round {round}: the sweep claimed {} and disqualified {} leads, not {}",
            report.claimed,
            report.disqualified,
            ids.len()
        );
        check(&pool, args.due, &format!("round {round} sweep"), true).await?;

        reset(&pool).await?;
        let base = baseline(&pool, &ids, now, &rules.version).await?;
        check(&pool, args.due, &format!("round {round} baseline"), false).await?;

        let row = [sweep, base, sweep / base, args.due as f64 / sweep * 1000.0];
        print(&round.to_string(), row);
        rows.push(row);
    }
    let medians =
        [0, 1, 2, 3].map(|i| bench::median(rows.iter().map(|r: &[f64; 4]| r[i]).collect()));
    print("median", medians);
    println!(
        "\ntarget: sweep of {} leads ({} due) under 5000 ms: {}",
        args.leads,
        args.due,
        if medians[0] < 5000.0 {
            "met"
        } else {
            "NOT MET"
        }
    );
    reset(&pool).await?;
    Ok(())
}
