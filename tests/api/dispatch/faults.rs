//! Delivery under faults: a receiver away for an hour of simulated time, and the real binary
//! killed with SIGKILL while it delivers. Every message reaches the receiver under its one
//! id; nothing is lost or dead-lettered early.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration as StdDuration, Instant},
};

use chrono::Duration;
use leadrouter::jobs::dispatcher::{self, Settings};
use serde_json::json;
use sqlx::PgPool;

use super::{endpoint, receiver::Receiver, receiver::Reply, settings, tasks};
use crate::{
    faults::kill_9,
    helpers::{TestApp, vp_event},
    startup::start,
    test_db::TestDb,
};

/// (status, count) of every delivery.
async fn statuses(pool: &PgPool) -> HashMap<String, i64> {
    sqlx::query_as("select status, count(*) from deliveries group by status")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// How many distinct `webhook-id`s the receiver got, and how many requests in all.
fn received_ids(receiver: &Receiver) -> (usize, usize) {
    let requests = receiver.requests();
    let ids: HashSet<String> = requests
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    (ids.len(), requests.len())
}

/// The receiver answers 503 for the first hour of the service's clock, then 200. Ticking the
/// dispatcher every simulated half minute for 200 minutes: each message is tried on the schedule
/// (now, 5 s, 5 min, 30 min, then 2 h later it is back), delivered once the receiver is back,
/// under the id it had from the start; none is dead; ingest answers throughout.
#[tokio::test]
async fn a_receiver_away_for_an_hour_gets_every_message_once_it_is_back() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let receiver = Receiver::start().await;
    endpoint(&app.pool, &receiver.url, &["rep.task"]).await;
    receiver.answer_with(Reply::Status(503));
    const MESSAGES: usize = 50;
    tasks(&app.pool, MESSAGES, app.now()).await;
    let back_at = app.now() + Duration::hours(1);
    let all_at_once = Settings {
        per_endpoint: 100,
        ..settings()
    };
    let client = dispatcher::client(all_at_once.attempt_timeout);

    // The last retry of the hour falls due by 3 h 6 min (2 h + 20 % after the 4th).
    for minute in 0..=200 {
        if app.now() >= back_at {
            receiver.answer_with(Reply::Ok);
        } else if minute % 10 == 0 {
            // Ingest goes on while the receiver is away.
            let event = vp_event(
                &format!("away-{minute}"),
                &format!("away{minute}@acme.io"),
                "pricing_page_visit",
                Duration::minutes(minute),
            );
            let (status, body) = app.post_events(&json!([event])).await;
            assert!(status.is_success(), "{status}: {body:#}");
        }
        // Twice a minute, so the 5 s retry is not a minute late.
        for _ in 0..2 {
            dispatcher::tick(&app.pool, &client, app.now(), all_at_once)
                .await
                .unwrap();
            app.advance(Duration::seconds(30));
        }
    }

    assert_eq!(
        statuses(&app.pool).await,
        HashMap::from([("delivered".to_owned(), MESSAGES as i64)])
    );
    let requests = receiver.requests();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for r in &requests {
        *by_id.entry(r.header("webhook-id").to_owned()).or_default() += 1;
    }
    assert_eq!(
        by_id.len(),
        MESSAGES,
        "one id per message across its retries"
    );
    // Four failed attempts in the hour (0, 5 s, ~5 min, ~35 min), the fifth delivers.
    assert!(by_id.values().all(|&n| n == 5), "{by_id:?}");
    let undelivered: i64 =
        sqlx::query_scalar("select count(*) from outbox where delivered_at is null")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(undelivered, 0);
}

/// The real binary, delivering a backlog to a local receiver, killed with SIGKILL and
/// restarted on the same database: every message arrives (at least once, always under its one
/// `webhook-id`) and every delivery ends delivered; attempts the kill cut short go out again
/// when their lease ends.
#[tokio::test]
async fn kill_9_mid_delivery_loses_no_message() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let receiver = Receiver::start().await;
    endpoint(&pool, &receiver.url, &["rep.task"]).await;
    // A short attempt timeout, so the lease of what the kill cut short ends in 32 s.
    let env = [("LEADROUTER_JOBS__DISPATCHER_ATTEMPT_TIMEOUT_SECS", "2")];
    let (mut service, _) = start(&pool, &env).await;
    const MESSAGES: usize = 5_000;
    tasks(&pool, MESSAGES, chrono::Utc::now()).await;

    let started = Instant::now();
    while received_ids(&receiver).1 < 500 {
        assert!(
            started.elapsed() < StdDuration::from_secs(30),
            "the binary is not delivering"
        );
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }
    kill_9(&mut service);
    let (at_kill, _) = received_ids(&receiver);
    let (_service, _) = start(&pool, &env).await;

    let started = Instant::now();
    loop {
        let done = statuses(&pool).await;
        if done.get("delivered") == Some(&(MESSAGES as i64)) {
            break;
        }
        assert!(
            started.elapsed() < StdDuration::from_secs(90),
            "not all delivered after the restart: {done:?}"
        );
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    let (ids, requests) = received_ids(&receiver);
    eprintln!(
        "kill -9 mid-delivery: {at_kill} of {MESSAGES} received before the kill, \
         {requests} requests for {ids} messages in all ({} sent twice)",
        requests - ids
    );
    assert!(at_kill < MESSAGES, "the kill came mid-delivery");
    assert_eq!(ids, MESSAGES, "every message arrived");
    let messages: HashSet<String> = receiver
        .requests()
        .iter()
        .map(|r| r.json()["data"]["step"].to_string() + r.header("webhook-id"))
        .collect();
    assert_eq!(messages.len(), MESSAGES, "each message under one id");
}
