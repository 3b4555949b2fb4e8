//! Notifications that need no endpoint set up by hand: a rep's and a manager's own Slack
//! channel kept on their rep record, and the `lead.stage_changed` and `lead.scored` topics
//! that triggers write for every writer of leads.

use chrono::Duration;
use leadrouter::jobs::{
    dispatcher::{self, DispatchReport, Settings},
    sla_clock,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    dispatch::receiver::{Receiver, verify},
    handoff::{mql, team},
    helpers::{ADMIN_KEY, TestApp},
    test_db::TestDb,
};

fn settings() -> Settings {
    Settings {
        poll_interval: std::time::Duration::from_secs(60),
        batch: 100,
        attempt_timeout: std::time::Duration::from_secs(2),
        per_endpoint: 4,
        lead_url: "https://leadrouter.example.com/api/v1/leads/{id}",
    }
}

async fn tick(app: &TestApp) -> DispatchReport {
    let settings = settings();
    let client = dispatcher::client(settings.attempt_timeout);
    dispatcher::tick(&app.pool, &client, app.now(), settings)
        .await
        .expect("the dispatcher ticks")
}

/// The endpoint the record of rep `rep` keeps, as the endpoints API lists it.
async fn endpoint_of(app: &TestApp, rep: Uuid) -> Value {
    let (status, page) = app.get("/api/v1/webhook-endpoints").await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["rep_id"] == json!(rep))
        .cloned()
        .unwrap_or_else(|| panic!("no endpoint of rep {rep} in {page:#}"))
}

async fn patch(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.with_key(ADMIN_KEY)
        .send(Method::PATCH, path, Some(&body))
        .await
}

async fn patch_rep(app: &TestApp, rep: Uuid, body: Value) -> (StatusCode, Value) {
    patch(app, &format!("/api/v1/reps/{rep}"), body).await
}

/// A rep's Slack webhook on their record gets their assignments, their manager's gets the
/// escalation; the endpoint follows the record (and only the record).
#[tokio::test]
async fn a_reps_slack_channel_lives_on_their_record() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let (ray_channel, mia_channel) = (Receiver::start().await, Receiver::start().await);
    let (manager, rep, _) = team(&app).await;
    let (status, ray) = patch_rep(&app, rep, json!({"slack_webhook_url": ray_channel.url})).await;
    assert_eq!(status, StatusCode::OK, "{ray:#}");
    assert_eq!(
        ray["slack_webhook_url"], "http://127.0.0.1/…",
        "the URL is Slack's secret: shown as its host only"
    );
    let (status, _) = patch_rep(&app, manager, json!({"slack_webhook_url": mia_channel.url})).await;
    assert_eq!(status, StatusCode::OK);
    let ray_endpoint = endpoint_of(&app, rep).await;
    assert_eq!(ray_endpoint["format"], "slack");
    assert_eq!(ray_endpoint["recipient"], "ray@us.example");
    assert_eq!(
        ray_endpoint["topics"],
        json!(["rep.assigned", "rep.task", "rep.nurture_signal"])
    );
    assert_eq!(
        endpoint_of(&app, manager).await["topics"],
        json!(["manager.escalation"])
    );

    mql(&app, "jane@acme.io").await;
    assert_eq!(tick(&app).await.delivered, 1);
    let got = ray_channel.requests();
    assert_eq!(got.len(), 1);
    let text = got[0].json()["text"].as_str().unwrap().to_owned();
    assert!(
        text.starts_with("New MQL for Ray Rep: jane@acme.io"),
        "{text}"
    );
    assert!(mia_channel.requests().is_empty());

    app.advance(Duration::hours(49));
    let report = sla_clock::tick(&app.pool, &app.rules, app.now(), 100)
        .await
        .unwrap();
    assert_eq!(report.escalated, 1, "{report:?}");
    assert_eq!(tick(&app).await.delivered, 1);
    let got = mia_channel.requests();
    assert_eq!(got.len(), 1, "the manager's channel gets the escalation");
    assert!(got[0].json().to_string().contains("jane@acme.io"));

    let id = ray_endpoint["id"].as_str().unwrap();
    let (status, refused) = patch(
        &app,
        &format!("/api/v1/webhook-endpoints/{id}"),
        json!({"enabled": false}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused:#}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("slack_webhook_url"),
        "{refused:#}"
    );
    let (status, _) = app
        .post_json(
            &format!("/api/v1/webhook-endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, _) = patch_rep(&app, rep, json!({"active": false})).await;
    assert_eq!(status, StatusCode::OK);
    let off = endpoint_of(&app, rep).await;
    assert_eq!(
        (&off["enabled"], &off["disabled_reason"]),
        (&json!(false), &json!("the rep is inactive"))
    );
    let (status, _) = patch_rep(&app, rep, json!({"active": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(endpoint_of(&app, rep).await["enabled"], true);
    let (status, _) = patch_rep(&app, rep, json!({"slack_webhook_url": null})).await;
    assert_eq!(status, StatusCode::OK);
    let off = endpoint_of(&app, rep).await;
    assert_eq!(
        (&off["enabled"], &off["disabled_reason"]),
        (&json!(false), &json!("the rep has no Slack webhook"))
    );
}

#[tokio::test]
async fn a_slack_webhook_that_is_not_a_url_is_refused_naming_the_field() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    for bad in [
        json!("hooks.slack.com/services/T0/B0/x"),
        json!("http://hooks.slack.com/x"),
        json!(7),
    ] {
        let (status, refused) = app
            .post_json(
                "/api/v1/reps",
                &json!({"name": "Ray", "email": "ray@us.example", "slack_webhook_url": bad}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {refused:#}"
        );
        assert!(
            refused.to_string().contains("slack_webhook_url"),
            "{refused:#}"
        );
    }
    let (status, page) = app.get("/api/v1/reps").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page, json!([]), "nothing half-written");
}

/// An endpoint subscribed to the lead topics hears of a new lead's scores and of its move to
/// MQL, signed; without a subscriber neither topic is written.
#[tokio::test]
async fn lead_topics_reach_the_endpoints_that_want_them() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    team(&app).await;
    mql(&app, "before@acme.io").await;
    let written: i64 = sqlx::query_scalar("select count(*) from outbox where topic like 'lead.%'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(written, 0, "no endpoint wants them yet");

    let receiver = Receiver::start().await;
    let (status, created) = app
        .post_json(
            "/api/v1/webhook-endpoints",
            &json!({"url": receiver.url, "topics": ["lead.scored", "lead.stage_changed"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created:#}");
    let secret = created["secret"].as_str().unwrap();
    let lead = mql(&app, "jane@acme.io").await;
    tick(&app).await;

    let got = receiver.requests();
    assert!(
        got.iter().all(|r| verify(secret, r)),
        "every message signed"
    );
    let bodies: Vec<Value> = got.iter().map(|r| r.json()).collect();
    let of = |topic: &str| -> Vec<&Value> {
        bodies
            .iter()
            .filter(|b| b["type"] == topic)
            .map(|b| &b["data"])
            .collect()
    };
    let changed = of("lead.stage_changed");
    // Deliveries go out together, in no set order.
    let mut moves: Vec<(&Value, &Value)> = changed
        .iter()
        .map(|c| (&c["from_stage"], &c["to_stage"]))
        .collect();
    moves.sort_by_key(|(from, _)| !from.is_null());
    assert_eq!(
        moves,
        [
            (&Value::Null, &json!("Lead")),
            (&json!("Lead"), &json!("MQL"))
        ],
        "created, then MQL: {bodies:#?}"
    );
    assert!(
        changed
            .iter()
            .all(|c| c["lead_id"] == lead && c["lead_email"] == "jane@acme.io")
    );
    let scored = of("lead.scored");
    assert_eq!(
        scored.len(),
        1,
        "scored once, not when first written blank: {bodies:#?}"
    );
    let last = scored[0];
    assert_eq!(last["lead_id"], lead);
    assert_eq!(
        (&last["fit_score"], &last["intent_score"]),
        (&json!(70), &json!(50))
    );
    assert_eq!(last["lifecycle_stage"], "MQL");
}
