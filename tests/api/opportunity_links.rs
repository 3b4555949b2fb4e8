//! Which leads an opportunity belongs to (`opportunity_lead_links`, kept by triggers):
//! whichever side arrives last, and when both sides are written at once.

use std::collections::BTreeSet;

use chrono::Duration;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{TestApp, event, t0, vp_event};
use crate::test_db::TestDb;

/// An opportunity of `crm` named `opp`, created a day before `t0`, with `facts` (contacts,
/// domain).
fn opportunity(id: &str, opp: &str, facts: Value) -> Value {
    let mut opportunity = json!({"id": opp});
    for (k, v) in facts.as_object().unwrap() {
        opportunity[k] = v.clone();
    }
    json!({"event_id": id, "source": "crm", "type": "opportunity_created",
           "occurred_at": (t0() - Duration::days(1)).to_rfc3339(), "opportunity": opportunity})
}

async fn send_opportunities(app: &TestApp, events: Value) {
    let (status, body) = app.post_json("/webhooks/opportunities", &events).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
}

async fn new_lead(app: &TestApp, email: &str) {
    app.ingest(&json!([event(
        &format!("visit-{email}"),
        email,
        "page_view",
        Duration::minutes(1)
    )]))
    .await;
}

/// The external ids of the opportunities lead `email`'s history shows.
async fn shown(app: &TestApp, email: &str) -> BTreeSet<String> {
    let lead = app.lead(email).await;
    lead["history"]["opportunities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["external_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Fails unless the kept links are exactly what `opportunity_leads_of` resolves now, and the
/// attribution and funnel rows built on them are what they imply now.
async fn assert_links_current(pool: &PgPool) {
    let drift: Vec<(String, String)> = sqlx::query_as(
        "with kept as (select opportunity_id, lead_id from opportunity_lead_links),
              now as (select o.id as opportunity_id, x.id as lead_id
                        from opportunities o, opportunity_leads_of(o.id) as x(id))
         select 'kept, not resolved', (select external_id from opportunities where id = opportunity_id)
           from (select * from kept except select * from now) d
         union all
         select 'resolved, not kept', (select external_id from opportunities where id = opportunity_id)
           from (select * from now except select * from kept) d",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(drift.is_empty(), "links drifted: {drift:?}");
    let stale: i64 = sqlx::query_scalar(
        "with now as (
             select o.id, c.lead_id, c.mql_at, c.demand_state
               from opportunities o
               left join lateral (
                     select f.lead_id, f.mql_at, f.demand_state
                       from opportunity_leads_of(o.id) as x(id)
                       join lead_funnel f on f.lead_id = x.id
                      order by (f.mql_at < o.opened_at) desc nulls last, f.mql_at nulls last,
                               f.created_at, f.lead_id
                      limit 1) c on true)
         select count(*) from now n
          where not exists (select 1 from opportunity_attribution a
                             where a.opportunity_id = n.id
                               and (a.lead_id, a.mql_at, a.demand_state)
                                   is not distinct from (n.lead_id, n.mql_at, n.demand_state))",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(stale, 0, "attribution rows not current");
    let funnel: i64 = sqlx::query_scalar(
        "select count(*) from ((table lead_funnel except table lead_funnel_derived)
                               union all (table lead_funnel_derived except table lead_funnel)) d",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(funnel, 0, "lead_funnel differs from lead_funnel_derived");
}

#[tokio::test]
async fn links_follow_whichever_side_arrives_last() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    // Opportunities first: by email, by a CRM id, by account, and by account while its
    // named contact is not a lead yet.
    send_opportunities(
        &app,
        json!([
            opportunity(
                "e1",
                "BY-EMAIL",
                json!({"contacts": [{"email": "x@acme.io"}]})
            ),
            opportunity(
                "e2",
                "BY-CRM-ID",
                json!({"contacts": [{"system": "salesforce", "id": "00Q000000000001AAA"}]})
            ),
            opportunity("e3", "BY-ACCOUNT", json!({"account_domain": "globex.io"})),
            opportunity(
                "e4",
                "CONTACT-LATER",
                json!({"account_domain": "initech.io",
                       "contacts": [{"email": "z@initech.io"}]})
            ),
        ]),
    )
    .await;
    assert_eq!(app.count("opportunity_lead_links").await, 0);

    for email in ["x@acme.io", "s@acme.io", "y@globex.io", "w@initech.io"] {
        new_lead(&app, email).await;
    }
    assert_eq!(shown(&app, "x@acme.io").await, set(&["BY-EMAIL"]));
    assert_eq!(shown(&app, "y@globex.io").await, set(&["BY-ACCOUNT"]));
    // No lead is z@initech.io yet: the account's leads stand in.
    assert_eq!(shown(&app, "w@initech.io").await, set(&["CONTACT-LATER"]));
    assert_eq!(shown(&app, "s@acme.io").await, set(&[]));

    // The CRM id comes to name s@acme.io.
    sqlx::query(
        "insert into lead_source_ids (system, external_id, email, recorded_at)
         values ('salesforce', '00Q000000000001AAA', 's@acme.io', now())",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(shown(&app, "s@acme.io").await, set(&["BY-CRM-ID"]));

    // The named contact arrives: it alone is the opportunity's lead now.
    new_lead(&app, "z@initech.io").await;
    assert_eq!(shown(&app, "z@initech.io").await, set(&["CONTACT-LATER"]));
    assert_eq!(shown(&app, "w@initech.io").await, set(&[]));

    // A later event names another contact who is a lead: both are its leads.
    send_opportunities(
        &app,
        json!([opportunity(
            "e5",
            "BY-ACCOUNT",
            json!({"contacts": [{"email": "x@acme.io"}]})
        )]),
    )
    .await;
    assert_eq!(
        shown(&app, "x@acme.io").await,
        set(&["BY-ACCOUNT", "BY-EMAIL"])
    );
    assert_eq!(shown(&app, "y@globex.io").await, set(&[]));

    // A merge moves the CRM id to another lead, and the opportunity with it.
    sqlx::query(
        "update lead_source_ids set email = 'x@acme.io'
          where system = 'salesforce' and external_id = '00Q000000000001AAA'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(shown(&app, "s@acme.io").await, set(&[]));
    assert!(shown(&app, "x@acme.io").await.contains("BY-CRM-ID"));

    // x@acme.io becomes MQL after its opportunities opened: they are credited to it, with
    // its MQL time, and not marketing-sourced.
    app.ingest(&json!([vp_event(
        "demo-x",
        "x@acme.io",
        "demo_request",
        Duration::minutes(2)
    )]))
    .await;
    let credited: Vec<(String, bool, bool)> = sqlx::query_as(
        "select o.external_id, a.mql_at is not null, a.marketing_sourced
           from opportunity_attribution a join opportunities o on o.id = a.opportunity_id
           join leads l on l.id = a.lead_id
          where l.email = 'x@acme.io' order by 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        credited,
        ["BY-ACCOUNT", "BY-CRM-ID", "BY-EMAIL"].map(|o| (o.to_owned(), true, false))
    );
    assert_links_current(&db.pool).await;
}

/// Leads and the opportunities naming them written at the same time, over many rounds:
/// without the lock that orders the two sides, a link whose two halves commit together is
/// missed by both.
#[tokio::test]
async fn links_written_from_both_sides_at_once_are_all_kept() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    for round in 0..12 {
        let mut writes = Vec::new();
        for i in 0..6 {
            let email = format!("p{round}-{i}@co{i}.io");
            let app = &app;
            let contact = json!({"contacts": [{"email": email}]});
            writes.push(Box::pin(async move {
                new_lead(app, &email).await;
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
            let account = json!({"account_domain": format!("co{i}.io")});
            writes.push(Box::pin(async move {
                send_opportunities(
                    app,
                    json!([
                        opportunity(&format!("c{round}-{i}"), &format!("C{round}-{i}"), contact),
                        opportunity(&format!("a{round}-{i}"), &format!("A{round}-{i}"), account),
                    ]),
                )
                .await;
            }));
        }
        futures_util::future::join_all(writes).await;
    }
    let unlinked: i64 = sqlx::query_scalar(
        "select count(*) from opportunities o
          where not exists (select 1 from opportunity_lead_links k where k.opportunity_id = o.id)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(unlinked, 0, "every opportunity names a lead that exists");
    assert_links_current(&db.pool).await;
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

/// A rep working leads (which locks each lead's row, then writes its funnel) while the CRM
/// sends opportunities naming them (which hold the links lock while linking, and a link's
/// foreign key reads the lead row): neither side waits for the other in a cycle, so no
/// request is refused as a deadlock.
#[tokio::test]
async fn reps_accepting_leads_beside_their_opportunities_never_deadlock() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let (_, _, key) = crate::handoff::team(&app).await;
    let mut leads = Vec::new();
    for i in 0..24 {
        let email = format!("w{i}@acme.io");
        leads.push((crate::handoff::mql(&app, &email).await, email));
    }
    for (round, group) in leads.chunks(6).enumerate() {
        let mut writes = Vec::new();
        for (i, (lead, email)) in group.iter().enumerate() {
            let (app, key) = (&app, &key);
            writes.push(Box::pin(async move {
                let (status, body) = app
                    .with_key(key)
                    .post_json(
                        &format!("/api/v1/leads/{lead}/accept"),
                        &json!({"confirmed_interest": true}),
                    )
                    .await;
                assert_eq!(status, reqwest::StatusCode::OK, "accept: {body}");
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
            let contact = json!({"contacts": [{"email": email}]});
            let events = json!([opportunity(
                &format!("w{round}-{i}"),
                &format!("W{round}-{i}"),
                contact
            )]);
            writes.push(Box::pin(async move {
                send_opportunities(app, events).await;
            }));
        }
        futures_util::future::join_all(writes).await;
    }
    assert_links_current(&db.pool).await;
}
