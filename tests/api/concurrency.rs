use std::sync::Arc;

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{TestApp, event};
use crate::test_db::TestDb;

const KINDS: [(&str, f64); 4] = [
    ("demo_request", 50.0),
    ("pricing_page_visit", 25.0),
    ("comparison_page_visit", 20.0),
    ("content_download", 10.0),
];

/// 100 events for an email nobody has seen, all in flight at once: one lead, every point
/// counted, the latest title kept, and the MQL transition recorded exactly once.
#[tokio::test]
async fn hundred_concurrent_events_for_one_new_email_make_one_lead_with_the_exact_intent() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = Arc::new(TestApp::spawn(pool).await);
    let mut expected = 0.0;
    let mut requests = Vec::new();
    for i in 0..100 {
        let (kind, points) = KINDS[i % KINDS.len()];
        expected += points;
        let mut e = event(
            &format!("evt-{i}"),
            "new.person@acme.io",
            kind,
            Duration::minutes(i as i64 - 200),
        );
        e["lead"]["title"] = json!(format!("Title {i}"));
        let app = app.clone();
        requests.push(tokio::spawn(async move { app.ingest(&e).await }));
    }
    let (mut lead_ids, mut creators) = (Vec::new(), 0);
    for request in requests {
        let body: Value = request.await.unwrap();
        lead_ids.push(body["results"][0]["lead_id"].clone());
        creators += usize::from(body["results"][0]["lead_created"] == true);
    }
    lead_ids.dedup();
    assert_eq!(lead_ids.len(), 1, "every event went to the same lead");
    assert_eq!(creators, 1, "exactly one request reports creating the lead");
    let totals = app.group_commit.totals();
    assert_eq!(totals.events, 100, "the writers count every event once");
    assert!((1..=100).contains(&totals.groups), "{totals:?}");

    assert_eq!(app.count("leads").await, 1);
    assert_eq!(app.count("accounts").await, 1);
    assert_eq!(app.count("lead_events").await, 100);
    let lead = app.lead("new.person@acme.io").await;
    assert_eq!(expected, 2625.0);
    assert_eq!(lead["intent_score"], expected);
    assert_eq!(lead["profile"]["title"], "Title 99");
    let stages: Vec<&str> = lead["history"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to_stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["Lead"], "no fit, so no MQL; one creation");
}

/// Two batches touching the same accounts and leads in opposite orders both commit
/// (rows are locked in one global order, so they cannot deadlock).
#[tokio::test]
async fn overlapping_batches_in_opposite_orders_both_commit() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = Arc::new(TestApp::spawn(pool).await);
    let batch = |tag: &str| -> Vec<Value> {
        (0..60)
            .map(|i| {
                event(
                    &format!("{tag}-{i}"),
                    &format!("p{}@d{}.io", i % 12, i % 5),
                    "pricing_page_visit",
                    Duration::minutes(i - 100),
                )
            })
            .collect()
    };
    let forward = json!(batch("a"));
    let mut backward_events = batch("b");
    backward_events.reverse();
    let backward = json!(backward_events);
    for _ in 0..5 {
        let (a, b) = tokio::join!(app.post_events(&forward), app.post_events(&backward));
        assert_eq!(a.0, 200, "{}", a.1);
        assert_eq!(b.0, 200, "{}", b.1);
    }
    assert_eq!(app.count("lead_events").await, 120);
}

/// The same event posted 20 times at once for a known lead (a retrying source): stored and
/// counted once, every other copy reported as a duplicate, whichever group each lands in.
#[tokio::test]
async fn a_burst_of_retries_of_one_event_counts_it_once() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = Arc::new(TestApp::spawn(pool).await);
    app.ingest(&event(
        "first",
        "known@acme.io",
        "content_download",
        Duration::hours(-2),
    ))
    .await;
    let retried = event(
        "retried",
        "known@acme.io",
        "pricing_page_visit",
        Duration::hours(-1),
    );
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let (app, e) = (app.clone(), retried.clone());
            tokio::spawn(async move { app.ingest(&e).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        let body: Value = request.await.unwrap();
        statuses.push(body["results"][0]["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses.iter().filter(|s| *s == "accepted").count(), 1);
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 19);
    assert_eq!(app.count("lead_events").await, 2);
    assert_eq!(app.lead("known@acme.io").await["intent_score"], 35.0);
}

/// Two instances of the service on one database, each with its own memory of the leads it
/// wrote, take turns with one lead's events: every point counts, because a copy the other
/// instance has since changed fails the write's version check instead of overwriting it.
#[tokio::test]
async fn two_instances_taking_turns_on_one_lead_lose_no_update() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let apps = [
        TestApp::spawn(pool.clone()).await,
        TestApp::spawn(pool).await,
    ];
    let mut expected = 0.0;
    for i in 0..12 {
        let (kind, points) = KINDS[i % KINDS.len()];
        expected += points;
        let e = event(
            &format!("turn-{i}"),
            "shared@acme.io",
            kind,
            Duration::minutes(i as i64 - 60),
        );
        let body = apps[i % 2].ingest(&e).await;
        assert_eq!(body["results"][0]["intent_score"], expected, "event {i}");
    }
    assert_eq!(
        apps[0].lead("shared@acme.io").await["intent_score"],
        expected
    );
}

/// A lead that ingest holds in memory, then changed by another writer (its account's tier,
/// set through the accounts API): the next event is applied to the lead as changed.
#[tokio::test]
async fn a_lead_changed_outside_ingest_is_not_overwritten_by_its_copy_in_memory() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let tier = || async {
        sqlx::query_scalar::<_, Option<i16>>("select account_tier from leads")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    for i in 0..2 {
        let e = event(
            &format!("before-{i}"),
            "held@acme.io",
            "page_view",
            Duration::minutes(i - 30),
        );
        app.ingest(&e).await;
    }
    assert_eq!(tier().await, None);
    let (status, body) = app
        .post_json("/api/v1/accounts", &json!({"domain": "acme.io", "tier": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tier().await, Some(1));
    app.ingest(&event(
        "after",
        "held@acme.io",
        "page_view",
        Duration::zero(),
    ))
    .await;
    assert_eq!(
        tier().await,
        Some(1),
        "the event kept the tier set meanwhile"
    );
    assert_eq!(app.count("lead_events").await, 3);
}

/// Rows of `table` whose `lead_id` names no lead. Neither the events nor the nurture log has
/// a foreign key to leads (it cost a query per row on ingest's hot path), so this is the check.
async fn orphans(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!(
        "select count(*) from {table} t where not exists (select 1 from leads l where l.id = t.lead_id)"
    ))
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// New leads of a nurtured account created by racing batches and single events, each event
/// sent three times at once (so that transactions race to create the same leads and store
/// the same events): every stored event and nurture log row belongs to a lead that exists.
#[tokio::test]
async fn racing_writers_leave_no_event_or_nurture_row_without_its_lead() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = Arc::new(TestApp::spawn(pool).await);
    let (status, body) = app
        .post_json("/api/v1/accounts", &json!({"domain": "acme.io", "tier": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    let events: Vec<Value> = (0..40)
        .map(|i| {
            let mut e = event(
                &format!("race-{i}"),
                &format!("p{}@acme.io", i % 10),
                KINDS[i % KINDS.len()].0,
                Duration::minutes(i as i64 - 100),
            );
            e["lead"]["title"] = json!("Analyst");
            e
        })
        .collect();
    let mut requests = Vec::new();
    for chunk in events.chunks(8) {
        for _ in 0..2 {
            let (app, batch) = (app.clone(), json!(chunk));
            requests.push(tokio::spawn(async move { app.post_events(&batch).await }));
        }
        for e in chunk {
            let (app, e) = (app.clone(), e.clone());
            requests.push(tokio::spawn(async move { app.post_events(&e).await }));
        }
    }
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(app.count("leads").await, 10);
    assert_eq!(app.count("lead_events").await, 40);
    assert!(
        app.count("nurture_log").await >= 10,
        "every lead was enrolled"
    );
    assert_eq!(orphans(&app, "lead_events").await, 0);
    assert_eq!(orphans(&app, "nurture_log").await, 0);
}

/// While a group is held up in the database (a row lock on its lead), the next event for
/// another lead is taken and planned; the next for the held lead waits to be planned after
/// it. Either way every event counts once, on the version its lead is at.
#[tokio::test]
async fn the_next_group_is_planned_while_one_is_written() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = Arc::new(TestApp::spawn(pool).await);
    let (held, free) = ("held@acme.io", "free@acme.io");
    for (i, email) in [held, free].into_iter().enumerate() {
        let e = event(
            &format!("seed-{i}"),
            email,
            "page_view",
            Duration::hours(-1),
        );
        app.ingest(&e).await;
    }
    let send = |id: &str, email: &str| {
        let e = event(id, email, "pricing_page_visit", Duration::zero());
        let app = app.clone();
        tokio::spawn(async move { app.ingest(&e).await })
    };
    let before = app.group_commit.totals();

    for (next, planned_ahead) in [(free, 1), (held, 1)] {
        let mut lock = app.pool.begin().await.unwrap();
        sqlx::query("select 1 from leads where email = $1 for update")
            .bind(held)
            .execute(&mut *lock)
            .await
            .unwrap();
        let first = send(&format!("first-{next}"), held);
        wait_for_a_blocked_write(&app).await;
        let second = send(&format!("second-{next}"), next);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!first.is_finished() && !second.is_finished());
        lock.commit().await.unwrap();
        for request in [first, second] {
            let body: Value = request.await.unwrap();
            assert_eq!(body["results"][0]["status"], "accepted", "{body}");
        }
        let totals = app.group_commit.totals() - before;
        assert_eq!(
            totals.planned_ahead, planned_ahead,
            "then {next}: {totals:?}"
        );
    }
    assert_eq!(app.lead(held).await["intent_score"], 75.0);
    assert_eq!(app.lead(free).await["intent_score"], 25.0);
    assert_eq!((app.group_commit.totals() - before).events, 4);
}

/// Waits until a statement of the service waits for a row lock.
async fn wait_for_a_blocked_write(app: &TestApp) {
    let blocked = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
            > 0
    };
    for _ in 0..500 {
        if blocked().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no write blocked on the lock");
}

/// An event holding NUL in the group writer would fail its whole group and send it down the
/// event-by-event path. Refused at the door, such events cost only themselves: with two
/// clients sending them among twelve honest ones, the writers see the honest events alone
/// and every one of them is accepted.
#[tokio::test]
async fn events_holding_nul_never_reach_the_group_writer() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = Arc::new(TestApp::spawn(pool).await);
    let before = app.group_commit.totals();
    let clients = (0..14).map(|client| {
        let app = app.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..20 {
                let email = format!("c{client}-{n}@acme.io");
                let mut e = event(
                    &format!("e{client}-{n}"),
                    &email,
                    "page_view",
                    Duration::zero(),
                );
                if client < 2 {
                    e["lead"]["title"] = json!("VP\u{0}Sales");
                }
                statuses.push(app.post_events(&e).await.0.as_u16());
            }
            (client, statuses)
        })
    });
    for client in clients {
        let (client, statuses) = client.await.unwrap();
        let expected = if client < 2 { 422 } else { 200 };
        assert!(
            statuses.iter().all(|&s| s == expected),
            "client {client}: {statuses:?}"
        );
    }
    let totals = app.group_commit.totals() - before;
    assert_eq!(totals.events, 12 * 20, "{totals:?}");
    assert_eq!(app.count("lead_events").await, 12 * 20);
}
