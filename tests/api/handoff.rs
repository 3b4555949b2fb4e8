//! The MQL → SAL handoff over HTTP: assignment, the rep's queue and packet, the four sales
//! actions with their refusals, ownership, fairness, waiting MQLs.

use std::sync::Arc;

use chrono::Duration;
use leadrouter::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use uuid::Uuid;

use crate::helpers::{TestApp, event, last_transition, problem_fields, vp_event};
use crate::test_db::TestDb;

/// Creates a rep (or manager) through the admin API; returns its id.
pub async fn create_rep(app: &TestApp, body: Value) -> Uuid {
    let (status, rep) = app.post_json("/api/v1/reps", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{rep}");
    rep["id"].as_str().unwrap().parse().unwrap()
}

/// A manager and one rep reporting to them, and `acme.io` as a Tier 2 account (so its MQLs
/// need no review); returns (manager, rep, rep's key).
pub async fn team(app: &TestApp) -> (Uuid, Uuid, String) {
    tier(app, "acme.io", 2).await;
    let manager = create_rep(
        app,
        json!({"name": "Mia Manager", "email": "mia@us.example", "role": "manager"}),
    )
    .await;
    let rep = create_rep(
        app,
        json!({"name": "Ray Rep", "email": "ray@us.example", "manager_id": manager}),
    )
    .await;
    let key = app.mint_key(Role::Rep, Some(rep)).await;
    (manager, rep, key)
}

/// Ingests a demo request from a VP (fit 70, intent 50: MQL at once); returns the lead id.
pub async fn mql(app: &TestApp, email: &str) -> String {
    let body = app
        .ingest(&vp_event(
            &format!("demo-{email}"),
            email,
            "demo_request",
            Duration::zero(),
        ))
        .await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "MQL");
    body["results"][0]["lead_id"].as_str().unwrap().to_owned()
}

async fn tier(app: &TestApp, domain: &str, tier: u8) {
    let (status, body) = app
        .post_json("/api/v1/accounts", &json!({"domain": domain, "tier": tier}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The whole path a lead takes: event → MQL → assigned with its packet → in the rep's queue
/// → acknowledged → accepted → qualified, with every refusal on the way.
#[tokio::test]
async fn an_mql_goes_from_event_to_sql_through_its_rep() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, rep, key) = team(&app).await;
    let lead = mql(&app, "jane@acme.io").await;
    let ray = app.with_key(&key);

    let (status, queue) = ray.get("/api/v1/queue").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let item = &queue.as_array().unwrap()[0];
    assert_eq!(item["lead_id"], lead.as_str());
    let packet = &item["packet"];
    assert_eq!(packet["trigger"]["type"], "demo_request");
    assert_eq!(packet["owner"]["rep_id"], rep.to_string());
    assert_eq!(packet["owner"]["rule"], "round_robin");
    assert_eq!(packet["demand_state"], "late");
    assert_eq!(packet["account_tier"], 2);
    assert_eq!(packet["disqualifiers_checked"].as_array().unwrap().len(), 7);
    assert_eq!(packet["last_touches"][0]["type"], "demo_request");
    assert!(
        packet["recommended_opener"]
            .as_str()
            .unwrap()
            .starts_with("Hi Jane, ")
    );
    assert!(
        packet["problem_hypothesis"]
            .as_str()
            .unwrap()
            .contains("demo request")
    );
    // t0 is Friday 12:00 UTC: ack due 4 business hours later, disposition 2 business days
    // (16 h of 09-17) later, escalation 48 wall-clock hours later.
    assert_eq!(packet["sla"]["ack_due"], "2026-11-20T16:00:00Z");
    assert_eq!(packet["sla"]["disposition_due"], "2026-11-24T12:00:00Z");
    assert_eq!(packet["sla"]["escalate_at"], "2026-11-22T12:00:00Z");
    let (to, payload): (String, Value) =
        sqlx::query_as("select recipient, payload from outbox where topic = 'rep.assigned'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(to, "ray@us.example");
    assert_eq!(&payload["packet"], packet);

    let path = |action: &str| format!("/api/v1/leads/{lead}/{action}");
    let (status, _) = ray.post_json(&path("acknowledge"), &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = ray.post_json(&path("acknowledge"), &json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, problem) = ray
        .post_json(&path("accept"), &json!({"confirmed_interest": false}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["confirmed_interest"]);
    let (status, problem) = ray.post_json(&path("accept"), &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = ray
        .post_json(
            &path("qualify"),
            &json!({"budget": true, "authority": true, "need": true, "timing": true,
                    "budget_amount": 20000, "decision_by": "2027-03-31"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        problem["detail"].as_str().unwrap().contains("stage MQL"),
        "{problem}"
    );

    let (status, accepted) = ray
        .post_json(&path("accept"), &json!({"confirmed_interest": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted["lifecycle_stage"], "SAL");
    let (_, queue) = ray.get("/api/v1/queue").await;
    assert_eq!(queue, json!([]), "an accepted lead leaves the queue");
    for action in ["acknowledge", "reject"] {
        let (status, problem) = ray
            .post_json(&path(action), &json!({"reason": "Rejected_NoBudget"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("stage SAL"),
            "{problem}"
        );
    }
    let (status, problem) = ray
        .post_json(
            &path("qualify"),
            &json!({"budget": true, "authority": true, "need": false, "timing": true,
                    "budget_amount": 20000, "decision_by": "2027-03-31"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["need"]);
    let (status, qualified) = ray
        .post_json(
            &path("qualify"),
            &json!({"budget": true, "authority": true, "need": true, "timing": true,
                    "budget_amount": 20000, "decision_by": "2027-03-31"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{qualified}");
    assert_eq!(qualified["lifecycle_stage"], "SQL");

    let view = app.lead("jane@acme.io").await;
    let steps: Vec<(String, String)> = view["history"]["transitions"]
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
    let actor = format!("rep:{rep}");
    assert_eq!(
        steps,
        [
            ("Lead".into(), "system".into()),
            ("MQL".into(), "system".into()),
            ("MQL".into(), actor.clone()),
            ("SAL".into(), actor.clone()),
            ("SQL".into(), actor),
        ]
    );
    assert_eq!(view["handoff"]["rep_name"], "Ray Rep");
}

/// Each reason of the closed list rejects; anything else is a 422 listing them.
#[tokio::test]
async fn a_rep_rejects_with_each_listed_reason_and_no_other() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let ray = app.with_key(&key);
    let lead = mql(&app, "x@acme.io").await;
    let (status, problem) = ray
        .post_json(
            &format!("/api/v1/leads/{lead}/reject"),
            &json!({"reason": "Rejected_Busy"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), ["reason"]);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Rejected_AlreadyInPipeline")
    );
    for (i, reason) in [
        "Rejected_NotICP",
        "Rejected_WrongTiming",
        "Rejected_NoBudget",
        "Rejected_AlreadyInPipeline",
    ]
    .into_iter()
    .enumerate()
    {
        let lead = mql(&app, &format!("r{i}@acme.io")).await;
        let (status, body) = ray
            .post_json(
                &format!("/api/v1/leads/{lead}/reject"),
                &json!({"reason": reason, "note": "spoke on the phone"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["lifecycle_stage"], "Rejected");
        let stored: Option<String> =
            sqlx::query_scalar("select rejection_reason from leads where id = $1::uuid")
                .bind(&lead)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(stored.as_deref(), Some(reason));
        let last = last_transition(&app.lead(&format!("r{i}@acme.io")).await);
        assert_eq!(last["reason"], format!("{reason}: spoke on the phone"));
    }
}

/// Intent that decayed below threshold while the lead waited: accept is refused with the
/// scores and the thresholds.
#[tokio::test]
async fn accept_is_refused_below_threshold_with_the_numbers() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let lead = mql(&app, "late@acme.io").await;
    app.advance(Duration::days(31));
    let (status, problem) = app
        .with_key(&key)
        .post_json(
            &format!("/api/v1/leads/{lead}/accept"),
            &json!({"confirmed_interest": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["fit_score"], 70);
    assert_eq!(problem["intent_score"], 25.0);
    assert_eq!(problem["fit_threshold"], 60);
    assert_eq!(problem["intent_threshold"], 40.0);
}

/// Reps act on their own leads only; managers on their team's.
#[tokio::test]
async fn reps_act_on_their_own_leads_and_managers_on_their_team() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (manager, _, _) = team(&app).await;
    let lead = mql(&app, "owned@acme.io").await;
    let stranger = create_rep(&app, json!({"name": "Sam", "email": "sam@us.example"})).await;
    let other_manager = create_rep(
        &app,
        json!({"name": "Olga", "email": "olga@us.example", "role": "manager"}),
    )
    .await;
    let path = format!("/api/v1/leads/{lead}/acknowledge");
    for (role, id) in [(Role::Rep, stranger), (Role::Manager, other_manager)] {
        let key = app.mint_key(role, Some(id)).await;
        let (status, _) = app.with_key(&key).post_json(&path, &json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
    }
    let key = app.mint_key(Role::Manager, Some(manager)).await;
    let (status, body) = app.with_key(&key).post_json(&path, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The packet of an MQL assigned after review (or once a rep exists) once read "came in
/// through a your recent interest" with a null trigger: it names the event that earned it.
#[tokio::test]
async fn a_lead_assigned_after_review_or_waiting_names_the_event_that_earned_its_mql() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    tier(&app, "acme.io", 2).await;
    // No rep yet: this MQL waits, and goes to the first rep created.
    mql(&app, "wait@acme.io").await;
    let rep = create_rep(&app, json!({"name": "Ray Rep", "email": "ray@us.example"})).await;
    let ray = app.mint_key(Role::Rep, Some(rep)).await;
    // No tier for unlisted.io: this one waits for review.
    let held = app
        .ingest(&vp_event(
            "h1",
            "held@unlisted.io",
            "demo_request",
            Duration::zero(),
        ))
        .await;
    let held = held["results"][0]["lead_id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post_json(
            &format!("/api/v1/review-queue/{held}/resolve"),
            &json!({"account_tier": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, queue) = app.with_key(&ray).get("/api/v1/queue").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let items = queue.as_array().unwrap();
    assert_eq!(items.len(), 2, "{queue:#}");
    for item in items {
        let packet = &item["packet"];
        assert_eq!(packet["trigger"]["type"], "demo_request", "{packet:#}");
        assert_eq!(packet["trigger"]["source"], "hubspot");
        let opener = packet["recommended_opener"].as_str().unwrap();
        assert!(
            opener.starts_with("Hi Jane, I saw Acme came in through a demo request. "),
            "{opener}"
        );
    }
}

/// DESIGN §2: a rejected lead carries its standardized reason as a field, not only in text.
#[tokio::test]
async fn a_rejected_lead_shows_its_rejection_reason_by_id_and_by_email() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let lead = mql(&app, "nope@acme.io").await;
    let (_, view) = app.get(&format!("/api/v1/leads/{lead}")).await;
    assert_eq!(view["rejection_reason"], Value::Null, "{view:#}");
    let (status, body) = app
        .with_key(&key)
        .post_json(
            &format!("/api/v1/leads/{lead}/reject"),
            &json!({"reason": "Rejected_NotICP", "note": "agency, not a buyer"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, by_id) = app.get(&format!("/api/v1/leads/{lead}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_id["lifecycle_stage"], "Rejected");
    assert_eq!(by_id["rejection_reason"], "Rejected_NotICP");
    let by_email = app.lead("nope@acme.io").await;
    assert_eq!(by_email["rejection_reason"], "Rejected_NotICP");
}

/// Qualify once named only `body` and the first field left out; docs/http-api.md promises each.
#[tokio::test]
async fn qualify_names_every_field_left_out_or_not_true() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let lead = mql(&app, "bant@acme.io").await;
    let ray = app.with_key(&key);
    let accept = format!("/api/v1/leads/{lead}/accept");
    let (status, _) = ray
        .post_json(&accept, &json!({"confirmed_interest": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/api/v1/leads/{lead}/qualify");
    for (body, fields) in [
        (
            json!({}),
            vec![
                "budget",
                "authority",
                "need",
                "timing",
                "budget_amount",
                "decision_by",
            ],
        ),
        (
            json!({"budget": true, "need": "yes", "budget_amount": "20000", "decision_by": "2027-03-31"}),
            vec!["authority", "need", "timing"],
        ),
        (
            json!({"budget": null, "authority": false, "need": true, "timing": true,
                   "budget_amount": -1, "decision_by": 20270331}),
            vec!["budget", "authority", "budget_amount", "decision_by"],
        ),
        (
            json!({"budget": true, "authority": true, "need": true, "timing": true,
                   "budget_amount": "inf", "estimated_acv": "NaN", "decision_by": "2027-03-31"}),
            vec!["budget_amount", "estimated_acv"],
        ),
    ] {
        let (status, problem) = ray.post_json(&path, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem_fields(&problem), fields, "{body}");
    }
    let body = json!({"budget": true, "authority": true, "need": true, "timing": true, "x": 1});
    let (status, problem) = ray.post_json(&path, &body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(problem.to_string().contains("`x`"), "{problem}");
    assert_eq!(app.lead("bant@acme.io").await["lifecycle_stage"], "SAL");
}

/// 1,000 MQLs arriving at once over 10 reps: round robin gives each exactly 100.
#[tokio::test]
async fn round_robin_is_exactly_fair_under_concurrency() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = Arc::new(TestApp::spawn(pool).await);
    tier(&app, "acme.io", 2).await;
    create_reps(&app, 10).await;
    demo_requests_at_once(&app, 1_000).await;
    assert_eq!(assignments_per_rep(&app).await, vec![100; 10]);
}

/// `n` active reps covering everything.
async fn create_reps(app: &TestApp, n: usize) {
    for i in 0..n {
        create_rep(
            app,
            json!({"name": format!("Rep {i}"), "email": format!("rep{i}@us.example")}),
        )
        .await;
    }
}

/// A demo request from each of `p0@acme.io` .. `p{n-1}@acme.io`, all in flight at once;
/// returns the answers.
async fn demo_requests_at_once(app: &Arc<TestApp>, n: usize) -> Vec<Value> {
    let requests: Vec<_> = (0..n)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let e = vp_event(
                    &format!("demo-{i}"),
                    &format!("p{i}@acme.io"),
                    "demo_request",
                    Duration::zero(),
                );
                app.ingest(&e).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    answers
}

/// How many assignments each rep got, ascending.
async fn assignments_per_rep(app: &TestApp) -> Vec<i64> {
    sqlx::query_scalar("select count(*) from assignments group by rep_id order by 1")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// A lead that exists turns MQL through a later event (the optimistic ingest path, which
/// assigns after its write): by the time the event is answered the lead is assigned once,
/// with that event as the packet's trigger and the rep's message in the outbox.
#[tokio::test]
async fn an_existing_lead_is_assigned_before_the_event_that_made_it_mql_is_answered() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, rep, key) = team(&app).await;
    let body = app
        .ingest(&vp_event(
            "first",
            "late@acme.io",
            "pricing_page_visit",
            Duration::minutes(-5),
        ))
        .await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Lead");
    let body = app
        .ingest(&vp_event(
            "second",
            "late@acme.io",
            "comparison_page_visit",
            Duration::zero(),
        ))
        .await;
    assert_eq!(body["results"][0]["lead_created"], false);
    assert_eq!(body["results"][0]["lifecycle_stage"], "MQL");

    let (_, queue) = app.with_key(&key).get("/api/v1/queue").await;
    let queue = queue.as_array().unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0]["packet"]["owner"]["rep_id"], rep.to_string());
    assert_eq!(
        queue[0]["packet"]["trigger"]["type"],
        "comparison_page_visit"
    );
    assert_eq!(app.count("assignments").await, 1);
    let messages: i64 =
        sqlx::query_scalar("select count(*) from outbox where topic = 'rep.assigned'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(messages, 1);
}

/// 300 existing leads each turned MQL by concurrent single events (so group commits hand
/// several off at once): each is assigned exactly once, and round robin stays exactly fair.
#[tokio::test]
async fn concurrent_mqls_of_existing_leads_are_each_assigned_once_and_fairly() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = Arc::new(TestApp::spawn(pool).await);
    tier(&app, "acme.io", 2).await;
    create_reps(&app, 3).await;
    let first: Vec<Value> = (0..300)
        .map(|i| {
            vp_event(
                &format!("view-{i}"),
                &format!("p{i}@acme.io"),
                "page_view",
                Duration::minutes(-5),
            )
        })
        .collect();
    app.ingest(&Value::Array(first)).await;
    assert_eq!(app.count("assignments").await, 0);
    for body in demo_requests_at_once(&app, 300).await {
        assert_eq!(body["results"][0]["lifecycle_stage"], "MQL");
    }
    assert_eq!(assignments_per_rep(&app).await, vec![100; 3]);
    assert_eq!(app.count("unassigned_mqls").await, 0);
    let owned: i64 =
        sqlx::query_scalar("select count(*) from leads where owner_rep_id is not null")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(owned, 300);
}

/// With no active rep an MQL waits, and the first rep to appear gets it.
#[tokio::test]
async fn an_mql_waits_for_a_rep_and_is_assigned_when_one_appears() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    tier(&app, "acme.io", 2).await;
    mql(&app, "early@acme.io").await;
    let waiting: i64 = sqlx::query_scalar("select count(*) from unassigned_mqls")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(waiting, 1);
    let rep = create_rep(&app, json!({"name": "First", "email": "first@us.example"})).await;
    let owner: Option<Uuid> = sqlx::query_scalar("select owner_rep_id from leads")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(owner, Some(rep));
    assert_eq!(app.count("unassigned_mqls").await, 0);
}

/// A lead that comes back to MQL keeps the owner of its earlier handoff; if nobody can take
/// it then, it waits like any other MQL and goes to the next rep who appears (it used to be
/// skipped for having an owner, and stayed first in line for ever).
#[tokio::test]
async fn an_mql_back_from_suppression_is_assigned_despite_its_earlier_owner() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    tier(&app, "acme.io", 2).await;
    let first = create_rep(&app, json!({"name": "First", "email": "first@us.example"})).await;
    let lead = mql(&app, "back@acme.io").await;
    app.ingest(&event("out", "back@acme.io", "opt_out", Duration::zero()))
        .await;
    assert_eq!(app.count("unassigned_mqls").await, 0);
    let (status, body) = app
        .post_json(&format!("/api/v1/reps/{first}/deactivate"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ops_key = app.mint_key(Role::Ops, None).await;
    let (status, body) = app
        .with_key(&ops_key)
        .post_json(
            &format!("/api/v1/leads/{lead}/reinstate"),
            &json!({"reason": "opted out of the newsletter only"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let back = app.lead("back@acme.io").await;
    assert_eq!(back["lifecycle_stage"], "MQL");
    let owner: Option<Uuid> = sqlx::query_scalar("select owner_rep_id from leads")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(owner, Some(first), "the earlier owner");
    assert_eq!(app.count("unassigned_mqls").await, 1);

    let next = create_rep(&app, json!({"name": "Next", "email": "next@us.example"})).await;
    let open: Vec<Uuid> =
        sqlx::query_scalar("select rep_id from assignments where closed_at is null")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(open, [next]);
    assert_eq!(app.count("unassigned_mqls").await, 0);
}

/// Tier 1 goes to the account's owner, whatever the territories say.
#[tokio::test]
async fn a_tier_1_mql_goes_to_the_account_owner() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    create_rep(
        &app,
        json!({"name": "Terr", "email": "terr@us.example", "countries": ["US"]}),
    )
    .await;
    let owner = create_rep(
        &app,
        json!({"name": "Own", "email": "own@us.example", "countries": ["FR"]}),
    )
    .await;
    let (status, body) = app
        .post_json(
            "/api/v1/accounts",
            &json!({"domain": "bigco.com", "tier": 1, "owner_email": "own@us.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tier(&app, "smallco.com", 2).await;
    mql(&app, "cfo@bigco.com").await;
    mql(&app, "vp@smallco.com").await;
    let owners: Vec<(String, Option<Uuid>)> =
        sqlx::query_as("select email, owner_rep_id from leads order by email")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(owners[0].1, Some(owner));
    assert_ne!(
        owners[1].1,
        Some(owner),
        "the US territory rep takes the tier-2 US lead"
    );
}
