//! The HubSpot phases: batches of 100 `contact.propertyChange` notifications, v1-signed, at
//! `POST /webhooks/hubspot`, against canonical batches of 100 events at `POST /webhooks/events`
//! of the same service in the same round, the baseline. Two HubSpot paths: contacts whose ids
//! leads remember (no call out), and contacts no lead remembers yet, which cost one batch read
//! of HubSpot's CRM API per request, answered by the local stand-in
//! ([`leadrouter::bench::hubspot_api`]).
//!
//! All three post about the same 20,000 leads (the `hubspot-` population): a lookup contact is
//! a new HubSpot id whose email is one of theirs, so every path updates leads that exist and
//! the ratios compare the connectors' work, not lead creation against lead updates.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use chrono::Utc;
use leadrouter::{
    bench::hubspot_api::{HubSpotApi, TOKEN},
    config::Settings,
    db::source_ids,
    domain::{Email, IdSystem, Secret, SourceId},
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use super::{
    BATCH, BATCH_CONCURRENCY, Figures, LEADS, closed_loop, email, event_of, next_id, post,
    print_row, warm_up,
};

/// The leads all three phases post about.
const POPULATION: &str = "hubspot-";
const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
/// HubSpot contact ids: lead `n`'s remembered one is `KNOWN + n`; a lookup contact's is
/// `LOOKUP + ` a fresh number, so no lead remembers it.
const KNOWN: u64 = 10_000_000;
const LOOKUP: u64 = 1_000_000_000;

/// The service with the connector on, and the stand-in it reads contacts from.
pub struct Bench {
    pub events_url: String,
    pub hubspot_url: String,
    pub api: HubSpotApi,
}

/// The shipped settings with the connector on, reading contacts from `api`.
pub fn settings(shipped: &Settings, api: &HubSpotApi) -> Settings {
    let mut settings = shipped.clone();
    let hubspot = &mut settings.sources.hubspot;
    hubspot.enabled = true;
    hubspot.client_secret = Some(Secret::new(SECRET.to_owned()));
    hubspot.public_base_url = Some("https://leadrouter.example.com".to_owned());
    hubspot.api_base_url = api.base.clone();
    hubspot.access_token = Some(Secret::new(TOKEN.to_owned()));
    settings
}

/// The lead a notification or event number is about, as `event_of` picks it.
fn lead_of(n: u64) -> u64 {
    n.wrapping_mul(2_654_435_761) % LEADS
}

/// Creates the population's leads (canonical batches, as the other phases' warm-ups), ties
/// each to its known HubSpot id, and makes the stand-in answer for every lookup contact.
pub async fn prepare(bench: &Bench, client: &reqwest::Client, pool: &PgPool) -> anyhow::Result<()> {
    warm_up(client, &bench.events_url, POPULATION, pool).await?;
    let ids = (0..LEADS)
        .map(|lead| {
            Ok(SourceId {
                system: IdSystem::HubSpot,
                id: (KNOWN + lead).to_string(),
                email: Email::parse(&email(POPULATION, lead))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tied = source_ids::record(&mut *pool.acquire().await?, &ids, Utc::now()).await?;
    anyhow::ensure!(tied == LEADS, "{tied} of {LEADS} HubSpot ids tied to leads");
    sqlx::query("analyze lead_source_ids").execute(pool).await?;
    bench.api.contacts_from(|id| {
        let n = id.parse::<u64>().ok()?.checked_sub(LOOKUP)?;
        let lead = lead_of(n);
        Some(vec![
            ("email".to_owned(), email(POPULATION, lead)),
            ("firstname".to_owned(), format!("Person{lead}")),
            ("jobtitle".to_owned(), title(lead).to_owned()),
            ("company".to_owned(), format!("Company{}", lead % 2_000)),
        ])
    });
    Ok(())
}

/// The title `event_of` gives the lead, so a title change keeps the profile as it was.
fn title(lead: u64) -> &'static str {
    if lead % 3 == 0 {
        "VP Marketing"
    } else {
        "Analyst"
    }
}

/// Notification `n` about `contact`, the contact of lead `lead`, shaped as HubSpot's webhooks
/// docs show one: in equal shares two mapped properties and four signals (two page visits, an
/// email open and a demo request), stamped up to a minute ago.
fn change(n: u64, contact: u64, lead: u64) -> Value {
    let now_ms = Utc::now().timestamp_millis();
    let (property, value) = match n % 6 {
        0 => ("jobtitle", title(lead).to_owned()),
        1 => ("firstname", format!("Person{lead}")),
        2 => (
            "hs_analytics_last_url",
            "https://www.example.com/pricing".to_owned(),
        ),
        3 => (
            "hs_analytics_last_url",
            "https://www.example.com/compare/leadrouter-vs-others".to_owned(),
        ),
        4 => ("hs_email_last_open_date", now_ms.to_string()),
        _ => ("recent_conversion_event_name", "Demo request".to_owned()),
    };
    json!({
        "eventId": n,
        "subscriptionId": 1_402_135,
        "portalId": 62_515,
        "appId": 1_160_452,
        "occurredAt": now_ms - (n % 60_000) as i64,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": contact,
        "propertyName": property,
        "propertyValue": value,
        "changeSource": "CRM",
        "sourceId": "userId:1234567",
    })
}

/// The three phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Canonical,
    Known,
    Lookup,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Canonical => "canonical",
            Path::Known => "hubspot-known",
            Path::Lookup => "hubspot-lookup",
        }
    }

    /// One request's body: 100 events or 100 notifications.
    fn batch(self) -> Value {
        let items = (0..BATCH).map(|_| {
            let n = next_id();
            match self {
                Path::Canonical => event_of(POPULATION, n),
                Path::Known => change(n, KNOWN + lead_of(n), lead_of(n)),
                Path::Lookup => change(n, LOOKUP + n, lead_of(n)),
            }
        });
        Value::Array(items.collect())
    }
}

/// What the service answered a HubSpot request with, as far as the benchmark checks it.
#[derive(Deserialize)]
struct Receipt {
    accepted: u64,
    dead_letters: Vec<serde_json::Value>,
}

/// POSTs `body` signed as HubSpot's v1 scheme signs: hex SHA-256 of secret and body. Every
/// notification must be stored as an event, or the phase measured something else.
async fn post_signed(client: &reqwest::Client, url: &str, body: String) -> anyhow::Result<u64> {
    let signature = hex::encode(Sha256::digest(format!("{SECRET}{body}")));
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hubspot-signature", signature)
        .header("x-hubspot-signature-version", "v1")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "hubspot answered {status}: {text}");
    let receipt: Receipt = serde_json::from_str(&text)?;
    anyhow::ensure!(
        receipt.accepted == BATCH as u64 && receipt.dead_letters.is_empty(),
        "hubspot accepted {} of {BATCH}, dead letters: {:?}",
        receipt.accepted,
        receipt.dead_letters
    );
    Ok(BATCH as u64)
}

/// One phase at the batch phase's concurrency: its figures and how many CRM API reads it
/// caused per request.
async fn run(
    bench: &Bench,
    path: Path,
    source_client: &reqwest::Client,
    hubspot_client: &reqwest::Client,
    seconds: u64,
) -> anyhow::Result<(Figures, f64)> {
    let reads = bench.api.requests();
    let requests = Arc::new(AtomicU64::new(0));
    let (sent, url) = (
        requests.clone(),
        match path {
            Path::Canonical => bench.events_url.clone(),
            Path::Known | Path::Lookup => bench.hubspot_url.clone(),
        },
    );
    let client = match path {
        Path::Canonical => source_client.clone(),
        Path::Known | Path::Lookup => hubspot_client.clone(),
    };
    let figures = closed_loop(BATCH_CONCURRENCY, seconds, move |_| {
        let (client, url, sent) = (client.clone(), url.clone(), sent.clone());
        async move {
            let body = path.batch();
            sent.fetch_add(1, Ordering::Relaxed);
            match path {
                Path::Canonical => post(&client, &url, &body).await.map(|()| BATCH as u64),
                Path::Known | Path::Lookup => post_signed(&client, &url, body.to_string()).await,
            }
        }
    })
    .await?;
    let per_request =
        (bench.api.requests() - reads) as f64 / requests.load(Ordering::Relaxed).max(1) as f64;
    Ok((figures, per_request))
}

/// One round of the three phases, in an order that turns with the round so that a machine
/// speeding up or slowing down over a round weighs on each alike over the run; `record` keeps
/// the figures for the medians.
pub async fn round(
    bench: &Bench,
    round: usize,
    source_client: &reqwest::Client,
    hubspot_client: &reqwest::Client,
    seconds: u64,
    record: &mut impl FnMut(&str, f64),
) -> anyhow::Result<()> {
    let mut order = [Path::Canonical, Path::Known, Path::Lookup];
    order.rotate_left((round - 1) % 3);
    let mut rates = [0.0; 3];
    for path in order {
        let (figures, reads) = run(bench, path, source_client, hubspot_client, seconds).await?;
        print_row(
            &format!("{} {BATCH}/batch c={BATCH_CONCURRENCY}", path.name()),
            &figures,
        );
        let name = path.name();
        if path != Path::Canonical {
            println!("{:<34} {reads:>10.2}", "  CRM API reads per request");
            record(&format!("{name} CRM reads/request"), reads);
        }
        record(&format!("{name} events/s"), figures.events_per_sec);
        record(&format!("{name} p50 ms"), figures.p50_ms);
        record(&format!("{name} p99 ms"), figures.p99_ms);
        record(&format!("{name} cpu µs/event"), figures.cpu_us_per_event);
        record(
            &format!("{name} service µs/event"),
            figures.service_us_per_event,
        );
        rates[path as usize] = figures.events_per_sec;
    }
    for path in [Path::Known, Path::Lookup] {
        let ratio = rates[path as usize] / rates[Path::Canonical as usize];
        let name = format!("ratio {}/canonical", path.name());
        println!("{:<34} {ratio:>10.2}", format!("  {name}"));
        record(&name, ratio);
    }
    Ok(())
}
