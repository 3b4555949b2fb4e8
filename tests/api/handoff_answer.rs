//! The webhook's answer names, per MQL, the rep it went to or why it waits.

use chrono::Duration;
use serde_json::{Value, json};

use crate::handoff::{create_rep, team};
use crate::helpers::{TestApp, event, vp_event};
use crate::test_db::TestDb;

/// The `handoff` of the first result of ingesting `event`.
async fn handoff(app: &TestApp, event: &Value) -> Value {
    let body = app.ingest(event).await;
    body["results"][0]
        .get("handoff")
        .cloned()
        .unwrap_or(Value::Null)
}

fn demo(email: &str) -> Value {
    vp_event(
        &format!("demo-{email}"),
        email,
        "demo_request",
        Duration::zero(),
    )
}

#[tokio::test]
async fn an_assigned_mql_names_its_rep_and_a_waiting_one_says_what_for() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let (_, rep, _) = team(&app).await;

    let assigned = handoff(&app, &demo("jane@acme.io")).await;
    assert_eq!(assigned["status"], "assigned", "{assigned}");
    assert_eq!(assigned["rep_id"], rep.to_string());
    assert_eq!(assigned["rep_name"], "Ray Rep");
    assert_eq!(assigned["rule"], "round_robin");
    assert!(assigned["ack_due"].is_string(), "{assigned}");

    // A later event of the same MQL reports the same hands.
    let again = handoff(
        &app,
        &event(
            "view-jane",
            "jane@acme.io",
            "page_view",
            Duration::minutes(1),
        ),
    )
    .await;
    assert_eq!(again, assigned);

    // No tier for this domain: the MQL waits in the review queue, naming the key it lacks.
    let review = handoff(&app, &demo("bob@unlisted.io")).await;
    assert_eq!(review["status"], "waiting_for_review", "{review}");
    assert!(
        review["missing"]
            .as_array()
            .unwrap()
            .contains(&json!("account_tier")),
        "{review}"
    );

    // Not MQL: nothing to say about a handoff.
    let cold = handoff(
        &app,
        &event("view-cold", "cold@acme.io", "page_view", Duration::zero()),
    )
    .await;
    assert_eq!(cold, Value::Null);
}

#[tokio::test]
async fn an_mql_nobody_can_take_says_it_waits_for_a_rep() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let (status, body) = app
        .post_json("/api/v1/accounts", &json!({"domain": "acme.io", "tier": 2}))
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");

    let waiting = handoff(&app, &demo("early@acme.io")).await;
    assert_eq!(waiting, json!({"status": "waiting_for_rep"}));

    create_rep(&app, json!({"name": "First", "email": "first@us.example"})).await;
    let assigned = handoff(
        &app,
        &event(
            "view-early",
            "early@acme.io",
            "page_view",
            Duration::minutes(1),
        ),
    )
    .await;
    assert_eq!(assigned["status"], "assigned", "{assigned}");
    assert_eq!(assigned["rep_name"], "First");
}
