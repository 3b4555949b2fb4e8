use crate::adapters::testing::{limits, now};
use figment::{
    Figment,
    providers::{Format, Toml},
};
use serde_json::json;

use super::*;
use crate::domain::EventType;

/// The Spec's complete identify example, byte for byte as published.
const IDENTIFY: &[u8] = include_bytes!("../../../tests/api/data/segment-identify.json");
/// The Spec's complete track example ("Course Clicked", by userId `AiUGstSDIg`, no email).
const TRACK: &[u8] = include_bytes!("../../../tests/api/data/segment-track.json");
/// The classic Webhooks destination's page example, which has no messageId.
const WEBHOOKS_PAGE: &[u8] = include_bytes!("../../../tests/api/data/segment-webhooks-page.json");

const SECRET: &str = "lr-segment-test-secret-0123456789abcdef";

/// The shipped `[sources.segment]`, enabled with [`SECRET`].
fn settings() -> SegmentSettings {
    let shipped = include_str!("../../../config/default.toml");
    let mut settings: SegmentSettings = Figment::from(Toml::string(shipped))
        .extract_inner("sources.segment")
        .expect("the shipped section parses");
    settings.enabled = true;
    settings.secret = Some(crate::domain::Secret::new(SECRET.to_owned()));
    settings
}

fn parse(body: &[u8]) -> Payload {
    Payload::parse(body, &limits()).expect("parses")
}

fn map(body: &[u8], known: &KnownIds, settings: &SegmentSettings) -> Mapped {
    parse(body).map(known, settings, &limits(), now())
}

fn fields(result: Result<Payload, ApiError>) -> Vec<String> {
    match result {
        Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// The expected values were computed by OpenSSL, not by this code:
/// `openssl dgst -sha1 -hmac lr-segment-test-secret-0123456789abcdef segment-identify.json`
/// (and `segment-track.json`), and RFC 2202's test case 2 (key "Jefe").
#[test]
fn signatures_match_vectors_computed_by_openssl_and_rfc_2202() {
    let settings = settings();
    let identify = "d84b268a872fb8dad9d8a6e1d6f203414931049c";
    let track = "98a7acc201c75efb61e29752c5497be8c92e54ce";
    assert!(verify_signature(Some(identify), IDENTIFY, &settings).is_ok());
    assert!(verify_signature(Some(track), TRACK, &settings).is_ok());
    assert!(
        verify_signature(Some(&identify.to_uppercase()), IDENTIFY, &settings).is_ok(),
        "hex digits in either case"
    );

    let mut jefe = settings.clone();
    jefe.secret = Some(crate::domain::Secret::new("Jefe".to_owned()));
    let rfc = "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79";
    assert!(verify_signature(Some(rfc), b"what do ya want for nothing?", &jefe).is_ok());
}

#[test]
fn a_missing_malformed_or_wrong_signature_is_refused() {
    let settings = settings();
    let identify = "d84b268a872fb8dad9d8a6e1d6f203414931049c";
    let wrong_body = [IDENTIFY, b" "].concat();
    let cases: [(Option<&str>, &[u8]); 6] = [
        (None, IDENTIFY),
        (Some(""), IDENTIFY),
        (Some("not hex"), IDENTIFY),
        (Some(&identify[..38]), IDENTIFY),
        (Some(identify), &wrong_body),
        (Some("98a7acc201c75efb61e29752c5497be8c92e54ce"), IDENTIFY),
    ];
    for (signature, body) in cases {
        let refused = verify_signature(signature, body, &settings);
        assert!(
            matches!(refused, Err(ApiError::Unauthorized(_))),
            "{signature:?}: {refused:?}"
        );
    }
    let mut unset = settings;
    unset.secret = None;
    assert!(verify_signature(Some(identify), IDENTIFY, &unset).is_err());
}

#[test]
fn the_spec_identify_maps_to_a_profile_update_that_ties_both_ids() {
    let mapped = map(IDENTIFY, &KnownIds::default(), &settings());
    assert!(mapped.unmappable.is_empty(), "{:?}", mapped.unmappable);
    let event = &mapped.events[0];
    assert_eq!(event.event_id, "022bb90c-bbac-11e4-8dfc-aa07a5b093db");
    assert_eq!(event.source, "segment");
    assert_eq!(event.event_type, EventType::ProfileUpdate);
    assert_eq!(event.email.as_str(), "peter@example.com");
    assert_eq!(
        event.profile.country.as_deref(),
        Some("US"),
        "address.country USA"
    );
    assert_eq!(
        event.occurred_at,
        "2015-02-23T22:28:55.111Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(event.properties["segment_type"], "identify");
    assert_eq!(event.properties["user_id"], "97980cfea0067");
    let ids: Vec<_> = mapped
        .source_ids
        .iter()
        .map(|s| (s.system, s.id.as_str(), s.email.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            (IdSystem::SegmentUser, "97980cfea0067", "peter@example.com"),
            (
                IdSystem::SegmentAnonymous,
                "507f191e810c19729de860ea",
                "peter@example.com"
            ),
        ]
    );
}

#[test]
fn the_spec_track_needs_a_mapped_name_and_an_identity() {
    let payload = parse(TRACK);
    let mut settings = settings();
    let mapped = payload.map(&KnownIds::default(), &settings, &limits(), now());
    assert!(mapped.events.is_empty());
    let letter = &mapped.unmappable[0];
    assert_eq!(letter.event_id, "ajs-f8ca1e4de5024d9430b3928bd8ac6b96");
    assert!(
        letter.reason.contains("\"Course Clicked\""),
        "{}",
        letter.reason
    );
    let again: Value = serde_json::from_str(&letter.payload).unwrap();
    let sent: Value = serde_json::from_slice(TRACK).unwrap();
    assert_eq!(again, sent, "the dead letter holds the message as sent");

    settings
        .events
        .insert("course clicked".to_owned(), EventType::ContentDownload);
    assert_eq!(
        payload.ids_to_resolve(&settings),
        IdsToResolve {
            user_ids: vec!["AiUGstSDIg".to_owned()],
            anonymous_ids: vec!["23adfd82-aa0f-45a7-a756-24f2a7a4c895".to_owned()],
        }
    );
    let mapped = payload.map(&KnownIds::default(), &settings, &limits(), now());
    assert_eq!(mapped.unmappable[0].reason, message::NO_IDENTITY);

    let mut known = KnownIds::default();
    known.anonymous.insert(
        "23adfd82-aa0f-45a7-a756-24f2a7a4c895".to_owned(),
        Email::parse("ann@initech.com").unwrap(),
    );
    let mapped = payload.map(&known, &settings, &limits(), now());
    let event = &mapped.events[0];
    assert_eq!(
        event.event_type,
        EventType::ContentDownload,
        "names match in any case"
    );
    assert_eq!(event.email.as_str(), "ann@initech.com");
    assert_eq!(event.properties["event"], "Course Clicked");
    assert_eq!(
        event.properties["properties"]["title"],
        "Intro to Analytics"
    );
    assert_eq!(mapped.source_ids.len(), 2, "the userId is tied as well");

    known.users.insert(
        "AiUGstSDIg".to_owned(),
        Email::parse("bob@initech.com").unwrap(),
    );
    let mapped = payload.map(&known, &settings, &limits(), now());
    assert_eq!(
        mapped.events[0].email.as_str(),
        "bob@initech.com",
        "the userId is tried before the anonymousId"
    );
}

fn message(fields: Value) -> Vec<u8> {
    let mut message = json!({
        "type": "track",
        "event": "Demo Requested",
        "messageId": "m-1",
        "userId": "u-1",
        "context": {"traits": {"email": "jane@acme.io"}},
    });
    for (key, value) in fields.as_object().unwrap() {
        if value.is_null() {
            message.as_object_mut().unwrap().remove(key);
        } else {
            message[key] = value.clone();
        }
    }
    message.to_string().into_bytes()
}

fn one(body: &[u8]) -> Result<crate::domain::LeadEvent, String> {
    let mut mapped = map(body, &KnownIds::default(), &settings());
    match mapped.unmappable.pop() {
        Some(letter) => Err(letter.reason),
        None => Ok(mapped.events.remove(0)),
    }
}

#[test]
fn time_is_timestamp_else_original_timestamp_else_received_at_else_now() {
    let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
    let all = json!({"timestamp": "2026-11-20T10:00:00Z",
                     "originalTimestamp": "2026-11-20T09:00:00Z",
                     "receivedAt": "2026-11-20T08:00:00Z"});
    assert_eq!(
        one(&message(all)).unwrap().occurred_at,
        at("2026-11-20T10:00:00Z")
    );
    let later = json!({"originalTimestamp": "2026-11-20T09:00:00.123+01:00",
                       "receivedAt": "2026-11-20T08:00:00Z"});
    assert_eq!(
        one(&message(later)).unwrap().occurred_at,
        at("2026-11-20T08:00:00.123Z")
    );
    let received = json!({"receivedAt": "2026-11-20T08:00:00Z", "timestamp": null});
    assert_eq!(
        one(&message(received)).unwrap().occurred_at,
        at("2026-11-20T08:00:00Z")
    );
    assert_eq!(one(&message(json!({}))).unwrap().occurred_at, now());

    let bad = one(&message(json!({"timestamp": "yesterday"}))).unwrap_err();
    assert!(bad.starts_with("timestamp (occurred_at): "), "{bad}");
    let future = one(&message(json!({"timestamp": "2026-11-23T12:00:00Z"}))).unwrap_err();
    assert!(future.contains("in the future"), "{future}");
}

#[test]
fn page_paths_pick_pricing_and_comparison_visits() {
    let page = |properties: Value, context: Value| {
        let body = message(
            json!({"type": "page", "event": null, "properties": properties,
                                  "context": context}),
        );
        one(&body).unwrap().event_type
    };
    let traits = json!({"traits": {"email": "jane@acme.io"}});
    let with_page =
        |path: &str| json!({"traits": {"email": "jane@acme.io"}, "page": {"path": path}});
    use EventType::*;
    assert_eq!(
        page(json!({"path": "/pricing"}), traits.clone()),
        PricingPageVisit
    );
    assert_eq!(
        page(json!({"path": "/Pricing/teams?x=1"}), traits.clone()),
        PricingPageVisit
    );
    assert_eq!(
        page(json!({"path": "/compare/acme-vs-globex"}), traits.clone()),
        ComparisonPageVisit
    );
    assert_eq!(
        page(json!({"path": "/pricingfoo"}), traits.clone()),
        PageView
    );
    assert_eq!(page(json!({"title": "Home"}), traits), PageView);
    assert_eq!(
        page(json!({}), with_page("/pricing/")),
        PricingPageVisit,
        "context.page.path"
    );
    assert_eq!(
        page(json!({"path": "/blog"}), with_page("/pricing")),
        PageView,
        "properties first"
    );
}

#[test]
fn other_calls_and_unknown_names_are_dead_letters_with_reasons() {
    for kind in ["group", "alias", "screen"] {
        let reason = one(&message(json!({"type": kind}))).unwrap_err();
        assert!(
            reason.contains(&format!("\"{kind}\" calls are not mapped")),
            "{reason}"
        );
    }
    let reason = one(&message(json!({"type": null}))).unwrap_err();
    assert!(reason.contains("no type"), "{reason}");
    let reason = one(&message(json!({"event": "Order Completed"}))).unwrap_err();
    assert!(
        reason.contains("\"Order Completed\" is not mapped"),
        "{reason}"
    );
    let reason = one(&message(json!({"event": null}))).unwrap_err();
    assert!(reason.contains("event name"), "{reason}");
    let reason = one(&message(json!({"context": {"traits": {"email": "nope"}}}))).unwrap_err();
    assert!(
        reason.starts_with("traits.email (lead.email): "),
        "{reason}"
    );
}

#[test]
fn defaults_map_the_common_track_names() {
    use EventType::*;
    let expected = [
        ("Demo Requested", DemoRequest),
        ("Pricing Page Viewed", PricingPageVisit),
        ("Form Submitted", FormSubmission),
        ("Webinar Attended", WebinarAttended),
        ("Content Downloaded", ContentDownload),
        ("Whitepaper Downloaded", ContentDownload),
        ("Email Opened", EmailOpen),
        ("Email Link Clicked", EmailClick),
        ("UNSUBSCRIBED", OptOut),
    ];
    for (name, event_type) in expected {
        let event = one(&message(json!({"event": name}))).unwrap();
        assert_eq!(event.event_type, event_type, "{name}");
    }
}

#[test]
fn traits_fill_the_profile_and_the_company_object_is_read_inside() {
    let identify = |traits: Value| {
        message(json!({"type": "identify", "event": null, "context": null, "traits": traits}))
    };
    let event = one(&identify(json!({
        "email": "Jane@Acme.io", "firstName": "Jane", "last_name": "Doe", "title": "VP Marketing",
        "company": {"name": "Acme", "industry": "software", "employee_count": 250},
        "country": "Germany",
    })))
    .unwrap();
    let p = &event.profile;
    assert_eq!(event.email.as_str(), "jane@acme.io");
    assert_eq!(p.first_name.as_deref(), Some("Jane"));
    assert_eq!(p.last_name.as_deref(), Some("Doe"));
    assert_eq!(p.company.as_deref(), Some("Acme"));
    assert_eq!(p.industry.as_deref(), Some("software"));
    assert_eq!(p.employee_count, Some(250));
    assert_eq!(p.country.as_deref(), Some("DE"));

    let event = one(&identify(
        json!({"email": "a@acme.io", "company": "Acme Inc",
                                     "employees": "40", "industry": "fintech",
                                     "company.industry": "ignored"}),
    ))
    .unwrap();
    assert_eq!(event.profile.company.as_deref(), Some("Acme Inc"));
    assert_eq!(event.profile.employee_count, Some(40));
    assert_eq!(event.profile.industry.as_deref(), Some("fintech"));

    let reason = one(&identify(
        json!({"email": "a@acme.io", "employees": "many"}),
    ))
    .unwrap_err();
    assert!(
        reason.starts_with("traits.employees (employee_count): "),
        "{reason}"
    );
    let reason = one(&identify(json!({"email": "a@acme.io", "employees": -3}))).unwrap_err();
    assert!(
        reason.starts_with("traits.employees (lead.employee_count): "),
        "{reason}"
    );
}

#[test]
fn a_batch_resolves_its_own_ids_and_names_broken_messages_by_path() {
    let identify = json!({"type": "identify", "messageId": "m-2", "anonymousId": "anon-1",
                          "traits": {"email": "jane@acme.io"}});
    let track = json!({"type": "track", "event": "Demo Requested", "messageId": "m-1",
                       "anonymousId": "anon-1"});
    let body = json!({"batch": [track, identify, track]}).to_string();
    let payload = parse(body.as_bytes());
    assert!(payload.ids_to_resolve(&settings()).is_empty());
    let mapped = payload.map(&KnownIds::default(), &settings(), &limits(), now());
    assert!(mapped.unmappable.is_empty(), "{:?}", mapped.unmappable);
    assert_eq!(mapped.events.len(), 2, "the repeated message is taken once");
    assert!(
        mapped
            .events
            .iter()
            .all(|e| e.email.as_str() == "jane@acme.io")
    );

    let array = json!([track]).to_string();
    assert_eq!(parse(array.as_bytes()).messages.len(), 1);

    let broken = json!({"batch": [track, {"type": "track"}, 7, {"messageId": 5}]}).to_string();
    assert_eq!(
        fields(Payload::parse(broken.as_bytes(), &limits())),
        ["batch[1].messageId", "batch[2]", "batch[3].messageId"]
    );
    assert_eq!(
        fields(Payload::parse(WEBHOOKS_PAGE, &limits())),
        ["messageId"]
    );
    assert_eq!(fields(Payload::parse(b"[]", &limits())), ["body"]);
    assert_eq!(
        fields(Payload::parse(b"{\"batch\": {}}", &limits())),
        ["batch"]
    );
    assert_eq!(fields(Payload::parse(b"\"hi\"", &limits())), ["body"]);
    assert!(matches!(
        Payload::parse(b"{", &limits()),
        Err(ApiError::MalformedJson(_))
    ));
    let many = serde_json::to_string(&vec![track; 101]).unwrap();
    assert_eq!(fields(Payload::parse(many.as_bytes(), &limits())), ["body"]);
}
