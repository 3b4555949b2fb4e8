//! Segment's Webhooks destination over real HTTP, with the Spec's published example messages
//! (`data/segment-*.json`, each with its source note) and hand-made messages shaped like them:
//! the X-Signature check, redelivery, out-of-order delivery, ids tied across messages, dead
//! letters and their replay.

use std::time::Duration;

use hmac::{Hmac, Mac};
use leadrouter::{config::Settings, domain::Secret};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sha1::Sha1;

use crate::helpers::{TestApp, problem_fields, spawn_without_database};
use crate::test_db::TestDb;

/// The Spec's complete identify example: Peter Gibbons, userId `97980cfea0067`, anonymousId
/// `507f191e810c19729de860ea`.
const IDENTIFY: &[u8] = include_bytes!("data/segment-identify.json");
/// The Spec's complete track example: "Course Clicked" by userId `AiUGstSDIg`, no email.
const TRACK: &[u8] = include_bytes!("data/segment-track.json");
/// The Spec's complete page example ("Home", userId `97980cfea0067`, no email).
const PAGE: &[u8] = include_bytes!("data/segment-page.json");
/// The classic Webhooks destination's page example, which has no messageId.
const WEBHOOKS_PAGE: &[u8] = include_bytes!("data/segment-webhooks-page.json");

const SECRET: &str = "lr-segment-test-secret-0123456789abcdef";
const PATH: &str = "/webhooks/segment";

fn enable(settings: &mut Settings) {
    let segment = &mut settings.sources.segment;
    segment.enabled = true;
    segment.secret = Some(Secret::new(SECRET.to_owned()));
}

async fn spawn(pool: sqlx::PgPool) -> TestApp {
    TestApp::spawn_with_settings(pool, enable).await
}

/// The lower-case hex HMAC-SHA1 of `body` under `secret`, as Segment signs.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// What the service answered.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// POSTs `body` as Segment does (JSON, no API key), with `signature` as X-Signature.
async fn post_signed(base: &str, body: &[u8], signature: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{PATH}"))
        .header("content-type", "application/json")
        .header("user-agent", "Segment/1")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-signature", signature);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

/// POSTs `body` signed with the configured secret and asserts a 200.
async fn deliver(app: &TestApp, body: &[u8]) -> Value {
    let answer = post_signed(&app.base, body, Some(&sign(SECRET, body))).await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    answer.body
}

fn bytes(message: &Value) -> Vec<u8> {
    message.to_string().into_bytes()
}

/// The Spec's `fixture` with `changes` applied at the top level (`null` removes a key).
fn shaped_like(fixture: &[u8], changes: Value) -> Value {
    let mut message: Value = serde_json::from_slice(fixture).unwrap();
    for (key, value) in changes.as_object().unwrap() {
        match value {
            Value::Null => {
                message.as_object_mut().unwrap().remove(key);
            }
            value => message[key] = value.clone(),
        }
    }
    message
}

/// Rows in the tables a delivery writes to.
async fn stored(app: &TestApp) -> (i64, i64, i64) {
    (
        app.count("lead_events").await,
        app.count("leads").await,
        app.count("inbound_dead_letters").await,
    )
}

/// The type and time of the stored event `event_id`.
async fn event(app: &TestApp, event_id: &str) -> (String, String) {
    let (kind, at): (String, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "select event_type, occurred_at from lead_events where source = 'segment' and event_id = $1",
    )
    .bind(event_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    (kind, at.to_rfc3339())
}

#[tokio::test]
async fn the_spec_identify_is_stored_with_its_traits_and_ids_and_the_page_follows_its_user_id() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let answer = deliver(&app, IDENTIFY).await;
    assert_eq!(answer["accepted"], 1, "{answer:#}");
    assert_eq!(answer["duplicates"], 0);
    assert_eq!(answer["dead_letters"], json!([]));

    let lead = app.lead("peter@example.com").await;
    assert_eq!(lead["profile"]["country"], "US", "address.country USA");
    assert_eq!(
        lead["source_ids"],
        json!({"segment_anonymous": ["507f191e810c19729de860ea"],
               "segment_user": ["97980cfea0067"]}),
        "the lead view shows its Segment ids"
    );
    assert_eq!(
        event(&app, "022bb90c-bbac-11e4-8dfc-aa07a5b093db").await,
        (
            "profile_update".into(),
            "2015-02-23T22:28:55.111+00:00".into()
        )
    );
    let (status, found) = app.get("/api/v1/leads?segment_user_id=97980cfea0067").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["id"], lead["id"]);

    // The published page example reuses the identify's messageId; a real one has its own.
    let page = shaped_like(PAGE, json!({"messageId": "ajs-page-0001"}));
    let answer = deliver(&app, &bytes(&page)).await;
    assert_eq!(answer["accepted"], 1, "{answer:#}");
    assert_eq!(
        answer["results"][0]["lead_id"], lead["id"],
        "found by userId"
    );
    assert_eq!(event(&app, "ajs-page-0001").await.0, "page_view");
    assert_eq!(stored(&app).await, (2, 1, 0));
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_a_401_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let other = sign(SECRET, TRACK);
    let wrong_secret = sign("another-secret-0123456789abcdef0123456789", IDENTIFY);
    let upper = sign(SECRET, IDENTIFY).to_uppercase();
    for signature in [
        None,
        Some(""),
        Some("zz"),
        Some(&other),
        Some(&wrong_secret),
    ] {
        let answer = post_signed(&app.base, IDENTIFY, signature).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{signature:?}");
        assert!(
            !answer.headers.contains_key("www-authenticate"),
            "no Bearer challenge: Segment signs"
        );
        assert!(
            answer.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        assert!(
            answer.body["detail"]
                .as_str()
                .unwrap()
                .contains("X-Signature")
        );
    }
    // The signature is checked before the body is read: a broken body is refused the same.
    let answer = post_signed(&app.base, b"{not json", Some(&other)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stored(&app).await, (0, 0, 0));

    let answer = post_signed(&app.base, IDENTIFY, Some(&upper)).await;
    assert_eq!(answer.status, StatusCode::OK, "hex in either case");
}

#[tokio::test]
async fn a_redelivered_message_changes_nothing() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    deliver(&app, IDENTIFY).await;
    let before = app.lead("peter@example.com").await;
    let first = stored(&app).await;

    app.advance(chrono::Duration::minutes(5));
    let answer = deliver(&app, IDENTIFY).await;
    assert_eq!(
        (answer["accepted"].clone(), answer["duplicates"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(stored(&app).await, first);
    let after = app.lead("peter@example.com").await;
    assert_eq!(after["updated_at"], before["updated_at"]);
    assert_eq!(after["profile"], before["profile"]);
    assert_eq!(after["source_ids"], before["source_ids"]);
}

/// An identify with a VP's traits and a demo request, a day apart.
fn two_messages() -> [Value; 2] {
    let identify = shaped_like(
        IDENTIFY,
        json!({
            "messageId": "ajs-identify-jane",
            "userId": "jane-1",
            "anonymousId": "anon-jane",
            "timestamp": "2026-11-19T10:00:00.000Z",
            "traits": {"email": "jane.doe@acme.io", "firstName": "Jane", "title": "VP Marketing",
                       "company": {"name": "Acme", "industry": "software", "employee_count": 250},
                       "country": "US"},
        }),
    );
    let track = shaped_like(
        TRACK,
        json!({
            "messageId": "ajs-demo-jane",
            "userId": "jane-1",
            "anonymousId": "anon-jane",
            "event": "Demo Requested",
            "timestamp": "2026-11-20T10:00:00.000Z",
            "context": {"traits": {"email": "jane.doe@acme.io", "title": "Analyst"}},
        }),
    );
    [identify, track]
}

#[tokio::test]
async fn two_messages_delivered_out_of_order_end_as_in_order() {
    let [identify, track] = two_messages();
    let mut ends = Vec::new();
    for order in [[&identify, &track], [&track, &identify]] {
        let db = TestDb::new().await;
        let app = spawn(db.pool.clone()).await;
        for message in order {
            deliver(&app, &bytes(message)).await;
        }
        let lead = app.lead("jane.doe@acme.io").await;
        ends.push((
            lead["profile"].clone(),
            lead["fit_score"].clone(),
            lead["intent_score"].clone(),
            lead["lifecycle_stage"].clone(),
        ));
    }
    assert_eq!(ends[0], ends[1]);
    let (profile, _, intent, _) = &ends[0];
    assert_eq!(
        profile["title"], "Analyst",
        "the later message's trait wins"
    );
    assert_eq!(profile["company"], "Acme");
    assert_eq!(profile["employee_count"], 250);
    assert_eq!(*intent, 50.0, "the demo request");
}

#[tokio::test]
async fn an_anonymous_track_waits_as_a_dead_letter_until_an_identify_ties_it() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let track = shaped_like(
        TRACK,
        json!({"userId": null, "event": "Demo Requested", "timestamp": "2026-11-20T09:00:00Z"}),
    );
    let answer = deliver(&app, &bytes(&track)).await;
    assert_eq!(answer["accepted"], 0);
    let letter = &answer["dead_letters"][0];
    assert_eq!(letter["event_id"], "ajs-f8ca1e4de5024d9430b3928bd8ac6b96");
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("not tied to one yet"),
        "{letter}"
    );
    assert_eq!(stored(&app).await, (0, 0, 1));

    let (_, page) = app.get("/api/v1/inbound/dead-letters?source=segment").await;
    assert_eq!(page["total"], 1);
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let payload: Value =
        serde_json::from_str(page["items"][0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload, track, "the message alone, as sent");
    let replay = format!("/api/v1/inbound/dead-letters/{id}/replay");
    let (status, problem) = app.post_json(&replay, &Value::Null).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");

    // The visitor fills in a form: analytics.js identifies them under the same anonymousId.
    let identify = shaped_like(
        IDENTIFY,
        json!({"anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895", "userId": null,
               "messageId": "ajs-identify-ann", "timestamp": "2026-11-20T09:30:00Z",
               "traits": {"email": "ann@initech.com", "title": "Head of Growth"}}),
    );
    deliver(&app, &bytes(&identify)).await;
    app.replay_once(&replay).await;
    assert_eq!(
        event(&app, "ajs-f8ca1e4de5024d9430b3928bd8ac6b96").await.0,
        "demo_request"
    );
    let lead = app.lead("ann@initech.com").await;
    assert_eq!(lead["intent_score"], 50.0);
    assert_eq!(
        lead["source_ids"],
        json!({"segment_anonymous": ["23adfd82-aa0f-45a7-a756-24f2a7a4c895"]})
    );
    assert_eq!(
        stored(&app).await,
        (2, 1, 1),
        "the track is stored exactly once"
    );
}

#[tokio::test]
async fn an_unknown_event_name_replays_once_the_mapping_names_it() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let answer = deliver(&app, TRACK).await;
    let reason = answer["dead_letters"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("\"Course Clicked\" is not mapped"),
        "{reason}"
    );
    let identify = shaped_like(
        IDENTIFY,
        json!({"userId": "AiUGstSDIg", "anonymousId": null, "messageId": "ajs-identify-2",
               "traits": {"email": "student@academy.io"}}),
    );
    deliver(&app, &bytes(&identify)).await;
    let (_, page) = app.get("/api/v1/inbound/dead-letters?source=segment").await;
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let replay = format!("/api/v1/inbound/dead-letters/{id}/replay");
    let (status, problem) = app.post_json(&replay, &Value::Null).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    drop(app);

    // The operator maps the name; the service restarts with it.
    let app = TestApp::spawn_with_settings(db.pool.clone(), |s| {
        enable(s);
        let events = &mut s.sources.segment.events;
        events.insert(
            "Course Clicked".to_owned(),
            "content_download".parse().unwrap(),
        );
    })
    .await;
    let (status, replayed) = app.post_json(&replay, &Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{replayed:#}");
    assert_eq!(
        event(&app, "ajs-f8ca1e4de5024d9430b3928bd8ac6b96").await,
        (
            "content_download".into(),
            "2015-12-12T19:11:01.249+00:00".into()
        )
    );
    let lead = app.lead("student@academy.io").await;
    assert_eq!(replayed["results"][0]["lead_id"], lead["id"]);
    assert_eq!(stored(&app).await, (2, 1, 1));
}

#[tokio::test]
async fn a_batch_stores_every_message_and_resolves_its_own_ids() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let [identify, track] = two_messages();
    let by_user_id = |id: &str, changes: Value| {
        let mut message = shaped_like(PAGE, changes);
        message["messageId"] = id.into();
        message["userId"] = "jane-1".into();
        message
    };
    let pricing = by_user_id(
        "ajs-page-pricing",
        json!({"properties": {"path": "/pricing", "url": "https://acme.example/pricing"},
               "timestamp": "2026-11-20T11:00:00Z"}),
    );
    let group = json!({"type": "group", "messageId": "ajs-group-1", "userId": "jane-1",
                       "groupId": "0e8c78ea9d97a7b8185e8632", "traits": {"name": "Initech"}});
    // The page comes first: the identify later in the batch ties its userId.
    let body = json!({"batch": [pricing, identify, track, group]});
    let answer = deliver(&app, &bytes(&body)).await;
    assert_eq!(answer["accepted"], 3, "{answer:#}");
    let reason = answer["dead_letters"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("\"group\" calls are not mapped"),
        "{reason}"
    );
    assert_eq!(
        event(&app, "ajs-page-pricing").await.0,
        "pricing_page_visit"
    );
    let lead = app.lead("jane.doe@acme.io").await;
    assert_eq!(lead["intent_score"], 75.0, "demo request and pricing visit");
    assert_eq!(stored(&app).await, (3, 1, 1));

    // Webhooks (Actions) with batching on sends a JSON array.
    let compare = by_user_id(
        "ajs-page-compare",
        json!({"context": {"page": {"path": "/compare/acme-vs-initech"}},
               "timestamp": "2026-11-20T11:30:00Z"}),
    );
    let answer = deliver(&app, &bytes(&json!([compare]))).await;
    assert_eq!(answer["accepted"], 1, "{answer:#}");
    assert_eq!(
        event(&app, "ajs-page-compare").await.0,
        "comparison_page_visit"
    );
}

#[tokio::test]
async fn a_structurally_broken_body_is_refused_naming_the_field_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let signed = |body: &[u8]| (body.to_vec(), sign(SECRET, body));
    let (body, signature) = signed(WEBHOOKS_PAGE);
    let answer = post_signed(&app.base, &body, Some(&signature)).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:#}",
        answer.body
    );
    assert_eq!(problem_fields(&answer.body), ["messageId"]);

    let batch = bytes(
        &json!({"batch": [serde_json::from_slice::<Value>(IDENTIFY).unwrap(),
                                        {"type": "track", "event": "Demo Requested"}]}),
    );
    let (body, signature) = signed(&batch);
    let answer = post_signed(&app.base, &body, Some(&signature)).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem_fields(&answer.body), ["batch[1].messageId"]);

    let (body, signature) = signed(b"{\"type\": ");
    let answer = post_signed(&app.base, &body, Some(&signature)).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(stored(&app).await, (0, 0, 0), "nothing of a refused batch");
}

#[tokio::test]
async fn the_segment_connector_is_off_by_default() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let answer = post_signed(&app.base, IDENTIFY, Some(&sign(SECRET, IDENTIFY))).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(stored(&app).await, (0, 0, 0));
}

/// With the database unreachable the delivery is not acknowledged: a 503 with Retry-After,
/// which Segment retries.
#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after() {
    let (base, shutdown) = spawn_without_database(Duration::from_secs(1), enable).await;
    let now = chrono::Utc::now().to_rfc3339();
    let identify = shaped_like(IDENTIFY, json!({"timestamp": now}));
    let body = bytes(&identify);
    let answer = post_signed(&base, &body, Some(&sign(SECRET, &body))).await;
    shutdown.cancel();
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:#}",
        answer.body
    );
    assert!(answer.headers.contains_key("retry-after"));
}
