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

/// Each state's entries as `demand-states` defines them, read from the transitions and the
/// funnel directly: the leads that entered it in `[from, to)`, each at its first entry there.
async fn entered_by_definition(pool: &sqlx::PgPool, from: &str, to: &str) -> Vec<Value> {
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "with entered as (
             select distinct on (lead_id, to_state) lead_id, to_state as state, occurred_at
               from lead_demand_state_transitions
              where occurred_at >= $1::timestamptz and occurred_at < $2::timestamptz
                and to_state is not null and signal <> 'history'
              order by lead_id, to_state, occurred_at)
         select e.state, count(*), count(*) filter (where f.mql_at >= e.occurred_at),
                count(*) filter (where f.last_opportunity_opened_at >= e.occurred_at),
                count(*) filter (where f.last_won_opportunity_opened_at >= e.occurred_at)
           from entered e left join lead_funnel f on f.lead_id = e.lead_id
          group by 1 order by 1",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(state, n, mql, opp, won)| json!([state, n, mql, opp, won]))
        .collect()
}

/// Entries that repeat a state, share a timestamp, arrive out of time order or come after
/// the lead's MQL and opportunities: the view's counts equal the definition's for periods
/// starting before, between and after them.
#[tokio::test]
async fn repeated_and_late_entries_count_once_per_lead_and_state() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    for e in [
        at_event("a1", vp_profile("a@acme.io"), "demo_request", 16),
        event("b1", "b@acme.io", "page_view", chrono::Duration::hours(-1)),
        event("c1", "c@acme.io", "page_view", chrono::Duration::hours(-1)),
    ] {
        app.ingest(&e).await;
    }
    let (status, body) = app
        .post_json(
            "/webhooks/opportunities",
            &json!([{"event_id": "a-new", "source": "crm", "type": "opportunity_created",
                     "occurred_at": at(11, 12, 10).to_rfc3339(),
                     "opportunity": {"id": "A1", "contacts": [{"email": "a@acme.io"}]}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // In insertion order; each lead's rows as the triggers on leads would write them.
    for (email, state, signal, at) in [
        ("a@acme.io", "early", "map", "2026-11-10T08:00:00Z"),
        ("a@acme.io", "late", "map", "2026-11-12T08:00:00Z"),
        ("a@acme.io", "early", "map", "2026-11-14T08:00:00Z"),
        ("a@acme.io", "early", "behaviour", "2026-11-14T08:00:00Z"),
        ("a@acme.io", "early", "behaviour", "2026-11-11T08:00:00Z"),
        ("a@acme.io", "early", "history", "2026-11-13T08:00:00Z"),
        ("b@acme.io", "late", "map", "2026-11-15T08:00:00Z"),
        ("b@acme.io", "late", "map", "2026-11-09T08:00:00Z"),
        ("b@acme.io", "late", "behaviour", "2026-11-12T20:00:00Z"),
        ("c@acme.io", "early", "map", "2026-11-12T07:00:00Z"),
    ] {
        sqlx::query(
            "insert into lead_demand_state_transitions (lead_id, to_state, signal, occurred_at)
             select id, $2, $3, $4::timestamptz from leads where email = $1",
        )
        .bind(email)
        .bind(state)
        .bind(signal)
        .bind(at)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    // The lead's funnel dates move after its entries were written.
    let (status, body) = app
        .post_json(
            "/webhooks/opportunities",
            &json!([{"event_id": "a-won", "source": "crm", "type": "opportunity_closed_won",
                     "occurred_at": at(11, 18, 10).to_rfc3339(), "opportunity": {"id": "A1"}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let to = "2026-11-21T00:00:00Z";
    for from in [
        "2026-11-08T00:00:00Z",
        "2026-11-10T09:00:00Z",
        "2026-11-11T08:00:00Z",
        "2026-11-12T09:00:00Z",
        "2026-11-14T08:00:00Z",
        "2026-11-14T09:00:00Z",
        "2026-11-16T00:00:00Z",
    ] {
        let report = view(&app, &format!("demand-states?from={from}&to={to}")).await;
        let counted: Vec<Value> = report["states"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["entered"] != 0)
            .map(|s| {
                json!([
                    s["state"],
                    s["entered"],
                    s["mql_after"],
                    s["opportunity_after"],
                    s["won_after"]
                ])
            })
            .collect();
        assert_eq!(
            counted,
            entered_by_definition(&db.pool, from, to).await,
            "from {from}"
        );
    }
    assert_entries_current(&db.pool).await;
    let moved = sqlx::query(
        "update lead_demand_state_transitions set occurred_at = occurred_at - interval '1 day'",
    )
    .execute(&db.pool)
    .await
    .expect_err("the history is never edited");
    assert!(moved.to_string().contains("is history"), "{moved}");
}

/// Every entry's kept facts (its previous entry into the state, its lead's funnel dates)
/// equal their recomputation from the transitions and `lead_funnel`.
async fn assert_entries_current(pool: &sqlx::PgPool) {
    let stale: i64 = sqlx::query_scalar(
        "select count(*) from lead_demand_state_transitions t
           left join lead_funnel f on f.lead_id = t.lead_id
           left join lateral (
                 select max(p.occurred_at) as at from lead_demand_state_transitions p
                  where p.lead_id = t.lead_id and p.to_state = t.to_state
                    and p.signal <> 'history' and (p.occurred_at, p.id) < (t.occurred_at, t.id)) p
             on t.signal <> 'history'
          where (t.previous_entry_at, t.mql_at, t.last_opportunity_opened_at,
                 t.last_won_opportunity_opened_at)
                is distinct from
                (p.at, f.mql_at, f.last_opportunity_opened_at, f.last_won_opportunity_opened_at)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        stale, 0,
        "entries whose kept facts differ from their recomputation"
    );
}

/// A lead entering a state while an opportunity naming it is written: whichever commits
/// first, the entry ends with the lead's opportunity dates (the entry reads the funnel row
/// `for share`, so the opportunity's update of it either precedes the read or sees the entry).
#[tokio::test]
async fn entries_written_beside_opportunities_keep_the_funnel_dates() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let emails: Vec<String> = (0..48).map(|i| format!("e{i}@co{i}.io")).collect();
    let hours = chrono::Duration::hours;
    for email in &emails {
        app.ingest(&event(
            &format!("seen-{email}"),
            email,
            "page_view",
            hours(-3),
        ))
        .await;
    }
    let opened_at = (crate::helpers::t0() - hours(1)).to_rfc3339();
    for (round, group) in emails.chunks(6).enumerate() {
        let mut writes = Vec::new();
        for (i, email) in group.iter().enumerate() {
            let app = &app;
            writes.push(Box::pin(async move {
                app.ingest(&event(
                    &format!("dl-{email}"),
                    email,
                    "content_download",
                    hours(-2),
                ))
                .await;
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
            let opportunity = json!([{"event_id": format!("o{round}-{i}"), "source": "crm",
                                      "type": "opportunity_created", "occurred_at": opened_at,
                                      "opportunity": {"id": format!("O{round}-{i}"),
                                                      "contacts": [{"email": email}]}}]);
            writes.push(Box::pin(async move {
                let (status, body) = app.post_json("/webhooks/opportunities", &opportunity).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }));
        }
        futures_util::future::join_all(writes).await;
    }
    let entries: i64 = sqlx::query_scalar(
        "select count(*) from lead_demand_state_transitions
          where to_state is not null and last_opportunity_opened_at is not null",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        entries, 48,
        "each lead entered a state and has an opportunity"
    );
    assert_entries_current(&db.pool).await;
}
