//! `GET /metrics` over HTTP: the text format, who may scrape, counters that move with the
//! traffic, and gauges read from the test's own database.
//!
//! Every service in this process shares one recorder (the `metrics` facade has one), and
//! tests run in parallel: counters are compared before and after, for labels this test
//! alone produces where that is possible, never as absolute values.

use std::{collections::BTreeMap, time::Duration as StdDuration};

use chrono::Duration;
use leadrouter::{
    db::outbox::{self, Message},
    domain::Role,
    jobs::{self, dispatcher},
};
use reqwest::{StatusCode, header};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    handoff::{mql, team},
    helpers::{TestApp, event},
    test_db::TestDb,
};

/// One scrape: every sample by name and labels.
struct Scrape(Vec<(String, BTreeMap<String, String>, f64)>);

impl Scrape {
    /// The sample of `name` whose labels are exactly `labels`; 0 when there is none (a
    /// counter not yet incremented is not rendered).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0.0, |(_, _, v)| *v)
    }

    /// Whether some sample of `name` is present.
    fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _, _)| n == name)
    }
}

/// Parses the text format: `name{label="value",...} number` lines, comments skipped.
fn parse(text: &str) -> Scrape {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("labels close")),
            None => (series, ""),
        };
        let labels = labels
            .split("\",")
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once("=\"").expect("label=\"value\"");
                (k.to_owned(), v.trim_end_matches('"').to_owned())
            })
            .collect();
        samples.push((name.to_owned(), labels, value));
    }
    Scrape(samples)
}

/// Scrapes with `key` (Prometheus's `authorization` setting sends it as a bearer token),
/// asserting a 200 in the text format; returns the samples and the raw text.
async fn scrape(app: &TestApp, key: &str) -> (Scrape, String) {
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    (parse(&text), text)
}

const REQUESTS: &str = "leadrouter_http_requests_total";
const DURATION_COUNT: &str = "leadrouter_http_request_duration_seconds_count";
const INGESTED: &str = "leadrouter_ingest_events_total";

#[tokio::test]
async fn posting_events_moves_the_request_and_ingest_counters() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let ops = app.mint_role_key(Role::Ops).await;
    let events = [("POST", "/webhooks/events", "200")];
    let labels = [
        ("method", events[0].0),
        ("route", events[0].1),
        ("status", events[0].2),
    ];
    let (before, _) = scrape(&app, &ops).await;

    let email = format!("{}@acme.io", Uuid::new_v4());
    for id in ["evt-1", "evt-2", "evt-1"] {
        app.ingest(&event(id, &email, "page_view", Duration::hours(-1)))
            .await;
    }

    let (after, _) = scrape(&app, &ops).await;
    let moved = |scrape: &Scrape, name, labels: &[(&str, &str)]| {
        scrape.value(name, labels) - before.value(name, labels)
    };
    // Other tests post events at the same time: at least ours were counted.
    assert!(moved(&after, REQUESTS, &labels) >= 3.0, "requests");
    assert!(moved(&after, DURATION_COUNT, &labels) >= 3.0, "latencies");
    assert!(moved(&after, INGESTED, &[("status", "accepted")]) >= 2.0);
    assert!(moved(&after, INGESTED, &[("status", "duplicate")]) >= 1.0);
    assert!(after.has("leadrouter_ingest_group_events_count"));
    assert!(after.value("leadrouter_db_pool_max_connections", &[("pool", "main")]) >= 1.0);
    assert_eq!(after.value("leadrouter_scrape_database_up", &[]), 1.0);
}

#[tokio::test]
async fn requests_are_labelled_by_route_never_by_raw_path() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let ops = app.mint_role_key(Role::Ops).await;
    let lead = Uuid::new_v4();
    let unknown = format!("/no-such-{}", Uuid::new_v4());
    let by_id = [
        ("method", "GET"),
        ("route", "/api/v1/leads/{id}"),
        ("status", "404"),
    ];
    let unmatched = [
        ("method", "GET"),
        ("route", "<unmatched>"),
        ("status", "404"),
    ];
    let (before, _) = scrape(&app, &ops).await;

    let (status, _) = app.get(&format!("/api/v1/leads/{lead}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get(&unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (after, text) = scrape(&app, &ops).await;
    assert!(after.value(REQUESTS, &by_id) > before.value(REQUESTS, &by_id));
    assert!(after.value(REQUESTS, &unmatched) > before.value(REQUESTS, &unmatched));
    assert!(
        !text.contains(&lead.to_string()),
        "a raw lead id in a label"
    );
    assert!(!text.contains(&unknown), "a raw unknown path in a label");
}

#[tokio::test]
async fn only_ops_and_admin_keys_may_scrape() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let rep = app.mint_role_key(Role::Rep).await;
    let source = app.source_key.clone();
    for key in [rep, source] {
        let response = app
            .client
            .get(format!("{}/metrics", app.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let response = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    scrape(&app, crate::helpers::ADMIN_KEY).await;
}

/// The database gauges are this service's database's: exact numbers. A dispatcher attempt
/// is counted by its outcome.
#[tokio::test]
async fn outbox_and_dead_letter_gauges_show_the_database_as_it_is() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let ops = app.mint_role_key(Role::Ops).await;
    let (empty, _) = scrape(&app, &ops).await;
    let pending = [("status", "pending")];
    let dead = [("status", "dead")];
    const DEPTH: &str = "leadrouter_outbox_deliveries";
    const AGE: &str = "leadrouter_outbox_oldest_pending_age_seconds";
    assert_eq!(empty.value(DEPTH, &pending), 0.0);
    assert!(empty.has(AGE));
    assert_eq!(empty.value(AGE, &[]), 0.0);

    // One endpoint for `rep.task` and one message: the fan-out queues one delivery. No
    // dispatcher runs under `TestApp`, so it stays pending.
    sqlx::query(
        "insert into webhook_endpoints (id, url, topics, secret, created_at, updated_at)
         values ($1, 'http://127.0.0.1:9/hook', '{rep.task}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(), now())",
    )
    .bind(Uuid::new_v4())
    .execute(&app.pool)
    .await
    .unwrap();
    let message = Message {
        topic: "rep.task",
        recipient: "ray@us.example".to_owned(),
        payload: json!({"lead_id": Uuid::new_v4()}),
        dedupe_key: format!("test-task:{}", Uuid::new_v4()),
    };
    let mut conn = app.pool.acquire().await.unwrap();
    outbox::enqueue(&mut conn, &[message], app.now())
        .await
        .unwrap();
    drop(conn);
    app.advance(Duration::seconds(90));

    let (queued, _) = scrape(&app, &ops).await;
    assert_eq!(queued.value(DEPTH, &pending), 1.0);
    assert_eq!(queued.value(DEPTH, &dead), 0.0);
    assert_eq!(queued.value(AGE, &[]), 90.0);

    // Nothing listens on port 9: the attempt is refused and retried later, still pending.
    let settings = dispatcher::Settings {
        poll_interval: StdDuration::from_secs(60),
        batch: 10,
        attempt_timeout: StdDuration::from_secs(2),
        per_endpoint: 1,
        lead_url: "https://leadrouter.example.com/api/v1/leads/{id}",
    };
    let client = dispatcher::client(settings.attempt_timeout);
    let report = dispatcher::tick(&app.pool, &client, app.now(), settings)
        .await
        .unwrap();
    assert_eq!(report.retried, 1);
    let (retried, _) = scrape(&app, &ops).await;
    let retries =
        |scrape: &Scrape| scrape.value("leadrouter_outbox_attempts_total", &[("outcome", "retry")]);
    assert!(retries(&retried) > retries(&queued));
    assert_eq!(retried.value(DEPTH, &pending), 1.0);

    sqlx::query("update deliveries set status = 'dead'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "insert into inbound_dead_letters (id, source, event_id, reason, payload, received_at)
         values ($1, 'segment', 'm-1', 'no email', '{}', now())",
    )
    .bind(Uuid::new_v4())
    .execute(&app.pool)
    .await
    .unwrap();
    let (given_up, _) = scrape(&app, &ops).await;
    assert_eq!(given_up.value(DEPTH, &pending), 0.0);
    assert_eq!(given_up.value(DEPTH, &dead), 1.0);
    assert_eq!(given_up.value(AGE, &[]), 0.0);
    assert_eq!(given_up.value("leadrouter_inbound_dead_letters", &[]), 1.0);
}

/// The job loop counts and times each run under its job's name; this test's job name is its
/// own, so the numbers are exact.
#[tokio::test]
async fn job_runs_are_counted_by_outcome_and_timed() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let ops = app.mint_role_key(Role::Ops).await;
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let shutdown = CancellationToken::new();
    // Fails once, then succeeds and stops the loop.
    jobs::every(
        "test_prometheus_job",
        "test job",
        StdDuration::from_millis(1),
        shutdown.clone(),
        || async {
            if runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                anyhow::bail!("the first run fails");
            }
            shutdown.cancel();
            Ok(())
        },
    )
    .await;
    let (after, _) = scrape(&app, &ops).await;
    let job = ("job", "test_prometheus_job");
    assert_eq!(
        after.value("leadrouter_job_runs_total", &[job, ("outcome", "ok")]),
        1.0
    );
    assert_eq!(
        after.value("leadrouter_job_runs_total", &[job, ("outcome", "error")]),
        1.0
    );
    assert_eq!(
        after.value("leadrouter_job_duration_seconds_count", &[job]),
        2.0
    );
}

/// An MQL assigned on a Friday noon and untouched until Wednesday: the SLA clock records its
/// ack and disposition breaches and escalates it, and the counters move by at least that;
/// the overdue gauges show it before any tick.
#[tokio::test]
async fn sla_breaches_and_escalations_are_counted() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let ops = app.mint_role_key(Role::Ops).await;
    team(&app).await;
    mql(&app, "a@acme.io").await;
    let (before, _) = scrape(&app, &ops).await;
    const OVERDUE: &str = "leadrouter_sla_overdue_assignments";
    let overdue = |scrape: &Scrape| {
        let value = |deadline| scrape.value(OVERDUE, &[("deadline", deadline)]);
        (value("ack"), value("disposition"))
    };
    assert_eq!(overdue(&before), (0.0, 0.0));

    app.advance(Duration::days(5));
    // The overdue gauges read the open assignments at scrape time, before any tick.
    assert_eq!(overdue(&scrape(&app, &ops).await.0), (1.0, 1.0));
    let report = jobs::sla_clock::tick(&app.pool, &app.rules, app.now(), 100)
        .await
        .unwrap();
    assert_eq!(
        (
            report.escalated,
            report.ack_breaches,
            report.disposition_breaches
        ),
        (1, 1, 1)
    );

    let (after, _) = scrape(&app, &ops).await;
    let moved =
        |name, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
    assert!(moved("leadrouter_sla_escalations_total", &[]) >= 1.0);
    for deadline in ["ack", "disposition"] {
        let labels = [("deadline", deadline)];
        assert!(
            moved("leadrouter_sla_breaches_total", &labels) >= 1.0,
            "{deadline}"
        );
    }
}

/// With the database gone, a request that needs it is a 503 counted as `unreachable`, and
/// the scrape still answers, saying it could not read the database.
#[tokio::test]
async fn a_lost_database_is_counted_and_the_scrape_still_answers() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let admin = crate::helpers::ADMIN_KEY;
    let unreachable = [("kind", "unreachable")];
    let (before, _) = scrape(&app, admin).await;
    assert_eq!(before.value("leadrouter_scrape_database_up", &[]), 1.0);

    app.pool.close().await;
    // The bootstrap admin key is checked without the database; the lead is not.
    let (status, _) = app.get(&format!("/api/v1/leads/{}", Uuid::new_v4())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let (after, _) = scrape(&app, admin).await;
    let errors = |scrape: &Scrape| scrape.value("leadrouter_db_errors_total", &unreachable);
    assert!(errors(&after) > errors(&before));
    assert_eq!(after.value("leadrouter_scrape_database_up", &[]), 0.0);
    assert!(!after.has("leadrouter_outbox_deliveries"));
    assert!(after.has("leadrouter_http_requests_total"));
}
