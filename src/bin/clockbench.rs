//! SLA clock and queue benchmark: fills a scratch database with `--leads` leads, 16 reps under
//! 4 managers and `--leads`/5 assignments in every state, exactly `--due` of them untouched past
//! their escalation time; per round it times `sla_clock::tick` against a same-run set-based
//! UPDATE + INSERT baseline, then `GET /api/v1/queue` (in-process service, rep key) for a rep
//! holding 500 open MQLs against the bare `db::assignments::queue` call.
//!
//! `cargo run --release --bin clockbench -- [--leads 1000000] [--due 10000] [--rounds 5] [--database-url URL]`

use std::time::Instant;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use leadrouter::app::{self, AppState};
use leadrouter::domain::{DisqualifyReason, EventType as E, Role};
use leadrouter::engine::{self, ContextPacket, PacketFacts, PacketOwner, RuleSet, Touch};
use leadrouter::usecase::api_keys::{self, MintInput};
use leadrouter::{
    bench::{self, ScaleArgs},
    db,
    jobs::sla_clock,
};
use sqlx::{PgPool, types::Json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const QUEUE: usize = 500;
const REQUESTS: usize = 200;

fn args() -> anyhow::Result<ScaleArgs> {
    let args = ScaleArgs::parse("leadrouter_clock_bench")?;
    anyhow::ensure!(
        args.due >= QUEUE as i64 && args.leads >= 25 * args.due,
        "need --due >= {QUEUE}, --leads >= 25 × --due"
    );
    Ok(args)
}

/// Fills the scratch database from `clock_bench_params`: the SQL and what it makes are in
/// `clockbench.sql`, beside this file.
const POPULATE: &str = include_str!("clockbench.sql");

/// Puts the due assignments and pending breaches back and drops what a tick or the baseline
/// wrote (then vacuums), so that every round starts from the same tables.
async fn reset(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "update assignments a set escalated_at = null, escalated_to = null from clock_bench_rows b
          where b.id = a.id and b.kind = 'due' and a.escalated_at is not null;
         update assignments a set ack_breached_at = null, disposition_breached_at = null
           from clock_bench_rows b where b.id = a.id and b.kind <> 'due'
            and (a.ack_breached_at is not null or a.disposition_breached_at is not null);
         delete from lead_transitions where id > (select t from clock_bench_marks);
         delete from outbox where id > (select o from clock_bench_marks);",
    )
    .execute(pool)
    .await?;
    let vacuum = sqlx::raw_sql("vacuum assignments, lead_transitions, outbox");
    vacuum.execute(pool).await?;
    Ok(())
}

/// Fails unless exactly the due assignments were escalated at `now` (by the tick: to their rep's
/// manager), each with one new transition of its lead and one escalation message.
async fn check(pool: &PgPool, now: DateTime<Utc>, due: i64, what: &str) -> anyhow::Result<()> {
    let counts: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "with d as (select * from clock_bench_rows where kind = 'due'), m as (select * from clock_bench_marks)
         select (select count(*) from assignments where escalated_at = $1),
                (select count(*) from assignments a join d using (id)
                  where a.escalated_at = $1 and (a.escalated_to = d.manager_id or $2 = 'baseline')),
                (select count(*) from lead_transitions, m where id > m.t),
                (select count(distinct t.lead_id) from lead_transitions t join d using (lead_id), m where t.id > m.t),
                (select count(*) from outbox, m where id > m.o),
                (select count(*) from outbox o join d on o.dedupe_key = 'manager.escalation:' || d.id, m where o.id > m.o)",
    )
    .bind(now)
    .bind(what)
    .fetch_one(pool)
    .await?;
    let found: [i64; 6] = counts.into();
    anyhow::ensure!(
        found == [due; 6],
        "{what}: expected {due} of each (escalated, due ones escalated, transitions, due leads \
         with one, outbox rows, escalation messages), found {found:?}"
    );
    Ok(())
}

/// The floor: the same escalations as one plain UPDATE plus set-based INSERTs of transitions and
/// messages, in one transaction, ids known, nothing read back ($1 ids, $2 leads, $3 now, $4 rules).
const BASELINE: [&str; 3] = [
    "update assignments set escalated_at = $3 where id = any($1)",
    "insert into lead_transitions (lead_id, from_stage, to_stage, actor, reason, fit_score,
                                   intent_score, rules_version, occurred_at)
     select id, 'MQL', 'MQL', 'system', 'escalated (baseline)', 0, 0, $4, $3 from unnest($2::uuid[]) id",
    "insert into outbox (topic, recipient, payload, dedupe_key, created_at)
     select 'manager.escalation', 'manager1@us.example', jsonb_build_object('assignment_id', a,
            'lead_id', l, 'escalated_at', $3, 'rules', $4::text), 'manager.escalation:' || a, $3
       from unnest($1::int8[], $2::uuid[]) as e(a, l)",
];

async fn baseline(
    pool: &PgPool,
    ids: &[(i64, Uuid)],
    now: DateTime<Utc>,
    rules: &str,
) -> anyhow::Result<f64> {
    let (assignments, leads): (Vec<i64>, Vec<Uuid>) = ids.iter().copied().unzip();
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    for sql in BASELINE {
        let query = sqlx::query(sql).bind(&assignments).bind(&leads);
        query.bind(now).bind(rules).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(ms(started))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The `p`-quantile of `xs` (nearest rank).
fn pct(xs: &[f64], p: f64) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() as f64 * p).ceil() as usize).clamp(1, xs.len()) - 1]
}

/// Fails unless `body` is the rep's queue: 500 MQLs, the most urgent deadline first.
fn check_queue(body: &[u8]) -> anyhow::Result<()> {
    #[derive(serde::Deserialize)]
    struct Item {
        lifecycle_stage: String,
        next_due: DateTime<Utc>,
    }
    let items: Vec<Item> = serde_json::from_slice(body)?;
    anyhow::ensure!(
        items.len() == QUEUE
            && items.iter().all(|i| i.lifecycle_stage == "MQL")
            && items.windows(2).all(|w| w[0].next_due <= w[1].next_due),
        "the queue answered {} items, not {QUEUE} MQLs in deadline order",
        items.len()
    );
    Ok(())
}

/// One real context packet as assignment builds it (~1.3 KB of JSON), stored with every row.
fn packet(rules: &RuleSet, now: DateTime<Utc>) -> ContextPacket {
    let touches = [
        (E::DemoRequest, 1),
        (E::PricingPageVisit, 26),
        (E::PageView, 50),
    ];
    let touches = touches.map(|(event_type, h)| Touch {
        event_type,
        source: "marketo".to_owned(),
        occurred_at: now - Duration::hours(h),
    });
    let signals = [
        (E::DemoRequest, 1),
        (E::PricingPageVisit, 3),
        (E::PageView, 7),
    ];
    let facts = PacketFacts {
        first_name: Some("Dana"),
        company: Some("Company 4711"),
        demand_state: Some("late"),
        account_tier: Some(2),
        fit_score: 78,
        intent_score: 64.5,
        signals: &signals,
        touches: &touches,
        trigger: Some(touches[0].clone()),
        disqualifiers_checked: DisqualifyReason::ALL.to_vec(),
    };
    let owner = PacketOwner {
        rep_id: Uuid::nil(),
        name: "Rep 7".to_owned(),
        email: "rep7@us.example".to_owned(),
        rule: "territory".to_owned(),
    };
    let sla = engine::deadlines(&rules.rules.sla, now);
    engine::packet(facts, owner, sla, &rules.rules.handoff)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let (settings, rules) = bench::shipped_config(&args.database_url)?;
    let pool = bench::scratch_database(&settings).await?;

    let now = Utc::now().trunc_subsecs(3);
    let started = Instant::now();
    sqlx::raw_sql(
        "create table clock_bench_params (leads bigint, stride bigint, due bigint, t0 timestamptz,
                                          rules text, packet jsonb)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("insert into clock_bench_params values ($1, $2, $3, $4, $5, $6)")
        .bind(args.leads)
        .bind(args.leads / 5 / args.due)
        .bind(args.due)
        .bind(now)
        .bind(&rules.version)
        .bind(Json(packet(&rules, now)))
        .execute(&pool)
        .await?;
    sqlx::raw_sql(POPULATE).execute(&pool).await?;
    sqlx::raw_sql("vacuum analyze").execute(&pool).await?;
    let (mb, open, ack, disp): (i64, i64, i64, i64) = sqlx::query_as(
        "select pg_database_size(current_database()) >> 20,
                (select count(*) from assignments where closed_at is null),
                (select count(*) from clock_bench_rows where kind = 'ack_due'),
                (select count(*) from clock_bench_rows where kind = 'disp_due')",
    )
    .fetch_one(&pool)
    .await?;
    let ids: Vec<(i64, Uuid)> =
        sqlx::query_as("select id, lead_id from clock_bench_rows where kind = 'due' order by id")
            .fetch_all(&pool)
            .await?;
    println!(
        "populated {} leads, 20 reps, {} assignments ({open} open, {} due, {ack} ack and \
         {disp} disposition breaches pending) in {:.0} s; database {mb} MB",
        args.leads,
        args.leads / 5,
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    // The service in-process on a random port, called by the queue rep with their own key.
    let rep: Uuid = sqlx::query_scalar("select md5('clock-bench-rep-1')::uuid")
        .fetch_one(&pool)
        .await?;
    let input = MintInput {
        role: Some(Role::Rep),
        rep_id: Some(rep),
        label: Some("clockbench".into()),
    };
    let minted = api_keys::mint(&pool, input, now)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/v1/queue", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let (batch, clock) = (settings.jobs.sla_batch, app::system_clock());
    let state = AppState::new(pool.clone(), settings, rules.clone(), clock);
    let server = tokio::spawn(app::serve(listener, state, shutdown.clone()));
    let client = reqwest::Client::new();

    let cores = std::thread::available_parallelism()?;
    println!(
        "{} rounds, sla_batch {batch}, {REQUESTS} queue requests a round, {cores} cores\n",
        args.rounds
    );
    let print = |label: &str, [tick, base, ratio, p50, p99, sql]: [f64; 6]| {
        println!(
            "{label:<7} {tick:>8.0} {base:>12.0} {ratio:>6.2} {p50:>10.2} {p99:>10.2} {sql:>8.2}"
        );
    };
    let expected = sla_clock::ClockReport {
        escalated: ids.len(),
        ack_breaches: ack as u64,
        disposition_breaches: disp as u64,
        assigned: 0,
    };
    println!("round    tick ms  baseline ms  ratio  queue p50  queue p99  SQL p50");
    let (mut rows, mut bytes) = (Vec::new(), 0);
    for round in 1..=args.rounds {
        reset(&pool).await?;
        let started = Instant::now();
        let report = sla_clock::tick(&pool, &rules, now, batch).await?;
        let tick = ms(started);
        anyhow::ensure!(
            report == expected,
            "round {round}: {report:?}, not {expected:?}"
        );
        check(&pool, now, args.due, "tick").await?;
        reset(&pool).await?;
        let base = baseline(&pool, &ids, now, &rules.version).await?;
        check(&pool, now, args.due, "baseline").await?;

        let (mut http, mut sql) = (Vec::new(), Vec::new());
        for _ in 0..REQUESTS {
            let started = Instant::now();
            let request = client.get(&url).bearer_auth(minted.key.expose());
            let body = request.send().await?.error_for_status()?.bytes().await?;
            http.push(ms(started));
            check_queue(&body)?;
            bytes = body.len();
        }
        let mut conn = pool.acquire().await?;
        for _ in 0..REQUESTS {
            let started = Instant::now();
            let items = db::assignments::queue(&mut conn, rep).await?;
            sql.push(ms(started));
            anyhow::ensure!(items.len() == QUEUE, "queue SQL: {} rows", items.len());
        }
        let (p50, p99) = (pct(&http, 0.5), pct(&http, 0.99));
        let row = [tick, base, tick / base, p50, p99, pct(&sql, 0.5)];
        print(&round.to_string(), row);
        rows.push(row);
    }
    let m: [f64; 6] =
        std::array::from_fn(|i| pct(&rows.iter().map(|r| r[i]).collect::<Vec<_>>(), 0.5));
    print("median", m);
    let verdict = |met: bool| if met { "met" } else { "NOT MET" };
    println!("\nqueue answer: {QUEUE} items, {} KB of JSON", bytes / 1024);
    let (leads, due) = (args.leads, args.due);
    let (tick, queue) = (verdict(m[0] < 2000.0), verdict(m[3] < 20.0));
    println!("target: one tick over {leads} leads with {due} due under 2 s: {tick}");
    println!("target: queue of {QUEUE} open MQLs under 20 ms (p50): {queue}");
    shutdown.cancel();
    server.await??;
    reset(&pool).await?;
    Ok(())
}
