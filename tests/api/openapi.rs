//! `GET /openapi.json`: the service describes itself, without a key, and its errors carry the
//! problem types the document lists.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::test_db::TestDb;

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("a JSON document")
}

/// The schema a `$ref` like `#/components/schemas/X` points at.
fn resolve<'a>(doc: &'a Value, reference: &Value) -> &'a Value {
    let pointer = reference
        .as_str()
        .and_then(|r| r.strip_prefix('#'))
        .unwrap_or_else(|| panic!("{reference} is not a local reference"));
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("{reference} does not resolve"))
}

#[tokio::test]
async fn the_document_is_served_without_a_key_as_openapi_3_1() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "leadrouter");
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );

    let api_keys = &doc["paths"]["/api/v1/api-keys"]["post"];
    assert_eq!(api_keys["security"][0]["api_key"], serde_json::json!([]));
    assert_eq!(api_keys["x-roles"], serde_json::json!(["admin"]));
    assert!(api_keys["description"].as_str().unwrap().contains("admin"));

    for open in ["/healthz", "/openapi.json"] {
        let op = &doc["paths"][open]["get"];
        assert!(op.is_object(), "{open} is documented");
        assert!(op.get("security").is_none(), "{open} needs no key: {op:#}");
    }
}

#[tokio::test]
async fn the_events_route_takes_a_documented_canonical_event_or_a_batch() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let doc = document(&app).await;
    let events = &doc["paths"]["/webhooks/events"]["post"];
    let body = &events["requestBody"]["content"]["application/json"]["schema"];
    let one = &body["oneOf"][0]["$ref"];
    let event = resolve(&doc, one);
    for field in ["event_id", "source", "type", "occurred_at", "lead"] {
        assert!(
            event["required"]
                .as_array()
                .unwrap()
                .contains(&field.into()),
            "{field} is required: {event:#}"
        );
    }
    assert_eq!(
        body["oneOf"][1]["items"]["$ref"], *one,
        "or an array of them"
    );
    let answer = &events["responses"]["200"]["content"]["application/json"]["schema"]["$ref"];
    assert!(resolve(&doc, answer)["properties"]["results"].is_object());
    let unprocessable = &events["responses"]["422"]["$ref"];
    let problem = &resolve(&doc, unprocessable)["content"]["application/problem+json"]["schema"];
    assert_eq!(problem["$ref"], "#/components/schemas/Problem");
}

#[tokio::test]
async fn errors_carry_the_problem_types_the_document_lists() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let doc = document(&app).await;
    let listed = doc["x-problem-types"].as_object().unwrap();

    let (status, problem) = app.without_key().get("/api/v1/leads/x").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem["type"],
        "https://leadrouter.dev/problems/unauthorized"
    );
    assert!(listed.contains_key(problem["type"].as_str().unwrap()));

    let (status, problem) = app.get("/api/v1/leads/not-a-uuid").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(
        problem["type"],
        "https://leadrouter.dev/problems/validation"
    );
    assert_eq!(listed[problem["type"].as_str().unwrap()]["status"], 422);

    let (status, problem) = app.get("/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["type"], "https://leadrouter.dev/problems/not-found");
}
