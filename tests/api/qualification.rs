//! The qualification ladder over HTTP: a Tier 1 demo request goes through MEDDIC after BANT
//! when its estimated ACV is above $50K, a Tier 2 one through BANT alone; BANT's budget floor
//! and decision window; MEDDIC's six fields recorded by the rep, each a field value with who
//! and when, required before SQL with a 422 naming what is missing.

use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    handoff::{create_rep, mql},
    helpers::{TestApp, last_transition, problem_fields},
    test_db::TestDb,
};

fn bant(budget: f64, decision_by: &str) -> Value {
    json!({"budget": true, "authority": true, "need": true, "timing": true,
           "budget_amount": budget, "decision_by": decision_by})
}

#[tokio::test]
async fn an_enterprise_demo_request_needs_meddic_before_sql() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    for (domain, tier) in [("acme.io", 1), ("globex.com", 2)] {
        let (status, body) = app
            .post_json("/api/v1/accounts", &json!({"domain": domain, "tier": tier}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let rep = create_rep(&app, json!({"name": "Ray Rep", "email": "ray@us.example"})).await;
    let ray = app.mint_key(Role::Rep, Some(rep)).await;
    let ray = app.with_key(&ray);
    let enterprise = mql(&app, "jane@acme.io").await;
    let mid = mql(&app, "joe@globex.com").await;
    for lead in [&enterprise, &mid] {
        let (status, body) = ray
            .post_json(
                &format!("/api/v1/leads/{lead}/accept"),
                &json!({"confirmed_interest": true}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let qualify = |lead: &str| format!("/api/v1/leads/{lead}/qualify");
    let meddic = format!("/api/v1/leads/{enterprise}/meddic");

    // BANT's amounts: the budget floor (5,000) and the decision window (12 months from t0,
    // Fri 2026-11-20).
    let (status, problem) = ray
        .post_json(&qualify(&mid), &bant(4_000.0, "2027-11-20"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem_fields(&problem), ["budget_amount", "decision_by"]);

    // Tier 1 + demo request: MEDDIC above an ACV of 50,000, every field named.
    let (status, problem) = ray
        .post_json(&qualify(&enterprise), &bant(80_000.0, "2027-03-31"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem_fields(&problem),
        [
            "meddic.metrics",
            "meddic.economic_buyer",
            "meddic.decision_criteria",
            "meddic.decision_process",
            "meddic.identify_pain",
            "meddic.champion"
        ]
    );
    let (status, view) = ray
        .post_json(
            &meddic,
            &json!({"metrics": "cut CAC by 20%", "economic_buyer": "Ann, CFO",
                                    "identify_pain": "leads go unworked", "champion": "Jane"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["framework"], "meddic");
    assert_eq!(
        view["meddic_missing"],
        json!(["decision_criteria", "decision_process"])
    );
    let champion = view["meddic"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["field"] == "champion")
        .unwrap();
    assert_eq!(champion["value"], "Jane");
    assert_eq!(champion["recorded_by"], format!("rep:{rep}"));
    assert_eq!(champion["recorded_at"], "2026-11-20T12:00:00Z");
    let (status, problem) = ray.post_json(&meddic, &json!({"champion": "  "})).await;
    assert_eq!(
        (status, problem_fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["champion".to_owned()]
        )
    );
    let (status, problem) = ray.post_json(&meddic, &json!({"chamption": "Jane"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = ray
        .post_json(&qualify(&enterprise), &bant(80_000.0, "2027-03-31"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        problem_fields(&problem),
        ["meddic.decision_criteria", "meddic.decision_process"]
    );
    // With the last two recorded, it qualifies.
    ray.post_json(
        &meddic,
        &json!({"decision_criteria": "routing SLA", "decision_process": "CFO signs"}),
    )
    .await;
    let (status, qualified) = ray
        .post_json(&qualify(&enterprise), &bant(80_000.0, "2027-03-31"))
        .await;
    assert_eq!(status, StatusCode::OK, "{qualified}");
    assert_eq!(qualified["lifecycle_stage"], "SQL");
    let lead = app.lead("jane@acme.io").await;
    let reason = last_transition(&lead)["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reason.starts_with("qualified (meddic): budget 80000"),
        "{reason}"
    );
    assert_eq!(lead["qualification"]["meddic_missing"], json!([]));
    assert_eq!(lead["qualification"]["meddic"].as_array().unwrap().len(), 6);

    // Tier 2: BANT alone, whatever the size.
    let (status, qualified) = ray
        .post_json(&qualify(&mid), &bant(80_000.0, "2027-03-31"))
        .await;
    assert_eq!(status, StatusCode::OK, "{qualified}");
    let joe = app.lead("joe@globex.com").await;
    assert_eq!(joe["qualification"]["framework"], "bant");
    assert!(
        last_transition(&joe)["reason"]
            .as_str()
            .unwrap()
            .starts_with("qualified (bant)")
    );
}
