//! Every way a request can be wrong: a 4xx problem+json naming the field, and nothing written.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, event, problem_fields};
use crate::test_db::TestDb;

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

#[tokio::test]
async fn a_missing_or_malformed_email_is_named() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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

#[tokio::test]
async fn an_unknown_type_lists_the_known_ones() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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

#[tokio::test]
async fn an_unparsable_or_future_occurred_at_is_named() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let mut e = good();
    e["occurred_at"] = json!("20/11/2026 10:00");
    assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["occurred_at"]).await;
    e["occurred_at"] = json!("2027-01-01T00:00:00Z");
    assert_rejected(&app, &e, StatusCode::UNPROCESSABLE_ENTITY, &["occurred_at"]).await;
}

#[tokio::test]
async fn wrong_json_types_name_the_json_path() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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

#[tokio::test]
async fn several_bad_events_are_all_reported() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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

#[tokio::test]
async fn empty_and_oversized_batches_are_refused() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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

#[tokio::test]
async fn a_full_batch_of_1000_is_accepted() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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

#[tokio::test]
async fn malformed_json_is_a_400() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let huge = format!("[{}]", vec![good().to_string(); 40_000].join(","));
    assert!(huge.len() > 4_194_304);
    let (status, problem) = app.post_raw("/webhooks/events", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem["status"], 413);
}

#[tokio::test]
async fn lead_lookups_name_their_bad_parameters() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
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

#[tokio::test]
async fn unknown_paths_and_methods_are_problems_too() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (status, problem) = app.get("/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "endpoint GET /nope not found");
    let (status, problem) = app.get("/webhooks/events").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem["title"], "Method Not Allowed");
}

/// PostgreSQL stores no NUL in text or jsonb: wherever one comes, the answer is a 422
/// naming where, not a 500.
#[tokio::test]
async fn a_nul_in_any_text_is_a_422_naming_the_field() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let mut titled = good();
    titled["lead"]["title"] = json!("VP\u{0}Sales");
    assert_rejected(
        &app,
        &titled,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["lead.title"],
    )
    .await;
    let mut keyed = good();
    keyed["properties"] = json!({"utm": {"source\u{0}": "x"}});
    assert_rejected(
        &app,
        &json!([good(), keyed]),
        StatusCode::UNPROCESSABLE_ENTITY,
        &["[1].properties.utm.source\\u0000"],
    )
    .await;
    let mut id = good();
    id["event_id"] = json!("e\u{0}1");
    assert_rejected(&app, &id, StatusCode::UNPROCESSABLE_ENTITY, &["event_id"]).await;

    let (status, problem) = app
        .post_json(
            "/api/v1/reps",
            &json!({"name": "R\u{0}", "email": "r@sales.io"}),
        )
        .await;
    assert_eq!(
        (status, problem_fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["name".to_owned()])
    );
    let (status, problem) = app
        .post_json(
            "/api/v1/api-keys",
            &json!({"role": "ops", "label": "\u{0}"}),
        )
        .await;
    assert_eq!(
        (status, problem_fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["label".to_owned()])
    );
    let (status, problem) = app.get("/api/v1/leads?email=jane%00@acme.io").await;
    assert_eq!(
        (status, problem_fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["email".to_owned()])
    );
    let (status, problem) = app.get("/api/v1/accounts/acme%00.io").await;
    assert_eq!(
        (status, problem_fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["path".to_owned()])
    );
    assert_eq!(app.count("reps").await, 0);
}

/// Every stored text has a limit: profile fields 256 characters, any string 2,000, and an
/// event's properties 16 KiB.
#[tokio::test]
async fn text_past_its_limit_is_a_422_naming_the_field() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let mut titled = good();
    titled["lead"]["title"] = json!("t".repeat(257));
    assert_rejected(
        &app,
        &titled,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["lead.title"],
    )
    .await;
    let mut noted = good();
    noted["properties"] = json!({"note": "n".repeat(2_001)});
    assert_rejected(
        &app,
        &noted,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["properties.note"],
    )
    .await;
    let mut big = good();
    big["properties"] = json!(
        (0..20)
            .map(|i| (format!("k{i}"), json!("v".repeat(1_000))))
            .collect::<serde_json::Map<_, _>>()
    );
    assert_rejected(
        &app,
        &big,
        StatusCode::UNPROCESSABLE_ENTITY,
        &["properties"],
    )
    .await;
    let mut fits = good();
    fits["lead"]["title"] = json!("é".repeat(256));
    assert_eq!(app.post_events(&fits).await.0, StatusCode::OK);
}

/// Like every JSON endpoint: another media type is a 415, a body that is not JSON a 400.
#[tokio::test]
async fn webhook_bodies_must_be_declared_and_be_json() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let body = good().to_string();
    let (status, _) = app
        .post_typed("/webhooks/events", Some("text/plain"), body.clone())
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = app.post_typed("/webhooks/events", None, body).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = app.post_raw("/webhooks/events", "hello").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("lead_events").await, 0);
}
