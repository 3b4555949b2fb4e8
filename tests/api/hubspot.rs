//! HubSpot over real HTTP: app webhooks (v1- and v3-signed notification arrays shaped as
//! HubSpot's docs show them) and workflow webhooks, with the CRM API played by a local
//! stand-in ([`leadrouter::bench::hubspot_api`]): signatures, resolution of contact ids,
//! redelivery, out-of-order delivery, the API failing, merges, dead letters and their replay.

use base64::Engine;
use hmac::{Hmac, Mac};
use leadrouter::{
    bench::hubspot_api::{Fault, HubSpotApi, TOKEN},
    config::Settings,
    domain::Secret,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, t0};
use crate::test_db::TestDb;

const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
const PUBLIC: &str = "https://leadrouter.example.com";

/// Turns the connector on against the stand-in at `api`.
fn enable(settings: &mut Settings, api: &HubSpotApi) {
    let hubspot = &mut settings.sources.hubspot;
    hubspot.enabled = true;
    hubspot.client_secret = Some(Secret::new(SECRET.to_owned()));
    hubspot.public_base_url = Some(PUBLIC.to_owned());
    hubspot.api_base_url = api.base.clone();
    hubspot.access_token = Some(Secret::new(TOKEN.to_owned()));
}

async fn spawn(db: &TestDb, api: &HubSpotApi) -> TestApp {
    TestApp::spawn_with_settings(db.pool.clone(), |s| enable(s, api)).await
}

/// `t0` plus `minutes`, in epoch milliseconds.
fn at(minutes: i64) -> i64 {
    (t0() + chrono::Duration::minutes(minutes)).timestamp_millis()
}

/// A `contact.propertyChange` notification as HubSpot's webhooks docs show one.
fn change(event_id: u64, contact: u64, property: &str, value: &str, minutes: i64) -> Value {
    json!({
        "eventId": event_id,
        "subscriptionId": 1_402_135,
        "portalId": 62_515,
        "appId": 1_160_452,
        "occurredAt": at(minutes),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": contact,
        "propertyName": property,
        "propertyValue": value,
        "changeSource": "CRM",
        "sourceId": "userId:1234567",
    })
}

/// A notification of `kind` about `contact`.
fn notification(kind: &str, event_id: u64, contact: u64, minutes: i64) -> Value {
    json!({
        "eventId": event_id,
        "subscriptionId": 1_402_136,
        "portalId": 62_515,
        "appId": 1_160_452,
        "occurredAt": at(minutes),
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": contact,
        "changeFlag": "CREATED",
        "changeSource": "CRM",
    })
}

/// What the service answered.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

/// POSTs `body` to `path_and_query` signed as HubSpot's v1 scheme signs app webhooks:
/// hex SHA-256 of the client secret and the body.
async fn post_v1(app: &TestApp, path_and_query: &str, body: &str) -> Answer {
    let signature = hex::encode(Sha256::digest(format!("{SECRET}{body}")));
    send(
        app,
        path_and_query,
        body,
        &[
            ("x-hubspot-signature", signature),
            ("x-hubspot-signature-version", "v1".to_owned()),
        ],
    )
    .await
}

/// POSTs `body` signed as HubSpot's v3 scheme signs: base64 HMAC-SHA256 of method, the
/// public URI, body and timestamp, with the timestamp `timestamp_ms`.
async fn post_v3(app: &TestApp, path_and_query: &str, body: &str, timestamp_ms: i64) -> Answer {
    let uri = format!("{PUBLIC}{path_and_query}");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("POST{uri}{body}{timestamp_ms}").as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    send(
        app,
        path_and_query,
        body,
        &[
            ("x-hubspot-signature-v3", signature),
            ("x-hubspot-request-timestamp", timestamp_ms.to_string()),
        ],
    )
    .await
}

async fn send(
    app: &TestApp,
    path_and_query: &str,
    body: &str,
    headers: &[(&str, String)],
) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path_and_query}", app.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("request sent");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

/// POSTs notifications, v1-signed.
async fn post_notifications(app: &TestApp, notifications: &[Value]) -> Answer {
    let body = Value::from(notifications.to_vec()).to_string();
    post_v1(app, "/webhooks/hubspot", &body).await
}

/// POSTs notifications, v1-signed, and asserts a 503 with `retry_after`, nothing stored.
async fn refused_for_now(app: &TestApp, notifications: &[Value], retry_after: &str) {
    let answer = post_notifications(app, notifications).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:#}",
        answer.body
    );
    assert_eq!(answer.headers["retry-after"], retry_after);
    assert_eq!(app.count("lead_events").await, 0);
}

/// POSTs notifications, v1-signed, and asserts a 200.
async fn deliver(app: &TestApp, notifications: &[Value]) -> Value {
    let answer = post_notifications(app, notifications).await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    answer.body
}

/// Ana's contact as HubSpot holds it.
fn ana(api: &HubSpotApi) {
    api.contact(
        "101",
        &[
            ("email", "Ana@Globex.de"),
            ("firstname", "Ana"),
            ("jobtitle", "Head of Growth"),
            ("company", "Globex"),
            ("country", "Germany"),
            ("numberofemployees", "450"),
            ("lifecyclestage", "lead"),
        ],
    );
}

#[tokio::test]
async fn a_change_to_an_unknown_contact_is_resolved_through_the_crm_api_then_from_the_lead() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    ana(&api);
    let app = spawn(&db, &api).await;

    let answer = deliver(&app, &[change(1, 101, "jobtitle", "VP Growth", 1)]).await;
    assert_eq!(answer["accepted"], 1, "{answer:#}");
    let lead = app.lead("ana@globex.de").await;
    assert_eq!(
        lead["profile"]["title"], "VP Growth",
        "the change wins over the read"
    );
    assert_eq!(
        lead["profile"]["company"], "Globex",
        "the rest comes from the API"
    );
    assert_eq!(lead["profile"]["country"], "DE");
    assert_eq!(lead["profile"]["employee_count"], 450);
    assert_eq!(lead["source_ids"], json!({ "hubspot": ["101"] }));
    let asked = api.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        asked[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(asked[0].ids, ["101"]);
    for property in ["email", "jobtitle", "lifecyclestage"] {
        assert!(
            asked[0].properties.iter().any(|p| p == property),
            "{property}: {:?}",
            asked[0].properties
        );
    }
    let stored: Value = sqlx::query_scalar(
        "select payload->'properties' from lead_events where source = 'hubspot'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        stored["lifecyclestage"], "lead",
        "kept properties are stored"
    );
    assert_eq!(stored["property_name"], "jobtitle");

    deliver(&app, &[change(2, 101, "firstname", "Anna", 2)]).await;
    assert_eq!(
        api.asked().len(),
        1,
        "the lead remembers contact 101: no second read"
    );
    assert_eq!(
        app.lead("ana@globex.de").await["profile"]["first_name"],
        "Anna"
    );
    let (status, found) = app.get("/api/v1/leads?hubspot_id=101").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["id"], lead["id"]);
}

#[tokio::test]
async fn v3_signatures_over_the_public_uri_are_verified_and_bad_or_stale_ones_store_nothing() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    ana(&api);
    let app = spawn(&db, &api).await;
    let body = Value::from(vec![change(1, 101, "jobtitle", "VP Growth", 1)]).to_string();
    let now_ms = t0().timestamp_millis();

    let stale = post_v3(&app, "/webhooks/hubspot", &body, now_ms - 6 * 60 * 1000).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "{:#}", stale.body);
    assert!(
        stale.body["detail"]
            .as_str()
            .unwrap()
            .contains("off this service's clock")
    );
    let tampered = send(
        &app,
        "/webhooks/hubspot",
        &body.replace("VP Growth", "CEO"),
        &[
            (
                "x-hubspot-signature",
                hex::encode(Sha256::digest(format!("{SECRET}{body}"))),
            ),
            ("x-hubspot-signature-version", "v1".to_owned()),
        ],
    )
    .await;
    assert_eq!(
        tampered.status,
        StatusCode::UNAUTHORIZED,
        "a body changed after signing is refused"
    );
    let unsigned = send(&app, "/webhooks/hubspot", &body, &[]).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    assert!(
        !unsigned.headers.contains_key("www-authenticate"),
        "no Bearer challenge: HubSpot signs"
    );
    assert_eq!(unsigned.body["status"], 401);
    assert_eq!(app.count("lead_events").await, 0, "nothing stored");

    let good = post_v3(&app, "/webhooks/hubspot", &body, now_ms - 1_000).await;
    assert_eq!(good.status, StatusCode::OK, "{:#}", good.body);
    let elsewhere = format!("{}/webhooks/hubspot", "https://other.example.com");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("POST{elsewhere}{body}{now_ms}").as_bytes());
    let signed_for_elsewhere =
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let wrong_uri = send(
        &app,
        "/webhooks/hubspot",
        &body,
        &[
            ("x-hubspot-signature-v3", signed_for_elsewhere),
            ("x-hubspot-request-timestamp", now_ms.to_string()),
        ],
    )
    .await;
    assert_eq!(
        wrong_uri.status,
        StatusCode::UNAUTHORIZED,
        "signed for another URI"
    );
    assert_eq!(app.count("lead_events").await, 1);
}

#[tokio::test]
async fn a_redelivered_batch_changes_nothing_and_reversed_changes_end_as_in_order() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    ana(&api);
    let app = spawn(&db, &api).await;
    let first = change(7, 101, "jobtitle", "Director", 1);
    let second = change(7, 101, "jobtitle", "VP Growth", 5);
    deliver(&app, std::slice::from_ref(&second)).await;
    deliver(&app, std::slice::from_ref(&first)).await;
    assert_eq!(
        app.lead("ana@globex.de").await["profile"]["title"],
        "VP Growth",
        "the later change wins, whatever the delivery order (same eventId, other times)"
    );
    let (version, updated): (i64, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select version, updated_at from leads")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let mut redelivered = second.clone();
    redelivered["attemptNumber"] = 3.into();
    let answer = deliver(&app, &[redelivered, first]).await;
    assert_eq!(
        (answer["accepted"].clone(), answer["duplicates"].clone()),
        (0.into(), 2.into())
    );
    let after: (i64, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select version, updated_at from leads")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(after, (version, updated), "a redelivery changes nothing");
    assert_eq!(app.count("lead_events").await, 2);
}

#[tokio::test]
async fn when_the_crm_api_fails_the_webhook_is_a_503_so_hubspot_redelivers_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    ana(&api);
    let app = spawn(&db, &api).await;
    let body = [change(1, 101, "jobtitle", "VP Growth", 1)];

    api.fail_next(Fault::RateLimited(30));
    refused_for_now(&app, &body, "30").await; // HubSpot's own wait, passed on

    api.set_down(true);
    let before = api.asked().len();
    refused_for_now(&app, &body, "1").await;
    assert_eq!(
        api.asked().len() - before,
        3,
        "a 5xx is retried twice, not hammered"
    );
    assert_eq!(app.count("lead_events").await, 0);
    api.set_down(false);

    // A short wait fits in the budget: retried within the request.
    let before = api.asked().len();
    api.fail_next(Fault::RateLimited(1));
    api.fail_next(Fault::BadGateway);
    deliver(&app, &body).await;
    assert_eq!(
        api.asked().len(),
        before + 3,
        "one 429, one 502, then the read"
    );
    assert_eq!(
        app.count("lead_events").await,
        1,
        "the redelivery is stored"
    );
}

#[tokio::test]
async fn a_contact_hubspot_does_not_have_or_an_unmapped_property_is_a_dead_letter_replayed_once() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    ana(&api);
    let app = spawn(&db, &api).await;
    let answer = deliver(
        &app,
        &[
            change(1, 101, "hs_persona", "persona_3", 1),
            change(2, 999, "jobtitle", "CTO", 1),
            change(3, 101, "jobtitle", "VP Growth", 2),
        ],
    )
    .await;
    assert_eq!(answer["accepted"], 1, "{answer:#}");
    assert_eq!(answer["dead_letters"].as_array().unwrap().len(), 2);
    let (_, letters) = app.get("/api/v1/inbound/dead-letters?source=hubspot").await;
    let reasons: Vec<&str> = letters["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("contact 999 was not found in HubSpot")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("property \"hs_persona\" is not mapped")),
        "{reasons:?}"
    );
    let persona = letters["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["reason"].as_str().unwrap().contains("hs_persona"))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let replay = format!("/api/v1/inbound/dead-letters/{persona}/replay");
    let (status, still) = app.post_json(&replay, &json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{still:#}");

    let fixed = TestApp::spawn_with_settings(db.pool.clone(), |s| {
        enable(s, &api);
        s.sources
            .hubspot
            .kept_properties
            .push("hs_persona".to_owned());
    })
    .await;
    fixed.replay_once(&replay).await;
    assert_eq!(fixed.count("lead_events").await, 2);
}

#[tokio::test]
async fn creation_signals_deletion_and_merge_map_as_hubspot_means_them() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    ana(&api);
    api.contact("202", &[("email", "bo@globex.de"), ("firstname", "Bo")]);
    let app = spawn(&db, &api).await;
    deliver(
        &app,
        &[
            notification("contact.creation", 1, 101, 0),
            json!({
                "eventId": 2, "portalId": 62_515, "occurredAt": at(1),
                "eventType": "contact.creation", "objectId": "202",
            }),
            change(
                3,
                101,
                "hs_analytics_last_url",
                "https://globex.example/pricing?plan=team",
                3,
            ),
        ],
    )
    .await;
    let kinds: Vec<(String, String)> = sqlx::query_as(
        "select l.email, e.event_type from lead_events e join leads l on l.id = e.lead_id order by e.occurred_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        [
            ("ana@globex.de".to_owned(), "profile_update".to_owned()),
            ("bo@globex.de".to_owned(), "profile_update".to_owned()),
            ("ana@globex.de".to_owned(), "pricing_page_visit".to_owned()),
        ],
        "eventType is read like subscriptionType; a pricing URL is a signal"
    );

    let merge = json!({
        "eventId": 4, "portalId": 62_515, "occurredAt": at(4),
        "subscriptionType": "contact.merge", "objectId": 101,
        "primaryObjectId": 101, "mergedObjectIds": [202], "newObjectId": 101,
    });
    let answer = deliver(&app, &[merge]).await;
    assert_eq!(answer["dead_letters"], json!([]));
    let (_, merged) = app.get("/api/v1/leads?hubspot_id=202").await;
    assert_eq!(
        merged["email"], "ana@globex.de",
        "202 now names the lead 101 names"
    );

    deliver(&app, &[notification("contact.deletion", 5, 101, 5)]).await;
    let lead = app.lead("ana@globex.de").await;
    assert_eq!(lead["lifecycle_stage"], "Disqualified", "{lead:#}");
}

#[tokio::test]
async fn a_workflow_webhook_with_its_contact_is_an_event_of_the_urls_type_once() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    let app = spawn(&db, &api).await;
    // The contact record HubSpot's workflow action sends.
    let body = json!({
        "vid": 3_234_574,
        "canonical-vid": 3_234_574,
        "merged-vids": [],
        "portal-id": 62_515,
        "is-contact": true,
        "properties": {
            "email": { "value": "kim@initech.com", "versions": [] },
            "firstname": { "value": "Kim" },
            "jobtitle": { "value": "CTO" },
            "company": { "value": "Initech" },
            "numberofemployees": { "value": "1200" },
            "lastmodifieddate": { "value": at(-2).to_string() },
        },
    })
    .to_string();
    let answer = post_v1(&app, "/webhooks/hubspot?event=demo_request", &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    assert_eq!(answer.body["accepted"], 1);
    let again = post_v1(&app, "/webhooks/hubspot?event=demo_request", &body).await;
    assert_eq!(
        again.body["duplicates"], 1,
        "a redelivered workflow webhook is the same bytes"
    );
    let lead = app.lead("kim@initech.com").await;
    assert_eq!(lead["profile"]["title"], "CTO");
    assert_eq!(lead["source_ids"]["hubspot"], json!(["3234574"]));
    let (kind, occurred): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("select event_type, occurred_at from lead_events")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(kind, "demo_request");
    assert_eq!(occurred.timestamp_millis(), at(-2), "lastmodifieddate");
    assert!(
        api.asked().is_empty(),
        "the workflow sent the email: no read"
    );

    let bad = post_v1(&app, "/webhooks/hubspot?event=demo", &body).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["errors"][0]["field"], "event");
}

#[tokio::test]
async fn more_than_100_notifications_are_refused_and_the_connector_is_off_by_default() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    let app = spawn(&db, &api).await;
    let many: Vec<Value> = (0..101)
        .map(|i| change(i, 101, "jobtitle", "CTO", 1))
        .collect();
    let answer = post_notifications(&app, &many).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:#}",
        answer.body
    );
    assert_eq!(answer.body["errors"][0]["field"], "body");
    assert!(api.asked().is_empty());

    let off = TestApp::spawn(db.pool.clone()).await;
    let answer = post_v1(&off, "/webhooks/hubspot", "[]").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_company_notification_writes_its_account_and_tier_as_hubspot_holds_it_now() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    ana(&api);
    api.company(
        "5001",
        &[
            ("domain", "globex.de"),
            ("name", "Globex GmbH"),
            ("hs_ideal_customer_profile", "tier_1"),
        ],
    );
    let app = spawn(&db, &api).await;
    deliver(&app, &[change(1, 101, "jobtitle", "VP Growth", 1)]).await;
    let company = |event_id: u64, value: &str, minutes: i64| {
        json!({
            "eventId": event_id, "portalId": 62_515, "occurredAt": at(minutes),
            "subscriptionType": "company.propertyChange", "objectId": 5001,
            "propertyName": "hs_ideal_customer_profile", "propertyValue": value,
        })
    };
    // Delivered out of order: both write the company as read now, tier 1.
    let answer = deliver(&app, &[company(9, "tier_1", 5), company(8, "tier_3", 2)]).await;
    assert_eq!(answer["dead_letters"], json!([]), "{answer:#}");
    let (status, account) = app.get("/api/v1/accounts/globex.de").await;
    assert_eq!(status, StatusCode::OK, "{account:#}");
    assert_eq!(
        (account["name"].clone(), account["tier"].clone()),
        (json!("Globex GmbH"), json!(1))
    );
    let asked = api.asked();
    let read = asked.iter().find(|a| a.object == "companies").unwrap();
    assert_eq!(read.ids, ["5001"], "one read for both notifications");
    let tier: Option<i16> =
        sqlx::query_scalar("select account_tier from leads where email = 'ana@globex.de'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(tier, Some(1), "the account's leads carry its tier");

    let unknown = json!({
        "eventId": 10, "portalId": 62_515, "occurredAt": at(6),
        "subscriptionType": "company.creation", "objectId": 5999,
    });
    let answer = deliver(&app, &[unknown]).await;
    assert!(
        answer["dead_letters"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("company 5999 was not found in HubSpot"),
        "{answer:#}"
    );
}

/// A deal's notifications become opportunity events of the deal as HubSpot holds it now, with
/// its contacts read through the v4 associations: out of order and redelivered they fold to
/// one won opportunity of the contact's lead; a deal HubSpot does not have is a dead letter.
#[tokio::test]
async fn deal_notifications_fold_to_the_deal_and_link_its_contacts() {
    let db = TestDb::new().await;
    let api = HubSpotApi::start().await.unwrap();
    ana(&api);
    // Closed between the two notifications; the earlier one reads the deal as closed too.
    let closed = chrono::DateTime::from_timestamp_millis(at(-20)).unwrap();
    let closedate = closed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    api.deal(
        "9001",
        &[
            ("dealname", "Globex rollout"),
            ("amount", "52000"),
            ("dealstage", "closedwon"),
            ("createdate", "2026-11-10T10:00:00.000Z"),
            ("closedate", &closedate),
            ("hs_is_closed", "true"),
            ("hs_is_closed_won", "true"),
        ],
        &[101],
    );
    let app = spawn(&db, &api).await;
    deliver(&app, &[notification("contact.creation", 1, 101, -90)]).await;
    let deal = |event_id: u64, kind: &str, objectid: u64, minutes: i64| {
        let mut n = json!({
            "eventId": event_id, "subscriptionId": 1_402_140, "portalId": 62_515,
            "appId": 1_160_452, "occurredAt": at(minutes), "subscriptionType": kind,
            "attemptNumber": 0, "objectId": objectid, "changeSource": "CRM",
        });
        if kind == "deal.propertyChange" {
            n["propertyName"] = json!("dealstage");
            n["propertyValue"] = json!("closedwon");
        }
        n
    };
    let batch = [
        deal(12, "deal.propertyChange", 9001, -5),
        deal(14, "deal.propertyChange", 9001, -25),
        deal(11, "deal.creation", 9001, -30),
        deal(13, "deal.creation", 9002, -4),
    ];
    let answer = deliver(&app, &batch).await;
    assert_eq!(
        answer["opportunities"].as_array().unwrap().len(),
        3,
        "{answer:#}"
    );
    let reason = answer["dead_letters"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("deal 9002 was not found in HubSpot"),
        "{reason}"
    );
    deliver(&app, &batch[..3]).await;
    assert_eq!(
        app.count("opportunity_events").await,
        3,
        "the redelivery stored nothing"
    );

    let lead = app.lead("ana@globex.de").await;
    let o = &lead["history"]["opportunities"][0];
    assert_eq!(
        (o["source"].as_str(), o["external_id"].as_str()),
        (Some("hubspot"), Some("9001"))
    );
    assert_eq!(
        (o["status"].as_str(), o["stage"].as_str()),
        (Some("won"), Some("closedwon"))
    );
    assert_eq!(
        (o["amount"].as_f64(), o["currency"].as_str()),
        (Some(52000.0), Some("USD"))
    );
    assert_eq!(o["name"], "Globex rollout");
    assert_eq!(o["opened_at"], "2026-11-10T10:00:00Z");
    assert_eq!(
        o["closed_at"],
        json!(closed.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
        "the deal's close date, not the earliest notification read as a close"
    );
    assert_eq!(o["close_date"], json!(closed.date_naive().to_string()));

    let asked = api.asked();
    let deals = asked
        .iter()
        .filter(|a| a.object == "deals")
        .collect::<Vec<_>>();
    assert_eq!(deals[0].ids, ["9001", "9002"], "one read for the batch");
    assert!(deals[0].properties.contains(&"hs_is_closed_won".to_owned()));
    let links = asked.iter().find(|a| a.object == "deals/contacts").unwrap();
    assert_eq!(
        links.ids,
        ["9001"],
        "contacts asked only of the deals found"
    );
}
