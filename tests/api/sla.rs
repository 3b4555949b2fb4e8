//! The SLA clock: escalation exactly once across two service instances and a restart,
//! breaches recorded, acknowledged MQLs left alone.

use chrono::Duration;
use leadrouter::jobs::sla_clock;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::test_db::TestDb;
use crate::{
    handoff::{mql, team},
    helpers::TestApp,
};

/// Three MQLs assigned on Friday noon; one is acknowledged. Two instances (own pools) run the
/// clock at the same moment 49 hours later: the two untouched MQLs are escalated once each,
/// to the rep's manager, with one transition and one notification each; a third run (a
/// restart) finds nothing more to do.
#[tokio::test]
async fn two_instances_escalate_each_untouched_mql_exactly_once() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let leads = [
        mql(&app, "a@acme.io").await,
        mql(&app, "b@acme.io").await,
        mql(&app, "c@acme.io").await,
    ];
    let (status, _) = app
        .with_key(&key)
        .post_json(
            &format!("/api/v1/leads/{}/acknowledge", leads[2]),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    app.advance(Duration::hours(49));
    let instance = || async {
        PgPoolOptions::new()
            .max_connections(4)
            .connect_with((*app.pool.connect_options()).clone())
            .await
            .unwrap()
    };
    let (one, two) = (instance().await, instance().await);
    let (a, b) = tokio::join!(
        sla_clock::tick(&one, &app.rules, app.now(), 1),
        sla_clock::tick(&two, &app.rules, app.now(), 1),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.escalated + b.escalated, 2, "{a:?} {b:?}");
    let restarted = instance().await;
    let again = sla_clock::tick(&restarted, &app.rules, app.now(), 1)
        .await
        .unwrap();
    assert_eq!(again.escalated, 0);

    let escalations: Vec<(String, String)> = sqlx::query_as(
        "select recipient, payload->>'lead_id' from outbox
          where topic = 'manager.escalation' order by 2",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut expected: Vec<(String, String)> = leads[..2]
        .iter()
        .map(|l| ("mia@us.example".to_owned(), l.clone()))
        .collect();
    expected.sort();
    assert_eq!(escalations, expected);
    let transitions: i64 = sqlx::query_scalar(
        "select count(*) from lead_transitions where reason like 'escalated to Mia Manager%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(transitions, 2);
    let view = app.lead("c@acme.io").await;
    assert!(
        view["handoff"]["escalated_at"].is_null(),
        "acknowledged: not escalated"
    );

    // Friday 12:00 + 49 h: the 16:00 ack deadline passed for the two untouched MQLs only;
    // the Tuesday disposition deadline has not.
    let breaches: Vec<(bool, bool)> = sqlx::query_as(
        "select ack_breached_at is not null, disposition_breached_at is not null
           from assignments a join leads l on l.id = a.lead_id order by l.email",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(breaches, [(true, false), (true, false), (false, false)]);
}

/// An untouched MQL is not escalated a minute early; it is at 48 hours.
#[tokio::test]
async fn escalation_waits_for_48_hours() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    team(&app).await;
    mql(&app, "slow@acme.io").await;
    app.advance(Duration::hours(48) - Duration::minutes(1));
    let report = sla_clock::tick(&app.pool, &app.rules, app.now(), 100)
        .await
        .unwrap();
    assert_eq!(report.escalated, 0);
    app.advance(Duration::minutes(1));
    let report = sla_clock::tick(&app.pool, &app.rules, app.now(), 100)
        .await
        .unwrap();
    assert_eq!(report.escalated, 1);
}
