//! Rescoring stored leads over HTTP: a dry run counts and writes nothing; applying records
//! transitions by `rescore`, refolds intent from the event log, never demotes, and hands new
//! MQLs to a rep.

use chrono::Duration;
use leadrouter::{
    domain::{EventType, Role},
    engine::{Condition, Rules},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::test_db::TestDb;
use crate::{
    handoff::create_rep,
    helpers::{TestApp, last_transition, problem_fields, vp_event},
};

const RESCORE: &str = "/api/v1/admin/rescore";

/// The rules the leads were first scored with: pricing worth 10, page views worth 40, and a
/// competitor list that misses rivalcorp.com.
fn old_rules(rules: &mut Rules) {
    let weights = &mut rules.intent.weights;
    weights.insert(EventType::PricingPageVisit, 10.0);
    weights.insert(EventType::PageView, 40.0);
    rules.disqualify[0].when = Condition::DomainIn(vec!["someoneelse.com".into()]);
}

/// Four leads scored under [`old_rules`], then a service restarted on the shipped rules.
async fn restarted(pool: PgPool) -> TestApp {
    let old = TestApp::spawn_with_rules(pool.clone(), old_rules).await;
    let (status, _) = old
        .post_json("/api/v1/accounts", &json!({"domain": "acme.io", "tier": 2}))
        .await;
    assert_eq!(status, StatusCode::OK);
    create_rep(&old, json!({"name": "Ray Rep", "email": "ray@us.example"})).await;
    let at = -Duration::hours(1);
    let batches = [
        // cal: 10 + 20 = 30, a Lead; under the shipped weights 45, an MQL.
        vec![
            vp_event("c1", "cal@acme.io", "pricing_page_visit", at),
            vp_event("c2", "cal@acme.io", "comparison_page_visit", at),
        ],
        // eve: a competitor the old list missed.
        vec![vp_event("e1", "eve@rivalcorp.com", "page_view", at)],
        // fay: an MQL under both.
        vec![vp_event("f1", "fay@acme.io", "demo_request", at)],
        // gil: an MQL on page views alone, which the shipped rules do not count.
        vec![vp_event("g1", "gil@acme.io", "page_view", at)],
    ];
    for batch in batches {
        old.ingest(&Value::Array(batch)).await;
    }
    for (email, stage) in [
        ("cal", "Lead"),
        ("eve", "Lead"),
        ("fay", "MQL"),
        ("gil", "MQL"),
    ] {
        let email = format!(
            "{email}@{}",
            if email == "eve" {
                "rivalcorp.com"
            } else {
                "acme.io"
            }
        );
        assert_eq!(old.lead(&email).await["lifecycle_stage"], stage, "{email}");
    }
    drop(old);
    TestApp::spawn(pool).await
}

fn changes(report: &Value) -> Vec<(String, String, i64)> {
    report["by_change"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_owned(),
                c["to"].as_str().unwrap().to_owned(),
                c["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn lead_state(app: &TestApp) -> Vec<(String, String, i64, String)> {
    sqlx::query_as(
        "select email, lifecycle_stage, version, rules_version from leads order by email",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_dry_run_counts_the_changes_and_writes_nothing() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = restarted(pool).await;
    let before = (
        lead_state(&app).await,
        app.count("lead_transitions").await,
        app.count("assignments").await,
    );

    let (status, report) = app.post_raw(RESCORE, "").await;
    assert_eq!(status, StatusCode::OK, "{report:#}");
    assert_eq!(report["apply"], false);
    assert_eq!(report["rules_version"], app.rules.version);
    assert_eq!(
        (report["scanned"].as_i64(), report["rescored"].as_i64()),
        (Some(4), Some(4))
    );
    assert_eq!(report["stage_changes"], 2);
    assert_eq!(
        changes(&report),
        [
            ("Lead".into(), "MQL".into(), 1),
            ("Lead".into(), "Disqualified".into(), 1)
        ]
    );
    let sample = report["sample"].as_array().unwrap();
    assert_eq!(sample.len(), 4);
    assert_eq!(
        sample[0]["email"], "cal@acme.io",
        "stage changes come first"
    );
    assert_eq!(sample[0]["before"]["intent_score"], 30.0);
    assert_eq!(sample[0]["after"]["intent_score"], 45.0);
    assert_eq!(sample[0]["after"]["lifecycle_stage"], "MQL");
    assert_eq!(sample[0]["reason"], "fit 70 ≥ 60 and intent 45 ≥ 40");
    assert_eq!(
        sample[1]["after"]["disqualified_reason"],
        "Disqualified_Competitor"
    );
    let gil = sample.iter().find(|s| s["email"] == "gil@acme.io").unwrap();
    assert_eq!(
        (
            gil["before"]["intent_score"].as_f64(),
            gil["after"]["intent_score"].as_f64()
        ),
        (Some(40.0), Some(0.0))
    );
    assert_eq!(gil["after"]["lifecycle_stage"], "MQL", "never demoted");

    let after = (
        lead_state(&app).await,
        app.count("lead_transitions").await,
        app.count("assignments").await,
    );
    assert_eq!(after, before, "a dry run writes nothing");

    // Candidate rules in a dry run: a fit threshold of 75 would move nobody up.
    let (status, report) = app
        .post_json(RESCORE, &json!({"rules": {"mql": {"fit": 75}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report:#}");
    assert_eq!(report["candidate"], true);
    assert_eq!(
        changes(&report),
        [("Lead".into(), "Disqualified".into(), 1)]
    );
}

#[tokio::test]
async fn applying_records_rescore_transitions_refolds_intent_and_assigns() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = restarted(pool).await;
    let (status, report) = app.post_json(RESCORE, &json!({"apply": true})).await;
    assert_eq!(status, StatusCode::OK, "{report:#}");
    assert_eq!(report["apply"], true);
    assert_eq!(report["stage_changes"], 2);
    assert_eq!(report["rescored"], 4);

    let cal = app.lead("cal@acme.io").await;
    assert_eq!(cal["lifecycle_stage"], "MQL");
    assert_eq!(cal["intent_score"], 45.0, "refolded from the event log");
    assert_eq!(cal["scores"]["rules_version"], app.rules.version);
    let last = last_transition(&cal);
    assert_eq!(
        (
            last["from_stage"].as_str(),
            last["to_stage"].as_str(),
            last["actor"].as_str()
        ),
        (Some("Lead"), Some("MQL"), Some("rescore"))
    );
    assert_eq!(last["reason"], "fit 70 ≥ 60 and intent 45 ≥ 40");
    assert_eq!(
        cal["handoff"]["rep_name"], "Ray Rep",
        "a new MQL is handed off"
    );
    let exits: i64 = sqlx::query_scalar(
        "select count(*) from nurture_log n join leads l on l.id = n.lead_id
          where l.email = 'cal@acme.io' and n.kind = 'exited'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(exits, 1, "an MQL leaves nurture");

    let eve = app.lead("eve@rivalcorp.com").await;
    assert_eq!(eve["disqualified_reason"], "Disqualified_Competitor");
    let last = eve["history"]["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["to_stage"].as_str(), last["actor"].as_str()),
        (Some("Disqualified"), Some("rescore"))
    );

    let gil = app.lead("gil@acme.io").await;
    assert_eq!(
        (
            gil["lifecycle_stage"].as_str(),
            gil["intent_score"].as_f64()
        ),
        (Some("MQL"), Some(0.0))
    );
    let rescore_moves: i64 =
        sqlx::query_scalar("select count(*) from lead_transitions where actor = 'rescore'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(rescore_moves, 2);

    let (_, again) = app.post_json(RESCORE, &json!({"apply": true})).await;
    assert_eq!(
        (again["rescored"].as_i64(), again["stage_changes"].as_i64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn a_limited_pass_says_where_to_go_on() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = restarted(pool).await;
    let (status, first) = app
        .post_json(RESCORE, &json!({"apply": true, "limit": 3}))
        .await;
    assert_eq!(status, StatusCode::OK, "{first:#}");
    assert_eq!(first["scanned"], 3);
    let after = first["next_after"].as_str().unwrap();
    let (_, rest) = app
        .post_json(RESCORE, &json!({"apply": true, "after": after, "limit": 3}))
        .await;
    assert_eq!(rest["scanned"], 1);
    assert_eq!(rest["next_after"], Value::Null);
    let moved = first["stage_changes"].as_i64().unwrap() + rest["stage_changes"].as_i64().unwrap();
    assert_eq!(moved, 2);
}

#[tokio::test]
async fn bad_rescore_requests_are_422s_and_only_admin_may_rescore() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let cases = [
        (
            json!({"apply": true, "rules": {"mql": {"fit": 50}}}),
            "rules",
        ),
        (
            json!({"rules": {"mql": {"intent": -1}}}),
            "rules.mql.intent",
        ),
        (json!({"after": "not-a-uuid"}), "after"),
        (json!({"limit": 0}), "limit"),
        (json!({"apply": "yes"}), "apply"),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post_json(RESCORE, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem:#}"
        );
        assert_eq!(problem_fields(&problem), [field]);
    }
    let (status, _) = app
        .as_role(Role::Ops)
        .await
        .post_json(RESCORE, &json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
