//! The delivery phases, with the outbox dispatcher running beside the service:
//!
//! - speed to lead: demo requests for new leads of a Tier 2 account (each turns MQL and is
//!   assigned to a rep at once), sent open loop at half their closed-loop peak, each timed from
//!   its send to the arrival of its `rep.assigned` webhook at a local receiver;
//! - dispatcher throughput: [`THROUGHPUT_MESSAGES`] outbox rows written in one statement for a
//!   topic one endpoint takes, answered 204 at once, timed until every delivery is `delivered`.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post as route_post};
use chrono::Utc;
use leadrouter::{
    adapters::standard_webhooks::generate_secret,
    db::outbox::{self, Message},
    domain::Role,
    jobs::dispatcher,
    usecase::api_keys::{self, MintInput},
};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use super::closed_loop;

/// The account every lead of these phases belongs to, Tier 2 so its MQLs need no review.
const DOMAIN: &str = "speed-to-lead.example";
/// Reps the leads are assigned to, round robin.
const REPS: usize = 8;
/// The closed loop that finds the peak rate of demo requests: its concurrency and length.
const PEAK_CONCURRENCY: usize = 16;
const PEAK_SECONDS: u64 = 2;
/// How long after the last request the phase waits for webhooks still on their way.
const GRACE: Duration = Duration::from_secs(10);
/// Requests in flight at most in the open loop, as the ingest open loop caps them.
const IN_FLIGHT: usize = 256;
/// The throughput phase's messages, and the topic only its endpoint takes.
pub const THROUGHPUT_MESSAGES: usize = 20_000;
const THROUGHPUT_TOPIC: &str = "bench.throughput";
/// The targets (the dispatcher issue's).
const P99_TARGET_MS: f64 = 1_000.0;
const P50_TARGET_MS: f64 = 100.0;
const THROUGHPUT_TARGET: f64 = 2_000.0;

/// What the local receiver has seen: when each lead's `rep.assigned` first arrived, and how
/// many throughput messages came.
#[derive(Default)]
struct Arrivals {
    assigned: Mutex<HashMap<String, Instant>>,
    fast: AtomicU64,
}

/// The service's events URL, the receiver's record and the throughput endpoint.
pub struct Bench {
    events_url: String,
    arrivals: Arc<Arrivals>,
    fast_endpoint: Uuid,
    pool: PgPool,
    next_lead: Arc<AtomicU64>,
}

/// Starts the receiver, subscribes it to `rep.assigned` and the throughput topic, and sets up
/// the account and the team through the service's API (`base`) with an admin key.
pub async fn prepare(base: &str, events_url: &str, pool: &PgPool) -> anyhow::Result<Bench> {
    let arrivals = Arc::new(Arrivals::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver = format!("http://{}", listener.local_addr()?);
    let router = Router::new()
        .route("/assigned", route_post(assigned))
        .route("/fast", route_post(fast))
        .with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    endpoint(pool, &format!("{receiver}/assigned"), "rep.assigned").await?;
    let fast_endpoint = endpoint(pool, &format!("{receiver}/fast"), THROUGHPUT_TOPIC).await?;

    let admin = api_keys::mint(
        pool,
        MintInput {
            role: Some(Role::Admin),
            rep_id: None,
            label: Some("loadgen delivery".to_owned()),
        },
        Utc::now(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("minting the admin key: {e}"))?;
    let admin = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", admin.key.expose()).parse()?,
            )]
            .into_iter()
            .collect(),
        )
        .build()?;
    let api = |path: &str| format!("{base}/api/v1/{path}");
    setup(
        &admin,
        &api("accounts"),
        json!({"domain": DOMAIN, "tier": 2}),
    )
    .await?;
    let manager = setup(
        &admin,
        &api("reps"),
        json!({"name": "Mia Manager", "email": "mia@bench.example", "role": "manager"}),
    )
    .await?;
    for i in 0..REPS {
        setup(
            &admin,
            &api("reps"),
            json!({"name": format!("Rep {i}"), "email": format!("rep{i}@bench.example"),
                   "manager_id": manager["id"]}),
        )
        .await?;
    }
    Ok(Bench {
        events_url: events_url.to_owned(),
        arrivals,
        fast_endpoint,
        pool: pool.clone(),
        next_lead: Arc::default(),
    })
}

async fn setup(client: &reqwest::Client, url: &str, body: Value) -> anyhow::Result<Value> {
    let response = client.post(url).json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// An enabled endpoint at `url` for `topic`, written as an operator's would be.
async fn endpoint(pool: &PgPool, url: &str, topic: &str) -> anyhow::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into webhook_endpoints (id, url, topics, secret, created_at, updated_at)
         values ($1, $2, $3, $4, now(), now())",
    )
    .bind(id)
    .bind(url)
    .bind([topic])
    .bind(generate_secret())
    .execute(pool)
    .await?;
    Ok(id)
}

/// Records when a lead's `rep.assigned` first arrived (a retry would arrive later).
async fn assigned(State(arrivals): State<Arc<Arrivals>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let email = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["data"]["lead_email"].as_str().map(str::to_owned));
    match email {
        Some(email) => {
            let mut seen = arrivals.assigned.lock().expect("arrivals lock");
            seen.entry(email).or_insert(at);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn fast(State(arrivals): State<Arc<Arrivals>>) -> StatusCode {
    arrivals.fast.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

impl Bench {
    fn new_lead(&self) -> String {
        let n = self.next_lead.fetch_add(1, Ordering::Relaxed);
        format!("lead{n}@{DOMAIN}")
    }

    fn arrived(&self) -> usize {
        self.arrivals.assigned.lock().expect("arrivals lock").len()
    }

    /// Waits until `sent` leads have arrived or [`GRACE`] has passed since the last arrival;
    /// returns how many arrived.
    async fn settle(&self, sent: usize) -> usize {
        let (mut last, mut since) = (self.arrived(), Instant::now());
        while last < sent && since.elapsed() < GRACE {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.arrived();
            if now != last {
                (last, since) = (now, Instant::now());
            }
        }
        last
    }
}

/// A demo request from a VP of a fitting company (fit 70, intent 50: MQL at once), for `email`.
async fn demo(client: &reqwest::Client, url: &str, email: &str) -> anyhow::Result<()> {
    let body = json!({
        "event_id": format!("demo-{email}"),
        "source": "loadgen",
        "type": "demo_request",
        "occurred_at": Utc::now().to_rfc3339(),
        "lead": {
            "email": email, "first_name": "Jane", "last_name": "Doe", "title": "VP Marketing",
            "company": "Acme", "industry": "software", "employee_count": 250,
            "annual_revenue": 50_000_000, "country": "US",
        },
    });
    let response = client.post(url).json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "ingest answered {status}: {text}");
    let stage = serde_json::from_str::<Value>(&text)?["results"][0]["lifecycle_stage"].clone();
    anyhow::ensure!(stage == "MQL", "a demo request left its lead {stage}");
    Ok(())
}

/// One round: speed to lead, then dispatcher throughput; `record` keeps the figures.
pub async fn round(
    bench: &Bench,
    client: &reqwest::Client,
    seconds: u64,
    record: &mut impl FnMut(&str, f64),
) -> anyhow::Result<()> {
    speed_to_lead(bench, client, seconds, record).await?;
    let rate = throughput(bench).await?;
    println!(
        "{:<34} {rate:>10.0} messages/s (target ≥ {THROUGHPUT_TARGET:.0}: {})",
        format!("dispatcher, {THROUGHPUT_MESSAGES} msgs"),
        verdict(rate >= THROUGHPUT_TARGET)
    );
    record("dispatcher messages/s", rate);
    Ok(())
}

async fn speed_to_lead(
    bench: &Bench,
    client: &reqwest::Client,
    seconds: u64,
    record: &mut impl FnMut(&str, f64),
) -> anyhow::Result<()> {
    let url = bench.events_url.clone();
    let (before, leads) = (bench.arrived(), bench.next_lead.clone());
    let first = leads.load(Ordering::Relaxed);
    let peak = closed_loop(PEAK_CONCURRENCY, PEAK_SECONDS, {
        let (client, url) = (client.clone(), url.clone());
        move |_| {
            let (client, url, leads) = (client.clone(), url.clone(), leads.clone());
            async move {
                let email = format!("lead{}@{DOMAIN}", leads.fetch_add(1, Ordering::Relaxed));
                demo(&client, &url, &email).await.map(|()| 1)
            }
        }
    })
    .await?;
    // The peak's webhooks go out before the measured run starts.
    let peak_sent = bench.next_lead.load(Ordering::Relaxed) - first;
    let already = bench.settle(before + peak_sent as usize).await;
    let peak = peak.events_per_sec;
    let rate = peak / 2.0;

    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let (start, mut sending) = (Instant::now(), Vec::new());
    while start.elapsed() < Duration::from_secs(seconds) {
        ticker.tick().await;
        let sent_at = Instant::now();
        let (client, url, slots, email) =
            (client.clone(), url.clone(), slots.clone(), bench.new_lead());
        sending.push(tokio::spawn(async move {
            let _slot = slots.acquire().await?;
            demo(&client, &url, &email).await?;
            anyhow::Ok((email, sent_at))
        }));
    }
    let mut sent = Vec::new();
    for request in sending {
        sent.push(request.await??);
    }
    bench.settle(already + sent.len()).await;
    let seen = bench.arrivals.assigned.lock().expect("arrivals lock");
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(email, at)| seen.get(email).map(|arrival| *arrival - *at))
        .collect();
    drop(seen);
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies
            .get(i)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let (p50, p90, p99, max) = (pct(0.50), pct(0.90), pct(0.99), pct(1.0));
    println!(
        "{:<34} {peak:>10.0} demo requests/s closed loop c={PEAK_CONCURRENCY}",
        "speed to lead: peak"
    );
    println!(
        "{:<34} {:>10} sent, {} arrived, {} missing after {} s; ms p50 {p50:.1} p90 {p90:.1} \
         p99 {p99:.1} max {max:.1}",
        format!("  open loop at {rate:.0}/s"),
        sent.len(),
        latencies.len(),
        sent.len() - latencies.len(),
        GRACE.as_secs(),
    );
    print_slo(p50, p99);
    record("speed-to-lead peak requests/s", peak);
    record("speed-to-lead rate/s", rate);
    record("speed-to-lead p50 ms", p50);
    record("speed-to-lead p90 ms", p90);
    record("speed-to-lead p99 ms", p99);
    record("speed-to-lead max ms", max);
    record(
        "speed-to-lead missing",
        (sent.len() - latencies.len()) as f64,
    );
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

fn print_slo(p50: f64, p99: f64) {
    println!(
        "  SLO p99 < 1 s: {} ({p99:.1} ms), p50 < 100 ms: {} ({p50:.1} ms)",
        verdict(p99 < P99_TARGET_MS),
        verdict(p50 < P50_TARGET_MS)
    );
}

/// Writes [`THROUGHPUT_MESSAGES`] outbox rows in one statement and waits until every delivery
/// they fanned out to is `delivered`; returns messages per second from the write's start.
async fn throughput(bench: &Bench) -> anyhow::Result<f64> {
    let delivered = || {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from deliveries where endpoint_id = $1 and status = 'delivered'",
        )
        .bind(bench.fast_endpoint)
        .fetch_one(&bench.pool)
    };
    let before = delivered().await?;
    let messages: Vec<Message> = (0..THROUGHPUT_MESSAGES)
        .map(|n| Message {
            topic: THROUGHPUT_TOPIC,
            recipient: "loadgen".to_owned(),
            payload: json!({"n": n}),
            dedupe_key: format!("bench-throughput:{}", Uuid::now_v7()),
        })
        .collect();
    let start = Instant::now();
    outbox::enqueue(&mut *bench.pool.acquire().await?, &messages, Utc::now()).await?;
    let target = before + THROUGHPUT_MESSAGES as i64;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let done = delivered().await?;
        if done >= target {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(300),
            "{} of {THROUGHPUT_MESSAGES} delivered after 300 s",
            done - before
        );
    }
    Ok(THROUGHPUT_MESSAGES as f64 / start.elapsed().as_secs_f64())
}

/// The targets against the medians of `table`.
pub fn summary(table: &[(String, Vec<f64>)], settings: dispatcher::Settings) {
    let median = |name: &str| {
        table
            .iter()
            .find(|(n, _)| n == name)
            .map_or(f64::NAN, |(_, v)| leadrouter::bench::median(v.clone()))
    };
    println!(
        "\ndelivery targets on the medians (dispatcher batch {}, {} per endpoint)",
        settings.batch, settings.per_endpoint
    );
    print_slo(
        median("speed-to-lead p50 ms"),
        median("speed-to-lead p99 ms"),
    );
    let rate = median("dispatcher messages/s");
    println!(
        "  dispatcher ≥ {THROUGHPUT_TARGET:.0} messages/s: {} ({rate:.0}/s)",
        verdict(rate >= THROUGHPUT_TARGET)
    );
}
