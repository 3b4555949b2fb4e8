//! Database faults and crashes under load: a lost or refused database is a 503 with
//! `Retry-After`, never a 500, the service recovers without a restart, and no event that was
//! acknowledged is ever lost, even when the process is killed with SIGKILL.
//!
//! Run them alone with `cargo test --test api faults -- --nocapture` to see the figures.

mod load;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use sqlx::{
    Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use self::load::{
    Target, as_is, assert_stored_once, now_stamped, nth_event, run_load, wait_for_recovery,
};
use crate::test_db::TestDb;
use crate::{
    helpers::{ADMIN_KEY, TestApp, spawn_without_database},
    startup::{Service, start},
};

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
#[tokio::test]
async fn a_terminated_connection_under_load_is_a_503_with_retry_after_never_a_500() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool.clone()).await;
    let target = Target::of(&app);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_killing = Arc::new(AtomicBool::new(false));
    let load = run_load(&target, "t", 8, &stop, as_is);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killer = tokio::spawn(terminate_backends(
        (*pool.connect_options()).clone(),
        stop_killing.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop_killing.store(true, Ordering::Relaxed);
    let terminated = killer.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut tally = load.await.unwrap();
    assert!(terminated > 0, "the killer terminated nothing");

    let recovered_in = wait_for_recovery(&target, "t-recovery").await;
    let after = Arc::new(AtomicBool::new(false));
    let calm = run_load(&target, "t-after", 4, &after, as_is);
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
    assert!(tally.statuses().contains_key(&503), "the faults were seen");
    assert_eq!(tally.unanswered, 0);
    tally.merge(calm);
    assert_stored_once(&app.pool, &tally.acked).await;
}

/// The acquire timeout of the pools in the tests that time their answers.
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
#[tokio::test]
async fn a_database_refusing_connections_answers_503_quickly_and_recovers() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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
    let load = run_load(&target, "r", 8, &stop, as_is);
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
    let ready_after = {
        let request = target.client.get(format!("{}/readyz", target.base));
        target.send(request).await.unwrap().status
    };
    assert_eq!(ready_after, 200, "/readyz once the database is back");
    let calm = run_load(&target, "r-after", 4, &after, as_is);
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

/// The real binary killed with SIGKILL under load, three times, and restarted on the same
/// database: every acknowledged event is stored exactly once, and every lead's stored scores
/// are what refolding its stored events gives (a dry-run rescore finds nothing to change).
#[tokio::test]
async fn kill_9_under_load_loses_no_acknowledged_event() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let env = [("LEADROUTER_ADMIN_KEY", ADMIN_KEY)];
    let (mut service, mut port) = start(&pool, &env).await;
    let client = reqwest::Client::new();
    let minted = post_as_admin(
        &client,
        port,
        "/api/v1/api-keys",
        json!({"role": "source", "label": "kill -9"}),
    )
    .await;
    let source_key = minted["key"].as_str().unwrap().to_owned();

    const TAGS: [&str; 3] = ["k1", "k2", "k3"];
    for tag in TAGS {
        let target = Target {
            base: format!("http://127.0.0.1:{port}"),
            source_key: source_key.clone(),
            client: client.clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let load = run_load(&target, tag, 8, &stop, now_stamped);
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
    let report = post_as_admin(&client, port, "/api/v1/admin/rescore", json!({})).await;
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

/// POSTs `body` to the binary on `port` with the bootstrap admin key; the JSON answer.
async fn post_as_admin(client: &reqwest::Client, port: u16, path: &str, body: Value) -> Value {
    client
        .post(format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) fn kill_9(service: &mut Service) {
    // `Child::kill` is SIGKILL on unix.
    service.0.kill().unwrap();
    service.0.wait().unwrap();
}

/// With the database refusing TCP connections, concurrent posts are answered 503 with
/// `Retry-After` within about the acquire timeout each, not one acquire timeout per event
/// queued before them, and `/readyz` answers 503 too.
#[tokio::test]
async fn posts_to_a_database_refusing_tcp_answer_503_within_the_acquire_timeout() {
    let (base, shutdown) = spawn_without_database(ACQUIRE, |_| {}).await;
    let target = Target {
        base,
        source_key: ADMIN_KEY.to_owned(),
        client: reqwest::Client::new(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let load = run_load(&target, "down", 8, &stop, now_stamped);
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
