//! The suppression list, reinstatement and the manual review queue over HTTP.

use chrono::Duration;
use leadrouter::domain::Role;
use serde_json::json;

use crate::helpers::{TestApp, event, problem_fields, vp_event};
use crate::test_db::TestDb;

/// The views nurture and handoff will read: a disqualified lead is in neither, a reinstated
/// one is back, and a lead waiting for review is not handed off until resolved.
#[tokio::test]
async fn suppressed_leads_leave_nurture_and_handoff_and_reinstated_ones_return() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for (domain, tier) in [("acme.io", 2)] {
        let (status, _) = app
            .post_json("/api/v1/accounts", &json!({"domain": domain, "tier": tier}))
            .await;
        assert_eq!(status, 200);
    }
    let nurture = event(
        "n1",
        "nurture@acme.io",
        "content_download",
        Duration::zero(),
    );
    app.ingest(&nurture).await;
    let mql = vp_event("m1", "mql@acme.io", "demo_request", Duration::zero());
    app.ingest(&mql).await;
    let in_view = |view: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(&format!("select email from {view} order by email"))
                .fetch_all(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(in_view("nurture_candidates").await, ["nurture@acme.io"]);
    assert_eq!(in_view("handoff_candidates").await, ["mql@acme.io"]);

    for (id, email) in [("o1", "nurture@acme.io"), ("o2", "mql@acme.io")] {
        app.ingest(&event(id, email, "opt_out", Duration::zero()))
            .await;
    }
    assert!(in_view("nurture_candidates").await.is_empty());
    assert!(in_view("handoff_candidates").await.is_empty());

    let ops_key = app.mint_key(Role::Ops, None).await;
    for email in ["nurture@acme.io", "mql@acme.io"] {
        let id = app.lead(email).await["id"].as_str().unwrap().to_owned();
        let (status, body) = app
            .with_key(&ops_key)
            .post_json(
                &format!("/api/v1/leads/{id}/reinstate"),
                &json!({"reason": "opt-out was for marketing email only"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["overruled"], "Disqualified_NoSale");
    }
    assert_eq!(in_view("nurture_candidates").await, ["nurture@acme.io"]);
    assert_eq!(in_view("handoff_candidates").await, ["mql@acme.io"]);
    let mql = app.lead("mql@acme.io").await;
    assert_eq!(mql["lifecycle_stage"], "MQL", "re-evaluated at once");
    assert_eq!(mql["exempt_reasons"], json!(["Disqualified_NoSale"]));
    let stages: Vec<(String, String)> = mql["history"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["to_stage"].as_str().unwrap().into(),
                t["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        stages.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["Lead", "MQL", "Disqualified", "Lead", "MQL"]
    );
    assert_eq!(
        stages[3].1,
        format!("ops:{}", &ops_key[..11]),
        "the key's actor"
    );

    // Another opt-out no longer suppresses it: the rule was overruled for this lead.
    app.ingest(&event("o3", "mql@acme.io", "opt_out", Duration::zero()))
        .await;
    assert_eq!(app.lead("mql@acme.io").await["lifecycle_stage"], "MQL");
}

/// The suppression list filters by reason and pages; reinstatement refuses what it cannot do.
#[tokio::test]
async fn the_suppression_list_filters_pages_and_guards_reinstatement() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    for i in 0..3 {
        let e = event(
            &format!("c{i}"),
            &format!("c{i}@rivalcorp.com"),
            "page_view",
            Duration::zero(),
        );
        app.ingest(&e).await;
    }
    app.ingest(&event("s1", "s1@mit.edu", "page_view", Duration::zero()))
        .await;
    app.ingest(&event("k1", "keep@acme.io", "page_view", Duration::zero()))
        .await;

    let (status, all) = app.get("/api/v1/suppression").await;
    assert_eq!(status, 200);
    assert_eq!(all["total"], 4);
    let (_, page) = app
        .get("/api/v1/suppression?reason=Disqualified_Competitor&limit=2&offset=0")
        .await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["items"].as_array().unwrap().len()
        ),
        (Some(3), 2)
    );
    let item = &page["items"][0];
    assert_eq!(item["disqualified_reason"], "Disqualified_Competitor");
    assert!(
        item["rule"].as_str().unwrap().contains("disqualify[0]"),
        "{item}"
    );
    assert_eq!(item["account_domain"], "rivalcorp.com");
    let (_, rest) = app
        .get("/api/v1/suppression?reason=Disqualified_Competitor&limit=2&offset=2")
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);

    for (query, field) in [
        ("reason=Disqualified_Bored", "reason"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("offset=-1", "offset"),
        ("limit=ten", "limit"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/suppression?{query}")).await;
        assert_eq!(status, 422, "{query}");
        assert_eq!(problem_fields(&body), [field], "{query}");
    }

    let keep = app.lead("keep@acme.io").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/leads/{keep}/reinstate");
    let (status, body) = app.post_json(&path, &json!({"reason": "why not"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("stage Lead"),
        "{body}"
    );
    let (status, body) = app.post_json(&path, &json!({"reason": "  "})).await;
    assert_eq!(
        (status.as_u16(), problem_fields(&body)),
        (422, vec!["reason".to_owned()])
    );
    let (status, body) = app.post_json(&path, &json!({})).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .post_json(
            "/api/v1/leads/00000000-0000-0000-0000-000000000000/reinstate",
            &json!({"reason": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = app
        .post_json(
            "/api/v1/leads/not-a-uuid/reinstate",
            &json!({"reason": "x"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), problem_fields(&body)),
        (422, vec!["id".to_owned()])
    );
}

/// An MQL without a tier waits in the queue; resolving it needs the missing value, checks
/// it, records who did it, and sends the lead on.
#[tokio::test]
async fn the_review_queue_holds_unsegmented_mqls_until_resolved() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let e = vp_event("r1", "held@unlisted.io", "demo_request", Duration::zero());
    let lead_id = app.ingest(&e).await["results"][0]["lead_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, queue) = app.get("/api/v1/review-queue").await;
    assert_eq!(status, 200);
    assert_eq!(queue["total"], 1);
    assert_eq!(queue["items"][0]["lead_id"], lead_id.as_str());
    assert_eq!(queue["items"][0]["missing"], json!(["account_tier"]));
    assert_eq!(queue["items"][0]["demand_state"], "late");

    let path = format!("/api/v1/review-queue/{lead_id}/resolve");
    for (body, field) in [
        (json!({}), "account_tier"),
        (json!({"account_tier": 4}), "account_tier"),
        (json!({"account_tier": "one"}), "account_tier"),
        (
            json!({"account_tier": 1, "demand_state": "tepid"}),
            "demand_state",
        ),
        (json!({"account_tier": 1, "colour": "red"}), "colour"),
    ] {
        let (status, problem) = app.post_json(&path, &body).await;
        assert_eq!(status, 422, "{body} -> {problem}");
        let fields = problem_fields(&problem);
        assert!(
            fields.contains(&field.to_owned())
                || problem["detail"].as_str().unwrap().contains(field),
            "{body} -> {problem}"
        );
    }
    let ops_key = app.mint_key(Role::Ops, None).await;
    let (status, resolved) = app
        .with_key(&ops_key)
        .post_json(
            &path,
            &json!({"account_tier": 1, "note": "named account, list lagging"}),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["account_tier"], 1);
    assert_eq!(resolved["demand_state"], "late");

    let (_, queue) = app.get("/api/v1/review-queue").await;
    assert_eq!(queue["total"], 0);
    let handed: Vec<String> = sqlx::query_scalar("select email from handoff_candidates")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(handed, ["held@unlisted.io"]);
    let (by, note): (String, Option<String>) =
        sqlx::query_as("select resolved_by, note from lead_reviews")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (by, note.as_deref()),
        (
            format!("ops:{}", &ops_key[..11]),
            Some("named account, list lagging")
        )
    );

    let (status, _) = app.post_json(&path, &json!({"account_tier": 2})).await;
    assert_eq!(status, 409, "no longer queued");
}

/// Newest disqualification first, whatever the leads did after it: an event for a lead
/// suppressed earlier does not move it up the list.
#[tokio::test]
async fn the_suppression_list_is_newest_disqualification_first() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    app.ingest(&event(
        "o1",
        "old@rivalcorp.com",
        "page_view",
        Duration::zero(),
    ))
    .await;
    app.advance(Duration::hours(1));
    app.ingest(&event(
        "n1",
        "new@rivalcorp.com",
        "page_view",
        Duration::hours(1),
    ))
    .await;
    app.advance(Duration::hours(1));
    app.ingest(&event(
        "o2",
        "old@rivalcorp.com",
        "pricing_page_visit",
        Duration::hours(2),
    ))
    .await;
    let (_, list) = app.get("/api/v1/suppression").await;
    let emails: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["new@rivalcorp.com", "old@rivalcorp.com"]);
}
