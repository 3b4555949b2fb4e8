//! Metrics benchmark: fills a scratch database with a year of funnel (1,000,000 leads, about
//! 10,000,000 events and 2,000,000 transitions, with the assignments they imply, and about
//! 200,000 opportunities of the MQLs), checks that
//! every metrics view over the last 90 days answers exactly what the generator's plan implies,
//! then per round times each view over HTTP (service in-process, ops key) beside two
//! same-run baselines: a plain `count(*)` of the period's transitions, and of the period's
//! leads from `lead_funnel`'s index.
//!
//! `cargo run --release --bin metricsbench -- [--leads 1000000] [--rounds 5] [--reuse false] [--database-url URL]`
//!
//! `--reuse true` keeps a database populated by an earlier run with as many leads (the
//! population takes minutes).

mod check;
mod populate;

use std::time::Instant;

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};
use leadrouter::{
    app::{self, AppState, Clock},
    bench, db,
    domain::Role,
    usecase::api_keys::{self, MintInput},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// Each view over the period, as the dashboard and ops tools call them.
const VIEWS: [&str; 17] = [
    "funnel",
    "funnel?by=rep",
    "funnel?by=tier",
    "funnel?by=source",
    "funnel?by=week",
    "rejections",
    "sla?by=rep",
    "sla?by=tier",
    "disqualifications",
    "nurture",
    "revenue",
    "revenue?by=rep",
    "revenue?by=tier",
    "revenue?by=source",
    "revenue?by=demand_state",
    "revenue?by=week",
    "demand-states",
];

/// The target: each view under this many milliseconds (median).
const TARGET_MS: f64 = 200.0;

struct Args {
    leads: i64,
    rounds: usize,
    reuse: bool,
    database_url: String,
}

fn args() -> anyhow::Result<Args> {
    let flags = bench::flags(&["leads", "rounds", "reuse", "database-url"])?;
    let args = Args {
        leads: bench::flag(&flags, "leads", 1_000_000)?,
        rounds: bench::flag(&flags, "rounds", 5)?,
        reuse: bench::flag(&flags, "reuse", false)?,
        database_url: bench::flag(
            &flags,
            "database-url",
            "postgres://postgres@localhost:5432/leadrouter_metrics_bench".to_owned(),
        )?,
    };
    anyhow::ensure!(
        args.rounds >= 1 && args.leads >= 1000,
        "need --rounds >= 1, --leads >= 1000"
    );
    Ok(args)
}

/// A context packet of the usual size (about 1 KB), stored with every assignment.
fn packet() -> Value {
    json!({
        "trigger": {"type": "demo_request", "source": "hubspot", "occurred_at": "2026-11-01T10:00:00Z"},
        "problem_hypothesis": "Choosing a vendor now and asked to see the product (1× demo request, \
                               2× pricing page visit): expect a shortlist and a timeline.",
        "disqualifiers_checked": ["Disqualified_Competitor", "Disqualified_NoSale", "Disqualified_Student",
                                  "Disqualified_JobSeeker", "Disqualified_Partner", "Disqualified_Size",
                                  "Disqualified_Inactive"],
        "last_touches": [{"type": "demo_request", "source": "hubspot", "occurred_at": "2026-11-01T10:00:00Z"},
                         {"type": "pricing_page_visit", "source": "hubspot", "occurred_at": "2026-10-31T16:00:00Z"},
                         {"type": "email_open", "source": "marketo", "occurred_at": "2026-10-30T09:00:00Z"}],
        "recommended_opener": "Hi Dana, I saw Company 4711 came in through a demo request. Happy to walk \
                               you through how teams like yours shortlist vendors.",
        "owner": {"rep_id": "00000000-0000-0000-0000-000000000000", "name": "Rep 7",
                  "email": "rep7@us.example", "rule": "round_robin"},
        "sla": {"ack_due": "2026-11-01T14:00:00Z", "disposition_due": "2026-11-03T10:00:00Z",
                "escalate_at": "2026-11-03T10:00:00Z"},
        "fit_score": 78, "intent_score": 64.5, "demand_state": "late", "account_tier": 2
    })
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// The database, populated (or reused), and its `t_end`.
async fn database(
    args: &Args,
) -> anyhow::Result<(
    PgPool,
    DateTime<Utc>,
    leadrouter::config::Settings,
    leadrouter::engine::RuleSet,
)> {
    let (settings, rules) = bench::shipped_config(&args.database_url)?;
    if args.reuse {
        let pool = db::connect_and_migrate(&settings.database).await?;
        if let Some(t_end) = populate::previous(&pool, args.leads).await? {
            println!("reusing the database populated earlier (t_end {t_end})");
            return Ok((pool, t_end, settings, rules));
        }
        pool.close().await;
    }
    let pool = bench::scratch_database(&settings).await?;
    // A fixed end, so runs compare; the service's clock stands still there.
    let t_end = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
    let started = Instant::now();
    println!("populating {} leads over the year to {t_end}:", args.leads);
    populate::populate(&pool, args.leads, t_end, &rules.version, packet()).await?;
    println!("populated in {:.0} s", started.elapsed().as_secs_f64());
    Ok((pool, t_end, settings, rules))
}

/// Fails unless every view says what the plan implies.
async fn check_exact(
    pool: &PgPool,
    answers: &[(String, Value)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    check::facts_match(pool).await?;
    for (view, body) in answers {
        let (name, by) = view.split_once("?by=").unwrap_or((view, "total"));
        let (actual, expected) = match name {
            "funnel" => (
                check::flatten_grouped(body, false),
                check::expected_funnel(pool, by, from, to).await?,
            ),
            "sla" => (
                check::flatten_grouped(body, true),
                check::expected_sla(pool, by, from, to).await?,
            ),
            "rejections" => (
                check::flatten_reasons(body),
                check::expected_reasons(pool, "rej", true, from, to).await?,
            ),
            "nurture" => (
                check::flatten_nurture(body),
                check::expected_nurture(pool, from, to).await?,
            ),
            // The groupings' sums are the API tests'; here the totals against the plan.
            "revenue" if by != "total" => continue,
            "revenue" => (
                check::flatten_revenue(body),
                check::expected_revenue(pool, from, to).await?,
            ),
            "demand-states" => (
                check::flatten_entered(body),
                check::expected_entered(pool, from, to).await?,
            ),
            _ => (
                check::flatten_reasons(body),
                check::expected_reasons(pool, "dq", false, from, to).await?,
            ),
        };
        check::same(view, &actual, &expected)?;
    }
    println!(
        "every view matches the plan exactly; lead_funnel and metrics_daily equal their recomputations ({:.0} s)\n",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn baseline(
    pool: &PgPool,
    sql: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> anyhow::Result<(f64, i64)> {
    let started = Instant::now();
    let n: i64 = sqlx::query_scalar(sql)
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await?;
    Ok((ms(started), n))
}

/// The bound on fitting the model at this scale.
const MODEL_TARGET_S: f64 = 60.0;

const BASE_TRANSITIONS: &str =
    "select count(*) from lead_transitions where occurred_at >= $1 and occurred_at < $2";
const BASE_LEADS: &str =
    "select count(*) from lead_funnel where created_at >= $1 and created_at < $2";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let (pool, t_end, settings, rules) = database(&args).await?;
    let sizes = populate::sizes(&pool).await?;
    println!(
        "{} leads, {} events, {} transitions, {} assignments, {} opportunities; database {} MB",
        sizes.leads,
        sizes.events,
        sizes.transitions,
        sizes.assignments,
        sizes.opportunities,
        sizes.megabytes
    );
    let (from, to) = (t_end - Duration::days(90), t_end);
    let input = MintInput {
        role: Some(Role::Ops),
        rep_id: None,
        label: Some("metricsbench".into()),
    };
    let key = api_keys::mint(&pool, input, t_end)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/v1/metrics", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    let clock: Clock = std::sync::Arc::new(move || t_end);
    let state = AppState::new(pool.clone(), settings, rules, clock);
    let server = tokio::spawn(app::serve(listener, state, shutdown.clone()));
    let client = reqwest::Client::new();
    let period = format!(
        "from={}&to={}",
        from.to_rfc3339_opts(SecondsFormat::Secs, true),
        to.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let get = |view: &str| {
        let sep = if view.contains('?') { '&' } else { '?' };
        client
            .get(format!("{base}/{view}{sep}{period}"))
            .bearer_auth(key.key.expose())
            .send()
    };

    // One untimed pass: the answers to check, and warm caches for the timed rounds.
    let mut answers = Vec::new();
    for view in VIEWS {
        let body: Value = get(view).await?.error_for_status()?.json().await?;
        answers.push((view.to_owned(), body));
    }
    check_exact(&pool, &answers, from, to).await?;

    let mut times: Vec<Vec<f64>> = vec![Vec::new(); VIEWS.len() + 2];
    let mut counted = (0, 0);
    for _ in 0..args.rounds {
        for (i, view) in VIEWS.iter().enumerate() {
            let started = Instant::now();
            get(view).await?.error_for_status()?.bytes().await?;
            times[i].push(ms(started));
        }
        let (t, n) = baseline(&pool, BASE_TRANSITIONS, from, to).await?;
        times[VIEWS.len()].push(t);
        let (l, m) = baseline(&pool, BASE_LEADS, from, to).await?;
        times[VIEWS.len() + 1].push(l);
        counted = (n, m);
    }
    let medians: Vec<f64> = times.iter().map(|t| bench::median(t.clone())).collect();
    let base_t = medians[VIEWS.len()];
    println!(
        "{} rounds, period {} .. {} (90 days), {} cores; medians in ms\n",
        args.rounds,
        from.date_naive(),
        to.date_naive(),
        std::thread::available_parallelism()?
    );
    println!(
        "{:<42} {:>9} {:>9} {:>9} {:>14}",
        "view", "median", "min", "max", "÷ baseline A"
    );
    for (i, view) in VIEWS.iter().enumerate() {
        let t = &times[i];
        let (min, max) = (
            t.iter().copied().fold(f64::MAX, f64::min),
            t.iter().copied().fold(0.0, f64::max),
        );
        println!(
            "{:<42} {:>9.1} {:>9.1} {:>9.1} {:>13.2}×",
            format!("GET /api/v1/metrics/{view}"),
            medians[i],
            min,
            max,
            medians[i] / base_t
        );
    }
    println!(
        "{:<42} {:>9.1}   ({} rows)",
        "baseline A: count(*) of the period's transitions", base_t, counted.0
    );
    println!(
        "{:<42} {:>9.1}   ({} rows)",
        "baseline B: count(*) of the period's leads",
        medians[VIEWS.len() + 1],
        counted.1
    );
    let slowest = medians[..VIEWS.len()].iter().copied().fold(0.0, f64::max);
    let verdict = if slowest < TARGET_MS {
        "met"
    } else {
        "NOT MET"
    };
    println!(
        "\ntarget: every view under {TARGET_MS:.0} ms (median of {}): {verdict} (slowest {slowest:.1} ms)",
        args.rounds
    );
    model(&client, &base, key.key.expose(), args.rounds.min(3)).await?;
    shutdown.cancel();
    server.await??;
    Ok(())
}

/// Times `rounds` fits of the predictive model over HTTP on the whole history, with the
/// process's peak resident memory before and after: the fit streams leads in pages, so the
/// peak should not grow with the leads.
async fn model(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    rounds: usize,
) -> anyhow::Result<()> {
    let url = base.replace("/metrics", "/model/proposals");
    let peak_before = bench::peak_rss_mb()?;
    let mut times = Vec::new();
    let mut last = Value::Null;
    for _ in 0..rounds {
        let started = Instant::now();
        let answer = client
            .post(&url)
            .bearer_auth(key)
            .json(&json!({"force": true}))
            .send()
            .await?;
        let status = answer.status();
        last = answer.json().await?;
        anyhow::ensure!(status.is_success(), "the model answered {status}: {last}");
        times.push(ms(started) / 1000.0);
    }
    let training = &last["training"];
    println!(
        "
POST /api/v1/model/proposals (force): median {:.1} s of {rounds} (min {:.1}, max {:.1}); \
         {} leads with closed deals ({} won, {} lost), {} patterns, {} Newton steps; peak RSS \
         {peak_before:.0} MB before, {:.0} MB after",
        bench::median(times.clone()),
        times.iter().copied().fold(f64::MAX, f64::min),
        times.iter().copied().fold(0.0, f64::max),
        training["leads"],
        training["won"],
        training["lost"],
        training["patterns"],
        training["iterations"],
        bench::peak_rss_mb()?,
    );
    println!("  {}", last["comparison"]["summary"].as_str().unwrap_or(""));
    println!(
        "  decay: {}",
        last["decay"]["summary"].as_str().unwrap_or("")
    );
    let verdict = if bench::median(times) < MODEL_TARGET_S {
        "met"
    } else {
        "NOT MET"
    };
    println!("target: training under {MODEL_TARGET_S:.0} s: {verdict}");
    Ok(())
}
