//! Salesforce Outbound Messages over real HTTP, with the published ASP.NET WebHooks test
//! messages (`data/salesforce-*.xml`, each with its source note) and hand-made variants shaped
//! like them: authentication by URL token and organization id, the byte-exact Ack, redelivery,
//! out-of-order delivery, dead letters and their replay.

use std::time::Duration;

use leadrouter::{
    adapters::salesforce::OrgId,
    config::Settings,
    domain::{LeadField, ProfileField, Role, Secret},
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;

use crate::helpers::{TestApp, spawn_without_database};
use crate::test_db::TestDb;

/// A `notifications` element from ASP.NET WebHooks' Salesforce receiver tests, with neither
/// OrganizationId nor Notification.
const EMPTY: &[u8] = include_bytes!("data/salesforce-outbound-empty.xml");
/// The Ack the same receiver answers, byte for byte (BOM included).
const ACK: &[u8] = include_bytes!("data/salesforce-ack-response.xml");

const TOKEN: &str = "sf-test-token-0123456789abcdef0123456789";
/// The fixture's organization, configured in its 15-character form.
const ORG: &str = "0123456789ABCDE";
const PATH: &str = "/webhooks/salesforce/sf-test-token-0123456789abcdef0123456789";

/// Turns the connector on for [`ORG`] with [`TOKEN`].
fn enable(settings: &mut Settings) {
    let salesforce = &mut settings.sources.salesforce;
    salesforce.enabled = true;
    salesforce.token = Some(Secret::new(TOKEN.to_owned()));
    salesforce.organization_ids = vec![OrgId::parse(ORG).unwrap()];
}

async fn spawn(pool: sqlx::PgPool) -> TestApp {
    TestApp::spawn_with_settings(pool, enable).await
}

/// What the service answered.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the byte-exact Ack.
    fn assert_ack(&self) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        assert_eq!(self.headers["content-type"], "text/xml; charset=utf-8");
        assert_eq!(self.body, ACK, "the Ack, byte for byte");
    }

    /// Asserts a SOAP fault with `status` and fault code `code`.
    fn assert_fault(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.headers["content-type"], "text/xml; charset=utf-8");
        let text = self.text();
        let doc = roxmltree::Document::parse(&text).expect("a fault is XML");
        let faultcode = doc
            .descendants()
            .find(|n| n.has_tag_name("faultcode"))
            .and_then(|n| n.text());
        assert_eq!(faultcode, Some(code), "{text}");
    }
}

/// POSTs `body` to `path` as Salesforce does (SOAP 1.1: `text/xml`, a `SOAPAction`).
async fn post_to(app_base: &str, path: &str, body: impl Into<reqwest::Body>) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{app_base}{path}"))
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", "\"\"")
        .body(body)
        .send()
        .await
        .expect("request sent");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

async fn post(app: &TestApp, body: impl Into<reqwest::Body>) -> Answer {
    post_to(&app.base, PATH, body).await
}

/// The fixture as Salesforce really types it (`sf:Lead`), each Lead given an Email.
fn fixture_with_emails() -> String {
    include_str!("data/salesforce-outbound-lead-typed.xml").to_owned()
}

/// A message shaped like the fixture, from organization `org`, holding `notifications`.
fn message_from(org: &str, notifications: &[String]) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soapenv:Body>
    <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
      <OrganizationId>{org}</OrganizationId>
      <ActionId>04k5e000000ABCDAAA</ActionId>
      <SessionId xsi:nil="true"/>
      <EnterpriseUrl>https://na31.salesforce.com/services/Soap/c/34.0/0123456789ABCDE</EnterpriseUrl>
      <PartnerUrl>https://na31.salesforce.com/services/Soap/u/34.0/0123456789ABCDE</PartnerUrl>
      {}
    </notifications>
  </soapenv:Body>
</soapenv:Envelope>
"#,
        notifications.join("\n      ")
    )
}

/// [`message_from`] the fixture's organization (its 18-character form, as sent).
fn message(notifications: &[String]) -> String {
    message_from("0123456789ABCDENNN", notifications)
}

/// Notification `id` of an sObject of `kind` with `fields`.
fn notification(id: &str, kind: &str, fields: &[(&str, &str)]) -> String {
    let fields: String = fields
        .iter()
        .map(|(name, value)| format!("\n          <sf:{name}>{value}</sf:{name}>"))
        .collect();
    format!(
        r#"<Notification>
        <Id>{id}</Id>
        <sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}
        </sObject>
      </Notification>"#
    )
}

/// Rows in the tables a message writes to.
async fn stored(app: &TestApp) -> (i64, i64, i64) {
    (
        app.count("lead_events").await,
        app.count("leads").await,
        app.count("inbound_dead_letters").await,
    )
}

/// The lead's version and last update, straight from its row.
async fn version(app: &TestApp, email: &str) -> (i64, chrono::DateTime<chrono::Utc>) {
    sqlx::query_as("select version, updated_at from leads where email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_salesforce_message_is_stored_and_answered_with_the_ack_byte_for_byte() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    post(&app, fixture_with_emails()).await.assert_ack();

    let lead = app.lead("henrik@contoso.com").await;
    let profile = &lead["profile"];
    assert_eq!(profile["first_name"], "Henrik");
    assert_eq!(profile["last_name"], "Nielsen");
    assert_eq!(profile["title"], "Architect");
    assert_eq!(profile["company"], "Microsoft");
    assert_eq!(profile["industry"], "Technology");
    assert_eq!(profile["country"], "US", "USA is mapped to its ISO code");
    app.lead("benjamin@contoso.com").await;
    app.lead("nora@contoso.com").await;
    assert_eq!(stored(&app).await, (3, 3, 0));
    let (source, kind, at): (String, String, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "select source, event_type, occurred_at from lead_events where event_id = '04l37000000L0E5AAK'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (source.as_str(), kind.as_str()),
        ("salesforce", "profile_update")
    );
    assert_eq!(
        at.to_rfc3339(),
        "2015-08-14T18:27:02+00:00",
        "LastModifiedDate"
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    for path in [
        "/webhooks/salesforce/sf-test-token-0123456789abcdef012345678X",
        "/webhooks/salesforce/sf-test-token",
        "/webhooks/salesforce/x",
    ] {
        let answer = post_to(&app.base, path, fixture_with_emails()).await;
        answer.assert_fault(StatusCode::UNAUTHORIZED, "soapenv:Client");
    }
    // Without the token segment there is no such route.
    let answer = post_to(&app.base, "/webhooks/salesforce", fixture_with_emails()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(stored(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn another_organization_is_refused_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let lead = notification("04l000000000001AAA", "Lead", &[("Email", "a@acme.io")]);
    for org in ["00D5e000000abcdEAA", "0123456789abcdeAA5", ""] {
        let answer = post(&app, message_from(org, std::slice::from_ref(&lead))).await;
        answer.assert_fault(StatusCode::UNAUTHORIZED, "soapenv:Client");
    }
    assert_eq!(stored(&app).await, (0, 0, 0));
    // The same message from the configured organization, in its 18-character form.
    post(&app, message_from("0123456789ABCDEAA5", &[lead]))
        .await
        .assert_ack();
    assert_eq!(stored(&app).await, (1, 1, 0));
}

#[tokio::test]
async fn a_redelivered_message_changes_nothing() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let body = message(&[
        notification(
            "04l000000000001AAA",
            "Lead",
            &[
                ("Email", "jane@acme.io"),
                ("Title", "VP Marketing"),
                ("LastModifiedDate", "2026-11-19T10:00:00.000Z"),
            ],
        ),
        notification("04l000000000002AAA", "Lead", &[("LastName", "Nobody")]),
    ]);
    post(&app, body.clone()).await.assert_ack();
    let first = stored(&app).await;
    assert_eq!(first, (1, 1, 1));
    let before = version(&app, "jane@acme.io").await;
    let lead_before = app.lead("jane@acme.io").await;

    app.advance(chrono::Duration::minutes(5));
    post(&app, body).await.assert_ack();
    assert_eq!(
        stored(&app).await,
        first,
        "no event, lead or dead letter added"
    );
    assert_eq!(version(&app, "jane@acme.io").await, before);
    let lead_after = app.lead("jane@acme.io").await;
    assert_eq!(lead_after["profile"], lead_before["profile"]);
    assert_eq!(lead_after["fit_score"], lead_before["fit_score"]);
}

/// Two changes of one Lead (Salesforce's LastModifiedDate apart) end the same whichever is
/// delivered first.
#[tokio::test]
async fn two_changes_delivered_in_reverse_order_end_as_in_order() {
    let older = notification(
        "04l000000000001AAA",
        "Lead",
        &[
            ("Email", "jane@acme.io"),
            ("Title", "Analyst"),
            ("NumberOfEmployees", "20"),
            ("Company", "Acme"),
            ("LastModifiedDate", "2026-11-19T10:00:00.000Z"),
        ],
    );
    let newer = notification(
        "04l000000000002AAA",
        "Lead",
        &[
            ("Email", "jane@acme.io"),
            ("Title", "VP Marketing"),
            ("NumberOfEmployees", "250"),
            ("AnnualRevenue", "5.0E7"),
            ("Industry", "software"),
            ("Country", "United States"),
            ("LastModifiedDate", "2026-11-19T11:00:00.000Z"),
        ],
    );
    let mut ends = Vec::new();
    for order in [[&older, &newer], [&newer, &older]] {
        let db = TestDb::new().await;
        let app = spawn(db.pool.clone()).await;
        for one in order {
            post(&app, message(std::slice::from_ref(one)))
                .await
                .assert_ack();
        }
        let lead = app.lead("jane@acme.io").await;
        ends.push((
            lead["profile"].clone(),
            lead["fit_score"].clone(),
            lead["intent_score"].clone(),
            lead["lifecycle_stage"].clone(),
        ));
    }
    assert_eq!(ends[0], ends[1]);
    let (profile, fit, ..) = &ends[0];
    assert_eq!(profile["title"], "VP Marketing", "the later change wins");
    assert_eq!(
        profile["company"], "Acme",
        "the earlier change still counts"
    );
    assert_eq!(profile["employee_count"], 250);
    assert_eq!(profile["annual_revenue"], 50_000_000);
    assert_eq!(profile["country"], "US");
    assert_eq!(*fit, 70, "the design's VP profile");
}

#[tokio::test]
async fn a_contact_a_custom_field_and_a_country_name_are_mapped() {
    let db = TestDb::new().await;
    let app = TestApp::spawn_with_settings(db.pool.clone(), |s| {
        enable(s);
        s.sources.salesforce.fields.insert(
            "Demand_State__c".to_owned(),
            LeadField::Profile(ProfileField::DemandState),
        );
    })
    .await;
    let demand_state = app.rules.rules.segmentation.demand_states[0].clone();
    let body = message(&[notification(
        "04l000000000003AAA",
        "Contact",
        &[
            ("Id", "0035e000000aaaaAAA"),
            ("Email", "Ana@Globex.de"),
            ("FirstName", "Ana"),
            ("Title", "Head of Growth"),
            ("MailingCountry", "Germany"),
            ("Demand_State__c", demand_state.as_str()),
            ("LastModifiedDate", "2026-11-19T10:00:00.000Z"),
        ],
    )]);
    post(&app, body).await.assert_ack();
    let lead = app.lead("ana@globex.de").await;
    assert_eq!(lead["profile"]["country"], "DE");
    assert_eq!(lead["profile"]["title"], "Head of Growth");
    assert_eq!(lead["profile"]["demand_state"], Value::from(demand_state));
    assert_eq!(
        lead["source_ids"],
        serde_json::json!({ "salesforce": ["0035e000000aaaaAAA"] }),
        "the lead remembers its Salesforce id"
    );
    let (status, found) = app
        .get("/api/v1/leads?salesforce_id=0035e000000aaaaAAA")
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["id"], lead["id"]);
    let (status, _) = app
        .get("/api/v1/leads?salesforce_id=0035e000000bbbbAAA")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, both) = app
        .get("/api/v1/leads?salesforce_id=0035e000000aaaaAAA&email=ana@globex.de")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{both}");
}

#[tokio::test]
async fn a_record_without_email_is_a_listed_dead_letter_and_the_rest_is_stored() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let body = message(&[
        notification("04l000000000001AAA", "Lead", &[("Email", "jane@acme.io")]),
        notification(
            "04l000000000002AAA",
            "Lead",
            &[("LastName", "Doe"), ("Work_Email__c", "john@initech.com")],
        ),
        notification("04l000000000003AAA", "Lead", &[("Email", "not-an-address")]),
    ]);
    post(&app, body).await.assert_ack();
    app.lead("jane@acme.io").await;
    assert_eq!(stored(&app).await, (1, 1, 2));

    let ops = app.as_role(Role::Ops).await;
    let (status, page) = ops
        .get("/api/v1/inbound/dead-letters?source=salesforce")
        .await;
    assert_eq!(status, StatusCode::OK, "{page:#}");
    assert_eq!(page["total"], 2);
    let items = page["items"].as_array().unwrap();
    let by_id = |id: &str| items.iter().find(|i| i["event_id"] == id).unwrap().clone();
    let no_email = by_id("04l000000000002AAA");
    assert_eq!(no_email["source"], "salesforce");
    assert!(
        no_email["reason"].as_str().unwrap().contains("no email"),
        "{no_email}"
    );
    assert!(
        no_email["payload"]
            .as_str()
            .unwrap()
            .contains("<Id>04l000000000002AAA</Id>")
    );
    assert!(no_email["replayed_at"].is_null());
    let bad_email = by_id("04l000000000003AAA");
    assert!(
        bad_email["reason"]
            .as_str()
            .unwrap()
            .starts_with("Email (lead.email): ")
    );
    let (status, page) = app.get("/api/v1/inbound/dead-letters?limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["total"], 2);
    let (status, _) = app.get("/api/v1/inbound/dead-letters?limit=0").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A dead letter replays once the mapping can map it, exactly once; before that, the replay
/// says why not and leaves it waiting.
#[tokio::test]
async fn a_dead_letter_replays_with_the_current_mapping_exactly_once() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let body = message(&[notification(
        "04l000000000002AAA",
        "Lead",
        &[("LastName", "Doe"), ("Work_Email__c", "john@initech.com")],
    )]);
    post(&app, body).await.assert_ack();
    let (_, page) = app.get("/api/v1/inbound/dead-letters").await;
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let replay = format!("/api/v1/inbound/dead-letters/{id}/replay");
    let (status, problem) = app.post_json(&replay, &Value::Null).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem:#}");
    assert!(
        problem["detail"].as_str().unwrap().contains("no email"),
        "{problem:#}"
    );
    drop(app);

    // The operator maps the custom field; the service restarts with it.
    let app = TestApp::spawn_with_settings(db.pool.clone(), |s| {
        enable(s);
        s.sources
            .salesforce
            .fields
            .insert("Work_Email__c".to_owned(), LeadField::Email);
    })
    .await;
    app.replay_once(&replay).await;
    let lead = app.lead("john@initech.com").await;
    assert_eq!(lead["profile"]["last_name"], "Doe");
    assert_eq!(stored(&app).await, (1, 1, 1));
    let ops = app.as_role(Role::Ops).await;
    let (status, _) = ops.post_json(&replay, &Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admin replays");
}

/// The published empty message has no OrganizationId: its sender cannot be verified.
#[tokio::test]
async fn the_empty_fixture_is_refused_and_an_empty_message_from_the_org_is_acked() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    post(&app, EMPTY)
        .await
        .assert_fault(StatusCode::UNAUTHORIZED, "soapenv:Client");
    let with_org = String::from_utf8(EMPTY.to_vec()).unwrap().replace(
        "<notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">",
        "<notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\"><OrganizationId>0123456789ABCDENNN</OrganizationId>",
    );
    post(&app, with_org).await.assert_ack();
    assert_eq!(stored(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn what_is_not_an_outbound_message_is_a_client_fault() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    post(&app, "hello")
        .await
        .assert_fault(StatusCode::BAD_REQUEST, "soapenv:Client");
    post(&app, "<a><b></a>")
        .await
        .assert_fault(StatusCode::BAD_REQUEST, "soapenv:Client");
    let not_soap = post(&app, "<notifications/>").await;
    not_soap.assert_fault(StatusCode::UNPROCESSABLE_ENTITY, "soapenv:Client");
    let json = reqwest::Client::new()
        .post(format!("{}{PATH}", app.base))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(json.headers()["content-type"], "text/xml; charset=utf-8");
    assert_eq!(stored(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn the_connector_is_off_by_default() {
    let db = TestDb::new().await;
    let app = TestApp::spawn(db.pool.clone()).await;
    let answer = post(&app, fixture_with_emails()).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
}

/// With the database unreachable the message is not acknowledged: a 503 server fault with
/// `Retry-After`, so Salesforce delivers it again.
#[tokio::test]
async fn an_unreachable_database_is_a_503_server_fault_with_retry_after() {
    let (base, shutdown) = spawn_without_database(Duration::from_secs(1), enable).await;

    let now = chrono::Utc::now().to_rfc3339();
    let body = message(&[notification(
        "04l000000000001AAA",
        "Lead",
        &[
            ("Email", "jane@acme.io"),
            ("LastModifiedDate", now.as_str()),
        ],
    )]);
    let answer = post_to(&base, PATH, body).await;
    shutdown.cancel();
    answer.assert_fault(StatusCode::SERVICE_UNAVAILABLE, "soapenv:Server");
    assert!(answer.headers.contains_key("retry-after"));
}

/// Salesforce sends at most 100 notifications in a message; more is not Salesforce.
#[tokio::test]
async fn a_message_of_101_notifications_is_a_422_client_fault_and_nothing_is_stored() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let notifications: Vec<String> = (0..101)
        .map(|i| {
            let email = format!("lead{i}@acme.io");
            notification(
                &format!("04l0000000{i:05}AAA"),
                "Lead",
                &[("Email", email.as_str())],
            )
        })
        .collect();
    let answer = post(&app, message(&notifications)).await;
    answer.assert_fault(StatusCode::UNPROCESSABLE_ENTITY, "soapenv:Client");
    assert!(
        answer.text().contains("Envelope.Body.notifications"),
        "{}",
        answer.text()
    );
    assert_eq!(stored(&app).await, (0, 0, 0));
}

/// The connector with a 4 KiB body limit and a 1 s request timeout.
async fn spawn_strict(pool: sqlx::PgPool) -> TestApp {
    TestApp::spawn_with_settings(pool, |settings| {
        enable(settings);
        settings.server.body_limit_bytes = 4096;
        settings.server.request_timeout_secs = 1;
    })
    .await
}

/// A message of 8 KiB and more.
fn big_message() -> String {
    let notifications: Vec<String> = (0..40)
        .map(|i| {
            let email = format!("lead{i}@acme.io");
            notification(
                &format!("04l0000000{i:05}AAA"),
                "Lead",
                &[("Email", email.as_str()), ("Company", &"Acme ".repeat(20))],
            )
        })
        .collect();
    let body = message(&notifications);
    assert!(body.len() > 8192, "{}", body.len());
    body
}

/// Sends `head` then `body` on a connection of its own, waits `pause`, sends `rest`, and
/// reads the answer until the server closes the connection.
async fn exchange(
    app: &TestApp,
    head: String,
    body: &[u8],
    pause: Duration,
    rest: &[u8],
) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    tokio::time::sleep(pause).await;
    // The server may have answered and closed already.
    let _ = stream.write_all(rest).await;
    let mut raw = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            value.trim().parse().unwrap(),
        );
    }
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// The body limit is a shared layer in front of the handler; on this route its 413 is still
/// a SOAP fault, whether the length is announced or the body is chunked past the limit.
#[tokio::test]
async fn a_body_over_the_limit_is_a_413_client_fault() {
    let db = TestDb::new().await;
    let app = spawn_strict(db.pool.clone()).await;
    let body = big_message();
    let announced = post(&app, body.clone()).await;
    announced.assert_fault(StatusCode::PAYLOAD_TOO_LARGE, "soapenv:Client");
    assert!(
        announced
            .text()
            .contains("larger than the configured limit")
    );

    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml; charset=utf-8\r\n\
         SOAPAction: \"\"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.base.trim_start_matches("http://")
    );
    let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let streamed = exchange(&app, head, chunked.as_bytes(), Duration::ZERO, b"").await;
    streamed.assert_fault(StatusCode::PAYLOAD_TOO_LARGE, "soapenv:Client");
    assert_eq!(stored(&app).await, (0, 0, 0));
}

/// The request timeout is a shared layer too: a body that stops coming is a 408 SOAP fault.
#[tokio::test]
async fn a_request_past_the_timeout_is_a_408_client_fault() {
    let db = TestDb::new().await;
    let app = spawn_strict(db.pool.clone()).await;
    let body = message(&[]);
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml; charset=utf-8\r\n\
         SOAPAction: \"\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.base.trim_start_matches("http://"),
        body.len()
    );
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let answer = exchange(&app, head, first, Duration::from_millis(1500), rest).await;
    answer.assert_fault(StatusCode::REQUEST_TIMEOUT, "soapenv:Client");
    assert!(
        answer.text().contains("configured timeout"),
        "{}",
        answer.text()
    );
}

/// Only this route answers in SOAP: elsewhere the same limit is problem+json.
#[tokio::test]
async fn the_body_limit_elsewhere_is_still_problem_json() {
    let db = TestDb::new().await;
    let app = spawn_strict(db.pool.clone()).await;
    let answer = post_to(&app.base, "/webhooks/events", big_message()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
}

/// The layers in front of the handler answer in SOAP here too: the access policy (which
/// opens only `POST` on this path, so a `GET` needs a key) and the `%00` guard.
#[tokio::test]
async fn a_get_or_a_nul_in_the_token_is_a_soap_fault_too() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let get = reqwest::get(format!("{}{PATH}", app.base)).await.unwrap();
    let answer = Answer {
        status: get.status(),
        headers: get.headers().clone(),
        body: get.bytes().await.unwrap().to_vec(),
    };
    answer.assert_fault(StatusCode::UNAUTHORIZED, "soapenv:Client");
    assert!(!answer.headers.contains_key("www-authenticate"));
    let nul = post_to(
        &app.base,
        "/webhooks/salesforce/a%00b",
        fixture_with_emails(),
    )
    .await;
    nul.assert_fault(StatusCode::UNPROCESSABLE_ENTITY, "soapenv:Client");
    assert!(nul.text().contains("path: "), "{}", nul.text());
}

/// Opportunity records become opportunity events: out of order and redelivered they fold to
/// the CRM's state, linked to the lead through the Contact its Lead was converted to; one
/// that cannot be mapped is a dead letter.
#[tokio::test]
async fn opportunities_fold_and_link_to_the_converted_lead() {
    let db = TestDb::new().await;
    let app = spawn(db.pool.clone()).await;
    let contact = "003000000000001AAA";
    let lead = notification(
        "04l000000000001AAA",
        "Lead",
        &[
            ("Id", "00Q000000000001AAA"),
            ("Email", "jane@acme.io"),
            ("IsConverted", "true"),
            ("ConvertedContactId", contact),
            ("LastModifiedDate", "2026-11-10T09:00:00.000Z"),
        ],
    );
    let opportunity = |id: &str, fields: &[(&str, &str)]| {
        let mut all = vec![
            ("Id", "006000000000001AAA"),
            ("Name", "Acme platform"),
            ("ContactId", contact),
            ("CurrencyIsoCode", "EUR"),
            ("CreatedDate", "2026-11-10T10:00:00.000Z"),
        ];
        all.extend_from_slice(fields);
        notification(id, "Opportunity", &all)
    };
    let won = opportunity(
        "04l000000000003AAA",
        &[
            ("StageName", "Closed Won"),
            ("Amount", "52000.00"),
            ("IsClosed", "true"),
            ("IsWon", "true"),
            ("CloseDate", "2026-11-19"),
            ("LastModifiedDate", "2026-11-19T11:00:00.000Z"),
        ],
    );
    let created = opportunity(
        "04l000000000002AAA",
        &[
            ("StageName", "Prospecting"),
            ("Amount", "40000"),
            ("IsClosed", "false"),
            ("IsWon", "false"),
            ("LastModifiedDate", "2026-11-10T10:00:00.000Z"),
        ],
    );
    let unreadable = notification(
        "04l000000000004AAA",
        "Opportunity",
        &[("Id", "006000000000002AAA"), ("Amount", "lots")],
    );
    post(&app, message(&[lead])).await.assert_ack();
    let body = message(&[won, created, unreadable]);
    post(&app, body.clone()).await.assert_ack();
    post(&app, body).await.assert_ack();
    assert_eq!(
        app.count("opportunity_events").await,
        2,
        "the redelivery stored nothing"
    );
    assert_eq!(app.count("opportunities").await, 1);

    let jane = app.lead("jane@acme.io").await;
    let shown = &jane["history"]["opportunities"];
    assert_eq!(shown.as_array().unwrap().len(), 1, "{shown:#}");
    let o = &shown[0];
    assert_eq!(o["source"], "salesforce");
    assert_eq!(o["external_id"], "006000000000001AAA");
    assert_eq!(o["name"], "Acme platform");
    assert_eq!(
        (o["status"].as_str(), o["stage"].as_str()),
        (Some("won"), Some("Closed Won"))
    );
    assert_eq!(
        (o["amount"].as_f64(), o["currency"].as_str()),
        (Some(52000.0), Some("EUR"))
    );
    assert_eq!(o["opened_at"], "2026-11-10T10:00:00Z");
    assert_eq!(o["closed_at"], "2026-11-19T11:00:00Z");
    assert_eq!(o["close_date"], "2026-11-19");

    let (status, page) = app
        .get("/api/v1/inbound/dead-letters?source=salesforce")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 1, "{page:#}");
    assert_eq!(page["items"][0]["event_id"], "04l000000000004AAA");
    let reason = page["items"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("Amount: "), "{reason}");
}
