//! Outbound webhooks, the admin side: endpoints, their secrets, the fan-out of outbox
//! messages to deliveries, the delivery log, retry and replay, and the outbox view.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::Duration;
use leadrouter::domain::Role::{Ops, Rep};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, problem_fields, t0};
use crate::test_db::TestDb;

const ENDPOINTS: &str = "/api/v1/webhook-endpoints";

/// Registers an endpoint for `topics` and returns its answer (with the secret).
async fn create(app: &TestApp, url: &str, topics: &[&str]) -> Value {
    let (status, body) = app
        .post_json(ENDPOINTS, &json!({"url": url, "topics": topics}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body:#}");
    body
}

async fn patch(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    app.with_key(ADMIN_KEY)
        .send(Method::PATCH, &format!("{ENDPOINTS}/{id}"), Some(&body))
        .await
}

/// Writes an outbox message of `topic`, created an hour before t0, as a business
/// transaction would; returns its id.
async fn enqueue(app: &TestApp, topic: &str, key: &str) -> i64 {
    sqlx::query_scalar(
        "insert into outbox (topic, recipient, payload, dedupe_key, created_at)
         values ($1, 'ray@us.example', '{}', $2, $3) returning id",
    )
    .bind(topic)
    .bind(key)
    .bind(t0() - Duration::hours(1))
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// The delivery of message `message` to endpoint `endpoint`.
async fn delivery_of(app: &TestApp, message: i64, endpoint: &str) -> i64 {
    sqlx::query_scalar("select id from deliveries where message_id = $1 and endpoint_id = $2::uuid")
        .bind(message)
        .bind(endpoint)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Marks delivery `id` dead after `attempts` failed attempts, as the dispatcher would.
async fn kill(app: &TestApp, id: i64, attempts: i32) {
    sqlx::query(
        "update deliveries set status = 'dead', attempts = $2, last_error = 'HTTP 500',
                next_attempt_at = $3 where id = $1",
    )
    .bind(id)
    .bind(attempts)
    .bind(t0() + Duration::days(30))
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn status_of(app: &TestApp, delivery: i64) -> (String, i32, chrono::DateTime<chrono::Utc>) {
    sqlx::query_as("select status, attempts, next_attempt_at from deliveries where id = $1")
        .bind(delivery)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn assert_whsec(secret: &Value) -> String {
    let secret = secret.as_str().expect("a secret string").to_owned();
    let encoded = secret.strip_prefix("whsec_").expect("whsec_ prefix");
    assert_eq!(STANDARD.decode(encoded).unwrap().len(), 24, "{secret}");
    secret
}

#[tokio::test]
async fn an_endpoint_is_created_listed_changed_and_rotated_and_its_secret_shown_only_twice() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let response = app
        .client
        .post(format!("{}{ENDPOINTS}", app.base))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"url": "https://hooks.example.com/lr", "topics": ["rep.assigned"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let first = assert_whsec(&created["secret"]);
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["url"], "https://hooks.example.com/lr");
    assert_eq!(created["topics"], json!(["rep.assigned"]));
    assert_eq!(created["enabled"], true);
    assert_eq!(
        created["created_at"],
        t0().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );

    let (status, list) = app.get(ENDPOINTS).await;
    assert_eq!(status, StatusCode::OK, "{list:#}");
    assert_eq!(list["total"], 1);
    let listed = &list["items"][0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(
        listed["deliveries"],
        json!({"pending": 0, "delivered": 0, "dead": 0})
    );
    assert!(listed.get("secret").is_none(), "{listed}");
    assert!(!list.to_string().contains(&first));

    let (status, off) = patch(&app, &id, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{off:#}");
    assert_eq!(off["enabled"], false);
    assert_eq!(off["disabled_reason"], "disabled by an operator");
    let (_, on) = patch(
        &app,
        &id,
        json!({"enabled": true, "url": "http://127.0.0.1:9000/hook",
               "topics": ["rep.assigned", "manager.escalation"]}),
    )
    .await;
    assert_eq!(on["enabled"], true);
    assert_eq!(on["disabled_reason"], Value::Null);
    assert_eq!(on["url"], "http://127.0.0.1:9000/hook");
    assert_eq!(on["topics"], json!(["rep.assigned", "manager.escalation"]));

    // Disabled by the dispatcher (a 410): an operator's "off" keeps the first reason.
    sqlx::query("update webhook_endpoints set enabled = false, disabled_reason = 'HTTP 410 Gone'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, still_off) = patch(&app, &id, json!({"enabled": false})).await;
    assert_eq!(still_off["disabled_reason"], "HTTP 410 Gone");
    patch(&app, &id, json!({"enabled": true})).await;

    let (status, rotated) = app
        .post_json(&format!("{ENDPOINTS}/{id}/rotate-secret"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated:#}");
    let second = assert_whsec(&rotated["secret"]);
    assert_ne!(first, second);
    assert_eq!(rotated["id"], id.as_str());
    let (_, read) = app.get(&format!("{ENDPOINTS}/{id}")).await;
    assert_eq!(read["topics"], on["topics"]);
    assert!(read.get("secret").is_none(), "{read}");
    let stored: String = sqlx::query_scalar("select secret from webhook_endpoints")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, second, "the new secret signs from now on");

    let unknown = uuid::Uuid::new_v4();
    let (status, _) = app
        .post_json(&format!("{ENDPOINTS}/{unknown}/rotate-secret"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_endpoints_are_422s_naming_each_field_and_write_nothing() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let cases = [
        (json!({}), vec!["url", "topics"]),
        (
            json!({"url": "ftp://hooks.example.com", "topics": ["rep.assigned", "rep.task", "lead.created"]}),
            vec!["url", "topics[2]"],
        ),
        (
            json!({"url": "http://hooks.example.com/lr", "topics": []}),
            vec!["url", "topics"],
        ),
        (
            json!({"url": "https://hooks.example.com", "topics": ["rep.task", "rep.task"]}),
            vec!["topics[1]"],
        ),
        (
            json!({"url": "/relative", "topics": vec!["rep.task"; 33]}),
            vec!["url", "topics"],
        ),
    ];
    for (body, fields) in cases {
        let (status, problem) = app.post_json(ENDPOINTS, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem:#}"
        );
        assert_eq!(problem_fields(&problem), fields, "{body}: {problem:#}");
    }
    let (status, problem) = app
        .post_json(
            ENDPOINTS,
            &json!({"url": "https://h.example", "topics": ["rep.task"], "x": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(app.count("webhook_endpoints").await, 0);

    let id = create(&app, "https://hooks.example.com", &["rep.task"]).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = patch(&app, &id, json!({"topics": ["rep.task", "nope"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["topics[1]"]);
    let (status, problem) = patch(&app, "not-a-uuid", json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["id"]);
    let unknown = uuid::Uuid::new_v4().to_string();
    let (status, _) = patch(&app, &unknown, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .get(&format!("{ENDPOINTS}/{id}/deliveries?status=lost"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["status"]);
    let (_, read) = app.get(&format!("{ENDPOINTS}/{id}")).await;
    assert_eq!(
        read["topics"],
        json!(["rep.task"]),
        "a refused change wrote nothing"
    );
}

#[tokio::test]
async fn only_admin_manages_endpoints_and_ops_reads_the_outbox() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let ops = app.as_role(Ops).await;
    let body = json!({"url": "https://hooks.example.com", "topics": ["rep.task"]});
    let (status, _) = ops.post_json(ENDPOINTS, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = ops.get(ENDPOINTS).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, view) = ops.get("/api/v1/outbox").await;
    assert_eq!(status, StatusCode::OK, "{view:#}");
    assert_eq!(view["lag_seconds"], Value::Null);
    let (status, _) = app.as_role(Rep).await.get("/api/v1/outbox").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// The fan-out is the migration's trigger: any writer's outbox row becomes one pending
/// delivery per enabled endpoint subscribed to its topic.
#[tokio::test]
async fn a_message_on_a_subscribed_topic_becomes_a_pending_delivery_in_the_log_and_the_view() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let a = create(&app, "https://a.example.com", &["rep.assigned"]).await;
    let b = create(&app, "https://b.example.com", &["manager.escalation"]).await;
    let off = create(&app, "https://off.example.com", &["rep.assigned"]).await;
    let (a, b, off) = (
        a["id"].as_str().unwrap(),
        b["id"].as_str().unwrap(),
        off["id"].as_str().unwrap(),
    );
    patch(&app, off, json!({"enabled": false})).await;
    let message = enqueue(&app, "rep.assigned", "rep.assigned:1").await;
    enqueue(&app, "nurture.touch", "nurture-touch:1").await;

    let (status, log) = app.get(&format!("{ENDPOINTS}/{a}/deliveries")).await;
    assert_eq!(status, StatusCode::OK, "{log:#}");
    assert_eq!(log["total"], 1);
    let delivery = &log["items"][0];
    assert_eq!(delivery["message_id"], format!("msg_{message}"));
    assert_eq!(delivery["topic"], "rep.assigned");
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["attempts"], 0);
    assert_eq!(delivery["attempt_log"], json!([]));
    for other in [b, off] {
        let (_, log) = app.get(&format!("{ENDPOINTS}/{other}/deliveries")).await;
        assert_eq!(log["total"], 0, "{other}");
    }
    let (_, read) = app.get(&format!("{ENDPOINTS}/{a}")).await;
    assert_eq!(
        read["deliveries"],
        json!({"pending": 1, "delivered": 0, "dead": 0})
    );

    let (status, view) = app.get("/api/v1/outbox").await;
    assert_eq!(status, StatusCode::OK, "{view:#}");
    assert_eq!(
        view["deliveries"],
        json!({"pending": 1, "delivered": 0, "dead": 0})
    );
    let topic = |name: &str| {
        view["by_topic"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["topic"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(topic("rep.assigned")["pending"], 1);
    assert_eq!(topic("nurture.touch")["pending"], 0);
    let endpoints = view["by_endpoint"].as_array().unwrap();
    assert_eq!(endpoints.len(), 3);
    assert_eq!(endpoints[0]["endpoint_id"], a);
    assert_eq!(endpoints[0]["pending"], 1);
    assert_eq!(
        view["lag_seconds"], 3600,
        "the message was written an hour before now"
    );
    assert_eq!(
        view["messages_without_endpoint"], 1,
        "nurture.touch had no subscriber"
    );
}

/// A delivery made through a real handoff fans out like a directly written one.
#[tokio::test]
async fn an_assignment_made_by_a_handoff_is_delivered_to_the_rep_assigned_endpoint() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let endpoint = create(&app, "https://crm.example.com", &["rep.assigned"]).await;
    crate::handoff::team(&app).await;
    crate::handoff::mql(&app, "jane@acme.io").await;
    let (_, log) = app
        .get(&format!(
            "{ENDPOINTS}/{}/deliveries?status=pending",
            endpoint["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(log["total"], 1, "{log:#}");
    assert_eq!(log["items"][0]["topic"], "rep.assigned");
}

#[tokio::test]
async fn retry_rearms_a_messages_dead_and_pending_deliveries_but_not_to_disabled_endpoints() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let mut ids = Vec::new();
    for name in ["dead", "done", "off"] {
        let e = create(
            &app,
            &format!("https://{name}.example.com"),
            &["rep.assigned"],
        )
        .await;
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    let message = enqueue(&app, "rep.assigned", "rep.assigned:7").await;
    let dead = delivery_of(&app, message, &ids[0]).await;
    let done = delivery_of(&app, message, &ids[1]).await;
    let off = delivery_of(&app, message, &ids[2]).await;
    kill(&app, dead, 5).await;
    kill(&app, off, 5).await;
    sqlx::query(
        "update deliveries set status = 'delivered', delivered_at = $2, attempts = 1 where id = $1",
    )
    .bind(done)
    .bind(t0())
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into delivery_attempts (delivery_id, attempted_at, status_code, latency_ms, error)
         values ($1, $2, 500, 12, 'HTTP 500')",
    )
    .bind(dead)
    .bind(t0() - Duration::minutes(5))
    .execute(&app.pool)
    .await
    .unwrap();
    patch(&app, &ids[2], json!({"enabled": false})).await;
    app.advance(Duration::minutes(10));

    let (_, log) = app
        .get(&format!("{ENDPOINTS}/{}/deliveries?status=dead", ids[0]))
        .await;
    assert_eq!(log["items"][0]["last_error"], "HTTP 500");
    assert_eq!(log["items"][0]["attempt_log"][0]["status_code"], 500);
    assert_eq!(log["items"][0]["attempt_log"][0]["latency_ms"], 12);

    let (status, retried) = app
        .post_json(
            &format!("/api/v1/outbox/messages/msg_{message}/retry"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retried:#}");
    assert_eq!(retried["message_id"], format!("msg_{message}"));
    assert_eq!(
        retried["rearmed"],
        json!([{"delivery_id": dead, "endpoint_id": ids[0], "previous_status": "dead"}])
    );
    assert_eq!(retried["skipped_disabled"][0]["delivery_id"], off);
    let (status, attempts, due) = status_of(&app, dead).await;
    assert_eq!(
        (status.as_str(), attempts),
        ("pending", 5),
        "the attempts made still count"
    );
    assert_eq!(due, app.now());
    assert_eq!(status_of(&app, done).await.0, "delivered");
    assert_eq!(status_of(&app, off).await.0, "dead");

    let (status, _) = app
        .post_json("/api/v1/outbox/messages/msg_999999/retry", &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .post_json("/api/v1/outbox/messages/abc/retry", &json!({}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["id"]);
}

#[tokio::test]
async fn replay_dead_rearms_an_endpoints_dead_deliveries_and_is_refused_while_disabled() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let endpoint = create(&app, "https://a.example.com", &["rep.assigned"]).await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let mut deliveries = Vec::new();
    for n in 0..3 {
        let message = enqueue(&app, "rep.assigned", &format!("rep.assigned:{n}")).await;
        deliveries.push(delivery_of(&app, message, &id).await);
    }
    kill(&app, deliveries[0], 8).await;
    kill(&app, deliveries[2], 8).await;
    let (_, view) = app.get("/api/v1/outbox").await;
    assert_eq!(
        view["deliveries"],
        json!({"pending": 1, "delivered": 0, "dead": 2})
    );
    let (_, log) = app
        .get(&format!("{ENDPOINTS}/{id}/deliveries?limit=2"))
        .await;
    let newest: Vec<i64> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        newest,
        [deliveries[2], deliveries[1]],
        "newest first, paged"
    );
    assert_eq!(log["total"], 3);

    let replay = format!("{ENDPOINTS}/{id}/replay-dead");
    let (status, replayed) = app.post_json(&replay, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{replayed:#}");
    assert_eq!(replayed, json!({"endpoint_id": id, "rearmed": 2}));
    let (_, dead) = app
        .get(&format!("{ENDPOINTS}/{id}/deliveries?status=dead"))
        .await;
    assert_eq!(dead["total"], 0);
    let (_, pending) = app
        .get(&format!("{ENDPOINTS}/{id}/deliveries?status=pending"))
        .await;
    assert_eq!(pending["total"], 3);

    kill(&app, deliveries[1], 8).await;
    patch(&app, &id, json!({"enabled": false})).await;
    let (status, problem) = app.post_json(&replay, &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem:#}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("disabled by an operator")
    );
    assert_eq!(status_of(&app, deliveries[1]).await.0, "dead");
    let unknown = uuid::Uuid::new_v4();
    let (status, _) = app
        .post_json(&format!("{ENDPOINTS}/{unknown}/replay-dead"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
