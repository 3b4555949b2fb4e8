use chrono::Duration;
use reqwest::StatusCode;

use crate::helpers::{TestApp, vp_event};
use crate::test_db::TestDb;

#[tokio::test]
async fn a_lead_reads_the_same_by_id_and_by_email() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let body = app
        .ingest(&vp_event(
            "e1",
            "jane@acme.io",
            "pricing_page_visit",
            Duration::zero(),
        ))
        .await;
    let id = body["results"][0]["lead_id"].as_str().unwrap().to_owned();
    let (status, by_id) = app.get(&format!("/api/v1/leads/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id, app.lead("jane@acme.io").await);
    for key in [
        "id",
        "email",
        "account",
        "lifecycle_stage",
        "fit_score",
        "intent_score",
        "last_activity_at",
        "scores",
        "history",
    ] {
        assert!(by_id.get(key).is_some(), "lead document has {key}");
    }
    assert_eq!(by_id["scores"]["rules_version"].as_str().unwrap().len(), 12);
}
