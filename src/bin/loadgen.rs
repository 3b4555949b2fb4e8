//! Ingest benchmark: runs the service in-process against a scratch database and measures
//! events/s and latency for single events (concurrency 16 and 64) for known leads and for
//! new ones (every event a lead's first), batches of 100, and an
//! open-loop run at half the peak single-event rate; in the same run, the baseline of raw
//! durable single-row INSERTs of an event row at the same concurrency, and the HTTP floor
//! (events refused by validation, no database work). Then the cost of nurture: single events
//! at concurrency 16 and 64 for segmented leads with nurture off and on, with how many nurture
//! writes each event caused. And the HubSpot connector ([`hubspot`]): batches of 100
//! property changes, for contacts leads remember and for contacts read from a stand-in of
//! HubSpot's CRM API, against canonical batches in the same round. And delivery
//! ([`delivery`]), with the outbox dispatcher running: speed to lead (a demo request to its
//! `rep.assigned` webhook at a local receiver) and the dispatcher's throughput.
//!
//! `cargo run --release --bin loadgen -- [--seconds 5] [--rounds 3]
//! [--only ingest|nurture|hubspot|delivery|writeback] [--database-url URL]`
//!
//! CRM write-back ([`writeback`]) runs only when asked for (`--only writeback`): bursts of
//! changes to leads with HubSpot ids, written back to a stand-in of HubSpot's API.

// A crate root looks for its modules beside it, where Cargo would take them for binaries.
#[path = "loadgen/delivery.rs"]
mod delivery;
#[path = "loadgen/hubspot.rs"]
mod hubspot;
#[path = "loadgen/writeback.rs"]
mod writeback;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use leadrouter::{
    app::{self, AppState},
    bench::{self, hubspot_api::HubSpotApi},
    config::Settings,
    domain::Role,
    engine::RuleSet,
    jobs::dispatcher,
    usecase::ingest::{GroupCommit, GroupTotals},
};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

// glibc's malloc took a fifth of the service's CPU under load (perf, loadgen at c=16).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const KINDS: [&str; 6] = [
    "page_view",
    "email_open",
    "content_download",
    "pricing_page_visit",
    "comparison_page_visit",
    "demo_request",
];
const LEADS: u64 = 20_000;
const BATCH: usize = 100;
const BATCH_CONCURRENCY: usize = 8;

struct Args {
    seconds: u64,
    rounds: usize,
    database_url: String,
    /// Which phases run: the ingest ones (baseline, single, batches, open loop), the nurture
    /// pair, the HubSpot ones, the delivery ones, or all.
    ingest: bool,
    nurture: bool,
    hubspot: bool,
    delivery: bool,
    writeback: bool,
}

fn args() -> anyhow::Result<Args> {
    let flags = bench::flags(&["seconds", "rounds", "database-url", "only"])?;
    let only: String = bench::flag(&flags, "only", "all".to_owned())?;
    anyhow::ensure!(
        [
            "all",
            "ingest",
            "nurture",
            "hubspot",
            "delivery",
            "writeback"
        ]
        .contains(&only.as_str()),
        "--only takes ingest, nurture, hubspot, delivery or writeback, not {only}"
    );
    let runs = |phases: &str| only == "all" || only == phases;
    Ok(Args {
        ingest: runs("ingest"),
        nurture: runs("nurture"),
        hubspot: runs("hubspot"),
        delivery: runs("delivery"),
        writeback: only == "writeback",
        seconds: bench::flag(&flags, "seconds", 5)?,
        rounds: bench::flag(&flags, "rounds", 3)?,
        database_url: bench::flag(
            &flags,
            "database-url",
            "postgres://postgres@localhost:5432/leadrouter_bench".to_owned(),
        )?,
    })
}

/// Latencies of one phase and its throughput.
struct Figures {
    events_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time of the whole machine (client, service and PostgreSQL) per event, in µs.
    cpu_us_per_event: f64,
    /// Of that, the service's threads' and this process's other threads' (the client).
    service_us_per_event: f64,
    client_us_per_event: f64,
    /// Time this process's threads and PostgreSQL's processes spent runnable but waiting
    /// for a core, per event, in µs.
    waited_us_per_event: f64,
}

/// The name of the services' runtime threads, which tells their CPU time from the client's.
const SERVICE_THREAD: &str = "leadrouter-svc";

/// CPU seconds the machine, the services' threads and this process's other threads have spent;
/// and the seconds each of those threads and PostgreSQL's processes waited for a core.
struct Cpu {
    machine: f64,
    service: f64,
    client: f64,
    waited: HashMap<String, f64>,
}

/// What a phase spent: [`Cpu`]'s figures from its start to its end, the waits summed.
struct PhaseCpu {
    machine: f64,
    service: f64,
    client: f64,
    waited: f64,
}

impl Cpu {
    fn now() -> Self {
        let (mut service, mut client) = (0.0, 0.0);
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // `pid (comm) state ...`: utime and stime are the 12th and 13th fields after comm.
            let Some((name, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") "))
            else {
                continue;
            };
            let ticks: f64 = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<f64>().ok())
                .sum();
            if name.starts_with(SERVICE_THREAD) {
                service += ticks / 100.0;
            } else {
                client += ticks / 100.0;
            }
        }
        Cpu {
            machine: cpu_busy_secs(),
            service,
            client,
            waited: waited_secs(),
        }
    }

    /// What was spent from `start` to this reading. A process that ended in between counts for
    /// nothing (its wait is gone with it); one that started counts whole.
    fn since(self, start: Cpu) -> PhaseCpu {
        PhaseCpu {
            machine: self.machine - start.machine,
            service: self.service - start.service,
            client: self.client - start.client,
            waited: self
                .waited
                .iter()
                .map(|(who, w)| w - start.waited.get(who).unwrap_or(&0.0))
                .sum(),
        }
    }
}

/// Seconds each of this process's threads and the local PostgreSQL's processes has spent
/// runnable but not running (`/proc/.../schedstat`, second field), by thread or process: on a
/// small VM a thread woken on an idle core waits for it to resume, and every hop of a request
/// (client, service, database and back) pays that, which CPU time does not show.
fn waited_secs() -> HashMap<String, f64> {
    let waited = |path: std::path::PathBuf| -> Option<f64> {
        let schedstat = std::fs::read_to_string(path).ok()?;
        Some(schedstat.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1e9)
    };
    let entries = |dir: &str| std::fs::read_dir(dir).into_iter().flatten().flatten();
    let mut by_who = HashMap::new();
    for task in entries("/proc/self/task") {
        if let Some(w) = waited(task.path().join("schedstat")) {
            by_who.insert(format!("task {:?}", task.file_name()), w);
        }
    }
    for process in entries("/proc") {
        let name = process.file_name();
        let is_pid = name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        let comm = std::fs::read_to_string(process.path().join("comm")).unwrap_or_default();
        if is_pid && comm.trim() == "postgres" {
            if let Some(w) = waited(process.path().join("schedstat")) {
                by_who.insert(format!("pid {name:?}"), w);
            }
        }
    }
    by_who
}

/// CPU seconds the machine has spent busy since boot (all cores; Linux `/proc/stat`), so a
/// phase's cost per event can be read next to its rate: on 2 shared cores a rate alone hides
/// whether a change saved work or only waited differently.
fn cpu_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait are work.
    let busy: f64 = ticks.iter().take(8).sum::<f64>()
        - ticks.get(3).unwrap_or(&0.0)
        - ticks.get(4).unwrap_or(&0.0);
    busy / 100.0
}

impl Figures {
    fn new(mut latencies: Vec<Duration>, events: u64, elapsed: Duration, cpu: PhaseCpu) -> Self {
        latencies.sort();
        let pct = |p: f64| {
            let i =
                ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
            latencies
                .get(i)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        Figures {
            events_per_sec: events as f64 / elapsed.as_secs_f64(),
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            cpu_us_per_event: cpu.machine * 1e6 / events as f64,
            service_us_per_event: cpu.service * 1e6 / events as f64,
            client_us_per_event: cpu.client * 1e6 / events as f64,
            waited_us_per_event: cpu.waited * 1e6 / events as f64,
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// An event: one of 20,000 leads of a population, one of six types in equal shares (far more
/// hand raises than real traffic), stamped up to a minute ago so that some arrive out of
/// order. Opens are of the comparison guide, as a MAP reports them, so nurture's triggers fire
/// as they would in service.
fn event_of(population: &str, n: u64) -> Value {
    event_for(population, n.wrapping_mul(2_654_435_761) % LEADS, n, n)
}

/// Event `n` of lead number `lead`, its type picked by `kind`: its profile is always that
/// lead's, whichever event it is.
fn event_for(population: &str, lead: u64, n: u64, kind: u64) -> Value {
    let kind = KINDS[(kind % KINDS.len() as u64) as usize];
    let mut e = json!({
        "event_id": format!("bench-{n}"),
        "source": "loadgen",
        "type": kind,
        "occurred_at": (Utc::now() - chrono::Duration::milliseconds((n % 60_000) as i64)).to_rfc3339(),
        "lead": {
            "email": email(population, lead),
            "title": if lead % 3 == 0 { "VP Marketing" } else { "Analyst" },
            "industry": "software", "employee_count": 250, "annual_revenue": 50_000_000, "country": "US"
        }
    });
    if kind == "email_open" {
        e["properties"] = json!({ "asset_id": "comparison-guide" });
    }
    e
}

fn email(population: &str, lead: u64) -> String {
    format!("{population}person{lead}@company{}.example", lead % 2_000)
}

/// An event of the main population.
fn event(n: u64) -> Value {
    event_of("", n)
}

/// Runs `concurrency` workers for `seconds`, each calling `op` with its number in a loop; `op`
/// returns how many events it carried.
async fn closed_loop<F, Fut>(concurrency: usize, seconds: u64, op: F) -> anyhow::Result<Figures>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u64>> + Send,
{
    let (start, cpu) = (Instant::now(), Cpu::now());
    let deadline = start + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let op = op.clone();
            tokio::spawn(async move {
                let (mut latencies, mut events) = (Vec::new(), 0);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    events += op(worker).await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok((latencies, events))
            })
        })
        .collect();
    let (mut latencies, mut events) = (Vec::new(), 0);
    for worker in workers {
        let (l, e) = worker.await??;
        latencies.extend(l);
        events += e;
    }
    Ok(Figures::new(
        latencies,
        events,
        start.elapsed(),
        Cpu::now().since(cpu),
    ))
}

/// How many requests the open loop has in flight at most: four times the largest closed-loop
/// concurrency, far above what half the peak rate needs (about a dozen).
const OPEN_LOOP_IN_FLIGHT: usize = 256;

/// Sends single events at a fixed rate for `seconds`, whatever the latency (open loop). Each
/// request's latency counts from its tick, so time spent waiting for one of the
/// [`OPEN_LOOP_IN_FLIGHT`] slots counts too. Without that cap a stall of the service made the
/// client open a connection per tick, and the service then spent its time accepting them (a
/// run once ran out of file descriptors): the measurement made the stall worse.
async fn open_loop(
    client: reqwest::Client,
    url: String,
    rate: f64,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let slots = Arc::new(tokio::sync::Semaphore::new(OPEN_LOOP_IN_FLIGHT));
    let (start, cpu) = (Instant::now(), Cpu::now());
    let mut inflight = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        ticker.tick().await;
        let (client, url, slots) = (client.clone(), url.clone(), slots.clone());
        inflight.push(tokio::spawn(async move {
            let t = Instant::now();
            let _slot = slots.acquire().await?;
            post(&client, &url, &event(next_id())).await?;
            anyhow::Ok(t.elapsed())
        }));
    }
    let sent = inflight.len() as u64;
    let mut latencies = Vec::new();
    for request in inflight {
        latencies.push(request.await??);
    }
    Ok(Figures::new(
        latencies,
        sent,
        start.elapsed(),
        Cpu::now().since(cpu),
    ))
}

/// Posts an event whose email is malformed, which the service refuses after the HTTP layers,
/// the key check and validation and before any database work: what a request costs with
/// nothing behind it, the ceiling the service's HTTP path sets on single-event ingest.
async fn post_refused(client: &reqwest::Client, url: &str, n: u64) -> anyhow::Result<u64> {
    let mut body = event(n);
    body["lead"]["email"] = json!("not-an-email");
    let response = client.post(url).json(&body).send().await?;
    let status = response.status();
    response.bytes().await?;
    anyhow::ensure!(
        status.is_client_error(),
        "a malformed email was answered {status}"
    );
    Ok(1)
}

/// The nurture log's highest id plus the outbox's: between two readings, the rows written.
async fn nurture_writes(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "select (select coalesce(max(id), 0) from nurture_log)
              + (select coalesce(max(id), 0) from outbox)",
    )
    .fetch_one(pool)
    .await?)
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<()> {
    let response = client.post(url).json(body).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "ingest answered {}: {}",
        response.status(),
        response.text().await?
    );
    Ok(())
}

/// Gives every lead of `population` its first event (through `url`, so leads of a nurturing
/// service are enrolled), its type chosen by the lead alone so that every population starts
/// alike (by the event counter, half of one population's VPs had asked for a demo and
/// turned MQL in the warm-up while another's had not, and the nurture pair measured different
/// work) and refreshes the planner's statistics, so that the rounds measure a
/// database in its steady state rather than the first seconds of an empty one (whose plans
/// assume tiny tables until autovacuum's analyze catches up).
async fn warm_up(
    client: &reqwest::Client,
    url: &str,
    population: &str,
    pool: &PgPool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for first in (0..LEADS).step_by(BATCH) {
        let batch: Vec<Value> = (first..first + BATCH as u64)
            .map(|lead| event_for(population, lead, next_id(), lead))
            .collect();
        post(client, url, &Value::Array(batch)).await?;
    }
    sqlx::query("analyze").execute(pool).await?;
    println!(
        "warm-up: {LEADS} leads{} created and analyzed in {:.1} s",
        if population.is_empty() {
            String::new()
        } else {
            format!(" ({population})")
        },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The shipped rules with every lead segmented (Tier 3 by default, so behaviour alone routes
/// it) and nurture on or off: the pair the nurture phases compare.
fn segmented(rules: &RuleSet, nurture: bool) -> anyhow::Result<RuleSet> {
    let mut rules = rules.rules.clone();
    rules.segmentation.default_tier = Some(3);
    rules.nurture.enabled = nurture;
    Ok(RuleSet::new(rules)?)
}

async fn raw_insert(conn: &mut PgConnection) -> anyhow::Result<u64> {
    let n = next_id();
    sqlx::query(
        "insert into bench_raw_events (source, event_id, lead_id, event_type, occurred_at, received_at, payload)
         values ('raw', $1, $2, 'pricing_page_visit', now(), now(), $3)",
    )
    .bind(format!("raw-{n}"))
    .bind(uuid::Uuid::now_v7())
    .bind(sqlx::types::Json(event(n)))
    .execute(conn)
    .await?;
    Ok(1)
}

/// `total` per group written.
fn per_group(total: u64, groups: &GroupTotals) -> f64 {
    total as f64 / groups.groups.max(1) as f64
}

/// How the phase's single events were grouped, under its row.
fn print_groups(groups: &GroupTotals) {
    println!(
        "{:<34} {:>10.1} events per group, {:.0} µs per group write, {:.0}% planned ahead",
        "  group commit",
        per_group(groups.events, groups),
        per_group(groups.write_micros, groups),
        100.0 * per_group(groups.planned_ahead, groups),
    );
}

fn print_row(name: &str, f: &Figures) {
    println!(
        "{name:<34} {:>10.0} {:>9.2} {:>9.2} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
        f.events_per_sec,
        f.p50_ms,
        f.p99_ms,
        f.cpu_us_per_event,
        f.service_us_per_event,
        f.client_us_per_event,
        f.waited_us_per_event
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    if args.writeback {
        return writeback::run(&args.database_url, args.rounds).await;
    }
    let (settings, rules) = bench::shipped_config(&args.database_url)?;
    let pool = bench::scratch_database(&settings).await?;
    sqlx::query("create table bench_raw_events (like lead_events including all)")
        .execute(&pool)
        .await?;
    // Posting as a real source key, so every request pays the key lookup it pays in service.
    let source = bench::mint_key(&pool, Role::Source, "loadgen").await?;
    let mut authorization =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", source.expose()))?;
    authorization.set_sensitive(true);
    let admin_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.database_url)
        .await?;

    // The services get their own runtime, as they would in their own process: the shipped
    // rules, and the segmented pair without and with nurture (only one is busy at a time);
    // for the HubSpot phases, a fourth with the connector on, reading contacts from a
    // stand-in of HubSpot's API that runs with the client.
    let hubspot_api = if args.hubspot {
        Some(HubSpotApi::start().await?)
    } else {
        None
    };
    let mut variants: Vec<(Settings, RuleSet)> = vec![
        (settings.clone(), rules.clone()),
        (settings.clone(), segmented(&rules, false)?),
        (settings.clone(), segmented(&rules, true)?),
    ];
    if let Some(api) = &hubspot_api {
        variants.push((hubspot::settings(&settings, api), rules.clone()));
    }
    let mut listeners = Vec::new();
    let mut urls = Vec::new();
    let mut bases = Vec::new();
    for _ in &variants {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        bases.push(format!("http://{}", listener.local_addr()?));
        urls.push(format!("http://{}/webhooks/events", listener.local_addr()?));
        listeners.push(listener);
    }
    let shutdown = CancellationToken::new();
    let server_shutdown = shutdown.clone();
    // The dispatcher runs with the services, as app::run spawns it, for the delivery phases.
    let dispatcher_settings = dispatcher::Settings::from_jobs(&settings.jobs);
    let dispatching = args.delivery.then(|| (pool.clone(), dispatcher_settings));
    // Each service's group commit, handed back to read its totals around a phase.
    let (writers_tx, writers_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVICE_THREAD)
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut services = Vec::new();
            let dispatcher = dispatching.map(|(pool, settings)| {
                tokio::spawn(dispatcher::run(
                    pool,
                    app::system_clock(),
                    settings,
                    server_shutdown.clone(),
                ))
            });
            for ((settings, rules), listener) in variants.into_iter().zip(listeners) {
                let state = AppState::new(pool.clone(), settings, rules, app::system_clock());
                writers_tx.send(state.group_commit.clone())?;
                let listener = tokio::net::TcpListener::from_std(listener)?;
                services.push(tokio::spawn(app::serve(
                    listener,
                    state,
                    server_shutdown.clone(),
                )));
            }
            for service in services {
                service.await??;
            }
            if let Some(dispatcher) = dispatcher {
                dispatcher.await?;
            }
            anyhow::Ok(())
        })
    });
    let writers: Vec<GroupCommit> = (0..urls.len())
        .map(|_| writers_rx.recv())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("the services did not start"))?;
    let url = urls[0].clone();
    let nurture_urls = [("off", urls[1].clone()), ("on", urls[2].clone())];
    let client = reqwest::Client::builder()
        .default_headers(
            [(reqwest::header::AUTHORIZATION, authorization)]
                .into_iter()
                .collect(),
        )
        .pool_max_idle_per_host(128)
        .build()?;
    // HubSpot signs its requests and sends no key.
    let hubspot_client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    let hubspot_bench = hubspot_api.map(|api| hubspot::Bench {
        events_url: urls[3].clone(),
        hubspot_url: format!("{}/webhooks/hubspot", bases[3]),
        api,
    });

    if args.ingest {
        warm_up(&client, &url, "", &admin_pool).await?;
    }
    if args.nurture {
        for (mode, url) in &nurture_urls {
            warm_up(&client, url, &format!("nurture-{mode}-"), &admin_pool).await?;
        }
    }
    if let Some(bench) = &hubspot_bench {
        hubspot::prepare(bench, &client, &admin_pool).await?;
    }
    let delivery_bench = if args.delivery {
        Some(delivery::prepare(&bases[0], &url, &admin_pool).await?)
    } else {
        None
    };
    println!(
        "leadrouter ingest benchmark: {} rounds of {} s per phase, {} cores",
        args.rounds,
        args.seconds,
        std::thread::available_parallelism()?
    );
    let mut table: Vec<(String, Vec<f64>)> = Vec::new();
    let mut record = |name: &str, value: f64| match table.iter_mut().find(|(n, _)| n == name) {
        Some((_, values)) => values.push(value),
        None => table.push((name.to_owned(), vec![value])),
    };
    for round in 1..=args.rounds {
        println!(
            "\nround {round}\n{:<34} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "phase", "events/s", "p50 ms", "p99 ms", "cpu µs/ev", "service", "client", "waited"
        );
        if args.ingest {
            let mut peak_single: f64 = 0.0;
            for concurrency in [16, 64] {
                let raw_phase = async {
                    // A connection of its own per worker, open before the clock starts, as
                    // pgbench has: no pool in between, so no liveness ping on taking or returning
                    // one, and nothing but the INSERT and its commit on the wire. They are
                    // closed after the phase, so they never count against PostgreSQL's limit
                    // while the services' pools are busy.
                    let mut connections = Vec::new();
                    for _ in 0..concurrency {
                        let conn = PgConnection::connect(&args.database_url).await?;
                        connections.push(tokio::sync::Mutex::new(conn));
                    }
                    let connections = Arc::new(connections);
                    let held = connections.clone();
                    let raw = closed_loop(concurrency, args.seconds, move |worker| {
                        let held = held.clone();
                        async move { raw_insert(&mut *held[worker].lock().await).await }
                    })
                    .await?;
                    for conn in Arc::try_unwrap(connections)
                        .map_err(|_| anyhow::anyhow!("a baseline worker outlived its phase"))?
                    {
                        conn.into_inner().close().await?;
                    }
                    print_row(&format!("raw INSERT baseline c={concurrency}"), &raw);
                    anyhow::Ok(raw)
                };
                let (c, u) = (client.clone(), url.clone());
                let single_phase = async {
                    let before = writers[0].totals();
                    let single = closed_loop(concurrency, args.seconds, move |_| {
                        let (c, u) = (c.clone(), u.clone());
                        async move { post(&c, &u, &event(next_id())).await.map(|()| 1) }
                    })
                    .await?;
                    print_row(&format!("single-event ingest c={concurrency}"), &single);
                    anyhow::Ok((single, writers[0].totals() - before))
                };
                // The baseline first in odd rounds, the service first in even ones, as for
                // nurture below: a machine that speeds up or slows down over a round then weighs
                // on both sides of the ratio alike over the run.
                let (raw, (single, groups)) = if round % 2 == 1 {
                    let raw = raw_phase.await?;
                    (raw, single_phase.await?)
                } else {
                    let single = single_phase.await?;
                    (raw_phase.await?, single)
                };
                print_groups(&groups);
                let ratio = single.events_per_sec / raw.events_per_sec;
                println!(
                    "{:<34} {ratio:>10.2}",
                    format!("  ratio ingest/raw c={concurrency}")
                );
                record(&format!("raw c={concurrency} events/s"), raw.events_per_sec);
                record(
                    &format!("single c={concurrency} events/s"),
                    single.events_per_sec,
                );
                record(&format!("single c={concurrency} p50 ms"), single.p50_ms);
                record(&format!("single c={concurrency} p99 ms"), single.p99_ms);
                record(
                    &format!("raw c={concurrency} cpu µs/event"),
                    raw.cpu_us_per_event,
                );
                record(
                    &format!("single c={concurrency} cpu µs/event"),
                    single.cpu_us_per_event,
                );
                record(
                    &format!("single c={concurrency} service µs/event"),
                    single.service_us_per_event,
                );
                record(
                    &format!("raw c={concurrency} waited µs/event"),
                    raw.waited_us_per_event,
                );
                record(
                    &format!("single c={concurrency} waited µs/event"),
                    single.waited_us_per_event,
                );
                record(&format!("ratio single/raw c={concurrency}"), ratio);
                record(
                    &format!("single c={concurrency} events/group"),
                    per_group(groups.events, &groups),
                );
                record(
                    &format!("single c={concurrency} µs/group write"),
                    per_group(groups.write_micros, &groups),
                );
                peak_single = peak_single.max(single.events_per_sec);

                // The same load where every event is a lead's first: a webinar list or a form
                // campaign. Analysts all (lead numbers not divisible by 3): MQLs waiting for a
                // rep would keep the SLA clock busy through every later phase.
                let (c, u) = (client.clone(), url.clone());
                let before = writers[0].totals();
                let fresh = closed_loop(concurrency, args.seconds, move |_| {
                    let (c, u) = (c.clone(), u.clone());
                    async move {
                        let n = next_id();
                        post(&c, &u, &event_for("new-", 3 * n + 1, n, n))
                            .await
                            .map(|()| 1)
                    }
                })
                .await?;
                print_row(&format!("new-lead ingest c={concurrency}"), &fresh);
                print_groups(&(writers[0].totals() - before));
                let ratio = fresh.events_per_sec / single.events_per_sec;
                println!(
                    "{:<34} {ratio:>10.2}",
                    format!("  ratio new/known c={concurrency}")
                );
                record(
                    &format!("new-lead c={concurrency} events/s"),
                    fresh.events_per_sec,
                );
                record(&format!("new-lead c={concurrency} p99 ms"), fresh.p99_ms);
                record(&format!("ratio new/known c={concurrency}"), ratio);
            }

            let (c, u) = (client.clone(), url.clone());
            let floor = closed_loop(16, args.seconds, move |_| {
                let (c, u) = (c.clone(), u.clone());
                async move { post_refused(&c, &u, next_id()).await }
            })
            .await?;
            print_row("HTTP floor c=16 (refused events)", &floor);
            record("HTTP floor c=16 events/s", floor.events_per_sec);
            record("HTTP floor c=16 cpu µs/event", floor.cpu_us_per_event);

            let (c, u) = (client.clone(), url.clone());
            let batches = closed_loop(BATCH_CONCURRENCY, args.seconds, move |_| {
                let (c, u) = (c.clone(), u.clone());
                async move {
                    let batch: Vec<Value> = (0..BATCH).map(|_| event(next_id())).collect();
                    post(&c, &u, &Value::Array(batch))
                        .await
                        .map(|()| BATCH as u64)
                }
            })
            .await?;
            print_row(
                &format!("batch of {BATCH} c={BATCH_CONCURRENCY} (latency per batch)"),
                &batches,
            );
            record("batch events/s", batches.events_per_sec);

            let half =
                open_loop(client.clone(), url.clone(), peak_single / 2.0, args.seconds).await?;
            print_row(
                &format!("open loop at {:.0}/s (half peak)", peak_single / 2.0),
                &half,
            );
            record("half-peak p50 ms", half.p50_ms);
            record("half-peak p99 ms", half.p99_ms);
        }

        if args.nurture {
            // Nurture's cost: the same load on segmented leads, nurture off and on, in turns
            // (off first in odd rounds, on first in even ones), so that what the machine does
            // in the background (a checkpoint, autovacuum) weighs on both alike over the run.
            // At 16 and at 64: what nurture adds to a group's statement is mostly per
            // statement, so it weighs most where groups are small.
            for concurrency in [16, 64] {
                let mut rates = [0.0; 2];
                let mut order = [0, 1];
                if round % 2 == 0 {
                    order.reverse();
                }
                for i in order {
                    let (mode, url) = &nurture_urls[i];
                    let population = format!("nurture-{mode}-");
                    let (c, u) = (client.clone(), url.clone());
                    let before = writers[i + 1].totals();
                    let written = nurture_writes(&admin_pool).await?;
                    let figures = closed_loop(concurrency, args.seconds, move |_| {
                        let (c, u, p) = (c.clone(), u.clone(), population.clone());
                        async move { post(&c, &u, &event_of(&p, next_id())).await.map(|()| 1) }
                    })
                    .await?;
                    let groups = writers[i + 1].totals() - before;
                    // Log rows and outbox messages per event: how much nurture had to do. A
                    // population's first rounds advance most leads; later ones find many at
                    // the end of their workflow, so their ratio weighs less nurture.
                    let per_event = (nurture_writes(&admin_pool).await? - written) as f64
                        / groups.events.max(1) as f64;
                    print_row(
                        &format!("segmented c={concurrency}, nurture {mode}"),
                        &figures,
                    );
                    print_groups(&groups);
                    println!("{:<34} {per_event:>10.2}", "  log + outbox rows per event");
                    let name = format!("nurture {mode} c={concurrency}");
                    if *mode == "on" {
                        record(&format!("{name} writes/event"), per_event);
                    }
                    record(&format!("{name} events/s"), figures.events_per_sec);
                    record(&format!("{name} p99 ms"), figures.p99_ms);
                    record(&format!("{name} cpu µs/event"), figures.cpu_us_per_event);
                    record(
                        &format!("{name} service µs/event"),
                        figures.service_us_per_event,
                    );
                    record(
                        &format!("{name} µs/group write"),
                        per_group(groups.write_micros, &groups),
                    );
                    rates[i] = figures.events_per_sec;
                }
                let ratio = rates[1] / rates[0];
                let name = format!("ratio nurture on/off c={concurrency}");
                println!("{:<34} {ratio:>10.2}", format!("  {name}"));
                record(&name, ratio);
            }
        }

        if let Some(bench) = &hubspot_bench {
            hubspot::round(
                bench,
                round,
                &client,
                &hubspot_client,
                args.seconds,
                &mut record,
            )
            .await?;
        }

        if let Some(bench) = &delivery_bench {
            delivery::round(bench, round, &client, args.seconds, &mut record).await?;
        }
    }

    // The lowest and highest round beside each median: a target met by the median but not by
    // most rounds is on the line, not met.
    println!(
        "\nmedians over {} rounds\n{:<34} {:>10} {:>10} {:>10}",
        args.rounds, "", "median", "lowest", "highest"
    );
    for (name, values) in &table {
        let (lowest, highest) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        println!(
            "{name:<34} {:>10.2} {lowest:>10.2} {highest:>10.2}",
            bench::median(values.clone())
        );
    }
    if args.delivery {
        delivery::summary(&table, dispatcher_settings);
    }
    shutdown.cancel();
    server.join().expect("server thread")?;
    Ok(())
}
