//! Marketo webhooks over real HTTP, with bodies as Marketo renders the documented payload
//! template (`docs/integrations/marketo.md`): string tokens quoted by Marketo, empty fields as
//! `""`, ids and numbers bare or as text. Authentication by the secret header, the time zone
//! of `{{system.dateTime}}`, redelivery, out-of-order delivery, dead letters and their replay.

use std::time::Duration;

use leadrouter::{
    config::Settings,
    domain::{EventType, Role, Secret},
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_without_database};
use crate::test_db::TestDb;

const SECRET: &str = "mkto-test-secret-0123456789abcdef0123456789";
const PATH: &str = "/webhooks/marketo";

/// Turns the connector on with [`SECRET`], for a subscription in Chicago.
fn enable(settings: &mut Settings) {
    let marketo = &mut settings.sources.marketo;
    marketo.enabled = true;
    marketo.secret = Some(Secret::new(SECRET.to_owned()));
    marketo.time_zone = Some("America/Chicago".parse().unwrap());
}

async fn spawn(pool: sqlx::PgPool) -> TestApp {
    TestApp::spawn_with_settings(pool, enable).await
}

/// The person a call is about, field by field as Marketo renders each token: `None` is a
/// field without a value, which Marketo renders as `""`.
struct Person<'a> {
    id: u64,
    email: &'a str,
    title: Option<&'a str>,
    employees: Option<&'a str>,
    revenue: Option<&'a str>,
    country: Option<&'a str>,
}

/// The documented template, rendered: `{{lead.Id}}` and `{{campaign.id}}` as numbers,
/// `{{system.dateTime}}` (`at`, Chicago time) and every string token quoted by Marketo,
/// `{{company.Num Employees}}` as Marketo sends a number field (`250`, or `""` when empty).
fn render(person: &Person<'_>, event: &str, at: &str) -> String {
    let quoted = |v: Option<&str>| format!("\"{}\"", v.unwrap_or_default());
    let number = |v: Option<&str>| v.map_or_else(|| "\"\"".to_owned(), str::to_owned);
    format!(
        r#"{{
  "lead_id": {id},
  "event": "{event}",
  "occurred_at": "{at}",
  "campaign_id": 1042,
  "lead": {{
    "Email": "{email}",
    "FirstName": "Jane",
    "LastName": "",
    "Title": {title},
    "Company": "Acme",
    "Industry": "software",
    "NumberOfEmployees": {employees},
    "AnnualRevenue": {revenue},
    "Country": {country}
  }}
}}"#,
        id = person.id,
        email = person.email,
        title = quoted(person.title),
        employees = number(person.employees),
        revenue = quoted(person.revenue),
        country = quoted(person.country),
    )
}

fn jane() -> Person<'static> {
    Person {
        id: 1_234_567,
        email: "Jane.Doe@Acme.io",
        title: Some("VP Marketing"),
        employees: Some("250"),
        revenue: Some("50000000"),
        country: Some("United States"),
    }
}

/// What the service answered.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

/// POSTs `body` as Marketo does with the custom headers of the docs, `secret` in the
/// secret header (none when `None`).
async fn post_with(base: &str, secret: Option<&str>, content_type: &str, body: String) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{PATH}"))
        .header("content-type", content_type)
        .header("user-agent", "Jakarta Commons-HttpClient/3.1")
        .body(body);
    if let Some(secret) = secret {
        request = request.header("X-Leadrouter-Secret", secret);
    }
    let response = request.send().await.expect("request sent");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

async fn post(app: &TestApp, body: String) -> Answer {
    post_with(&app.base, Some(SECRET), "application/json", body).await
}

/// POSTs and asserts a 200 whose one record is `status`: `accepted`, `duplicate` or
/// `dead_letter`.
async fn deliver(app: &TestApp, body: String, status: &str) -> Value {
    let answer = post(app, body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:#}", answer.body);
    let counts = |key: &str| match &answer.body[key] {
        Value::Array(items) => items.len() as u64,
        other => other.as_u64().unwrap_or_default(),
    };
    let counted = [
        ("accepted", counts("accepted")),
        ("duplicate", counts("duplicates")),
        ("dead_letter", counts("dead_letters")),
    ];
    for (name, count) in counted {
        assert_eq!(
            count,
            u64::from(name == status),
            "{name}: {:#}",
            answer.body
        );
    }
    answer.body
}

/// Rows in the tables a call writes to.
async fn stored(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("lead_events").await,
        app.count("leads").await,
        app.count("inbound_dead_letters").await,
        app.count("lead_source_ids").await,
    )
}

#[tokio::test]
async fn a_call_with_the_secret_is_stored_with_its_profile_type_and_time() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let answer = deliver(
        &app,
        render(&jane(), "Demo Request", "2026-11-20 04:00:00"),
        "accepted",
    )
    .await;
    assert_eq!(
        answer["results"][0]["event_id"],
        "1234567:Demo Request:2026-11-20 04:00:00"
    );

    let lead = app.lead("jane.doe@acme.io").await;
    let profile = &lead["profile"];
    assert_eq!(profile["title"], "VP Marketing");
    assert_eq!(profile["company"], "Acme");
    assert_eq!(profile["employee_count"], 250);
    assert_eq!(profile["annual_revenue"], 50_000_000);
    assert_eq!(profile["country"], "US", "the name becomes its ISO code");
    assert!(
        profile.get("last_name").is_none_or(Value::is_null),
        "\"\" is no value"
    );
    assert_eq!(
        lead["source_ids"],
        serde_json::json!({ "marketo": ["1234567"] }),
        "the lead remembers its Marketo id"
    );
    let (status, found) = app.get("/api/v1/leads?marketo_id=1234567").await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["id"], lead["id"]);

    let (kind, at, properties): (String, chrono::DateTime<chrono::Utc>, Value) = sqlx::query_as(
        "select event_type, occurred_at, payload -> 'properties' from lead_events where source = 'marketo'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(kind, "demo_request");
    assert_eq!(
        at.to_rfc3339(),
        "2026-11-20T10:00:00+00:00",
        "04:00 in Chicago (CST, UTC-6)"
    );
    assert_eq!(properties["campaign_id"], "1042");
    assert_eq!(stored(&app).await, (1, 1, 0, 1));
}

#[tokio::test]
async fn a_missing_or_wrong_secret_is_refused_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let body = render(&jane(), "Demo Request", "2026-11-20 04:00:00");
    let wrong_length = &SECRET[1..];
    let other = SECRET.replace('0', "1");
    for secret in [None, Some(""), Some(wrong_length), Some(other.as_str())] {
        let answer = post_with(&app.base, secret, "application/json", body.clone()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{secret:?}");
        assert!(
            answer.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json")
        );
        assert!(!answer.headers.contains_key("www-authenticate"));
    }
    // The secret is checked before the body is looked at.
    let answer = post_with(&app.base, None, "text/plain", "not json".to_owned()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // An API key is no substitute.
    let response = reqwest::Client::new()
        .post(format!("{}{PATH}", app.base))
        .header("content-type", "application/json")
        .bearer_auth(&app.source_key)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(stored(&app).await, (0, 0, 0, 0));
}

/// A call delivered again (the same rendering) is recognised by its key.
#[tokio::test]
async fn a_redelivered_call_changes_nothing() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let body = render(&jane(), "Filled Out Form", "2026-11-20 04:00:00");
    deliver(&app, body.clone(), "accepted").await;
    let before = stored(&app).await;
    let lead_before = app.lead("jane.doe@acme.io").await;

    app.advance(chrono::Duration::minutes(5));
    let again = deliver(&app, body, "duplicate").await;
    assert_eq!(again["results"][0]["status"], "duplicate");
    assert_eq!(stored(&app).await, before);
    let lead_after = app.lead("jane.doe@acme.io").await;
    for key in ["profile", "fit_score", "intent_score", "updated_at"] {
        assert_eq!(lead_after[key], lead_before[key], "{key}");
    }
}

/// Two calls of one person end the same whichever is delivered first.
#[tokio::test]
async fn two_calls_delivered_in_reverse_order_score_as_in_order() {
    let early = Person {
        title: Some("Analyst"),
        employees: Some("20"),
        revenue: None,
        country: None,
        ..jane()
    };
    let older = render(&early, "Filled Out Form", "2026-11-19 04:00:00");
    let newer = render(&jane(), "Demo Request", "2026-11-19 05:00:00");
    let mut ends = Vec::new();
    for order in [[&older, &newer], [&newer, &older]] {
        let db = TestDb::new().await;
        let app = spawn(db.pool.clone()).await;
        for body in order {
            deliver(&app, body.clone(), "accepted").await;
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
    let (profile, fit, intent, _) = &ends[0];
    assert_eq!(profile["title"], "VP Marketing", "the later call wins");
    assert_eq!(profile["employee_count"], 250);
    assert_eq!(*fit, 70, "the design's VP profile");
    assert_eq!(*intent, 50.0, "the demo request");
}

/// An unmapped event name is kept (answered 200, so Marketo does not report an error), and
/// replays exactly once after the operator maps it and restarts.
#[tokio::test]
async fn an_unknown_event_is_a_dead_letter_that_replays_once_mapped() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let body = render(&jane(), "Attended Webinar", "2026-11-20 04:00:00");
    let answer = deliver(&app, body.clone(), "dead_letter").await;
    assert!(
        answer["dead_letters"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("\"Attended Webinar\" is not mapped"),
        "{answer:#}"
    );
    deliver(&app, body.clone(), "dead_letter").await;
    assert_eq!(
        stored(&app).await,
        (0, 0, 1, 0),
        "one dead letter, nothing else"
    );

    let ops = app.as_role(Role::Ops).await;
    let (status, page) = ops.get("/api/v1/inbound/dead-letters?source=marketo").await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    let letter = &page["items"][0];
    assert_eq!(
        letter["event_id"],
        "1234567:Attended Webinar:2026-11-20 04:00:00"
    );
    assert_eq!(letter["payload"], Value::from(body), "the call as sent");
    let replay = format!(
        "/api/v1/inbound/dead-letters/{}/replay",
        letter["id"].as_str().unwrap()
    );
    let (status, problem) = app.post_json(&replay, &Value::Null).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    drop(app);

    let app = TestApp::spawn_with_settings(db.pool.clone(), |s| {
        enable(s);
        s.sources
            .marketo
            .events
            .insert("Attended Webinar".to_owned(), EventType::WebinarAttended);
    })
    .await;
    app.replay_once(&replay).await;
    assert_eq!(stored(&app).await, (1, 1, 1, 1));
    let lead = app.lead("jane.doe@acme.io").await;
    assert_eq!(
        lead["source_ids"]["marketo"],
        serde_json::json!(["1234567"])
    );
    let kind: String = sqlx::query_scalar("select event_type from lead_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kind, "webinar_attended");
}

#[tokio::test]
async fn a_call_without_email_is_a_dead_letter() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let nobody = Person {
        email: "",
        ..jane()
    };
    let answer = deliver(
        &app,
        render(&nobody, "Demo Request", "2026-11-20 04:00:00"),
        "dead_letter",
    )
    .await;
    assert!(
        answer["dead_letters"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no email")
    );
    assert_eq!(stored(&app).await, (0, 0, 1, 0));
}

#[tokio::test]
async fn what_is_not_json_or_not_the_template_is_refused_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let body = render(&jane(), "Demo Request", "2026-11-20 04:00:00");
    let form = post_with(
        &app.base,
        Some(SECRET),
        "application/x-www-form-urlencoded",
        body,
    )
    .await;
    assert_eq!(
        form.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{:#}",
        form.body
    );
    let malformed = post(&app, "{\"lead_id\": ".to_owned()).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let no_id = render(&jane(), "Demo Request", "2026-11-20 04:00:00")
        .replace("\"lead_id\": 1234567", "\"lead_id\": \"\"");
    let answer = post(&app, no_id).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answer.body["errors"][0]["field"], "lead_id",
        "{:#}",
        answer.body
    );
    let answer = post(
        &app,
        "{\"lead_id\": 1, \"event\": \"Demo Request\", \"occurred_at\": \"2026-11-20\"}".to_owned(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answer.body["errors"][0]["field"], "lead");
    assert_eq!(stored(&app).await, (0, 0, 0, 0));
}

#[tokio::test]
async fn the_connector_is_off_by_default() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let body = render(&jane(), "Demo Request", "2026-11-20 04:00:00");
    let answer = post(&app, body).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

/// With the database unreachable the call is not acknowledged: a 503 with `Retry-After`.
#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after() {
    let (base, shutdown) = spawn_without_database(Duration::from_secs(1), enable).await;
    let body = render(&jane(), "Demo Request", "2026-11-20 04:00:00");
    let answer = post_with(&base, Some(SECRET), "application/json", body).await;
    shutdown.cancel();
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:#}",
        answer.body
    );
    assert!(answer.headers.contains_key("retry-after"));
}
