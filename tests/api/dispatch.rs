//! The dispatcher over real HTTP: outbox messages to a local receiver, signed per Standard
//! Webhooks, retried on schedule with the injected clock, given up on 410 and at the end of
//! the schedule, one slow receiver never holding up another, and two dispatchers at once.

mod faults;
pub mod receiver;

use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration as StdDuration, Instant},
};

use chrono::{DateTime, Duration, Utc};
use leadrouter::{
    adapters::standard_webhooks::generate_secret,
    app::Clock,
    db::outbox::{self, Message},
    jobs::dispatcher::{self, DispatchReport, Settings},
};
use serde_json::json;
use sqlx::{PgPool, postgres::PgPoolOptions};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::receiver::{Receiver, Reply, verify};
use crate::{
    handoff::{mql, team},
    helpers::TestApp,
    test_db::TestDb,
};

/// An enabled endpoint for `topics` at `url`, inserted directly; returns (id, secret).
async fn endpoint(pool: &PgPool, url: &str, topics: &[&str]) -> (Uuid, String) {
    let (id, secret) = (Uuid::new_v4(), generate_secret());
    sqlx::query(
        "insert into webhook_endpoints (id, url, topics, secret, created_at, updated_at)
         values ($1, $2, $3, $4, now(), now())",
    )
    .bind(id)
    .bind(url)
    .bind(topics)
    .bind(&secret)
    .execute(pool)
    .await
    .unwrap();
    (id, secret)
}

/// Writes `n` `rep.task` messages to the outbox at `now`, as the business code does.
async fn tasks(pool: &PgPool, n: usize, now: DateTime<Utc>) {
    let messages: Vec<Message> = (0..n)
        .map(|i| Message {
            topic: "rep.task",
            recipient: "ray@us.example".to_owned(),
            payload: json!({"lead_id": Uuid::new_v4(), "step": i}),
            dedupe_key: format!("test-task:{}", Uuid::new_v4()),
        })
        .collect();
    let mut conn = pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &messages, now).await.unwrap();
}

fn settings() -> Settings {
    Settings {
        poll_interval: StdDuration::from_secs(60),
        batch: 100,
        attempt_timeout: StdDuration::from_secs(2),
        per_endpoint: 4,
        lead_url: "https://leadrouter.example.com/api/v1/leads/{id}",
    }
}

async fn tick(app: &TestApp, settings: Settings) -> DispatchReport {
    let client = dispatcher::client(settings.attempt_timeout);
    dispatcher::tick(&app.pool, &client, app.now(), settings)
        .await
        .expect("the dispatcher ticks")
}

/// (status, attempts, last_error, next_attempt_at) of the only delivery to `endpoint`.
async fn delivery(pool: &PgPool, endpoint: Uuid) -> (String, i32, Option<String>, DateTime<Utc>) {
    sqlx::query_as(
        "select status, attempts, last_error, next_attempt_at from deliveries
          where endpoint_id = $1",
    )
    .bind(endpoint)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// (status_code, latency_ms, error) of every attempt at deliveries to `endpoint`, in order.
async fn attempts(pool: &PgPool, endpoint: Uuid) -> Vec<(Option<i32>, i32, Option<String>)> {
    sqlx::query_as(
        "select a.status_code, a.latency_ms, a.error from delivery_attempts a
           join deliveries d on d.id = a.delivery_id
          where d.endpoint_id = $1 order by a.id",
    )
    .bind(endpoint)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// An MQL assigned through the API reaches the endpoint subscribed to `rep.assigned` in the
/// envelope, signed; an endpoint subscribed to other topics gets nothing.
#[tokio::test]
async fn an_assignment_reaches_its_endpoint_signed() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let receiver = Receiver::start().await;
    let (subscribed, secret) = endpoint(&app.pool, &receiver.url, &["rep.assigned"]).await;
    let (elsewhere, _) = endpoint(&app.pool, &receiver.url, &["nurture.touch"]).await;
    let (_, rep, _) = team(&app).await;
    let lead = mql(&app, "jane@acme.io").await;

    let report = tick(&app, settings()).await;
    assert_eq!(
        report,
        DispatchReport {
            delivered: 1,
            ..DispatchReport::default()
        }
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(verify(&secret, request), "the signature verifies");
    let (outbox_id, created_at): (i64, DateTime<Utc>) =
        sqlx::query_as("select id, created_at from outbox where topic = 'rep.assigned'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(request.header("webhook-id"), format!("msg_{outbox_id}"));
    assert_eq!(
        request.header("webhook-timestamp"),
        app.now().timestamp().to_string()
    );
    assert_eq!(request.header("content-type"), "application/json");
    let body = request.json();
    assert_eq!(body["type"], "rep.assigned");
    let stamped: DateTime<Utc> = body["timestamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(stamped, created_at);
    assert_eq!(body["data"]["lead_id"], lead.as_str());
    assert_eq!(body["data"]["rep_id"], rep.to_string());
    assert_eq!(body["data"]["packet"]["owner"]["rep_id"], rep.to_string());

    let (status, attempts_made, _, _) = delivery(&app.pool, subscribed).await;
    assert_eq!((status.as_str(), attempts_made), ("delivered", 1));
    let log = attempts(&app.pool, subscribed).await;
    assert!(
        matches!(log[..], [(Some(204), latency, None)] if latency >= 0),
        "{log:?}"
    );
    let none: i64 = sqlx::query_scalar("select count(*) from deliveries where endpoint_id = $1")
        .bind(elsewhere)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(none, 0);
    let (delivered_at, counted): (Option<DateTime<Utc>>, i32) =
        sqlx::query_as("select delivered_at, attempts from outbox where id = $1")
            .bind(outbox_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(delivered_at.is_some());
    assert_eq!(counted, 1);
    assert_eq!(tick(&app, settings()).await, DispatchReport::default());
}

/// A 500 is retried 5 s later (± 20 %), then 5 min later, with one message id throughout and
/// a fresh signature each time; the message counts as delivered once every endpoint has it.
#[tokio::test]
async fn a_failing_receiver_is_retried_on_schedule_under_one_message_id() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let (failing, healthy) = (Receiver::start().await, Receiver::start().await);
    let (endpoint_id, secret) = endpoint(&app.pool, &failing.url, &["rep.task"]).await;
    endpoint(&app.pool, &healthy.url, &["rep.task"]).await;
    failing.answer_with(Reply::Status(500));
    tasks(&app.pool, 1, app.now()).await;
    let start = app.now();

    let report = tick(&app, settings()).await;
    assert_eq!((report.delivered, report.retried), (1, 1));
    let (status, made, error, next) = delivery(&app.pool, endpoint_id).await;
    assert_eq!((status.as_str(), made), ("pending", 1));
    assert_eq!(error.as_deref(), Some("the receiver answered 500"));
    assert!(next >= start + Duration::seconds(4) && next <= start + Duration::seconds(7));
    let pending: bool = sqlx::query_scalar("select delivered_at is null from outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(pending, "not delivered while one endpoint lacks it");

    app.set_now(start + Duration::milliseconds(3_900));
    assert_eq!(tick(&app, settings()).await, DispatchReport::default());
    app.set_now(start + Duration::seconds(7));
    assert_eq!(tick(&app, settings()).await.retried, 1);
    let (_, made, _, next) = delivery(&app.pool, endpoint_id).await;
    assert_eq!(made, 2);
    let waited = next - app.now();
    assert!(waited >= Duration::seconds(240) && waited <= Duration::seconds(361));

    failing.answer_with(Reply::Ok);
    app.set_now(next);
    assert_eq!(tick(&app, settings()).await.delivered, 1);
    let requests = failing.requests();
    assert_eq!(requests.len(), 3);
    let ids: HashSet<&str> = requests.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "one message id across retries");
    assert!(requests.iter().all(|r| verify(&secret, r)));
    assert_eq!(requests[0].body, requests[2].body);
    let codes: Vec<_> = attempts(&app.pool, endpoint_id)
        .await
        .into_iter()
        .map(|(code, _, _)| code)
        .collect();
    assert_eq!(codes, [Some(500), Some(500), Some(204)]);
    let delivered: bool = sqlx::query_scalar("select delivered_at is not null from outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(delivered);
}

/// A 429 asking for two minutes is tried again after two minutes, not after 5 s.
#[tokio::test]
async fn retry_after_on_a_429_is_honoured() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let receiver = Receiver::start().await;
    let (endpoint_id, _) = endpoint(&app.pool, &receiver.url, &["rep.task"]).await;
    receiver.answer_with(Reply::TooManyRequests {
        retry_after_secs: 120,
    });
    tasks(&app.pool, 1, app.now()).await;
    let start = app.now();

    assert_eq!(tick(&app, settings()).await.retried, 1);
    let (_, _, error, next) = delivery(&app.pool, endpoint_id).await;
    assert_eq!(error.as_deref(), Some("the receiver answered 429"));
    assert!(next >= start + Duration::seconds(120) && next <= start + Duration::seconds(121));
    app.set_now(start + Duration::seconds(100));
    assert_eq!(tick(&app, settings()).await, DispatchReport::default());
    receiver.answer_with(Reply::Ok);
    app.set_now(start + Duration::seconds(122));
    assert_eq!(tick(&app, settings()).await.delivered, 1);
    assert_eq!(receiver.requests().len(), 2);
}

/// A 410 kills the delivery, disables the endpoint and gives up its other pending deliveries
/// unsent; later messages are not fanned out to it.
#[tokio::test]
async fn a_410_disables_the_endpoint_and_kills_its_deliveries() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let receiver = Receiver::start().await;
    let (endpoint_id, _) = endpoint(&app.pool, &receiver.url, &["rep.task"]).await;
    receiver.answer_with(Reply::Status(410));
    tasks(&app.pool, 2, app.now()).await;
    let one_at_a_time = Settings {
        per_endpoint: 1,
        ..settings()
    };

    let report = tick(&app, one_at_a_time).await;
    assert_eq!(
        report,
        DispatchReport {
            gone: 1,
            ..DispatchReport::default()
        }
    );
    assert_eq!(receiver.requests().len(), 1);
    let (enabled, reason): (bool, Option<String>) =
        sqlx::query_as("select enabled, disabled_reason from webhook_endpoints where id = $1")
            .bind(endpoint_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!enabled);
    assert_eq!(reason.as_deref(), Some("the receiver answered 410 Gone"));
    let states: Vec<(String, i32, Option<String>)> = sqlx::query_as(
        "select status, attempts, last_error from deliveries where endpoint_id = $1
          order by attempts desc",
    )
    .bind(endpoint_id)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(states[0].0, "dead");
    assert_eq!(states[0].1, 1);
    assert_eq!(states[0].2.as_deref(), Some("the receiver answered 410"));
    assert_eq!(states[1].0, "dead");
    assert_eq!(states[1].1, 0, "given up unsent");

    tasks(&app.pool, 1, app.now()).await;
    assert_eq!(
        app.count("deliveries").await,
        2,
        "no fan-out to a disabled endpoint"
    );
    assert_eq!(tick(&app, settings()).await, DispatchReport::default());
}

/// Eight failed attempts over about 28 hours (the first and seven retries) leave the delivery
/// dead, every attempt logged.
#[tokio::test]
async fn an_exhausted_schedule_leaves_the_delivery_dead() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let receiver = Receiver::start().await;
    let (endpoint_id, _) = endpoint(&app.pool, &receiver.url, &["rep.task"]).await;
    receiver.answer_with(Reply::Status(503));
    tasks(&app.pool, 1, app.now()).await;

    for attempt in 1..=8 {
        let report = tick(&app, settings()).await;
        let expected = if attempt < 8 {
            DispatchReport {
                retried: 1,
                ..DispatchReport::default()
            }
        } else {
            DispatchReport {
                dead: 1,
                ..DispatchReport::default()
            }
        };
        assert_eq!(report, expected, "attempt {attempt}");
        app.advance(Duration::hours(12) + Duration::seconds(1));
    }
    assert_eq!(tick(&app, settings()).await, DispatchReport::default());
    let (status, made, error, _) = delivery(&app.pool, endpoint_id).await;
    assert_eq!((status.as_str(), made), ("dead", 8));
    assert_eq!(error.as_deref(), Some("the receiver answered 503"));
    let log = attempts(&app.pool, endpoint_id).await;
    assert_eq!(log.len(), 8);
    assert!(log.iter().all(|(code, _, _)| *code == Some(503)));
    let (delivered_at, counted): (Option<DateTime<Utc>>, i32) =
        sqlx::query_as("select delivered_at, attempts from outbox")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((delivered_at, counted), (None, 8));
}

/// With one receiver hanging, another endpoint's delivery is sent and recorded at once; the
/// hanging one fails at the attempt timeout and is retried.
#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_another_endpoint() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let (slow, fast) = (Receiver::start().await, Receiver::start().await);
    let (slow_id, _) = endpoint(&app.pool, &slow.url, &["rep.task"]).await;
    let (fast_id, _) = endpoint(&app.pool, &fast.url, &["rep.task"]).await;
    slow.answer_with(Reply::Hang);
    tasks(&app.pool, 1, app.now()).await;

    let started = Instant::now();
    let client = dispatcher::client(settings().attempt_timeout);
    let ticking = {
        let (pool, now) = (app.pool.clone(), app.now());
        tokio::spawn(async move { dispatcher::tick(&pool, &client, now, settings()).await })
    };
    loop {
        if delivery(&app.pool, fast_id).await.0 == "delivered" {
            break;
        }
        assert!(
            started.elapsed() < StdDuration::from_millis(1_500),
            "the fast endpoint waited for the slow one"
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    assert!(
        !ticking.is_finished(),
        "the slow attempt is still in flight"
    );
    let report = ticking.await.unwrap().unwrap();
    assert_eq!((report.delivered, report.retried), (1, 1));
    assert!(started.elapsed() >= StdDuration::from_secs(2));
    let log = attempts(&app.pool, slow_id).await;
    assert_eq!(log.len(), 1);
    let (code, latency, error) = &log[0];
    assert_eq!(*code, None);
    assert!(*latency >= 1_900, "{latency} ms");
    assert_eq!(error.as_deref(), Some("no answer within 2 s"));
    assert_eq!(slow.requests().len(), 1);
}

/// Two dispatchers (own pools, as two replicas) ticking at once send each message once.
#[tokio::test]
async fn two_dispatchers_deliver_each_message_once() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let receiver = Receiver::start().await;
    endpoint(&app.pool, &receiver.url, &["rep.task"]).await;
    tasks(&app.pool, 40, app.now()).await;
    let replica = || async {
        PgPoolOptions::new()
            .max_connections(4)
            .connect_with((*app.pool.connect_options()).clone())
            .await
            .unwrap()
    };
    let (one, two) = (replica().await, replica().await);
    let client = dispatcher::client(settings().attempt_timeout);
    let five_at_a_time = Settings {
        per_endpoint: 5,
        ..settings()
    };
    let mut delivered = 0;
    for _ in 0..20 {
        let (a, b) = tokio::join!(
            dispatcher::tick(&one, &client, app.now(), five_at_a_time),
            dispatcher::tick(&two, &client, app.now(), five_at_a_time),
        );
        delivered += a.unwrap().delivered + b.unwrap().delivered;
        if delivered == 40 {
            break;
        }
    }
    assert_eq!(delivered, 40);
    let requests = receiver.requests();
    let ids: HashSet<&str> = requests.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!((requests.len(), ids.len()), (40, 40));
}

/// The running job sends a new message within moments of its commit: the outbox trigger's
/// notification wakes it long before its minute-long poll.
#[tokio::test]
async fn the_running_dispatcher_sends_new_messages_at_once() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let receiver = Receiver::start().await;
    endpoint(&app.pool, &receiver.url, &["rep.task"]).await;
    let now = app.now();
    let clock: Clock = Arc::new(move || now);
    let shutdown = CancellationToken::new();
    let job = tokio::spawn(dispatcher::run(
        app.pool.clone(),
        clock,
        settings(),
        shutdown.clone(),
    ));
    // Long enough for the first (empty) poll and the LISTEN to be in place.
    tokio::time::sleep(StdDuration::from_millis(500)).await;

    for expected in 1..=2 {
        tasks(&app.pool, 1, now).await;
        let sent = Instant::now();
        while receiver.requests().len() < expected {
            assert!(
                sent.elapsed() < StdDuration::from_secs(3),
                "message {expected} not sent"
            );
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }
    shutdown.cancel();
    tokio::time::timeout(StdDuration::from_secs(5), job)
        .await
        .expect("the job stops on shutdown")
        .unwrap();
    assert_eq!(receiver.requests().len(), 2);
}

/// A receiver that refuses the connection is retried, the attempt logged without a status.
#[tokio::test]
async fn a_refused_connection_is_retried() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let (endpoint_id, _) =
        endpoint(&app.pool, &format!("http://{closed}/hook"), &["rep.task"]).await;
    tasks(&app.pool, 1, app.now()).await;

    assert_eq!(tick(&app, settings()).await.retried, 1);
    let log = attempts(&app.pool, endpoint_id).await;
    let [(None, _, Some(error))] = &log[..] else {
        panic!("{log:?}");
    };
    assert!(error.starts_with("could not connect: "), "{error}");
    let (status, made, last_error, _) = delivery(&app.pool, endpoint_id).await;
    assert_eq!((status.as_str(), made), ("pending", 1));
    assert_eq!(last_error.as_ref(), Some(error));
}

#[tokio::test]
async fn a_slack_endpoint_gets_the_assignment_as_a_message_a_rep_reads() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let receiver = Receiver::start().await;
    let (status, created) = app
        .post_json(
            "/api/v1/webhook-endpoints",
            &json!({"url": receiver.url, "topics": ["rep.assigned"], "format": "slack"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created:#}");
    assert_eq!(created["format"], "slack");
    // A rep's own channel takes only that rep's messages.
    let mine = Receiver::start().await;
    let theirs = Receiver::start().await;
    for (receiver, rep) in [(&mine, "Ray@us.example"), (&theirs, "someone@us.example")] {
        let (status, created) = app
            .post_json(
                "/api/v1/webhook-endpoints",
                &json!({"url": receiver.url, "topics": ["rep.assigned"], "format": "slack",
                        "recipient": rep}),
            )
            .await;
        assert_eq!(status, reqwest::StatusCode::CREATED, "{created:#}");
    }
    team(&app).await;
    let lead = mql(&app, "jane@acme.io").await;

    let report = tick(&app, settings()).await;
    assert_eq!(
        report.delivered, 2,
        "the team's channel and Ray's: {report:?}"
    );
    assert_eq!(mine.requests().len(), 1, "Ray's channel");
    assert!(
        theirs.requests().is_empty(),
        "another rep's channel gets nothing"
    );
    let requests = receiver.requests();
    let body = requests[0].json();
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("New MQL for "), "{body:#}");
    assert!(text.contains("jane@acme.io"), "{body:#}");
    let all = body.to_string();
    for expected in ["*Why now:*", "*Opener:*", "Acknowledge by", "Open the lead"] {
        assert!(all.contains(expected), "{expected} not in {all}");
    }
    assert!(
        all.contains(&format!(
            "https://leadrouter.example.com/api/v1/leads/{lead}"
        )),
        "{all}"
    );
    assert!(
        requests[0].headers.get("webhook-signature").is_none(),
        "Slack reads no signature"
    );

    let (status, refused) = app
        .post_json(
            "/api/v1/webhook-endpoints",
            &json!({"url": receiver.url, "topics": ["rep.assigned"], "format": "teams"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["errors"][0]["field"], "format");
}
