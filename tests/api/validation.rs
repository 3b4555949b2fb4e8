//! Every way a request can be wrong: a 4xx problem+json naming the field, and nothing written.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, event, problem_fields};

async fn assert_rejected(
    app: &TestApp,
    body: &Value,
    status: StatusCode,
    fields: &[&str],
) -> Value {
    let (got, problem) = app.post_events(body).await;
    assert_eq!(got, status, "{problem:#}");
    assert_eq!(problem_fields(&problem), fields, "{problem:#}");
    assert_eq!(problem["status"], status.as_u16());
    assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(app.count("lead_events").await, 0, "nothing written");
    problem
}

fn good() -> Value {
    event("e1", "jane@acme.io", "demo_request", Duration::zero())
}

#[sqlx::test]
async fn a_missing_or_malformed_email_is_named(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut e = good();
    e["lead"].as_object_mut().unwrap().remove("email");
    let problem =
        assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["lead.email"]).await;
    assert_eq!(problem["detail"], "lead.email: is required");

    e["lead"]["email"] = json!("jane at acme");
    assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["lead.email"]).await;

    let mut e = good();
    e.as_object_mut().unwrap().remove("lead");
    assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["lead"]).await;
}

#[sqlx::test]
async fn an_unknown_type_lists_the_known_ones(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut e = good();
    e["type"] = json!("podcast_listen");
    let problem = assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["type"]).await;
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("pricing_page_visit")
    );
}

#[sqlx::test]
async fn an_unparsable_or_future_occurred_at_is_named(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut e = good();
    e["occurred_at"] = json!("20/11/2026 10:00");
    assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["occurred_at"]).await;
    e["occurred_at"] = json!("2027-01-01T00:00:00Z");
    assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["occurred_at"]).await;
}

#[sqlx::test]
async fn wrong_json_types_name_the_json_path(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut e = good();
    e["lead"]["employee_count"] = json!("250");
    assert_rejected(
        &app,
        &e,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["lead.employee_count"],
    )
    .await;

    let mut e = good();
    e["event_id"] = json!(17);
    assert_rejected(
        &app,
        &json!([good(), e]),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["[1].event_id"],
    )
    .await;

    let mut e = good();
    e["properties"] = json!([1, 2]);
    assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["properties"]).await;

    let mut e = good();
    e["lead"]["linkedin"] = json!("jane");
    assert_rejected(
        &app,
        &e,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["lead.linkedin"],
    )
    .await;
}

#[sqlx::test]
async fn several_bad_events_are_all_reported(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut a = good();
    a["type"] = json!("nope");
    let mut b = good();
    b["source"] = json!("  ");
    b["lead"]["country"] = json!("Germany");
    let batch = json!([good(), a, b]);
    let problem = assert_rejected(
        &app,
        &batch,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["[1].type", "[2].source", "[2].lead.country"],
    )
    .await;
    assert_eq!(problem["detail"], "3 fields are invalid; see errors");
}

#[sqlx::test]
async fn empty_and_oversized_batches_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    assert_rejected(
        &app,
        &json!([]),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["body"],
    )
    .await;
    let too_many: Vec<Value> = (0..1001)
        .map(|i| event(&format!("e{i}"), "a@b.io", "page_view", Duration::zero()))
        .collect();
    assert_rejected(
        &app,
        &json!(too_many),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["body"],
    )
    .await;
    assert_rejected(
        &app,
        &json!("an event"),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["body"],
    )
    .await;
}

#[sqlx::test]
async fn a_full_batch_of_1000_is_accepted(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let batch: Vec<Value> = (0..1000)
        .map(|i| {
            event(
                &format!("e{i}"),
                &format!("p{}@co{}.io", i % 97, i % 13),
                "page_view",
                Duration::zero(),
            )
        })
        .collect();
    let body = app.ingest(&json!(batch)).await;
    assert_eq!(body["accepted"], 1000);
    assert_eq!(body["results"][999]["source"], "hubspot");
    assert_eq!(
        body["results"][999]["event_id"], "e999",
        "results keep the request's order"
    );
}

#[sqlx::test]
async fn malformed_json_is_a_400(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (status, problem) = app.post_raw("/webhooks/events", "{\"event_id\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON")
    );
}

#[sqlx::test]
async fn a_body_over_the_limit_is_a_413(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let huge = format!("[{}]", vec![good().to_string(); 40_000].join(","));
    assert!(huge.len() > 4_194_304);
    let (status, problem) = app.post_raw("/webhooks/events", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem["status"], 413);
}

#[sqlx::test]
async fn lead_lookups_name_their_bad_parameters(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (status, problem) = app
        .get("/api/v1/leads/0191e1c2-0000-7000-8000-000000000000")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        problem["detail"],
        "lead 0191e1c2-0000-7000-8000-000000000000 not found"
    );

    let (status, problem) = app.get("/api/v1/leads/not-a-uuid").await;
    assert_eq!(
        (status, problem_fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["id".to_owned()])
    );

    let (status, problem) = app.get("/api/v1/leads").await;
    assert_eq!(
        (status, problem_fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["email".to_owned()])
    );

    let (status, problem) = app.get("/api/v1/leads?email=bad").await;
    assert_eq!(
        (status, problem_fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["email".to_owned()])
    );

    let (status, problem) = app.get("/api/v1/leads?email=nobody@acme.io").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "lead with that email not found");
}

#[sqlx::test]
async fn unknown_paths_and_methods_are_problems_too(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (status, problem) = app.get("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "endpoint GET /nope not found");
    let (status, problem) = app.get("/webhooks/events").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem["title"], "Method Not Allowed");
}
