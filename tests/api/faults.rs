//! Database faults and crashes under load: a lost or refused database is a 503 with
//! `Retry-After`, never a 500, the service recovers without a restart, and no event that was
//! acknowledged is ever lost, even when the process is killed with SIGKILL.
//!
//! Run them alone with `cargo test --test api faults -- --nocapture` to see the figures.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use leadrouter::{
    app::{self, AppState},
    config,
    domain::Secret,
    engine::RuleSet,
};
use serde_json::{Value, json};
use sqlx::{
    Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    helpers::{ADMIN_KEY, TestApp, event},
    startup::{Service, start},
};

const KINDS: [&str; 4] = [
    "pricing_page_visit",
    "demo_request",
    "content_download",
    "comparison_page_visit",
];

/// What a client saw: status codes by request kind, 503s without `Retry-After`, the slowest
/// answer, and the events acknowledged (answered 2xx).
#[derive(Debug, Default)]
struct Tally {
    posts: BTreeMap<u16, usize>,
    reads: BTreeMap<u16, usize>,
    unavailable_without_retry_after: usize,
    /// Requests that got no HTTP answer at all (only when the process dies).
    unanswered: usize,
    slowest: Duration,
    acked: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (status, n) in other.posts {
            *self.posts.entry(status).or_default() += n;
        }
        for (status, n) in other.reads {
            *self.reads.entry(status).or_default() += n;
        }
        self.unavailable_without_retry_after += other.unavailable_without_retry_after;
        self.unanswered += other.unanswered;
        self.slowest = self.slowest.max(other.slowest);
        self.acked.extend(other.acked);
    }

    fn note(&mut self, read: bool, answer: &Answer) {
        let statuses = if read {
            &mut self.reads
        } else {
            &mut self.posts
        };
        *statuses.entry(answer.status).or_default() += 1;
        if answer.status == 503 && !answer.retry_after {
            self.unavailable_without_retry_after += 1;
        }
        self.slowest = self.slowest.max(answer.took);
    }

    /// Every status seen, posts and reads together.
    fn statuses(&self) -> BTreeMap<u16, usize> {
        let mut all = self.posts.clone();
        for (status, n) in &self.reads {
            *all.entry(*status).or_default() += n;
        }
        all
    }

    fn assert_no_5xx_but_503(&self) {
        let bad: Vec<u16> = self
            .statuses()
            .into_keys()
            .filter(|s| *s >= 500 && *s != 503)
            .collect();
        assert!(bad.is_empty(), "5xx other than 503: {bad:?} in {self:?}");
        assert_eq!(
            self.unavailable_without_retry_after, 0,
            "every 503 has Retry-After: {self:?}"
        );
    }
}

/// One HTTP answer.
struct Answer {
    status: u16,
    retry_after: bool,
    took: Duration,
}

/// Where the service listens and with which keys.
#[derive(Clone)]
struct Target {
    base: String,
    source_key: String,
    client: reqwest::Client,
}

impl Target {
    fn of(app: &TestApp) -> Self {
        Target {
            base: app.base.clone(),
            source_key: app.source_key.clone(),
            client: reqwest::Client::new(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Option<Answer> {
        let started = Instant::now();
        let response = request.send().await.ok()?;
        Some(Answer {
            status: response.status().as_u16(),
            retry_after: response.headers().contains_key("retry-after"),
            took: started.elapsed(),
        })
    }

    async fn post(&self, event: &Value) -> Option<Answer> {
        let request = self
            .client
            .post(format!("{}/webhooks/events", self.base))
            .bearer_auth(&self.source_key)
            .json(event);
        self.send(request).await
    }

    async fn read(&self, email: &str) -> Option<Answer> {
        let request = self
            .client
            .get(format!("{}/api/v1/leads?email={email}", self.base))
            .bearer_auth(ADMIN_KEY);
        self.send(request).await
    }
}

/// The `n`th event of a load: a few hundred leads, so that each gets several events, of
/// varied types, arriving out of `occurred_at` order.
fn nth_event(tag: &str, client: usize, n: usize) -> (String, String, Value) {
    let id = format!("{tag}-{client}-{n}");
    let seq = client * 7919 + n;
    let lead = seq % 300;
    let email = format!("lead{lead}@company{}.io", lead % 37);
    let offset = chrono::Duration::minutes(-((seq * 37 % 1_440) as i64));
    let event = event(&id, &email, KINDS[seq % KINDS.len()], offset);
    (id, email, event)
}

/// Posts single events (and reads a lead every third one) until `stop`; requests that get no
/// answer are counted, not retried.
async fn client_load(
    target: Target,
    tag: &'static str,
    client: usize,
    stop: Arc<AtomicBool>,
    stamp: fn(Value) -> Value,
) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let (id, email, event) = nth_event(tag, client, n);
        n += 1;
        match target.post(&stamp(event)).await {
            Some(answer) => {
                if (200..300).contains(&answer.status) {
                    tally.acked.push(id);
                }
                tally.note(false, &answer);
            }
            None => tally.unanswered += 1,
        }
        if n % 3 == 0 {
            match target.read(&email).await {
                Some(answer) => tally.note(true, &answer),
                None => tally.unanswered += 1,
            }
        }
    }
    tally
}

/// Runs `clients` concurrent [`client_load`]s until `stop`, and adds up what they saw.
async fn run_load(
    target: &Target,
    tag: &'static str,
    clients: usize,
    stop: &Arc<AtomicBool>,
    stamp: fn(Value) -> Value,
) -> tokio::task::JoinHandle<Tally> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(client_load(target.clone(), tag, c, stop.clone(), stamp)))
        .collect();
    tokio::spawn(async move {
        let mut total = Tally::default();
        for task in tasks {
            total.merge(task.await.unwrap());
        }
        total
    })
}

/// Events as the in-process app's clock (fixed at `t0`) wants them.
fn as_is(event: Value) -> Value {
    event
}

/// Posts fresh events until one is acknowledged: the service came back by itself.
async fn wait_for_recovery(target: &Target, tag: &str) -> Duration {
    let started = Instant::now();
    for n in 0.. {
        let (_, _, event) = nth_event(tag, 0, n);
        let answer = target.post(&event).await.expect("the service answers");
        if answer.status == 200 {
            break;
        }
        assert!(
            answer.status == 503 && answer.retry_after,
            "while recovering: {}",
            answer.status
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no recovery within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// How many times each of `ids` is stored (by `(source, event_id)`).
async fn stored_counts(pool: &PgPool, ids: &[String]) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "select event_id, count(*) from lead_events \
         where source = 'hubspot' and event_id = any($1) group by event_id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// Asserts each of `acked` is stored exactly once; returns how many are missing.
async fn assert_stored_once(pool: &PgPool, acked: &[String]) -> usize {
    let counts = stored_counts(pool, acked).await;
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let lost: Vec<_> = acked
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    lost.len()
}

/// Terminates every other backend of the test's database every 20 ms until `stop`, from a
/// connection of its own; returns how many it terminated.
async fn terminate_backends(options: PgConnectOptions, stop: Arc<AtomicBool>) -> i64 {
    let mut killer = PgConnection::connect_with(&options).await.unwrap();
    let mut terminated = 0;
    while !stop.load(Ordering::Relaxed) {
        let killed: Vec<bool> = sqlx::query_scalar(
            "select pg_terminate_backend(pid) from pg_stat_activity \
             where datname = current_database() and pid <> pg_backend_pid()",
        )
        .fetch_all(&mut killer)
        .await
        .unwrap();
        terminated += killed.into_iter().filter(|k| *k).count() as i64;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    terminated
}

/// Backends of the test's database terminated again and again under load: reads and posts
/// answer 200 or 503 with `Retry-After`, never 500, and the service recovers on its own.
#[sqlx::test]
async fn a_terminated_connection_under_load_is_a_503_with_retry_after_never_a_500(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let target = Target::of(&app);
    let stop = Arc::new(AtomicBool::new(false));
    let killing = Arc::new(AtomicBool::new(false));
    let load = run_load(&target, "t", 8, &stop, as_is).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killer = tokio::spawn(terminate_backends(
        (*pool.connect_options()).clone(),
        killing.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    killing.store(true, Ordering::Relaxed);
    let terminated = killer.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut tally = load.await.unwrap();
    assert!(terminated > 0, "the killer terminated nothing");

    let recovered_in = wait_for_recovery(&target, "t-recovery").await;
    let after = Arc::new(AtomicBool::new(false));
    let calm = run_load(&target, "t-after", 4, &after, as_is).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    after.store(true, Ordering::Relaxed);
    let calm = calm.await.unwrap();
    assert_eq!(
        calm.statuses().keys().copied().collect::<Vec<_>>(),
        [200],
        "after the faults every request succeeds: {calm:?}"
    );

    eprintln!(
        "terminated {terminated} backends; statuses: posts {:?}, reads {:?}; \
         slowest {:?}; recovered in {recovered_in:?}; acked {}",
        tally.posts,
        tally.reads,
        tally.slowest,
        tally.acked.len()
    );
    tally.assert_no_5xx_but_503();
    assert_eq!(tally.unanswered, 0);
    tally.merge(calm);
    assert_stored_once(&app.pool, &tally.acked).await;
}

/// How long a request may wait for a pooled connection in [`ACQUIRE`]'s test.
const ACQUIRE: Duration = Duration::from_secs(1);

/// The test's database refusing connections (`ALLOW_CONNECTIONS false`, its backends
/// terminated) until [`Outage::end`]; dropped without it, say by a failing assertion, it
/// lets connections in again so that the database can be dropped.
struct Outage {
    admin: PgConnectOptions,
    db: String,
    over: bool,
}

impl Outage {
    async fn begin(pool: &PgPool) -> Self {
        let db: String = sqlx::query_scalar("select current_database()")
            .fetch_one(pool)
            .await
            .unwrap();
        let admin = (*pool.connect_options()).clone().database("postgres");
        let outage = Outage {
            admin,
            db,
            over: false,
        };
        let mut conn = PgConnection::connect_with(&outage.admin).await.unwrap();
        let refuse = format!("alter database \"{}\" allow_connections false", outage.db);
        sqlx::query(&refuse).execute(&mut conn).await.unwrap();
        sqlx::query("select pg_terminate_backend(pid) from pg_stat_activity where datname = $1")
            .bind(&outage.db)
            .execute(&mut conn)
            .await
            .unwrap();
        outage
    }

    async fn allow(admin: PgConnectOptions, db: String) {
        let mut conn = PgConnection::connect_with(&admin).await.unwrap();
        let allow = format!("alter database \"{db}\" allow_connections true");
        sqlx::query(&allow).execute(&mut conn).await.unwrap();
    }

    async fn end(mut self) {
        self.over = true;
        Self::allow(self.admin.clone(), self.db.clone()).await;
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if self.over {
            return;
        }
        // Dropped while unwinding inside the test's runtime: undo it on a runtime of its own.
        let undo = Self::allow(self.admin.clone(), self.db.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(undo);
        })
        .join();
    }
}

/// The test's database refusing connections: posts, reads and `/readyz` answer 503 with
/// `Retry-After` within the acquire timeout (plus a margin), never 500; once it takes
/// connections again the same service succeeds, and nothing acknowledged was lost.
#[sqlx::test]
async fn a_database_refusing_connections_answers_503_quickly_and_recovers(pool: PgPool) {
    let short = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(ACQUIRE)
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let app = TestApp::spawn(short).await;
    let target = Target::of(&app);
    let mut acked = Vec::new();
    for n in 0..20 {
        let (id, _, event) = nth_event("r-before", 0, n);
        assert_eq!(target.post(&event).await.unwrap().status, 200);
        acked.push(id);
    }

    let outage = Outage::begin(&pool).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = run_load(&target, "r", 8, &stop, as_is).await;
    let ready = {
        let request = target.client.get(format!("{}/readyz", target.base));
        target.send(request).await.unwrap()
    };
    // Past `auth.key_cache_secs`, so that the source key is looked up during the outage too.
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::Relaxed);
    let mut tally = load.await.unwrap();
    outage.end().await;

    let recovered_in = wait_for_recovery(&target, "r-recovery").await;
    let after = Arc::new(AtomicBool::new(false));
    let calm = run_load(&target, "r-after", 4, &after, as_is).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    after.store(true, Ordering::Relaxed);
    let calm = calm.await.unwrap();

    eprintln!(
        "refusing connections: posts {:?}, reads {:?}, /readyz {} in {:?}; slowest {:?}; \
         recovered in {recovered_in:?}; after: {:?}",
        tally.posts,
        tally.reads,
        ready.status,
        ready.took,
        tally.slowest,
        calm.statuses()
    );
    assert!(
        ready.status == 503 && ready.retry_after,
        "/readyz: {}",
        ready.status
    );
    tally.assert_no_5xx_but_503();
    assert!(
        tally.posts.get(&503).copied().unwrap_or(0) > 0,
        "the outage was seen"
    );
    assert!(
        tally.slowest < ACQUIRE + Duration::from_secs(2),
        "slowest answer {:?}",
        tally.slowest
    );
    assert_eq!(
        calm.statuses().keys().copied().collect::<Vec<_>>(),
        [200],
        "after the outage every request succeeds: {calm:?}"
    );
    acked.append(&mut tally.acked);
    tally.merge(calm);
    acked.append(&mut tally.acked);
    assert_stored_once(&app.pool, &acked).await;
}

/// Events stamped near the real clock, as the real binary reads it.
fn now_stamped(mut event: Value) -> Value {
    let offset = chrono::DateTime::parse_from_rfc3339(event["occurred_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
        - crate::helpers::t0();
    event["occurred_at"] = json!((Utc::now() + offset).to_rfc3339());
    event
}

/// The real binary killed with SIGKILL under load, three times, and restarted on the same
/// database: every acknowledged event is stored exactly once, and every lead's stored scores
/// are what refolding its stored events gives (a dry-run rescore finds nothing to change).
#[sqlx::test]
async fn kill_9_under_load_loses_no_acknowledged_event(pool: PgPool) {
    let env = [("LEADROUTER_ADMIN_KEY", ADMIN_KEY)];
    let (mut service, mut port) = start(&pool, &env).await;
    let client = reqwest::Client::new();
    let minted: Value = client
        .post(format!("http://127.0.0.1:{port}/api/v1/api-keys"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"role": "source", "label": "kill -9"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let source_key = minted["key"].as_str().unwrap().to_owned();

    const TAGS: [&str; 3] = ["k1", "k2", "k3"];
    for tag in TAGS {
        let target = Target {
            base: format!("http://127.0.0.1:{port}"),
            source_key: source_key.clone(),
            client: client.clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let load = run_load(&target, tag, 8, &stop, now_stamped).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        kill_9(&mut service);
        stop.store(true, Ordering::Relaxed);
        let tally = load.await.unwrap();

        let prefix = format!("{tag}-%");
        let stored: i64 = sqlx::query_scalar(
            "select count(*) from lead_events where source = 'hubspot' and event_id like $1",
        )
        .bind(&prefix)
        .fetch_one(&pool)
        .await
        .unwrap();
        let lost = assert_stored_once(&pool, &tally.acked).await;
        eprintln!(
            "kill {tag}: acked {}, stored {stored}, lost {lost}, unanswered {}, statuses {:?}",
            tally.acked.len(),
            tally.unanswered,
            tally.statuses()
        );
        tally.assert_no_5xx_but_503();
        assert!(
            !tally.acked.is_empty(),
            "the load got through before the kill"
        );
        (service, port) = start(&pool, &env).await;
    }

    let leads: i64 = sqlx::query_scalar("select count(*) from leads")
        .fetch_one(&pool)
        .await
        .unwrap();
    let report: Value = client
        .post(format!("http://127.0.0.1:{port}/api/v1/admin/rescore"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    eprintln!(
        "refold: {} leads scanned, {} would change",
        report["scanned"], report["rescored"]
    );
    assert_eq!(report["scanned"], leads, "{report:#}");
    assert_eq!(
        report["rescored"], 0,
        "stored scores equal a refold: {report:#}"
    );
}

fn kill_9(service: &mut Service) {
    // `Child::kill` is SIGKILL on unix.
    service.0.kill().unwrap();
    service.0.wait().unwrap();
}

/// The service in-process on a database that refuses TCP connections outright (nothing
/// listens on the port), with an acquire timeout of [`ACQUIRE`]: the driver retries the
/// connection until then. Only the bootstrap admin key is used, which needs no database.
async fn spawn_without_database() -> (String, CancellationToken) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = config::load_settings(&dir).unwrap();
    settings.auth.admin_key = Some(Secret::new(ADMIN_KEY.to_owned()));
    let rules = RuleSet::new(config::load_rules(&dir).unwrap()).unwrap();
    let nowhere: PgConnectOptions = "postgres://postgres@127.0.0.1:1/leadrouter"
        .parse()
        .unwrap();
    let pool = PgPoolOptions::new()
        .acquire_timeout(ACQUIRE)
        .connect_lazy_with(nowhere);
    let state = AppState::new(pool, settings, rules, app::system_clock());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(app::serve(listener, state, shutdown.clone()));
    (base, shutdown)
}

/// With the database refusing TCP connections, concurrent posts are answered 503 with
/// `Retry-After` within about the acquire timeout each, not one acquire timeout per event
/// queued before them, and `/readyz` answers 503 too.
#[tokio::test]
async fn posts_to_a_database_refusing_tcp_answer_503_within_the_acquire_timeout() {
    let (base, shutdown) = spawn_without_database().await;
    let target = Target {
        base,
        source_key: ADMIN_KEY.to_owned(),
        client: reqwest::Client::new(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let load = run_load(&target, "down", 8, &stop, now_stamped).await;
    let ready = target
        .send(target.client.get(format!("{}/readyz", target.base)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let tally = load.await.unwrap();
    shutdown.cancel();

    eprintln!(
        "refusing TCP: posts {:?}, /readyz {} in {:?}; slowest {:?}",
        tally.posts, ready.status, ready.took, tally.slowest
    );
    assert!(
        ready.status == 503 && ready.retry_after,
        "/readyz: {}",
        ready.status
    );
    tally.assert_no_5xx_but_503();
    assert_eq!(tally.posts.keys().copied().collect::<Vec<_>>(), [503]);
    assert!(
        tally.slowest < ACQUIRE + Duration::from_secs(1),
        "slowest answer {:?}",
        tally.slowest
    );
}
