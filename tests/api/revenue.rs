//! Opportunities and the backward metrics, over the known funnel of `funnel_seed` plus these
//! opportunities (source `crm`), sent out of order and partly twice:
//!
//! | opp | belongs to | credited lead (MQL) | opened | amount | outcome |
//! |---|---|---|---|---|---|
//! | O1 | a1@acme.io | L1, Ray, T1 (11-02 10:00) | 11-04 10:00 | 60,000 USD | won 11-09 10:00 |
//! | O2 | account globex.com | L4, Ray, T2 (11-11 10:00) | 11-12 10:00 | 20,000 EUR | lost 11-19 10:00 |
//! | O3 | i1@initech.com | L7, never MQL | 11-05 10:00 | 5,000 USD | won 11-16 10:00 |
//! | O4 | a3@acme.io | L3, Sue, T1 (11-10 09:00, after opening) | 11-06 10:00 | 1,000 USD | open |
//! | O5 | a3@acme.io | L3, Sue, T1 | 11-13 10:00 | 30,000 USD | open |
//! | O6 | old@acme.io | Ray, T1 (10-26 10:00) | 11-03 10:00 | 10,000 USD | won 11-20 10:00 |
//!
//! Marketing-sourced (the lead was MQL before the opening): O1, O2, O5, O6. Spend: 30,000 USD
//! on the whole over November (19 of its 30 days in the period) and 9,000 USD on Tier 1 inside
//! the period.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::test_db::TestDb;
use crate::{
    funnel_seed::{PERIOD, Seeded, at, seed},
    helpers::{TestApp, problem_fields},
    metrics::{group, view},
};

/// An opportunity event of `crm` about `opp` at `when` (`"11-04 10"`).
fn opp_event(id: &str, opp: &str, kind: &str, when: (u32, u32, u32), facts: Value) -> Value {
    let mut opportunity = json!({"id": opp});
    for (k, v) in facts.as_object().unwrap() {
        opportunity[k] = v.clone();
    }
    json!({"event_id": id, "source": "crm", "type": kind,
           "occurred_at": at(when.0, when.1, when.2).to_rfc3339(), "opportunity": opportunity})
}

fn contact(email: &str) -> Value {
    json!([{"email": email}])
}

async fn send(app: &TestApp, events: Value) -> Value {
    let (status, body) = app.post_json("/webhooks/opportunities", &events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The opportunities of the module docs, closings before openings and one batch twice.
pub(crate) async fn seed_opportunities(app: &TestApp) {
    let usd = |amount: u32| json!({"amount": amount, "currency": "USD"});
    let with = |mut a: Value, b: Value| {
        for (k, v) in b.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    let closings = json!([
        opp_event(
            "o1-won",
            "O1",
            "opportunity_closed_won",
            (11, 9, 10),
            json!({"stage": "Closed Won"})
        ),
        opp_event(
            "o2-lost",
            "O2",
            "opportunity_closed_lost",
            (11, 19, 10),
            json!({})
        ),
        opp_event(
            "o3-won",
            "O3",
            "opportunity_closed_won",
            (11, 16, 10),
            json!({})
        ),
        opp_event(
            "o6-won",
            "O6",
            "opportunity_closed_won",
            (11, 20, 10),
            json!({})
        ),
    ]);
    let openings = json!([
        opp_event(
            "o1-new",
            "O1",
            "opportunity_created",
            (11, 4, 10),
            with(
                usd(60000),
                json!({"contacts": contact("a1@acme.io"), "stage": "Prospecting"})
            )
        ),
        opp_event(
            "o2-new",
            "O2",
            "opportunity_created",
            (11, 12, 10),
            json!({"amount": "20000.00", "currency": "eur", "account_domain": "Globex.com"})
        ),
        opp_event(
            "o3-new",
            "O3",
            "opportunity_created",
            (11, 5, 10),
            with(usd(5000), json!({"contacts": contact("i1@initech.com")}))
        ),
        opp_event(
            "o4-new",
            "O4",
            "opportunity_created",
            (11, 6, 10),
            with(usd(1000), json!({"contacts": contact("a3@acme.io")}))
        ),
        opp_event(
            "o5-new",
            "O5",
            "opportunity_created",
            (11, 13, 10),
            with(usd(25000), json!({"contacts": contact("A3@acme.io")}))
        ),
        opp_event(
            "o5-up",
            "O5",
            "opportunity_stage_changed",
            (11, 17, 10),
            with(usd(30000), json!({"stage": "Negotiation"}))
        ),
        opp_event(
            "o6-new",
            "O6",
            "opportunity_created",
            (11, 3, 10),
            with(usd(10000), json!({"contacts": contact("old@acme.io")}))
        ),
    ]);
    let first = send(app, closings.clone()).await;
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(4), Some(0))
    );
    send(app, openings.clone()).await;
    let again = send(app, openings).await;
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(7))
    );
    assert_eq!(app.count("opportunities").await, 6);
    assert_eq!(app.count("opportunity_events").await, 11);
}

pub(crate) async fn spend(app: &TestApp, body: Value) {
    let (status, answer) = app.post_json("/api/v1/spend", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

/// Revenue numbers; money as `{currency: amount}`.
#[allow(clippy::too_many_arguments)]
fn numbers(
    mqls: [i64; 3],
    opened: [i64; 2],
    pipeline: Value,
    closed: [i64; 2],
    won_amount: Value,
    medians: [Option<f64>; 2],
    spend: Value,
    cac: Value,
) -> Value {
    let rate = |a: i64, b: i64| {
        if b == 0 {
            Value::Null
        } else {
            json!(a as f64 / b as f64)
        }
    };
    json!({
        "mqls": mqls[0], "sals": mqls[1], "sal_rate": rate(mqls[1], mqls[0]),
        "mqls_with_opportunity": mqls[2], "opportunity_rate": rate(mqls[2], mqls[0]),
        "opportunities_opened": opened[0], "marketing_sourced_opportunities": opened[1],
        "marketing_sourced_pipeline": pipeline,
        "won": closed[0], "lost": closed[1], "won_rate": rate(closed[0], closed[0] + closed[1]),
        "won_amount": won_amount,
        "median_days_mql_to_opportunity": medians[0], "median_days_opportunity_to_won": medians[1],
        "spend": spend, "cac": cac,
    })
}

#[tokio::test]
async fn backward_metrics_count_every_cohort_exactly() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let Seeded { ray, sue, .. } = seed(&app).await;
    let (ray, sue) = (ray.to_string(), sue.to_string());
    seed_opportunities(&app).await;
    spend(
        &app,
        json!({"first_day": "2026-11-01", "last_day": "2026-11-30",
                       "amount": 30000, "currency": "USD", "note": "November programmes"}),
    )
    .await;
    spend(
        &app,
        json!({"first_day": "2026-11-02", "last_day": "2026-11-20", "segment_by": "tier",
                       "segment": "1", "amount": "9000.00", "currency": "USD"}),
    )
    .await;

    let all = numbers(
        [6, 2, 3],
        [6, 4],
        json!({"EUR": 20000.0, "USD": 100000.0}),
        [2, 1],
        json!({"USD": 70000.0}),
        [Some(5.0), Some(11.0)],
        json!({"USD": 19000.0}),
        json!({"USD": 9500.0}),
    );
    let total = view(&app, &format!("revenue?{PERIOD}")).await;
    assert_eq!(total["total"], all, "{total:#}");
    assert_eq!(total["groups"], json!([]));

    let by_rep = view(&app, &format!("revenue?{PERIOD}&by=rep")).await;
    assert_eq!(by_rep["total"], all);
    let none = || json!({});
    assert_eq!(
        by_rep["groups"],
        json!([
            group(
                Some(&ray),
                "Ray Rep",
                numbers(
                    [4, 1, 2],
                    [3, 3],
                    json!({"EUR": 20000.0, "USD": 70000.0}),
                    [2, 1],
                    json!({"USD": 70000.0}),
                    [Some(5.0), Some(11.0)],
                    none(),
                    none()
                )
            ),
            group(
                Some(&sue),
                "Sue Seller",
                numbers(
                    [2, 1, 1],
                    [2, 1],
                    json!({"USD": 30000.0}),
                    [0, 0],
                    none(),
                    [None, None],
                    none(),
                    none()
                )
            ),
            group(
                None,
                "unassigned",
                numbers(
                    [0, 0, 0],
                    [1, 0],
                    none(),
                    [0, 0],
                    none(),
                    [None, None],
                    none(),
                    none()
                )
            ),
        ]),
        "{by_rep:#}"
    );

    let by_tier = view(&app, &format!("revenue?{PERIOD}&by=tier")).await;
    assert_eq!(
        by_tier["groups"],
        json!([
            group(
                Some("1"),
                "Tier 1",
                numbers(
                    [3, 2, 2],
                    [4, 3],
                    json!({"USD": 100000.0}),
                    [2, 0],
                    json!({"USD": 70000.0}),
                    [Some(5.0), Some(11.0)],
                    json!({"USD": 9000.0}),
                    json!({"USD": 4500.0})
                )
            ),
            group(
                Some("2"),
                "Tier 2",
                numbers(
                    [2, 0, 1],
                    [1, 1],
                    json!({"EUR": 20000.0}),
                    [0, 1],
                    none(),
                    [None, None],
                    none(),
                    none()
                )
            ),
            group(
                Some("3"),
                "Tier 3",
                numbers(
                    [1, 0, 0],
                    [1, 0],
                    none(),
                    [0, 0],
                    none(),
                    [None, None],
                    none(),
                    none()
                )
            ),
        ]),
        "{by_tier:#}"
    );

    // Weeks: each cohort falls in its own event's week; the whole spend is spread over them
    // by day (7 of November's 30 days in week 45, 7 in week 46, 5 in week 47: to the 20th).
    let by_week = view(&app, &format!("revenue?{PERIOD}&by=week")).await;
    let weeks: Vec<(&str, i64, i64, i64, f64)> = by_week["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap(),
                g["mqls"].as_i64().unwrap(),
                g["opportunities_opened"].as_i64().unwrap(),
                g["won"].as_i64().unwrap(),
                g["spend"]["USD"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        weeks,
        vec![
            ("2026-W45", 2, 4, 0, 7000.0),
            ("2026-W46", 2, 2, 1, 7000.0),
            ("2026-W47", 2, 0, 1, 5000.0),
        ]
    );
}

#[tokio::test]
async fn a_lead_shows_its_opportunities_and_late_events_fold_in_order() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    seed(&app).await;
    seed_opportunities(&app).await;
    let lead = app.lead("a3@acme.io").await;
    let opportunities = &lead["history"]["opportunities"];
    let shown: Vec<(&str, &str, f64, bool)> = opportunities
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["external_id"].as_str().unwrap(),
                o["status"].as_str().unwrap(),
                o["amount"].as_f64().unwrap(),
                o["after_mql"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![("O5", "open", 30000.0, true), ("O4", "open", 1000.0, false)]
    );
    assert_eq!(opportunities[0]["stage"], "Negotiation");

    // O1's closing came first; the later-sent opening did not reopen it.
    let a1 = app.lead("a1@acme.io").await;
    let o1 = &a1["history"]["opportunities"][0];
    assert_eq!(
        (o1["status"].as_str(), o1["stage"].as_str()),
        (Some("won"), Some("Closed Won"))
    );
    assert_eq!(o1["opened_at"], "2026-11-04T10:00:00Z");
    assert_eq!(o1["closed_at"], "2026-11-09T10:00:00Z");
    // An account's leads share its opportunity when it names no contact.
    let g3 = app.lead("g3@globex.com").await;
    assert_eq!(g3["history"]["opportunities"][0]["external_id"], "O2");
    assert_eq!(g3["history"]["opportunities"][0]["currency"], "EUR");

    // An event id stored before, now about another opportunity, is still that event: a
    // duplicate that makes no opportunity of its own.
    let reused = opp_event(
        "o1-new",
        "O9",
        "opportunity_created",
        (11, 20, 10),
        json!({}),
    );
    let answer = send(&app, json!([reused])).await;
    assert_eq!(
        (answer["accepted"].as_u64(), answer["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(app.count("opportunities").await, 6);
}

#[tokio::test]
async fn bad_opportunity_events_and_spend_are_refused_naming_the_field() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let bad = json!([
        {"event_id": "x", "source": "crm", "type": "opportunity_won", "occurred_at": "2026-11-02T10:00:00Z",
         "opportunity": {"id": "O1"}},
        {"event_id": "y", "source": "crm", "type": "opportunity_created", "occurred_at": "yesterday",
         "opportunity": {"amount": -5, "currency": "USD", "close_date": "31/01/2027",
                         "contacts": [{"email": "not-an-email"}, {"system": "pipedrive", "id": "7"}]}},
        {"event_id": "z", "source": "crm", "type": "opportunity_created", "occurred_at": "2026-11-02T10:00:00Z",
         "opportunity": {"id": "O2", "amount": 10}},
        {"event_id": "w", "source": "crm", "type": "opportunity_created", "occurred_at": "2026-11-02T10:00:00Z",
         "opportunity": {"id": "O3"}},
        {"event_id": "w", "source": "CRM", "type": "opportunity_closed_won", "occurred_at": "2026-11-03T10:00:00Z",
         "opportunity": {"id": "O3"}},
    ]);
    let (status, problem) = app.post_json("/webhooks/opportunities", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem_fields(&problem),
        vec![
            "[0].type",
            "[1].occurred_at",
            "[1].opportunity.id",
            "[1].opportunity.amount",
            "[1].opportunity.close_date",
            "[1].opportunity.contacts[0].email",
            "[1].opportunity.contacts[1].system",
            "[2].opportunity.currency",
            "[4].event_id",
        ]
    );
    assert_eq!(
        app.count("opportunity_events").await,
        0,
        "nothing half-written"
    );

    for (body, field) in [
        (
            json!({"last_day": "2026-11-30", "amount": 1, "currency": "USD"}),
            "first_day",
        ),
        (
            json!({"first_day": "2026-11-30", "last_day": "2026-11-01", "amount": 1, "currency": "USD"}),
            "last_day",
        ),
        (
            json!({"first_day": "2026-11-01", "last_day": "2026-11-30", "segment_by": "tier", "segment": "4",
                "amount": 1, "currency": "USD"}),
            "segment",
        ),
        (
            json!({"first_day": "2026-11-01", "last_day": "2026-11-30", "segment_by": "demand_state",
                "segment": "lukewarm", "amount": 1, "currency": "USD"}),
            "segment",
        ),
        (
            json!({"first_day": "2026-11-01", "last_day": "2026-11-30", "segment_by": "region",
                "segment": "emea", "amount": 1, "currency": "USD"}),
            "segment_by",
        ),
        (
            json!({"first_day": "2026-11-01", "last_day": "2026-11-30", "amount": "1.005", "currency": "USD"}),
            "amount",
        ),
        (
            json!({"first_day": "2026-11-01", "last_day": "2026-11-30", "amount": 1, "currency": "dollars"}),
            "currency",
        ),
    ] {
        let (status, problem) = app.post_json("/api/v1/spend", &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem_fields(&problem), vec![field], "{body}: {problem}");
    }
    let (status, problem) = app.get("/api/v1/metrics/revenue?by=region").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&problem), vec!["by"]);
    let (status, listed) = app.get("/api/v1/spend").await;
    assert_eq!(
        (status, listed["total"].as_i64()),
        (StatusCode::OK, Some(0))
    );
}
