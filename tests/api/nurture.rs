//! Behaviour-triggered nurture over HTTP: enrollment with the first touch, each default
//! trigger, each tier's way of involving sales, the exits, the recycle path, a demand-state
//! move, duplicates, and the simulate endpoint agreeing with the live path.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_db::TestDb;
use crate::{
    handoff::{mql, team},
    helpers::{TestApp, event, last_transition, problem_fields, vp_event},
};

/// An analyst at a fit company: fit 45 (industry 20 + revenue 15 + size 10), so engagement
/// alone never makes them MQL and they stay in nurture.
fn analyst_event(id: &str, email: &str, kind: &str, hours: i64) -> Value {
    let mut e = event(id, email, kind, Duration::hours(hours));
    e["lead"] = json!({
        "email": email, "first_name": "Ana", "title": "Analyst", "company": "Acme",
        "industry": "software", "employee_count": 250, "annual_revenue": 50_000_000,
        "country": "US",
    });
    e
}

/// `analyst_event` about `asset` (how a MAP reports an open or click of a touch).
fn about(mut e: Value, asset: &str) -> Value {
    e["properties"] = json!({ "asset_id": asset });
    e
}

async fn account(app: &TestApp, domain: &str, tier: u8, owner: Option<&str>) {
    let (status, body) = app
        .post_json(
            "/api/v1/accounts",
            &json!({"domain": domain, "tier": tier, "owner_email": owner}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Posts `e` with the clock at its `occurred_at`, as a live source would.
async fn deliver(app: &TestApp, e: &Value) -> Value {
    app.set_now(e["occurred_at"].as_str().unwrap().parse().unwrap());
    app.ingest(e).await
}

async fn nurture_of(app: &TestApp, email: &str) -> Value {
    app.lead(email).await["nurture"].clone()
}

/// The outbox as (topic, recipient, asset id), oldest first.
async fn outbox(app: &TestApp) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "select topic, recipient, payload->'asset'->>'id' from outbox
          where topic in ('nurture.touch', 'rep.task', 'rep.nurture_signal') order by id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

fn row(topic: &str, to: &str, asset: Option<&str>) -> (String, String, Option<String>) {
    (topic.into(), to.into(), asset.map(Into::into))
}

/// (kind, step, asset, reason) of each nurture log row of the lead view.
fn log(nurture: &Value) -> Vec<(String, i64, Option<String>, String)> {
    nurture["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["step"].as_i64().unwrap(),
                e["asset_id"].as_str().map(Into::into),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A rep's rejection of `lead` with `reason`.
async fn reject(app: &TestApp, key: &str, lead: &str, reason: &str) {
    let (status, body) = app
        .with_key(key)
        .post_json(
            &format!("/api/v1/leads/{lead}/reject"),
            &json!({ "reason": reason }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A canonical event for `email` that occurs at the service's clock.
fn now_event(app: &TestApp, id: &str, email: &str, kind: &str) -> Value {
    let mut e = event(id, email, kind, Duration::zero());
    e["occurred_at"] = json!(app.now().to_rfc3339());
    e
}

fn entry(
    kind: &str,
    step: i64,
    asset: Option<&str>,
    reason: &str,
) -> (String, i64, Option<String>, String) {
    (kind.into(), step, asset.map(Into::into), reason.into())
}

/// Tier 2: enrolled on the pricing visit that made the lead `late`, with the comparison guide
/// as first touch; opening the guide completes comparison + pricing: two assets forward, and
/// the account owner hears of it. A replayed event sends nothing again.
#[tokio::test]
async fn comparison_and_pricing_jump_two_assets_and_tell_the_tier_2_owner() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "acme.io", 2, Some("olga@us.example")).await;
    let email = "ana@acme.io";
    deliver(&app, &analyst_event("p1", email, "pricing_page_visit", 0)).await;

    let n = nurture_of(&app, email).await;
    assert_eq!(n["workflow"], "Nurture_late_2");
    assert_eq!(n["step"], 0);
    assert_eq!(n["current_asset"]["id"], "comparison-guide");
    assert_eq!(n["next_asset"]["id"], "pricing-retargeting");
    assert_eq!(
        outbox(&app).await,
        [row("nurture.touch", email, Some("comparison-guide"))]
    );

    let open = about(
        analyst_event("o1", email, "email_open", 20),
        "comparison-guide",
    );
    let body = deliver(&app, &open).await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Lead");
    let n = nurture_of(&app, email).await;
    assert_eq!(
        (n["step"].as_i64(), &n["current_asset"]["id"]),
        (Some(2), &json!("roi-calculator"))
    );
    assert_eq!(n["next_asset"]["id"], "case-study-retargeting");
    assert_eq!(
        log(&n),
        [
            entry("enrolled", 0, Some("comparison-guide"), "segmented"),
            entry(
                "advanced",
                2,
                Some("roi-calculator"),
                "comparison_and_pricing"
            ),
        ]
    );
    assert_eq!(n["touches"].as_array().unwrap().len(), 2);
    assert_eq!(n["log"][1]["notified"], "olga@us.example");
    let sent = vec![
        row("nurture.touch", email, Some("comparison-guide")),
        row("nurture.touch", email, Some("roi-calculator")),
        row(
            "rep.nurture_signal",
            "olga@us.example",
            Some("roi-calculator"),
        ),
    ];
    assert_eq!(outbox(&app).await, sent);

    // The same events again: duplicates, nothing new anywhere.
    let body = app
        .ingest(&json!([
            open,
            analyst_event("p1", email, "pricing_page_visit", 0)
        ]))
        .await;
    assert_eq!(body["duplicates"], 2);
    assert_eq!(outbox(&app).await, sent);
    assert_eq!(log(&nurture_of(&app, email).await).len(), 2);
}

/// Tier 1 is sales-assisted from day one: the owner is told at enrollment, the first asset
/// is a sales touch that becomes their task, and every trigger reaches them.
#[tokio::test]
async fn tier_1_gives_the_owner_tasks_and_every_signal() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "bigco.com", 1, Some("olga@us.example")).await;
    let email = "ana@bigco.com";
    deliver(&app, &analyst_event("w1", email, "webinar_attended", 0)).await;
    // The webinar made the lead `early`, enrolled it (owner-intro) and, as engagement with
    // content, moved it one asset on.
    let n = nurture_of(&app, email).await;
    assert_eq!(n["workflow"], "Nurture_early_1");
    assert_eq!(
        log(&n),
        [
            entry("enrolled", 0, Some("owner-intro"), "segmented"),
            entry("advanced", 1, Some("routing-report"), "content_engaged"),
        ]
    );
    assert_eq!(
        outbox(&app).await,
        [
            row("rep.task", "olga@us.example", Some("owner-intro")),
            row("rep.nurture_signal", "olga@us.example", Some("owner-intro")),
            row("nurture.touch", email, Some("routing-report")),
            row(
                "rep.nurture_signal",
                "olga@us.example",
                Some("routing-report")
            ),
        ]
    );
}

/// A Tier 1 lead whose account has no owner and who was never assigned: its tasks and
/// notices go nowhere and the log names nobody, on the write that creates the lead and on the
/// one that moves it later, while its touches for the MAP still go out.
#[tokio::test]
async fn with_nobody_to_tell_only_the_touches_go_out() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "bigco.com", 1, None).await;
    let email = "ana@bigco.com";
    deliver(&app, &analyst_event("w1", email, "webinar_attended", 0)).await;
    deliver(&app, &analyst_event("p1", email, "pricing_page_visit", 1)).await;
    let open = about(
        analyst_event("o1", email, "email_click", 2),
        "comparison-guide",
    );
    deliver(&app, &open).await;
    let n = nurture_of(&app, email).await;
    assert_eq!(
        log(&n),
        [
            entry("enrolled", 0, Some("owner-intro"), "segmented"),
            entry("advanced", 1, Some("routing-report"), "content_engaged"),
            entry(
                "moved",
                1,
                Some("comparison-guide"),
                "moved from Nurture_early_1"
            ),
            // A sales touch, with a notice: neither has anyone to go to.
            entry(
                "advanced",
                3,
                Some("exec-briefing"),
                "content_engaged, comparison_and_pricing"
            ),
        ]
    );
    assert!(
        n["log"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["notified"].is_null())
    );
    assert_eq!(
        outbox(&app).await,
        [
            row("nurture.touch", email, Some("routing-report")),
            row("nurture.touch", email, Some("comparison-guide")),
        ]
    );
}

/// Tier 3 is automated: comparison + pricing moves the lead without telling anyone; a demo
/// request (a raised hand, not an MQL at fit 45) reaches the owner.
#[tokio::test]
async fn tier_3_stays_automated_until_the_lead_raises_a_hand() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "smallco.com", 3, Some("olga@us.example")).await;
    let email = "ana@smallco.com";
    deliver(&app, &analyst_event("p1", email, "pricing_page_visit", 0)).await;
    let open = about(
        analyst_event("o1", email, "email_click", 1),
        "comparison-guide",
    );
    deliver(&app, &open).await;
    let n = nurture_of(&app, email).await;
    assert_eq!(n["step"], 2);
    assert!(
        outbox(&app)
            .await
            .iter()
            .all(|(topic, _, _)| topic == "nurture.touch")
    );

    let body = deliver(&app, &analyst_event("d1", email, "demo_request", 2)).await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Lead");
    let n = nurture_of(&app, email).await;
    assert_eq!(
        log(&n).last().unwrap(),
        &entry("advanced", 3, Some("demo-offer"), "hand_raise")
    );
    assert_eq!(
        outbox(&app).await.last().unwrap(),
        &row("rep.nurture_signal", "olga@us.example", Some("demo-offer"))
    );
}

/// Three pricing visits within 72 hours: a pricing spike (one asset on, owner told in Tier 2).
#[tokio::test]
async fn a_pricing_spike_moves_the_lead_and_tells_the_tier_2_owner() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "acme.io", 2, Some("olga@us.example")).await;
    let email = "ana@acme.io";
    for (i, hours) in [0, 30, 60].into_iter().enumerate() {
        deliver(
            &app,
            &analyst_event(&format!("p{i}"), email, "pricing_page_visit", hours),
        )
        .await;
    }
    let n = nurture_of(&app, email).await;
    assert_eq!(
        log(&n).last().unwrap(),
        &entry("advanced", 1, Some("pricing-retargeting"), "pricing_spike")
    );
    assert_eq!(n["log"][1]["notified"], "olga@us.example");
}

/// The lead exits on MQL (handoff takes over) and on disqualification; a disqualified lead
/// gets no touch whatever it does.
#[tokio::test]
async fn the_lead_exits_on_mql_and_on_disqualification() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "acme.io", 2, None).await;
    deliver(
        &app,
        &analyst_event("p1", "ana@acme.io", "pricing_page_visit", 0),
    )
    .await;
    // Promoted to VP (fit 70) with a demo request: MQL.
    let mut promoted = analyst_event("d1", "ana@acme.io", "demo_request", 1);
    promoted["lead"]["title"] = json!("VP Marketing");
    let body = deliver(&app, &promoted).await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "MQL");
    let n = nurture_of(&app, "ana@acme.io").await;
    assert_eq!(n["workflow"], Value::Null);
    assert_eq!(log(&n).last().unwrap(), &entry("exited", 0, None, "MQL"));

    deliver(
        &app,
        &analyst_event("p2", "bob@acme.io", "pricing_page_visit", 0),
    )
    .await;
    let body = deliver(&app, &analyst_event("x2", "bob@acme.io", "opt_out", 1)).await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Disqualified");
    let n = nurture_of(&app, "bob@acme.io").await;
    assert_eq!(
        log(&n).last().unwrap(),
        &entry("exited", 0, None, "Disqualified")
    );
    let before = outbox(&app).await;
    let open = about(
        analyst_event("o2", "bob@acme.io", "email_click", 2),
        "comparison-guide",
    );
    deliver(&app, &open).await;
    deliver(
        &app,
        &analyst_event("p3", "bob@acme.io", "pricing_page_visit", 3),
    )
    .await;
    assert_eq!(
        outbox(&app).await,
        before,
        "a disqualified lead gets no touch"
    );
    assert_eq!(log(&nurture_of(&app, "bob@acme.io").await).len(), 2);
}

/// A rejection for timing recycles the MQL into nurture; the rep who had it hears of its next
/// high-intent signal. A Not-ICP rejection does not recycle.
#[tokio::test]
async fn a_wrong_timing_rejection_recycles_the_lead_into_nurture() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let lead = mql(&app, "jane@acme.io").await;
    let (status, body) = app
        .with_key(&key)
        .post_json(
            &format!("/api/v1/leads/{lead}/reject"),
            &json!({"reason": "Rejected_WrongTiming"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let n = nurture_of(&app, "jane@acme.io").await;
    assert_eq!(n["workflow"], "Nurture_late_2");
    assert_eq!(
        log(&n),
        [entry(
            "enrolled",
            0,
            Some("comparison-guide"),
            "recycled: Rejected_WrongTiming"
        )]
    );

    app.advance(Duration::days(3));
    let mut open = about(
        event("o1", "jane@acme.io", "email_open", Duration::days(3)),
        "comparison-guide",
    );
    open["occurred_at"] = json!(app.now().to_rfc3339());
    app.ingest(&open).await;
    let mut pricing = event(
        "p1",
        "jane@acme.io",
        "pricing_page_visit",
        Duration::days(3),
    );
    pricing["occurred_at"] = json!(app.now().to_rfc3339());
    let body = app.ingest(&pricing).await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Rejected");
    let n = nurture_of(&app, "jane@acme.io").await;
    assert_eq!(
        log(&n).last().unwrap(),
        &entry(
            "advanced",
            2,
            Some("roi-calculator"),
            "comparison_and_pricing"
        )
    );
    assert_eq!(
        n["log"][1]["notified"], "ray@us.example",
        "the rep who had it"
    );

    let other = mql(&app, "joe@acme.io").await;
    let (status, _) = app
        .with_key(&key)
        .post_json(
            &format!("/api/v1/leads/{other}/reject"),
            &json!({"reason": "Rejected_NotICP"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        nurture_of(&app, "joe@acme.io").await["workflow"],
        Value::Null
    );
}

/// A recycled lead comes back to sales when what it did after the rejection earns the MQL
/// threshold on its own: it leaves nurture and goes to a rep again. A Not-ICP rejection never
/// comes back, whatever the lead does.
#[tokio::test]
async fn a_recycled_lead_qualifies_again_on_intent_earned_since_the_rejection() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let ray = app.with_key(&key);
    let jane = mql(&app, "jane@acme.io").await;
    reject(&app, &key, &jane, "Rejected_WrongTiming").await;
    let joe = mql(&app, "joe@acme.io").await;
    reject(&app, &key, &joe, "Rejected_NotICP").await;
    let rejected = app.lead("jane@acme.io").await;
    assert_eq!(rejected["rejection_reason"], "Rejected_WrongTiming");

    app.advance(Duration::days(3));
    let signal = |id: &str, email: &str, kind: &str| now_event(&app, id, email, kind);
    // Intent 75 in all, but the demo before the rejection is what the rep turned down.
    let body = app
        .ingest(&signal("p1", "jane@acme.io", "pricing_page_visit"))
        .await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Rejected");
    assert_eq!(body["results"][0]["intent_score"], 75.0);
    let since = &app.lead("jane@acme.io").await["scores"]["since_rejection"];
    assert_eq!(since["intent"]["score"], 25.0);
    // A visit that happened before the rejection, delivered late, does not count either.
    let mut before = signal("c0", "jane@acme.io", "comparison_page_visit");
    before["occurred_at"] = json!((app.now() - Duration::days(4)).to_rfc3339());
    let body = app.ingest(&before).await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Rejected");

    let body = app
        .ingest(&signal("c1", "jane@acme.io", "comparison_page_visit"))
        .await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "MQL");
    let lead = app.lead("jane@acme.io").await;
    let moved = last_transition(&lead);
    assert_eq!(
        (&moved["from_stage"], &moved["to_stage"]),
        (&json!("Rejected"), &json!("MQL"))
    );
    assert_eq!(
        moved["reason"],
        "recycled after Rejected_WrongTiming, qualified again: fit 70 ≥ 60 and intent since \
         the rejection 45 ≥ 40"
    );
    assert_eq!(lead["scores"]["since_rejection"], Value::Null);
    assert_eq!(
        lead["rejection_reason"],
        Value::Null,
        "an MQL again, not rejected"
    );
    let n = &lead["nurture"];
    assert_eq!(n["workflow"], Value::Null);
    assert_eq!(log(n).last().unwrap().0, "exited");
    // Back in the rep's queue with a new assignment.
    let (status, queue) = ray.get("/api/v1/queue").await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    let queued: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["lead_id"].as_str().unwrap())
        .collect();
    assert_eq!(queued, [jane.as_str()]);

    let body = app
        .ingest(&signal("d1", "joe@acme.io", "demo_request"))
        .await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Rejected");

    // Simulated from the rejection on, the same visits take the same path.
    let sample: Vec<Value> = [
        ("p1", "pricing_page_visit"),
        ("c1", "comparison_page_visit"),
    ]
    .iter()
    .map(|(id, kind)| vp_event(id, "sim@acme.io", kind, Duration::days(3)))
    .collect();
    let (status, sim) = app
        .post_json(
            "/api/v1/nurture/simulate",
            &json!({"account_tier": 2, "stage": "Rejected",
                    "rejection_reason": "Rejected_WrongTiming", "events": sample}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    let stages: Vec<&Value> = sim["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["lifecycle_stage"])
        .collect();
    assert_eq!(stages, [&json!("Rejected"), &json!("MQL")]);
    assert_eq!(sim["workflow"], Value::Null, "it left nurture");
}

/// A recycled lead is in nurture again, so it answers to the disqualification rules: one that
/// opts out is suppressed and gets no further touch.
#[tokio::test]
async fn a_recycled_lead_that_opts_out_is_disqualified_and_gets_no_touch() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let jane = mql(&app, "jane@acme.io").await;
    reject(&app, &key, &jane, "Rejected_NoBudget").await;
    assert_eq!(
        nurture_of(&app, "jane@acme.io").await["workflow"],
        "Nurture_late_2"
    );

    app.advance(Duration::days(1));
    let signal = |id: &str, kind: &str| now_event(&app, id, "jane@acme.io", kind);
    let body = app.ingest(&signal("out", "opt_out")).await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "Disqualified");
    let lead = app.lead("jane@acme.io").await;
    assert_eq!(lead["disqualified_reason"], "Disqualified_NoSale");
    assert_eq!(last_transition(&lead)["from_stage"], "Rejected");
    assert_eq!(log(&lead["nurture"]).last().unwrap().0, "exited");

    let before = outbox(&app).await;
    let open = about(signal("o1", "email_open"), "comparison-guide");
    app.ingest(&open).await;
    app.ingest(&signal("p1", "pricing_page_visit")).await;
    assert_eq!(
        outbox(&app).await,
        before,
        "a suppressed lead gets no touch"
    );
}

/// A recycled lead that then goes quiet is swept out like a lead: the inactivity rule
/// disqualifies it and its nurture ends, with no event needed. A lead rejected for good
/// (Not-ICP) is not the sweeper's, however long it sleeps.
#[tokio::test]
async fn a_recycled_lead_left_idle_is_swept_out_of_nurture() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let jane = mql(&app, "jane@acme.io").await;
    reject(&app, &key, &jane, "Rejected_WrongTiming").await;
    let joe = mql(&app, "joe@acme.io").await;
    reject(&app, &key, &joe, "Rejected_NotICP").await;
    let rejected = app.lead("jane@acme.io").await;
    assert_eq!(rejected["rejection_reason"], "Rejected_WrongTiming");

    app.advance(Duration::days(179));
    assert_eq!(app.sweep().await.disqualified, 0, "not idle long enough");
    app.advance(Duration::days(2));
    assert_eq!(app.sweep().await.disqualified, 1);

    let lead = app.lead("jane@acme.io").await;
    assert_eq!(lead["lifecycle_stage"], "Disqualified");
    assert_eq!(lead["disqualified_reason"], "Disqualified_Inactive");
    assert_eq!(last_transition(&lead)["from_stage"], "Rejected");
    assert_eq!(log(&lead["nurture"]).last().unwrap().0, "exited");
    assert_eq!(
        app.lead("joe@acme.io").await["lifecycle_stage"],
        "Rejected",
        "a lead rejected for good stays rejected"
    );
    assert_eq!(app.sweep().await.disqualified, 0, "nothing left to sweep");
}

/// A lead rejected before its count since the rejection was kept (the migration leaves it
/// empty) gets it from its events on a rescore, and then comes back on its next signal.
#[tokio::test]
async fn a_rescore_counts_what_a_recycled_lead_did_before_its_count_was_kept() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let (_, _, key) = team(&app).await;
    let jane = mql(&app, "jane@acme.io").await;
    reject(&app, &key, &jane, "Rejected_WrongTiming").await;
    app.advance(Duration::days(3));
    let signal = |id: &str, kind: &str| now_event(&app, id, "jane@acme.io", kind);
    app.ingest(&signal("p1", "pricing_page_visit")).await;
    // What the migration gives a lead rejected before: counting from the rejection, empty.
    sqlx::query(
        "update leads set since_rejection = jsonb_build_object('rejected_at', stage_changed_at),
                          version = version + 1
          where email = 'jane@acme.io'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let since = |lead: Value| lead["scores"]["since_rejection"]["intent"]["score"].clone();
    assert_eq!(since(app.lead("jane@acme.io").await), 0.0);

    let (status, report) = app
        .post_json("/api/v1/admin/rescore", &json!({"apply": true}))
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(since(app.lead("jane@acme.io").await), 25.0);
    let body = app.ingest(&signal("c1", "comparison_page_visit")).await;
    assert_eq!(body["results"][0]["lifecycle_stage"], "MQL");
}

/// Behaviour that changes the demand state moves the lead to the matching workflow at the
/// same position.
#[tokio::test]
async fn a_new_demand_state_moves_the_lead_to_its_workflow() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "acme.io", 2, None).await;
    let email = "ana@acme.io";
    deliver(&app, &analyst_event("c1", email, "email_click", 0)).await;
    deliver(&app, &analyst_event("p1", email, "pricing_page_visit", 1)).await;
    let n = nurture_of(&app, email).await;
    assert_eq!(n["workflow"], "Nurture_late_2");
    assert_eq!(
        log(&n),
        [
            entry("enrolled", 0, Some("welcome-email"), "segmented"),
            entry("advanced", 1, Some("routing-report"), "content_engaged"),
            entry(
                "moved",
                1,
                Some("pricing-retargeting"),
                "moved from Nurture_early_2"
            ),
        ]
    );
}

/// The simulate endpoint runs the same functions as the live path: the same sample gives the
/// same path, touches and notices, and writes nothing.
#[tokio::test]
async fn simulate_agrees_with_the_live_path() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "acme.io", 2, Some("olga@us.example")).await;
    let email = "ana@acme.io";
    let events = vec![
        analyst_event("c1", email, "email_click", 0),
        analyst_event("p1", email, "pricing_page_visit", 2),
        about(
            analyst_event("o1", email, "email_open", 5),
            "comparison-guide",
        ),
        analyst_event("p2", email, "pricing_page_visit", 30),
        analyst_event("p3", email, "pricing_page_visit", 50),
        analyst_event("d1", email, "demo_request", 60),
    ];
    let (status, sim) = app
        .post_json(
            "/api/v1/nurture/simulate",
            &json!({"account_tier": 2, "events": events}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    assert_eq!(app.count("leads").await, 0, "simulate writes nothing");
    assert_eq!(app.count("outbox").await, 0);

    for e in &events {
        deliver(&app, e).await;
    }
    let live = nurture_of(&app, email).await;
    let simulated: Vec<(String, i64, Option<String>, String)> = sim["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["nurture"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_owned(),
                r["step"].as_i64().unwrap(),
                r["touch"]["id"].as_str().map(Into::into),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(simulated, log(&live));
    assert!(
        simulated.len() >= 5,
        "the sample exercises the triggers: {simulated:?}"
    );
    let notified_live: Vec<bool> = live["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| !e["notified"].is_null())
        .collect();
    let notified_sim: Vec<bool> = sim["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["nurture"].as_array().unwrap().clone())
        .map(|r| r["notify_owner"].as_bool().unwrap())
        .collect();
    assert_eq!(notified_sim, notified_live);
    assert_eq!(sim["workflow"], live["workflow"]);
    assert_eq!(sim["step"], live["step"]);
    let last = sim["steps"].as_array().unwrap().last().unwrap().clone();
    let lead = app.lead(email).await;
    assert_eq!(last["fit_score"], lead["fit_score"]);
    assert_eq!(last["lifecycle_stage"], lead["lifecycle_stage"]);
}

#[tokio::test]
async fn simulate_names_the_bad_field() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    let good = analyst_event("c1", "ana@acme.io", "email_click", 0);
    let mut bad_type = good.clone();
    bad_type["type"] = json!("telepathy");
    let cases = [
        (json!({"events": good.clone()}), "events"),
        (
            json!({"events": [good.clone(), bad_type]}),
            "events[1].type",
        ),
        (
            json!({"events": [good.clone(), analyst_event("c2", "bob@acme.io", "email_click", 1)]}),
            "events[1].lead.email",
        ),
        (
            json!({"account_tier": 4, "events": [good.clone()]}),
            "account_tier",
        ),
        (
            json!({"stage": "Rejected", "events": [good.clone()]}),
            "stage",
        ),
        (json!({"events": []}), "events"),
        (json!({"account_tier": 2}), "events"),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post_json("/api/v1/nurture/simulate", &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem_fields(&problem), [field], "{body}: {problem}");
    }
    assert_eq!(app.count("leads").await, 0);
}

/// A tier change on the account list moves enrolled leads to their new tier's workflow at
/// once, and enrolls leads the new tier makes segmented.
#[tokio::test]
async fn a_new_tier_moves_enrolled_leads_at_once() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "acme.io", 2, None).await;
    deliver(
        &app,
        &analyst_event("p1", "ana@acme.io", "pricing_page_visit", 0),
    )
    .await;
    // globex.com is on no list: no tier, so not segmented, not enrolled.
    deliver(
        &app,
        &analyst_event("p2", "gus@globex.com", "pricing_page_visit", 0),
    )
    .await;
    assert_eq!(
        nurture_of(&app, "gus@globex.com").await["workflow"],
        Value::Null
    );

    let (status, body) = app
        .post_json(
            "/api/v1/accounts/import",
            &json!([
                {"domain": "acme.io", "tier": 1, "owner_email": "olga@us.example"},
                {"domain": "globex.com", "tier": 3},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let n = nurture_of(&app, "ana@acme.io").await;
    assert_eq!(n["workflow"], "Nurture_late_1");
    assert_eq!(
        log(&n).last().unwrap(),
        &entry("moved", 0, Some("owner-intro"), "moved from Nurture_late_2")
    );
    assert_eq!(
        outbox(&app)
            .await
            .iter()
            .filter(|(t, _, _)| t == "rep.task")
            .count(),
        1,
        "the sales touch is a task for the new owner"
    );
    let n = nurture_of(&app, "gus@globex.com").await;
    assert_eq!(n["workflow"], "Nurture_late_3");
    assert_eq!(
        log(&n),
        [entry("enrolled", 0, Some("comparison-guide"), "segmented")]
    );
}

/// `GET /api/v1/metrics/nurture` counts the nurture log per workflow: every configured
/// workflow listed, zeros and `null` shares where nothing happened.
#[tokio::test]
async fn nurture_metrics_count_each_workflow_exactly() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let app = TestApp::spawn(pool).await;
    account(&app, "acme.io", 2, None).await;
    deliver(
        &app,
        &analyst_event("a1", "ana@acme.io", "pricing_page_visit", 0),
    )
    .await;
    let open = about(
        analyst_event("a2", "ana@acme.io", "email_open", 1),
        "comparison-guide",
    );
    deliver(&app, &open).await;
    deliver(
        &app,
        &analyst_event("b1", "bob@acme.io", "pricing_page_visit", 2),
    )
    .await;
    let mut promoted = analyst_event("b2", "bob@acme.io", "demo_request", 3);
    promoted["lead"]["title"] = json!("VP Marketing");
    deliver(&app, &promoted).await;
    deliver(&app, &analyst_event("c1", "cy@acme.io", "email_click", 4)).await;

    let (status, m) = app
        .get("/api/v1/metrics/nurture?from=2026-11-19&to=2026-11-22")
        .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    let line = |name: &str| {
        m["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["workflow"] == name)
            .unwrap()
            .clone()
    };
    let counts = |w: &Value| {
        [
            "enrolled",
            "moved_in",
            "advanced",
            "triggered",
            "touches",
            "exited",
            "exited_to_mql",
        ]
        .map(|k| w[k].as_i64().unwrap())
    };
    assert_eq!(m["workflows"].as_array().unwrap().len(), 6);
    assert_eq!(counts(&line("Nurture_late_2")), [2, 0, 1, 0, 3, 1, 1]);
    assert_eq!(line("Nurture_late_2")["mql_share_of_exits"], 1.0);
    assert_eq!(counts(&line("Nurture_early_2")), [1, 0, 1, 0, 2, 0, 0]);
    assert_eq!(line("Nurture_early_2")["mql_share_of_exits"], Value::Null);
    assert_eq!(counts(&line("Nurture_late_3")), [0; 7]);
    assert_eq!(counts(&m["total"]), [3, 0, 2, 0, 5, 1, 1]);
    // A period of part of a day is read from the log itself: the same numbers.
    let (_, partial) = app
        .get("/api/v1/metrics/nurture?from=2026-11-20T11:00:00Z&to=2026-11-20T23:00:00Z")
        .await;
    assert_eq!(partial["workflows"], m["workflows"]);
    // The daily sums the log writes keep equal their recomputation from the log.
    let differing: i64 = sqlx::query_scalar(
        "with sums as (select day, key, reason, sum(n) as n from metrics_daily
                        where kind = 'nurture' group by 1, 2, 3),
              derived as (select day, key, reason, n from metrics_daily_derived
                           where kind = 'nurture')
         select count(*) from ((table sums except table derived)
                               union all (table derived except table sums)) d",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(differing, 0);

    let (_, empty) = app
        .get("/api/v1/metrics/nurture?from=2026-01-01&to=2026-02-01")
        .await;
    assert_eq!(counts(&empty["total"]), [0; 7]);
    assert_eq!(empty["total"]["mql_share_of_exits"], Value::Null);
    let (status, problem) = app
        .get("/api/v1/metrics/nurture?from=2026-11-22&to=2026-11-19")
        .await;
    assert_eq!(status.as_u16() / 100, 4, "{problem}");
}
