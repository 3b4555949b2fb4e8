use std::collections::BTreeMap;

use crate::adapters::testing::{limits, now};

use super::*;
use crate::domain::{EventType, LeadField, ProfileField, Secret};

/// The shipped mapping, in Chicago.
fn settings() -> MarketoSettings {
    use ProfileField as P;
    let fields = [
        ("Email", LeadField::Email),
        ("FirstName", LeadField::Profile(P::FirstName)),
        ("LastName", LeadField::Profile(P::LastName)),
        ("Title", LeadField::Profile(P::Title)),
        ("Company", LeadField::Profile(P::Company)),
        ("Industry", LeadField::Profile(P::Industry)),
        ("NumberOfEmployees", LeadField::Profile(P::EmployeeCount)),
        ("AnnualRevenue", LeadField::Profile(P::AnnualRevenue)),
        ("Country", LeadField::Profile(P::Country)),
    ];
    let events = [
        ("Filled Out Form", EventType::FormSubmission),
        ("Demo Request", EventType::DemoRequest),
    ];
    MarketoSettings {
        enabled: true,
        secret: Some(Secret::new("s".repeat(40))),
        time_zone: Some("America/Chicago".parse().unwrap()),
        fields: fields
            .into_iter()
            .map(|(name, lead)| (name.to_owned(), lead))
            .collect::<BTreeMap<_, _>>(),
        events: events
            .into_iter()
            .map(|(name, t)| (name.to_owned(), t))
            .collect(),
        ..MarketoSettings::default()
    }
}

/// The documented template as Marketo renders it for a person with every field: string
/// tokens quoted by Marketo, the ids and the company size as numbers, the revenue as text.
const RENDERED: &str = r#"{
  "lead_id": 1234567,
  "event": "Demo Request",
  "occurred_at": "2026-11-20 06:00:00",
  "campaign_id": 8801,
  "lead": {
    "Email": "Jane.Doe@Acme.io",
    "FirstName": "Jane",
    "LastName": "Doe",
    "Title": "VP Marketing",
    "Company": "Acme",
    "Industry": "software",
    "NumberOfEmployees": 250,
    "AnnualRevenue": "50000000.0",
    "Country": "United States"
  }
}"#;

fn mapped(body: &str) -> Mapped {
    receive(body.as_bytes(), &settings(), &limits(), now()).unwrap()
}

#[test]
fn the_rendered_template_maps_to_one_event_in_the_configured_zone() {
    let mapped = mapped(RENDERED);
    assert!(mapped.unmappable.is_empty());
    let [event] = mapped.events.as_slice() else {
        panic!("one event");
    };
    assert_eq!(event.event_id, "1234567:Demo Request:2026-11-20 06:00:00");
    assert_eq!(event.source, "marketo");
    assert_eq!(event.event_type, EventType::DemoRequest);
    assert_eq!(event.occurred_at.to_rfc3339(), "2026-11-20T12:00:00+00:00");
    assert_eq!(event.email.as_str(), "jane.doe@acme.io");
    let p = &event.profile;
    assert_eq!(p.first_name.as_deref(), Some("Jane"));
    assert_eq!(p.title.as_deref(), Some("VP Marketing"));
    assert_eq!(p.employee_count, Some(250));
    assert_eq!(p.annual_revenue, Some(50_000_000));
    assert_eq!(p.country.as_deref(), Some("US"));
    assert_eq!(event.properties["lead_id"], "1234567");
    assert_eq!(event.properties["campaign_id"], "8801");
    assert_eq!(
        mapped.source_ids,
        vec![SourceId {
            system: IdSystem::Marketo,
            id: "1234567".to_owned(),
            email: event.email.clone(),
        }]
    );
}

#[test]
fn empty_tokens_are_absent_and_numbers_may_come_as_text() {
    let body = r#"{"lead_id": "1234567", "event": "filled out form ", "occurred_at": "2026-11-20",
        "campaign_id": "",
        "lead": {"Email": "jane@acme.io", "FirstName": "", "Title": "  ", "Company": null,
                 "NumberOfEmployees": "250", "AnnualRevenue": "5.0E7", "Country": "",
                 "Unmapped": {"any": "thing"}}}"#;
    let mapped = mapped(body);
    let event = &mapped.events[0];
    assert_eq!(
        event.event_type,
        EventType::FormSubmission,
        "case and spaces"
    );
    assert_eq!(event.occurred_at.to_rfc3339(), "2026-11-20T06:00:00+00:00");
    let p = &event.profile;
    assert_eq!(
        (&p.first_name, &p.title, &p.company, &p.country),
        (&None, &None, &None, &None)
    );
    assert_eq!(p.employee_count, Some(250));
    assert_eq!(p.annual_revenue, Some(50_000_000));
    assert!(!event.properties.contains_key("campaign_id"));
}

#[test]
fn an_unknown_event_no_email_or_a_bad_field_is_a_dead_letter_with_the_call_as_sent() {
    let cases = [
        (
            RENDERED.replace("Demo Request", "Attended Webinar"),
            "event \"Attended Webinar\" is not mapped",
        ),
        (
            RENDERED.replace(r#""Jane.Doe@Acme.io""#, r#""""#),
            "the record has no email",
        ),
        (
            RENDERED.replace("Jane.Doe@Acme.io", "not-an-address"),
            "lead.Email (lead.email): ",
        ),
        (
            RENDERED.replace(r#""50000000.0""#, r#""fifty million""#),
            "lead.AnnualRevenue (lead.annual_revenue): \"fifty million\" is not a number",
        ),
        (
            RENDERED.replace("United States", "Narnia"),
            "lead.Country (lead.country): \"Narnia\" is not an ISO 3166-1",
        ),
        (
            RENDERED.replace(r#""Jane""#, "true"),
            "lead.FirstName (lead.first_name): is a boolean",
        ),
        (
            RENDERED.replace("2026-11-20 06:00:00", "2026-11-23 06:00:00"),
            "is in the future",
        ),
        (
            RENDERED.replace("2026-11-20 06:00:00", "20.11.2026"),
            "occurred_at: \"20.11.2026\" is not a time Marketo renders",
        ),
    ];
    for (body, reason) in cases {
        let mapped = mapped(&body);
        assert!(
            mapped.events.is_empty() && mapped.source_ids.is_empty(),
            "{reason}"
        );
        let [letter] = mapped.unmappable.as_slice() else {
            panic!("one dead letter for {reason}");
        };
        assert!(
            letter.reason.contains(reason),
            "{reason} not in {}",
            letter.reason
        );
        assert_eq!(letter.payload, body, "the call as sent");
        assert!(
            letter.event_id.starts_with("1234567:"),
            "{}",
            letter.event_id
        );
    }
}

#[test]
fn what_is_not_the_templates_shape_is_refused_naming_the_member() {
    let fields = |body: &str| match receive(body.as_bytes(), &settings(), &limits(), now()) {
        Err(ApiError::Validation(errors)) => errors[0].field.clone(),
        Err(other) => format!("{:?}", other.status()),
        Ok(_) => "mapped".to_owned(),
    };
    assert_eq!(fields("{\"lead_id\": "), "400");
    assert_eq!(fields("[]"), "body");
    assert_eq!(
        fields(&RENDERED.replace("\"lead_id\"", "\"leadId\"")),
        "lead_id"
    );
    assert_eq!(fields(&RENDERED.replace("1234567", "\"\"")), "lead_id");
    assert_eq!(fields(&RENDERED.replace("\"Demo Request\"", "[]")), "event");
    assert_eq!(
        fields(&RENDERED.replace("\"2026-11-20 06:00:00\"", "\"\"")),
        "occurred_at"
    );
    assert_eq!(fields(&RENDERED.replace("8801", "{}")), "campaign_id");
    assert_eq!(
        fields(r#"{"lead_id": 1, "event": "Demo Request", "occurred_at": "2026-11-20"}"#),
        "lead"
    );
    assert_eq!(
        fields(&RENDERED.replace("Demo Request", &"x".repeat(300))),
        "event"
    );
}

#[test]
fn the_secret_header_is_compared_whole() {
    let settings = settings();
    let secret = "s".repeat(40);
    assert!(verify_secret(Some(secret.as_bytes()), &settings).is_ok());
    for wrong in ["", "s", &"s".repeat(39), &"s".repeat(41), &"S".repeat(40)] {
        assert!(
            verify_secret(Some(wrong.as_bytes()), &settings).is_err(),
            "{wrong}"
        );
    }
    let missing = verify_secret(None, &settings).unwrap_err();
    assert!(
        missing
            .detail()
            .contains("X-Leadrouter-Secret header is missing")
    );
    let unset = MarketoSettings {
        secret: None,
        ..settings
    };
    assert!(verify_secret(Some(secret.as_bytes()), &unset).is_err());
}

#[test]
fn a_dead_letter_replays_once_its_event_is_mapped() {
    let body = RENDERED.replace("Demo Request", "Attended Webinar");
    let letter = mapped(&body).unmappable.remove(0);
    let still = replay(&letter.payload, &settings(), &limits(), now());
    assert!(matches!(still, Err(ApiError::Validation(_))));
    let mut settings = settings();
    settings
        .events
        .insert("attended webinar".to_owned(), EventType::WebinarAttended);
    let replayed = replay(&letter.payload, &settings, &limits(), now()).unwrap();
    assert_eq!(replayed.events[0].event_id, letter.event_id);
    assert_eq!(replayed.events[0].event_type, EventType::WebinarAttended);
    assert_eq!(replayed.source_ids.len(), 1);
}
