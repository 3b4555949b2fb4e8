//! The write-back phase (`--only writeback`): bursts of changes to leads that have HubSpot
//! contact ids, posted to the service as canonical batches while the HubSpot write-back loop
//! runs as `app::run` spawns it (real clock, shipped settings: 30 s coalescing window, 80
//! calls per 10 s), against the stand-in of HubSpot's API
//! ([`leadrouter::bench::hubspot_api`]) with HubSpot's default rolling limit (100 per 10 s).
//! Each round prints calls per 1,000 changed leads, records written, 429s the stand-in gave
//! and the time from the burst's first event until nothing is pending.

use std::time::{Duration, Instant};

use chrono::Utc;
use leadrouter::{
    app::{self, AppState},
    bench::{
        self,
        hubspot_api::{HubSpotApi, TOKEN},
    },
    db::source_ids,
    domain::{Email, IdSystem, Role, Secret, SourceId},
    jobs::crm_writeback,
    usecase::api_keys::{self, MintInput},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Leads in the burst, each changed `CHANGES` times.
const LEADS: u64 = 10_000;
const CHANGES: u64 = 3;
const BATCH: u64 = 100;
const CONCURRENCY: usize = 8;
/// The changes of a burst: each moves intent, so each queues a write.
const KINDS: [&str; 3] = [
    "pricing_page_visit",
    "comparison_page_visit",
    "content_download",
];

fn email(lead: u64) -> String {
    format!("wb-person{lead}@company{}.example", lead % 2_000)
}

fn event(round: usize, lead: u64, change: u64) -> Value {
    json!({
        "event_id": format!("wb-{round}-{lead}-{change}"),
        "source": "loadgen",
        "type": KINDS[(change % 3) as usize],
        "occurred_at": Utc::now().to_rfc3339(),
        "lead": {"email": email(lead), "title": "VP Marketing", "industry": "software",
                 "employee_count": 250, "annual_revenue": 50_000_000, "country": "US"},
    })
}

/// Posts every lead's `CHANGES` changes (change 0 of all leads, then change 1, …) in
/// batches of 100, `CONCURRENCY` in flight.
async fn burst(client: &reqwest::Client, url: &str, round: usize) -> anyhow::Result<()> {
    let mut batches = Vec::new();
    for change in 0..CHANGES {
        for first in (0..LEADS).step_by(BATCH as usize) {
            let body: Vec<Value> = (first..(first + BATCH).min(LEADS))
                .map(|lead| event(round, lead, change))
                .collect();
            batches.push(Value::Array(body));
        }
    }
    let mut sending = JoinSet::new();
    for body in batches {
        if sending.len() >= CONCURRENCY {
            if let Some(done) = sending.join_next().await {
                done??;
            }
        }
        let (client, url) = (client.clone(), url.to_owned());
        sending.spawn(async move {
            let response = client.post(&url).json(&body).send().await?;
            anyhow::ensure!(response.status().is_success(), "{}", response.status());
            anyhow::Ok(())
        });
    }
    while let Some(done) = sending.join_next().await {
        done??;
    }
    Ok(())
}

async fn pending(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("select count(*) from crm_writes")
        .fetch_one(pool)
        .await?)
}

/// Waits until nothing is pending (or `limit` passed).
async fn drained(pool: &PgPool, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while pending(pool).await? > 0 {
        anyhow::ensure!(
            start.elapsed() < limit,
            "writes still pending after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Runs `rounds` bursts and prints each round's figures and the medians.
pub async fn run(database_url: &str, rounds: usize) -> anyhow::Result<()> {
    let api = HubSpotApi::start().await?;
    api.contacts_from(|_| Some(Vec::new()));
    let (mut settings, rules) = bench::shipped_config(database_url)?;
    settings.sources.hubspot.api_base_url = api.base.clone();
    settings.sources.hubspot.access_token = Some(Secret::new(TOKEN.to_owned()));
    settings.writeback.hubspot.enabled = true;
    let pool = bench::scratch_database(&settings).await?;
    let source = api_keys::mint(
        &pool,
        MintInput {
            role: Some(Role::Source),
            rep_id: None,
            label: Some("loadgen".to_owned()),
        },
        Utc::now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("minting the loadgen source key: {e}"))?;
    let state = AppState::new(pool.clone(), settings, rules, app::system_clock());
    let targets = crm_writeback::targets(&state.settings);
    crm_writeback::register_targets(&pool, &targets, &state.settings, state.now()).await?;
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/events", listener.local_addr()?);
    tokio::spawn(app::serve(listener, state.clone(), shutdown.clone()));
    for target in targets {
        tokio::spawn(crm_writeback::run(state.clone(), target, shutdown.clone()));
    }
    let client = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", source.key.expose()).parse()?,
            )]
            .into_iter()
            .collect(),
        )
        .build()?;

    // The leads, then their HubSpot ids: the first write of each (not measured).
    burst(&client, &url, 0).await?;
    let ids = (0..LEADS)
        .map(|lead| {
            Ok(SourceId {
                system: IdSystem::HubSpot,
                id: (50_000_000 + lead).to_string(),
                email: Email::parse(&email(lead))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    source_ids::record(&mut *pool.acquire().await?, &ids, Utc::now()).await?;
    drained(&pool, Duration::from_secs(300)).await?;

    println!(
        "write-back, HubSpot: {LEADS} leads with contact ids, {CHANGES} changes each per burst, \
         window {} s, limiter {} per 10 s, stand-in limit 100 per 10 s",
        state.settings.writeback.coalesce_window_secs,
        state.settings.writeback.hubspot.requests_per_10s
    );
    println!(
        "{:>5} {:>12} {:>16} {:>10} {:>6} {:>9} {:>10}",
        "round", "burst_s", "calls_per_1000", "written", "429s", "calls", "elapsed_s"
    );
    let (mut per_1000, mut elapsed) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (calls_before, limited_before) = (api.updates().len(), api.rate_limited());
        let start = Instant::now();
        burst(&client, &url, round).await?;
        let burst_s = start.elapsed().as_secs_f64();
        drained(&pool, Duration::from_secs(300)).await?;
        let took = start.elapsed().as_secs_f64();
        let updates = api.updates();
        let calls = &updates[calls_before..];
        let written: usize = calls
            .iter()
            .filter(|u| u.status == 200)
            .map(|u| u.inputs.len())
            .sum();
        let figure = calls.len() as f64 * 1_000.0 / LEADS as f64;
        println!(
            "{round:>5} {burst_s:>12.1} {figure:>16.2} {written:>10} {:>6} {:>9} {took:>10.1}",
            api.rate_limited() - limited_before,
            calls.len()
        );
        per_1000.push(figure);
        elapsed.push(took);
    }
    println!(
        "median: {:.2} calls per 1,000 changed leads, {:.1} s from burst to all written; \
         429s in all: {}",
        bench::median(per_1000),
        bench::median(elapsed),
        api.rate_limited()
    );
    shutdown.cancel();
    Ok(())
}
