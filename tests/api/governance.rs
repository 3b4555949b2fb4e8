//! The governance cadence over the known funnel of `funnel_seed`: the weekly rejection review
//! and the Monday pipeline forecast for past weeks through the API, and the job that sends
//! each once to the outbox. Opportunities (source `crm`, stage weights as shipped):
//!
//! | opp | lead | events |
//! |---|---|---|
//! | F1 | a1@acme.io (MQL 11-02) | created Wed 11-04, Prospecting, 10,000 USD, closes 2026-12-15; Negotiation/Review Thu 11-12, 20,000 USD, closes 2027-01-10; won Thu 11-19 |
//! | F2 | g1@globex.com (MQL 11-11) | created Thu 11-12, contractsent, 5,000 EUR, no close date |
//! | F3 | i1@initech.com (never MQL) | created Thu 11-05, 7,000 USD: not marketing-sourced |

use leadrouter::config::RevenueSettings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    funnel_seed::{Seeded, at, seed},
    helpers::{TestApp, problem_fields},
    test_db::TestDb,
};

fn opp(id: &str, opp: &str, kind: &str, when: (u32, u32), facts: Value) -> Value {
    let mut opportunity = facts;
    opportunity["id"] = json!(opp);
    json!({"event_id": id, "source": "crm", "type": kind,
           "occurred_at": at(11, when.0, when.1).to_rfc3339(), "opportunity": opportunity})
}

async fn seed_pipeline(app: &TestApp) {
    let events = json!([
        opp(
            "f1-new",
            "F1",
            "opportunity_created",
            (4, 10),
            json!({
            "stage": "Prospecting", "amount": 10000, "currency": "USD", "close_date": "2026-12-15",
            "contacts": [{"email": "a1@acme.io"}]})
        ),
        opp(
            "f1-neg",
            "F1",
            "opportunity_stage_changed",
            (12, 10),
            json!({
            "stage": "Negotiation/Review", "amount": 20000, "currency": "USD",
            "close_date": "2027-01-10"})
        ),
        opp(
            "f1-won",
            "F1",
            "opportunity_closed_won",
            (19, 10),
            json!({"stage": "Closed Won"})
        ),
        opp(
            "f2-new",
            "F2",
            "opportunity_created",
            (12, 11),
            json!({
            "stage": "contractsent", "amount": "5000", "currency": "EUR",
            "contacts": [{"email": "g1@globex.com"}]})
        ),
        opp(
            "f3-new",
            "F3",
            "opportunity_created",
            (5, 10),
            json!({
            "stage": "Prospecting", "amount": 7000, "currency": "USD",
            "contacts": [{"email": "i1@initech.com"}]})
        ),
    ]);
    let (status, body) = app.post_json("/webhooks/opportunities", &events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.get(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

#[tokio::test]
async fn a_past_weeks_rejection_review_names_the_reasons_groups_and_leads() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let Seeded { ray, leads, .. } = seed(&app).await;
    let review = get(&app, "/api/v1/governance/rejection-review?week=2026-W45").await;
    assert_eq!(review["week"], "2026-W45");
    assert_eq!(
        review["period"],
        json!({"from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z"})
    );
    assert_eq!(review["rejections"], 1);
    let reasons: Vec<(&str, i64)> = review["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["reason"].as_str().unwrap(), r["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("Rejected_NotICP", 1),
            ("Rejected_WrongTiming", 0),
            ("Rejected_NoBudget", 0),
            ("Rejected_AlreadyInPipeline", 0)
        ]
    );
    assert_eq!(
        review["reasons"][0]["hint"],
        Value::Null,
        "one rejection tunes nothing"
    );
    let one = |key: Value, label: &str| json!([{"key": key, "label": label, "rejections": 1, "reasons": {"Rejected_NotICP": 1}}]);
    assert_eq!(review["by_rep"], one(json!(ray.to_string()), "Ray Rep"));
    assert_eq!(review["by_tier"], one(json!("1"), "Tier 1"));
    assert_eq!(review["by_source"], one(json!("hubspot"), "hubspot"));
    let lead = &review["leads"][0];
    assert_eq!(lead["lead_id"], json!(leads["a2@acme.io"]));
    assert_eq!(lead["email"], "a2@acme.io");
    assert_eq!(lead["rejected_at"], "2026-11-05T12:00:00Z");
    assert!(
        lead["detail"]
            .as_str()
            .unwrap()
            .contains("agency, not a buyer"),
        "{lead}"
    );

    let next = get(&app, "/api/v1/governance/rejection-review?week=2026-W46").await;
    assert_eq!(next["leads"][0]["email"], "g1@globex.com");
    assert_eq!(
        next["by_tier"][0]["reasons"],
        json!({"Rejected_WrongTiming": 1})
    );
    // By default the last whole week: the clock is Fri 11-20, so W46.
    assert_eq!(get(&app, "/api/v1/governance/rejection-review").await, next);

    for (query, field) in [
        ("week=2026-47", "week"),
        ("week=2026-W60", "week"),
        ("weak=2026-W45", "weak"),
    ] {
        let (status, problem) = app
            .get(&format!("/api/v1/governance/rejection-review?{query}"))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {problem}"
        );
        assert_eq!(problem_fields(&problem), [field]);
    }
}

#[tokio::test]
async fn a_mondays_forecast_is_the_open_marketing_sourced_pipeline_as_it_stood() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    seed(&app).await;
    seed_pipeline(&app).await;

    let w46 = get(&app, "/api/v1/governance/pipeline-forecast?week=2026-W46").await;
    assert_eq!(w46["as_of"], "2026-11-09T00:00:00Z");
    let december = json!({"month": "2026-12", "opportunities": 1, "amount": {"USD": 10000.0},
                          "weighted": {"USD": 1000.0}});
    assert_eq!(
        w46["months"],
        json!([december]),
        "F1 as it stood, F2 not open yet"
    );
    assert_eq!(w46["total"]["opportunities"], 1);

    let w47 = get(&app, "/api/v1/governance/pipeline-forecast?week=2026-W47").await;
    assert_eq!(
        w47["months"],
        json!([
            {"month": "2027-01", "opportunities": 1, "amount": {"USD": 20000.0},
             "weighted": {"USD": 18000.0}},
            {"month": null, "opportunities": 1, "amount": {"EUR": 5000.0},
             "weighted": {"EUR": 4500.0}},
        ])
    );
    assert_eq!(
        w47["total"],
        json!({"month": null, "opportunities": 2, "amount": {"EUR": 5000.0, "USD": 20000.0},
               "weighted": {"EUR": 4500.0, "USD": 18000.0}})
    );
    // This week's (the default) is the same: nothing moved before Monday 11-16 that F1's win
    // on Thursday undoes.
    assert_eq!(get(&app, "/api/v1/governance/pipeline-forecast").await, w47);
}

#[tokio::test]
async fn the_job_sends_each_weeks_reports_to_the_outbox_once() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    seed(&app).await;
    seed_pipeline(&app).await;
    let settings = RevenueSettings::default();
    let monday = at(11, 23, 9);
    let tick = leadrouter::jobs::governance::tick;
    let first = tick(&app.pool, &settings, monday).await.unwrap();
    assert_eq!(
        first.sent,
        [
            "governance.rejection_review:2026-W47",
            "governance.pipeline_forecast:2026-W48"
        ]
    );
    let again = tick(&app.pool, &settings, at(11, 24, 9)).await.unwrap();
    assert!(again.sent.is_empty(), "{:?}", again.sent);
    let rows: Vec<(String, String, Value)> = sqlx::query_as(
        "select topic, recipient, payload from outbox where topic like 'governance.%' order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("governance.rejection_review", "ops")
    );
    assert_eq!(rows[0].2["week"], "2026-W47");
    assert_eq!(rows[0].2["rejections"], 0);
    let forecast = &rows[1].2;
    assert_eq!(forecast["week"], "2026-W48");
    // F1 was won on 11-19; F2 stays open with the default weight (no stage weights here).
    assert_eq!(
        forecast["total"],
        json!({"month": null, "opportunities": 1, "amount": {"EUR": 5000.0},
               "weighted": {"EUR": 500.0}})
    );
}
