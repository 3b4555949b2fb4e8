//! The predictive model through the API, on a history built so that the answer is known: 200
//! VP leads (fit 70 under the shipped rules) in four cells of 50, with a demo request or not
//! and a webinar attended or not, each credited with one closed deal. The won counts per cell
//! (10, 25, 25, 40 of 50) are odds of 1:4, 1:1, 1:1 and 4:1, so a logistic model without
//! interaction fits them exactly: each of the two signals multiplies the odds of winning by 4
//! (a coefficient of ln 4 ≈ 1.386). The shipped rules weigh only the demo request, so they
//! miss the webinar attendees' wins; the model proposes a weight for webinars.

use chrono::Duration;
use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, t0, vp_profile},
    test_db::TestDb,
};

const PROPOSALS: &str = "/api/v1/model/proposals";

/// Each lead: (email, its event types, won or not).
fn history() -> Vec<(String, Vec<&'static str>, bool)> {
    let mut leads = Vec::new();
    for (demo, webinar, won) in [
        (false, false, 10),
        (false, true, 25),
        (true, false, 25),
        (true, true, 40),
    ] {
        // A profile update is no signal: the leads of the first cell show none.
        let mut kinds = vec!["profile_update"];
        kinds.extend(demo.then_some("demo_request"));
        kinds.extend(webinar.then_some("webinar_attended"));
        for i in 0..50 {
            let email = format!("d{}w{}-{i}@acme.io", u8::from(demo), u8::from(webinar));
            leads.push((email, kinds.clone(), i < won));
        }
    }
    leads
}

fn at(minutes: i64) -> String {
    (t0() + Duration::minutes(minutes)).to_rfc3339()
}

async fn seed(app: &TestApp) {
    let leads = history();
    for chunk in leads.chunks(100) {
        let events: Vec<Value> = chunk
            .iter()
            .flat_map(|(email, kinds, _)| {
                kinds.iter().map(move |kind| {
                    json!({"event_id": format!("{kind}-{email}"), "source": "hubspot", "type": kind,
                           "occurred_at": at(-60), "lead": vp_profile(email)})
                })
            })
            .collect();
        app.ingest(&json!(events)).await;
        let deals: Vec<Value> = chunk
            .iter()
            .flat_map(|(email, _, won)| {
                let id = format!("D-{email}");
                let closing = if *won { "opportunity_closed_won" } else { "opportunity_closed_lost" };
                [
                    json!({"event_id": format!("{id}-new"), "source": "crm", "type": "opportunity_created",
                           "occurred_at": at(-30), "opportunity": {"id": id, "contacts": [{"email": email}]}}),
                    json!({"event_id": format!("{id}-end"), "source": "crm", "type": closing,
                           "occurred_at": at(-10), "opportunity": {"id": id}}),
                ]
            })
            .collect();
        let (status, answer) = app
            .post_json("/webhooks/opportunities", &json!(deals))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
}

fn factor<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no factor {name}: {report:#}"))
}

#[tokio::test]
async fn the_model_finds_the_known_lifts_and_its_proposal_round_trips_through_backtest() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    seed(&app).await;
    let ops = app.as_role(Role::Ops).await;

    // 100 won deals over minutes: below the 200 won and 18 months it needs to be trusted.
    let (status, problem) = ops.post_json(PROPOSALS, &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "force");
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("100 leads with won deals"), "{detail}");
    let (status, problem) = ops
        .post_json(PROPOSALS, &json!({"force": true, "target": 1.5}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "target");

    let (status, report) = ops.post_json(PROPOSALS, &json!({"force": true})).await;
    assert_eq!(status, StatusCode::OK, "{report:#}");
    let training = &report["training"];
    assert_eq!(
        (
            training["leads"].as_u64(),
            training["won"].as_u64(),
            training["lost"].as_u64()
        ),
        (Some(200), Some(100), Some(100))
    );
    assert_eq!(training["forced"], true);
    assert_eq!(training["converged"], true);
    assert_eq!(training["patterns"], 4, "four cells, one row each");
    // ln 4 ≈ 1.386, exact but for the ridge, which shrinks it by well under 0.01.
    for name in ["intent.webinar_attended", "intent.demo_request"] {
        let c = factor(&report, name)["coefficient"].as_f64().unwrap();
        assert!((c - 4f64.ln()).abs() < 0.01, "{name}: {c}");
    }
    let intercept = report["intercept"].as_f64().unwrap();
    assert!((intercept - 0.25f64.ln()).abs() < 0.01, "{intercept}");
    let top: Vec<&str> = report["top_positive"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(top[..2].len(), 2);
    assert!(top[..2].contains(&"intent.webinar_attended"), "{top:?}");
    assert!(top[..2].contains(&"intent.demo_request"), "{top:?}");
    // A rule every lead matches tells nothing: it keeps its points.
    assert_eq!(factor(&report, "fit.target_industry")["proposed"], 20.0);
    // The demo request anchors the scale (50 points now); the webinar lifts as much.
    let weights = &report["candidate_rules"]["intent"]["weights"];
    assert_eq!(
        (
            weights["demo_request"].as_f64(),
            weights["webinar_attended"].as_f64()
        ),
        (Some(50.0), Some(50.0))
    );

    // The candidate is accepted by the backtest, which finds what the model reported of it.
    let records: Vec<Value> = history()
        .iter()
        .map(|(email, kinds, won)| {
            let events: Vec<Value> = kinds.iter().map(|kind| json!({"type": kind, "occurred_at": at(-60)})).collect();
            json!({"lead": vp_profile(email), "outcome": if *won { "closed_won" } else { "closed_lost" }, "events": events})
        })
        .collect();
    let candidate = &report["candidate_rules"];
    let (status, backtest) = ops
        .post_json(
            "/api/v1/scoring/backtest",
            &json!({"records": records, "rules": candidate}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{backtest:#}");
    assert_eq!(backtest["rules_version"], report["candidate_version"]);
    let proposed = &report["comparison"]["candidate"];
    assert_eq!(backtest["won"]["crossed"], proposed["won_crossed"]);
    assert_eq!(backtest["lost"]["crossed"], proposed["lost_crossed"]);
    assert_eq!(backtest["thresholds"]["fit"], proposed["fit"]);
    let (status, running) = ops
        .post_json("/api/v1/scoring/backtest", &json!({"records": records}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let current = &report["comparison"]["running"];
    assert_eq!(running["won"]["crossed"], current["won_crossed"]);
    assert_eq!(running["lost"]["crossed"], current["lost_crossed"]);
    // The running rules make MQLs of the demo requesters only: 65 of 100 won, 100 MQLs. The
    // candidate adds the webinar attendees: 90 won at 150 MQLs.
    assert_eq!(
        (current["won_crossed"].as_u64(), current["mqls"].as_u64()),
        (Some(65), Some(100))
    );
    assert_eq!(
        (proposed["won_crossed"].as_u64(), proposed["mqls"].as_u64()),
        (Some(90), Some(150))
    );
    let summary = report["comparison"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("captured 90% of won deals at 50% more MQLs"),
        "{summary}"
    );
    // And by the rescore dry run (an admin's).
    let (status, dry) = app
        .post_json("/api/v1/admin/rescore", &json!({"rules": candidate}))
        .await;
    assert_eq!(status, StatusCode::OK, "{dry:#}");
    assert_eq!(dry["candidate"], true);

    // Decay: the 100 demo requesters are MQLs; a half-life later their intent (50 → 25) is
    // below 40, and they are counted as stale.
    assert_eq!(
        (
            report["decay"]["mqls"].as_u64(),
            report["decay"]["stale"].as_u64()
        ),
        (Some(100), Some(0))
    );
    app.advance(Duration::days(31));
    let (_, later) = ops.post_json(PROPOSALS, &json!({"force": true})).await;
    assert_eq!(
        (
            later["decay"]["mqls"].as_u64(),
            later["decay"]["stale"].as_u64()
        ),
        (Some(100), Some(100))
    );
    assert_eq!(later["decay"]["stale_share"], 1.0);
}
