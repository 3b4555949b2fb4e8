//! Scoring preview over HTTP, and its agreement with live ingestion (backtests: `backtest.rs`).

use chrono::{DateTime, Duration, Utc};
use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, event, problem_fields, t0, vp_event, vp_profile};
use crate::test_db::TestDb;

const PREVIEW: &str = "/api/v1/scoring/preview";

/// A preview record: `lead` is the canonical lead object, events are canonical events.
fn record(lead: Value, events: Vec<Value>) -> Value {
    json!({"lead": lead, "account_tier": 2, "events": events})
}

async fn write_counts(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "leads",
        "lead_events",
        "lead_transitions",
        "accounts",
        "outbox",
    ] {
        counts.push(app.count(table).await);
    }
    counts
}

#[tokio::test]
async fn preview_gives_the_design_numbers_and_writes_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let ops = app.as_role(Role::Ops).await;
    let before = write_counts(&app).await;
    let hour = Duration::hours(1);
    let body = json!({"records": [
        record(vp_profile("jane@acme.io"), vec![vp_event("e1", "jane@acme.io", "demo_request", -hour)]),
        record(vp_profile("quin@rivalcorp.com"), vec![event("e2", "quin@rivalcorp.com", "demo_request", -hour)]),
        record(vp_profile("ivan@acme.io"), vec![
            event("e3", "ivan@acme.io", "pricing_page_visit", -Duration::days(2)),
            event("e4", "ivan@acme.io", "content_download", -hour),
        ]),
    ]});
    let (status, preview) = ops.post_json(PREVIEW, &body).await;
    assert_eq!(status, StatusCode::OK, "{preview:#}");
    assert_eq!(
        preview["as_of"],
        json!(t0()),
        "defaults to the service clock"
    );
    assert_eq!(preview["rules_version"], app.rules.version);

    let jane = &preview["results"][0];
    assert_eq!(jane["lifecycle_stage"], "MQL");
    assert_eq!(jane["fit"]["score"], 70);
    let rules: Vec<&str> = jane["fit"]["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "target_industry",
            "revenue_band",
            "employee_range",
            "buying_committee_title"
        ]
    );
    assert_eq!(jane["intent"]["score"], 50.0);
    assert_eq!(
        jane["intent"]["breakdown"],
        json!([{"type": "demo_request", "count": 1, "points": 50.0}])
    );
    assert_eq!(jane["mql_at"], json!(t0() - hour));
    assert_eq!(
        jane["segment"],
        json!({"demand_state": "late", "account_tier": 2})
    );
    assert_eq!(jane["disqualification"], Value::Null);

    let quin = &preview["results"][1];
    assert_eq!(quin["lifecycle_stage"], "Disqualified");
    assert_eq!(quin["fit"]["score"], -30);
    assert_eq!(
        quin["disqualification"]["reason"],
        "Disqualified_Competitor"
    );
    assert_eq!(quin["disqualification"]["rule"], 0);

    let ivan = &preview["results"][2];
    assert_eq!(
        (
            ivan["lifecycle_stage"].as_str(),
            ivan["intent"]["score"].as_f64()
        ),
        (Some("Lead"), Some(35.0))
    );

    assert_eq!(write_counts(&app).await, before, "a preview writes nothing");
}

#[tokio::test]
async fn preview_as_of_decays_intent_and_leaves_later_events_out() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let body = json!({"as_of": (t0() + Duration::days(31)).to_rfc3339(), "records": [
        record(vp_profile("jane@acme.io"), vec![
            vp_event("e1", "jane@acme.io", "demo_request", Duration::zero()),
            event("e2", "jane@acme.io", "pricing_page_visit", Duration::days(40)),
        ]),
    ]});
    let (status, preview) = app.post_json(PREVIEW, &body).await;
    assert_eq!(status, StatusCode::OK, "{preview:#}");
    let jane = &preview["results"][0];
    assert_eq!(jane["intent"]["score"], 25.0);
    assert_eq!(jane["intent"]["decay_factor"], 0.5);
    assert_eq!(
        jane["lifecycle_stage"], "MQL",
        "an MQL is not demoted by decay"
    );
    assert_eq!(jane["events_after_as_of"], 1);
}

#[tokio::test]
async fn preview_refuses_bad_input_naming_each_field() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let one = || record(json!({"email": "a@acme.io"}), vec![]);
    let too_many = json!({"records": vec![one(); 1_001]});
    let (status, problem) = app.post_json(PREVIEW, &too_many).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["records"]);
    assert!(
        problem["detail"].as_str().unwrap().contains("at most 1000"),
        "{problem}"
    );

    let (status, _) = app
        .post_json(PREVIEW, &json!({"records": vec![one(); 1_000]}))
        .await;
    assert_eq!(status, StatusCode::OK, "1,000 is allowed");

    let bad = json!({"as_of": "tomorrow", "records": [
        {"lead": {"email": "a@acme.io"}, "events": [
            {"type": "demo_request", "occurred_at": "2026-13-01T00:00:00Z"}]},
        {"lead": {"email": "b@acme.io", "employee_count": -3}, "account_tier": 4, "events": [
            {"type": "page_view", "occurred_at": "2026-11-01T00:00:00Z"},
            {"type": "page_view", "occurred_at": "2026-11-01T00:00:00Z", "lead": {"email": "c@acme.io"}},
            {"type": "teleport", "occurred_at": "2026-11-01T00:00:00Z"}]},
        {"lead": {"first_name": "No Email"}},
        {"events": []},
    ]});
    let (status, problem) = app.post_json(PREVIEW, &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert_eq!(
        problem_fields(&problem),
        [
            "as_of",
            "records[0].events[0].occurred_at",
            "records[1].lead.employee_count",
            "records[1].account_tier",
            "records[1].events[1].lead.email",
            "records[1].events[2].type",
            "records[2].lead.email",
            "records[3].lead",
        ]
    );

    let (status, problem) = app
        .post_json(
            PREVIEW,
            &json!({"records": [{"lead": {"email": "a@acme.io"}, "extra": 1}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["records[0].extra"]);
    for body in [json!({}), json!({"records": []})] {
        let (status, problem) = app.post_json(PREVIEW, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem_fields(&problem), ["records"]);
    }
    let (status, _) = app.post_raw(PREVIEW, "{\"records\": [").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.post_typed(PREVIEW, Some("text/csv"), "a,b").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.count("leads").await, 0);
}

/// One lead's events, each posted when it occurred (with the sweeper run first, as it runs
/// every few minutes), then the lead as the service shows it as of `end`.
async fn live(app: &TestApp, events: &[Value], end: DateTime<Utc>) -> Value {
    for e in events {
        let at: DateTime<Utc> = e["occurred_at"].as_str().unwrap().parse().unwrap();
        app.set_now(at);
        app.sweep().await;
        app.ingest(e).await;
    }
    app.set_now(end);
    app.sweep().await;
    app.lead(events[0]["lead"]["email"].as_str().unwrap()).await
}

/// The same events, posted live when they occur and sent to the preview, give the same fit,
/// intent, stage, disqualification and segment: both run the same engine.
#[tokio::test]
async fn preview_agrees_with_live_ingestion() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (status, _) = app
        .post_json("/api/v1/accounts", &json!({"domain": "acme.io", "tier": 2}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let d = Duration::days;
    let mut analyst_then_vp = vp_event("f1", "fred@acme.io", "page_view", d(-3));
    analyst_then_vp["lead"]["title"] = json!("Analyst");
    let cases: Vec<Vec<Value>> = vec![
        vec![vp_event("a1", "ann@acme.io", "demo_request", d(-2))],
        vec![
            vp_event("b1", "bob@acme.io", "pricing_page_visit", d(-41)),
            event("b2", "bob@acme.io", "comparison_page_visit", d(-1)),
        ],
        vec![vp_event("c1", "cid@rivalcorp.com", "demo_request", d(-1))],
        vec![
            vp_event("o1", "ola@acme.io", "opt_out", d(-5)),
            event("o2", "ola@acme.io", "demo_request", d(-4)),
        ],
        vec![
            analyst_then_vp,
            vp_event("f2", "fred@acme.io", "demo_request", d(-1)),
        ],
        vec![
            vp_event("i1", "ida@acme.io", "email_open", d(-400)),
            event("i2", "ida@acme.io", "demo_request", d(-10)),
        ],
        vec![
            vp_event("m1", "mo@acme.io", "demo_request", d(-90)),
            event("m2", "mo@acme.io", "content_download", d(-60)),
        ],
    ];
    // The tier a live lead gets from its account: acme.io is on the list, rivalcorp.com not.
    let records: Vec<Value> = cases
        .iter()
        .map(|events| {
            let email = events[0]["lead"]["email"].as_str().unwrap();
            let mut r = record(json!({"email": email}), events.clone());
            r["account_tier"] = if email.ends_with("@acme.io") {
                json!(2)
            } else {
                Value::Null
            };
            r
        })
        .collect();
    let end = t0();
    let (status, preview) = app
        .post_json(
            PREVIEW,
            &json!({"as_of": end.to_rfc3339(), "records": records}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview:#}");

    let mut stages = Vec::new();
    for (events, previewed) in cases.iter().zip(preview["results"].as_array().unwrap()) {
        let lead = live(&app, events, end).await;
        let email = &lead["email"];
        assert_eq!(
            lead["fit_score"], previewed["fit"]["score"],
            "fit of {email}"
        );
        assert_eq!(
            lead["scores"]["fit"]["breakdown"], previewed["fit"]["breakdown"],
            "{email}"
        );
        assert_eq!(
            lead["intent_score"], previewed["intent"]["score"],
            "intent of {email}"
        );
        assert_eq!(
            lead["scores"]["intent"]["breakdown"],
            previewed["intent"]["breakdown"]
        );
        assert_eq!(
            lead["lifecycle_stage"], previewed["lifecycle_stage"],
            "stage of {email}"
        );
        assert_eq!(
            lead["disqualified_reason"], previewed["disqualification"]["reason"],
            "disqualification of {email}"
        );
        assert_eq!(lead["segment"], previewed["segment"], "segment of {email}");
        stages.push(lead["lifecycle_stage"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        stages,
        [
            "MQL",
            "Lead",
            "Disqualified",
            "Disqualified",
            "MQL",
            "Disqualified",
            "MQL"
        ],
        "the cases cover every outcome"
    );
}
