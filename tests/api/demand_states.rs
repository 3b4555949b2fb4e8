//! Demand-state transitions as history: recorded by the schema whichever writer moves a lead,
//! shown in the lead view, and counted by `GET /api/v1/metrics/demand-states` with what the
//! leads entering each state did after. Clock: `t0` is Fri 2026-11-20 12:00 UTC.
//!
//! | lead | events | moves |
//! |---|---|---|
//! | a@acme.io (VP) | content download Mon 11-16 10:00, demo request Tue 11-17 10:00 (MQL) | – → early (behaviour) 11-16, early → late (behaviour) 11-17 |
//! | b@acme.io | the MAP sends `early` Wed 11-18 10:00, then a demo request Thu 11-19 | – → early (map) 11-18; the MAP's state wins, so no move |
//! | c@acme.io | a page view | none |
//! | d@acme.io (VP) | demo request Wed 11-18 10:00 (MQL) | – → late (behaviour) 11-18 |
//!
//! a@acme.io's opportunity opened Thu 11-19 and was won Fri 11-20 09:00.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    funnel_seed::at,
    helpers::{TestApp, event, vp_profile},
    metrics::view,
    test_db::TestDb,
};

fn at_event(id: &str, lead: Value, kind: &str, day: u32) -> Value {
    json!({"event_id": id, "source": "hubspot", "type": kind,
           "occurred_at": at(11, day, 10).to_rfc3339(), "lead": lead})
}

#[tokio::test]
async fn moves_between_demand_states_are_history_and_convert_per_state() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let b = json!({"email": "b@acme.io"});
    let mut map_sent = at_event("b1", b.clone(), "profile_update", 18);
    map_sent["lead"]["demand_state"] = json!("early");
    // One request each: a batch writes each lead once, so only its end state is a move.
    for e in [
        at_event("a1", vp_profile("a@acme.io"), "content_download", 16),
        at_event("a2", vp_profile("a@acme.io"), "demo_request", 17),
        map_sent,
        at_event("b2", b, "demo_request", 19),
        event("c1", "c@acme.io", "page_view", chrono::Duration::hours(-1)),
        at_event("d1", vp_profile("d@acme.io"), "demo_request", 18),
    ] {
        app.ingest(&e).await;
    }
    let (status, body) = app
        .post_json(
            "/webhooks/opportunities",
            &json!([
                {"event_id": "a-new", "source": "crm", "type": "opportunity_created",
                 "occurred_at": at(11, 19, 10).to_rfc3339(),
                 "opportunity": {"id": "A1", "contacts": [{"email": "a@acme.io"}]}},
                {"event_id": "a-won", "source": "crm", "type": "opportunity_closed_won",
                 "occurred_at": at(11, 20, 9).to_rfc3339(), "opportunity": {"id": "A1"}},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let a = app.lead("a@acme.io").await;
    assert_eq!(a["lifecycle_stage"], "MQL");
    assert_eq!(
        a["history"]["demand_states"],
        json!([
            {"from_state": null, "to_state": "early", "signal": "behaviour",
             "occurred_at": "2026-11-16T10:00:00Z"},
            {"from_state": "early", "to_state": "late", "signal": "behaviour",
             "occurred_at": "2026-11-17T10:00:00Z"},
        ])
    );
    let b = app.lead("b@acme.io").await;
    assert_eq!(
        b["history"]["demand_states"],
        json!([{"from_state": null, "to_state": "early", "signal": "map",
                "occurred_at": "2026-11-18T10:00:00Z"}]),
        "the behaviour state under the MAP's is no move"
    );
    assert_eq!(
        app.lead("c@acme.io").await["history"]["demand_states"],
        json!([])
    );

    // The state a lead already had when the history began (the migration's backfill) is
    // neither a move nor an entry.
    sqlx::query(
        "insert into lead_demand_state_transitions (lead_id, from_state, to_state, signal, occurred_at)
         select id, null, 'early', 'history', '2026-11-17T09:00:00Z' from leads where email = 'c@acme.io'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let report = view(&app, "demand-states?from=2026-11-16&to=2026-11-20").await;
    let moves = |from: Option<&str>, to: &str, signal: &str| json!({"from": from, "to": to, "signal": signal, "count": 1});
    assert_eq!(
        report["moves"],
        json!([
            moves(None, "early", "behaviour"),
            moves(None, "early", "map"),
            moves(None, "late", "behaviour"),
            moves(Some("early"), "late", "behaviour"),
        ])
    );
    assert_eq!(
        report["states"],
        json!([
            {"state": "early", "entered": 2, "mql_after": 1, "opportunity_after": 1,
             "won_after": 1, "mql_rate": 0.5, "opportunity_rate": 0.5, "won_rate": 0.5},
            {"state": "late", "entered": 2, "mql_after": 2, "opportunity_after": 1,
             "won_after": 1, "mql_rate": 1.0, "opportunity_rate": 0.5, "won_rate": 0.5},
        ])
    );
    // A period before any move lists every configured state at zero.
    let before = view(&app, "demand-states?from=2026-11-01&to=2026-11-10").await;
    assert_eq!(before["moves"], json!([]));
    assert_eq!(before["states"][1]["entered"], 0);
    assert_eq!(before["states"][1]["mql_rate"], Value::Null);
}
