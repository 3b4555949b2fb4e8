//! Filling the scratch database: the plan, leads, reps, accounts, assignments and
//! transitions in one script (`populate.sql`), then the event log in chunks on two
//! connections (`events.sql`), then `vacuum analyze`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, types::Json};

const POPULATE: &str = include_str!("populate.sql");
const EVENTS: &str = include_str!("events.sql");

/// Leads per chunk of the event log.
const CHUNK: i64 = 50_000;

/// What the database holds, for the report.
pub struct Sizes {
    pub leads: i64,
    pub events: i64,
    pub transitions: i64,
    pub assignments: i64,
    pub opportunities: i64,
    pub megabytes: i64,
}

/// Fills a fresh database with `leads` leads over the year before `t_end`.
pub async fn populate(
    pool: &PgPool,
    leads: i64,
    t_end: DateTime<Utc>,
    rules: &str,
    packet: serde_json::Value,
) -> anyhow::Result<()> {
    let started = Instant::now();
    sqlx::raw_sql(
        "create table metrics_bench_params (leads bigint, t_end timestamptz, rules text, packet jsonb)",
    )
    .execute(pool)
    .await?;
    sqlx::query("insert into metrics_bench_params values ($1, $2, $3, $4)")
        .bind(leads)
        .bind(t_end)
        .bind(rules)
        .bind(Json(packet))
        .execute(pool)
        .await?;
    // Statement by statement, so the report shows where the time goes.
    let mut conn = pool.acquire().await?;
    for statement in POPULATE
        .split(";\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let step = Instant::now();
        sqlx::raw_sql(statement).execute(&mut *conn).await?;
        let what: String = statement
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with("--"))
            .unwrap_or_default()
            .chars()
            .take(60)
            .collect();
        println!("    {:>6.1} s  {what}", step.elapsed().as_secs_f64());
    }
    drop(conn);
    println!(
        "  leads, accounts, reps, assignments, transitions: {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let chunks: Vec<(i64, i64)> = (0..(leads + CHUNK - 1) / CHUNK)
        .map(|c| (c * CHUNK + 1, ((c + 1) * CHUNK).min(leads)))
        .collect();
    // Two writers: the machine has two cores, and one insert keeps one busy. The client only
    // waits, so both run in this task.
    let half =
        |w: usize| -> Vec<(i64, i64)> { chunks.iter().copied().skip(w).step_by(2).collect() };
    tokio::try_join!(
        write_events(pool.clone(), half(0)),
        write_events(pool.clone(), half(1))
    )?;
    println!("  events: {:.0} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    // As the service's fold job would have done along the way.
    let folded = leadrouter::jobs::metrics_fold::tick(pool).await?;
    println!(
        "  folding the daily metrics ({} days, {} rows): {:.0} s",
        folded.days,
        folded.rows,
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    sqlx::raw_sql("vacuum analyze").execute(pool).await?;
    println!("  vacuum analyze: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Writes the events of the leads of `chunks`, one chunk per statement, on one connection.
async fn write_events(pool: PgPool, chunks: Vec<(i64, i64)>) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let conn: &mut sqlx::PgConnection = &mut conn;
    // Compiling the generator's expressions would take longer than running them.
    sqlx::raw_sql("set jit = off").execute(&mut *conn).await?;
    for (first, last) in chunks {
        sqlx::query(EVENTS)
            .bind(first)
            .bind(last)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::raw_sql("reset jit").execute(&mut *conn).await?;
    Ok(())
}

/// The row counts and the database size.
pub async fn sizes(pool: &PgPool) -> anyhow::Result<Sizes> {
    let (leads, events, transitions, assignments, opportunities, megabytes) = sqlx::query_as(
        "select (select count(*) from leads), (select count(*) from lead_events),
                (select count(*) from lead_transitions), (select count(*) from assignments),
                (select count(*) from opportunities), pg_database_size(current_database()) >> 20",
    )
    .fetch_one(pool)
    .await?;
    Ok(Sizes {
        leads,
        events,
        transitions,
        assignments,
        opportunities,
        megabytes,
    })
}

/// The `t_end` of a database populated earlier with `leads` leads, if it is one.
pub async fn previous(pool: &PgPool, leads: i64) -> anyhow::Result<Option<DateTime<Utc>>> {
    let exists: bool = sqlx::query_scalar("select to_regclass('metrics_bench_params') is not null")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(None);
    }
    let found: Option<(i64, DateTime<Utc>)> =
        sqlx::query_as("select leads, t_end from metrics_bench_params")
            .fetch_optional(pool)
            .await?;
    Ok(found.filter(|(n, _)| *n == leads).map(|(_, t)| t))
}
