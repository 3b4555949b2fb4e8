//! The delivery phases, with the outbox dispatcher running beside the service:
//!
//! - speed to lead: demo requests for new leads of a Tier 2 account (each turns MQL and is
//!   assigned to a rep at once), sent open loop at half their closed-loop peak, each timed from
//!   its send to the arrival of its `rep.assigned` webhook at a local receiver;
//! - dispatcher throughput: [`THROUGHPUT_MESSAGES`] outbox rows written in one statement for a
//!   topic one endpoint takes, answered 204 at once, timed until every delivery is `delivered`;
//! - ingest with the dispatcher draining a backlog against ingest with none.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use leadrouter::{
    adapters::standard_webhooks::generate_secret,
    bench::webhook_receiver::WebhookReceiver,
    db::outbox::{self, Message},
    domain::Role,
    jobs::dispatcher,
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
/// Delivered before the first round, unmeasured (see [`warm_up`]).
const WARM_UP_MESSAGES: usize = 5_000;
/// The targets (the dispatcher issue's).
const P99_TARGET_MS: f64 = 1_000.0;
const P50_TARGET_MS: f64 = 100.0;
const THROUGHPUT_TARGET: f64 = 2_000.0;
const INGEST_RATIO_TARGET: f64 = 0.8;

/// The service's events URL, the receiver's record and the throughput endpoint.
pub struct Bench {
    events_url: String,
    receiver: WebhookReceiver,
    fast_endpoint: Uuid,
    pool: PgPool,
    next_lead: Arc<AtomicU64>,
}

/// Starts the receiver, subscribes it to `rep.assigned` and the throughput topic, and sets up
/// the account and the team through the service's API (`base`) with an admin key.
pub async fn prepare(base: &str, events_url: &str, pool: &PgPool) -> anyhow::Result<Bench> {
    let receiver = WebhookReceiver::start().await?;
    endpoint(pool, &format!("{}/assigned", receiver.base), "rep.assigned").await?;
    let fast_endpoint =
        endpoint(pool, &format!("{}/fast", receiver.base), THROUGHPUT_TOPIC).await?;

    let admin = leadrouter::bench::mint_key(pool, Role::Admin, "loadgen delivery").await?;
    let admin = reqwest::Client::builder()
        .default_headers(
            [(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", admin.expose()).parse()?,
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
    let bench = Bench {
        events_url: events_url.to_owned(),
        receiver,
        fast_endpoint,
        pool: pool.clone(),
        next_lead: Arc::default(),
    };
    warm_up(&bench).await?;
    Ok(bench)
}

/// Delivers a first lot of messages unmeasured, then analyzes: the service's prepared
/// statements would otherwise keep the plans made for the empty tables of the first round
/// (sequential scans of `deliveries`) until the next analyze, which autovacuum would have run
/// long before a real outbox got this large.
async fn warm_up(bench: &Bench) -> anyhow::Result<()> {
    let target = bench.delivered().await? + WARM_UP_MESSAGES as i64;
    enqueue(bench, WARM_UP_MESSAGES).await?;
    bench.drained(target).await?;
    sqlx::query("vacuum (analyze)").execute(&bench.pool).await?;
    Ok(())
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

impl Bench {
    fn new_lead(&self) -> String {
        let n = self.next_lead.fetch_add(1, Ordering::Relaxed);
        format!("lead{n}@{DOMAIN}")
    }

    fn arrived(&self) -> usize {
        self.receiver.assigned()
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
    round: usize,
    client: &reqwest::Client,
    seconds: u64,
    record: &mut impl FnMut(&str, f64),
) -> anyhow::Result<()> {
    // What autovacuum does in production; the PostgreSQL of these machines runs without it,
    // and each round leaves some 30,000 dead versions of deliveries behind.
    sqlx::query("vacuum (analyze)").execute(&bench.pool).await?;
    speed_to_lead(bench, client, seconds, record).await?;
    let rate = throughput(bench).await?;
    println!(
        "{:<34} {rate:>10.0} messages/s (target ≥ {THROUGHPUT_TARGET:.0}: {})",
        format!("dispatcher, {THROUGHPUT_MESSAGES} msgs"),
        verdict(rate >= THROUGHPUT_TARGET)
    );
    record("dispatcher messages/s", rate);
    backlog(bench, client, round, seconds, rate, record).await
}

/// Ingest's rate with the dispatcher draining a backlog against its rate with none, in turns
/// (the backlog first in even rounds). The backlog is what the dispatcher takes the phase and
/// two seconds more to deliver at `rate`, the rate it just measured, so it drains through the
/// whole phase and soon after.
async fn backlog(
    bench: &Bench,
    client: &reqwest::Client,
    round: usize,
    seconds: u64,
    rate: f64,
    record: &mut impl FnMut(&str, f64),
) -> anyhow::Result<()> {
    let size = (rate * (seconds + 2) as f64).ceil() as usize;
    let mut rates = [0.0; 2];
    let mut order = [false, true];
    if round % 2 == 0 {
        order.reverse();
    }
    for draining in order {
        let target = bench.delivered().await? + size as i64;
        if draining {
            enqueue(bench, size).await?;
        }
        let (ingest, arrivals) = demo_loop(bench, client, seconds).await?;
        let left = target - bench.delivered().await?;
        bench.settle(arrivals).await;
        rates[usize::from(draining)] = ingest;
        let name = format!("ingest c={PEAK_CONCURRENCY}");
        if draining {
            bench.drained(target).await?;
            println!(
                "{:<34} {ingest:>10.0} demo requests/s ({size} messages queued, {left} \
                 undelivered at its end)",
                format!("{name}, dispatcher draining")
            );
        } else {
            println!(
                "{:<34} {ingest:>10.0} demo requests/s",
                format!("{name}, no backlog")
            );
        }
    }
    let ratio = rates[1] / rates[0];
    println!(
        "{:<34} {ratio:>10.2} (target ≥ {INGEST_RATIO_TARGET}: {})",
        "  ratio draining/none",
        verdict(ratio >= INGEST_RATIO_TARGET)
    );
    record("ingest no backlog requests/s", rates[0]);
    record("ingest draining requests/s", rates[1]);
    record("ratio ingest draining/none", ratio);
    Ok(())
}

/// Demo requests for new leads in a closed loop at [`PEAK_CONCURRENCY`] for `seconds`: their
/// rate, and how many `rep.assigned` the receiver will have seen once theirs have arrived.
async fn demo_loop(
    bench: &Bench,
    client: &reqwest::Client,
    seconds: u64,
) -> anyhow::Result<(f64, usize)> {
    let (before, leads) = (bench.arrived(), bench.next_lead.clone());
    let first = leads.load(Ordering::Relaxed);
    let url = bench.events_url.clone();
    let client = client.clone();
    let figures = closed_loop(PEAK_CONCURRENCY, seconds, move |_| {
        let (client, url, leads) = (client.clone(), url.clone(), leads.clone());
        async move {
            let email = format!("lead{}@{DOMAIN}", leads.fetch_add(1, Ordering::Relaxed));
            demo(&client, &url, &email).await.map(|()| 1)
        }
    })
    .await?;
    let sent = bench.next_lead.load(Ordering::Relaxed) - first;
    Ok((figures.events_per_sec, before + sent as usize))
}

async fn speed_to_lead(
    bench: &Bench,
    client: &reqwest::Client,
    seconds: u64,
    record: &mut impl FnMut(&str, f64),
) -> anyhow::Result<()> {
    // The peak's webhooks go out before the measured run starts.
    let (peak, arrivals) = demo_loop(bench, client, PEAK_SECONDS).await?;
    let already = bench.settle(arrivals).await;
    let url = bench.events_url.clone();
    let rate = peak / 2.0;

    let sent = open_loop(bench, client, &url, rate, seconds).await?;
    bench.settle(already + sent.len()).await;
    let arrivals = bench
        .receiver
        .arrivals(sent.iter().map(|(email, _)| email.as_str()));
    let mut latencies: Vec<Duration> = sent
        .iter()
        .zip(arrivals)
        .filter_map(|((_, at), arrival)| arrival.map(|arrival| arrival - *at))
        .collect();
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

/// Demo requests for new leads at `rate` for `seconds`, whatever the latency: each lead's
/// email and the tick its request was due at, so time spent waiting for one of the
/// [`IN_FLIGHT`] slots or behind a late tick counts.
async fn open_loop(
    bench: &Bench,
    client: &reqwest::Client,
    url: &str,
    rate: f64,
    seconds: u64,
) -> anyhow::Result<Vec<(String, Instant)>> {
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let (start, mut sending) = (Instant::now(), Vec::new());
    while start.elapsed() < Duration::from_secs(seconds) {
        let due = ticker.tick().await.into_std();
        let (client, url, slots, email) = (
            client.clone(),
            url.to_owned(),
            slots.clone(),
            bench.new_lead(),
        );
        sending.push(tokio::spawn(async move {
            let _slot = slots.acquire().await?;
            demo(&client, &url, &email).await?;
            anyhow::Ok((email, due))
        }));
    }
    let mut sent = Vec::new();
    for request in sending {
        sent.push(request.await??);
    }
    Ok(sent)
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
    let target = bench.delivered().await? + THROUGHPUT_MESSAGES as i64;
    let start = Instant::now();
    enqueue(bench, THROUGHPUT_MESSAGES).await?;
    bench.drained(target).await?;
    Ok(THROUGHPUT_MESSAGES as f64 / start.elapsed().as_secs_f64())
}

/// Writes `n` messages for the throughput endpoint to the outbox, in one statement.
async fn enqueue(bench: &Bench, n: usize) -> anyhow::Result<()> {
    let messages: Vec<Message> = (0..n)
        .map(|n| Message {
            topic: THROUGHPUT_TOPIC,
            recipient: "loadgen".to_owned(),
            payload: json!({"n": n}),
            dedupe_key: format!("bench-throughput:{}", Uuid::now_v7()),
        })
        .collect();
    outbox::enqueue(&mut *bench.pool.acquire().await?, &messages, Utc::now()).await?;
    Ok(())
}

impl Bench {
    /// Deliveries to the throughput endpoint that are `delivered`.
    async fn delivered(&self) -> sqlx::Result<i64> {
        sqlx::query_scalar(
            "select count(*) from deliveries where endpoint_id = $1 and status = 'delivered'",
        )
        .bind(self.fast_endpoint)
        .fetch_one(&self.pool)
        .await
    }

    /// Waits until [`Bench::delivered`] reaches `target`, looking every 100 ms.
    async fn drained(&self, target: i64) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let done = self.delivered().await?;
            if done >= target {
                return Ok(());
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(300),
                "{} deliveries still pending after 300 s",
                target - done
            );
        }
    }
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
    let ratio = median("ratio ingest draining/none");
    println!(
        "  ingest draining ≥ {INGEST_RATIO_TARGET}× none: {} ({ratio:.2}×)",
        verdict(ratio >= INGEST_RATIO_TARGET)
    );
}
