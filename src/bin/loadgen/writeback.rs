//! The write-back phase (`--only writeback`), once per CRM: bursts of changes to leads that
//! have ids in the CRM, posted to the service as canonical batches while the CRM's write-back
//! loop runs as `app::run` spawns it (real clock, shipped settings: 30 s coalescing window,
//! 80 calls per 10 s to HubSpot, 50 to Salesforce), against the stand-ins of HubSpot's API
//! ([`leadrouter::bench::hubspot_api`], with HubSpot's default rolling limit of 100 per 10 s)
//! and of Salesforce's ([`leadrouter::bench::salesforce_api`]). Each round prints calls per
//! 1,000 changed leads, records written, the calls the stand-in refused for a limit (429s,
//! `REQUEST_LIMIT_EXCEEDED`) and the time from the burst's first event until nothing is
//! pending.

use std::time::{Duration, Instant};

use chrono::Utc;
use leadrouter::{
    app::{self, AppState},
    bench::{
        self,
        hubspot_api::{HubSpotApi, TOKEN},
        salesforce_api::SalesforceApi,
    },
    db::source_ids,
    domain::{Email, IdSystem, Role, Secret, SourceId},
    jobs::crm_writeback,
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

/// The CRM a run writes to, as its stand-in.
enum StandIn {
    HubSpot(HubSpotApi),
    Salesforce(SalesforceApi),
}

impl StandIn {
    async fn start(salesforce: bool) -> anyhow::Result<Self> {
        Ok(if salesforce {
            StandIn::Salesforce(SalesforceApi::start().await?)
        } else {
            let api = HubSpotApi::start().await?;
            api.contacts_from(|_| Some(Vec::new()));
            StandIn::HubSpot(api)
        })
    }

    fn name(&self) -> &'static str {
        match self {
            StandIn::HubSpot(_) => "HubSpot",
            StandIn::Salesforce(_) => "Salesforce",
        }
    }

    /// The settings with write-back to this stand-in on.
    fn enable(&self, settings: &mut leadrouter::config::Settings) {
        match self {
            StandIn::HubSpot(api) => {
                settings.sources.hubspot.api_base_url = api.base.clone();
                settings.sources.hubspot.access_token = Some(Secret::new(TOKEN.to_owned()));
                settings.writeback.hubspot.enabled = true;
            }
            StandIn::Salesforce(api) => {
                // Salesforce's own fields (Status) exist already; the custom ones are made.
                let fields = settings.writeback.salesforce.fields.all();
                let custom: Vec<&str> = fields.into_iter().filter(|f| f.ends_with("__c")).collect();
                api.custom_fields(&custom);
                settings.writeback.salesforce.enabled = true;
                settings.writeback.salesforce_api = Some(api.settings());
            }
        }
    }

    /// Lead `lead`'s id in the CRM, made to exist there.
    fn record(&self, lead: u64) -> (IdSystem, String) {
        match self {
            StandIn::HubSpot(_) => (IdSystem::HubSpot, (50_000_000 + lead).to_string()),
            StandIn::Salesforce(api) => {
                let id = format!("00Q{lead:012}");
                api.lead(&id, json!({}));
                (IdSystem::Salesforce, id)
            }
        }
    }

    /// Update calls so far, and the records of each that were written.
    fn calls(&self) -> Vec<usize> {
        match self {
            StandIn::HubSpot(api) => api
                .updates()
                .iter()
                .map(|u| if u.status == 200 { u.inputs.len() } else { 0 })
                .collect(),
            StandIn::Salesforce(api) => api.asked().iter().map(|a| a.ids.len()).collect(),
        }
    }

    /// Calls refused for a rate or request limit so far.
    fn limited(&self) -> usize {
        match self {
            StandIn::HubSpot(api) => api.rate_limited(),
            StandIn::Salesforce(api) => {
                api.calls() - usize::try_from(api.requests_used()).unwrap_or(usize::MAX)
            }
        }
    }
}

/// Runs `rounds` bursts to HubSpot, then to Salesforce, printing each round's figures and the
/// medians.
pub async fn run(database_url: &str, rounds: usize) -> anyhow::Result<()> {
    for salesforce in [false, true] {
        run_one(database_url, rounds, StandIn::start(salesforce).await?).await?;
    }
    Ok(())
}

async fn run_one(database_url: &str, rounds: usize, api: StandIn) -> anyhow::Result<()> {
    let (mut settings, rules) = bench::shipped_config(database_url)?;
    api.enable(&mut settings);
    let pool = bench::scratch_database(&settings).await?;
    let source = bench::mint_key(&pool, Role::Source, "loadgen").await?;
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
                format!("Bearer {}", source.expose()).parse()?,
            )]
            .into_iter()
            .collect(),
        )
        .build()?;

    // The leads, then their ids in the CRM: the first write of each (not measured).
    burst(&client, &url, 0).await?;
    let ids = (0..LEADS)
        .map(|lead| {
            let (system, id) = api.record(lead);
            Ok(SourceId {
                system,
                id,
                email: Email::parse(&email(lead))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    source_ids::record(&mut *pool.acquire().await?, &ids, Utc::now()).await?;
    drained(&pool, Duration::from_secs(300)).await?;

    let limiter = match api {
        StandIn::HubSpot(_) => state.settings.writeback.hubspot.requests_per_10s,
        StandIn::Salesforce(_) => state.settings.writeback.salesforce.requests_per_10s,
    };
    println!(
        "write-back, {}: {LEADS} leads with ids there, {CHANGES} changes each per burst, \
         window {} s, limiter {limiter} per 10 s",
        api.name(),
        state.settings.writeback.coalesce_window_secs,
    );
    println!(
        "{:>5} {:>12} {:>16} {:>10} {:>8} {:>9} {:>10}",
        "round", "burst_s", "calls_per_1000", "written", "limited", "calls", "elapsed_s"
    );
    let (mut per_1000, mut elapsed) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (calls_before, limited_before) = (api.calls().len(), api.limited());
        let start = Instant::now();
        burst(&client, &url, round).await?;
        let burst_s = start.elapsed().as_secs_f64();
        drained(&pool, Duration::from_secs(300)).await?;
        let took = start.elapsed().as_secs_f64();
        let all = api.calls();
        let calls = &all[calls_before..];
        let written: usize = calls.iter().sum();
        let figure = calls.len() as f64 * 1_000.0 / LEADS as f64;
        println!(
            "{round:>5} {burst_s:>12.1} {figure:>16.2} {written:>10} {:>8} {:>9} {took:>10.1}",
            api.limited() - limited_before,
            calls.len()
        );
        per_1000.push(figure);
        elapsed.push(took);
    }
    println!(
        "{} median: {:.2} calls per 1,000 changed leads, {:.1} s from burst to all written; \
         calls refused for a limit in all: {}",
        api.name(),
        bench::median(per_1000),
        bench::median(elapsed),
        api.limited()
    );
    shutdown.cancel();
    pool.close().await;
    Ok(())
}
