use std::collections::BTreeMap;

use crate::adapters::testing::{limits, now};
use chrono::TimeZone;

use super::*;
use crate::domain::{EventType, LeadField, ProfileField, Secret};

/// The ASP.NET WebHooks test message: three Lead notifications (typed `sf:Lead1` to `sf:Lead3`
/// by its author, and without Email), organization `0123456789ABCDENNN`.
const FIXTURE: &[u8] = include_bytes!("../../../tests/api/data/salesforce-outbound-lead.xml");
/// The same project's message with no OrganizationId and no Notification.
const EMPTY: &[u8] = include_bytes!("../../../tests/api/data/salesforce-outbound-empty.xml");

/// The shipped mapping, for the fixture's organization.
fn settings() -> SalesforceSettings {
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
        ("MailingCountry", LeadField::Profile(P::Country)),
    ];
    SalesforceSettings {
        enabled: true,
        organization_ids: vec![OrgId::parse("0123456789ABCDE").unwrap()],
        token: Some(Secret::new("a".repeat(40))),
        fields: fields
            .into_iter()
            .map(|(sf, lead)| (sf.to_owned(), lead))
            .collect::<BTreeMap<_, _>>(),
        event_type_field: None,
        event_types: BTreeMap::new(),
        opportunity_domain_field: Some("Account_Domain__c".to_owned()),
        currency: None,
    }
}

/// The fixture as Salesforce really types it (`sf:Lead`), each Lead given an Email.
fn fixture_with_emails() -> String {
    include_str!("../../../tests/api/data/salesforce-outbound-lead-typed.xml").to_owned()
}

/// A message from the fixture's organization holding `notifications`.
fn message(notifications: &[String]) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>0123456789ABCDENNN</OrganizationId>
   <ActionId>04k5e000000ABCDAAA</ActionId>
   {}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#,
        notifications.join("\n   ")
    )
}

/// A notification `id` of an sObject of `kind` with `fields`.
fn notification(id: &str, kind: &str, fields: &[(&str, &str)]) -> String {
    let fields: String = fields
        .iter()
        .map(|(name, value)| format!("<sf:{name}>{value}</sf:{name}>"))
        .collect();
    format!(
        r#"<Notification><Id>{id}</Id><sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{fields}</sObject></Notification>"#
    )
}

fn map(body: &str, settings: &SalesforceSettings) -> Mapped {
    receive(body.as_bytes(), settings, &limits(), now()).unwrap()
}

#[test]
fn the_fixture_authenticates_by_its_organization_and_its_leads_map() {
    let body = fixture_with_emails();
    let message = Message::parse(body.as_bytes()).unwrap();
    assert_eq!(message.organization_id(), Some("0123456789ABCDENNN"));
    message.verify_organization(&settings()).unwrap();

    let mapped = message.map(&settings(), &limits(), now()).unwrap();
    assert!(mapped.unmappable.is_empty(), "{:?}", mapped.unmappable);
    let ids: Vec<&str> = mapped.events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "04l37000000L0E5AAK",
            "14l37000123L0E5AAK",
            "24l37123450L0E5AAK"
        ]
    );
    let henrik = &mapped.events[0];
    assert_eq!(henrik.source, "salesforce");
    assert_eq!(henrik.event_type, EventType::ProfileUpdate);
    assert_eq!(henrik.email.as_str(), "henrik@contoso.com");
    assert_eq!(
        henrik.occurred_at,
        Utc.with_ymd_and_hms(2015, 8, 14, 18, 27, 2).unwrap(),
        "the record's LastModifiedDate"
    );
    let p = &henrik.profile;
    assert_eq!(p.first_name.as_deref(), Some("Henrik"));
    assert_eq!(p.last_name.as_deref(), Some("Nielsen"));
    assert_eq!(p.title.as_deref(), Some("Architect"));
    assert_eq!(p.company.as_deref(), Some("Microsoft"));
    assert_eq!(p.industry.as_deref(), Some("Technology"));
    assert_eq!(p.country.as_deref(), Some("US"), "USA");
    assert_eq!(henrik.properties["sobject"], "Lead");
    assert_eq!(henrik.properties["record_id"], "0123456789ABCDEEAE");
    assert_eq!(henrik.properties["organization_id"], "0123456789ABCDENNN");
}

#[test]
fn the_fixture_as_published_has_no_lead_to_map_and_says_why() {
    let mapped = map(std::str::from_utf8(FIXTURE).unwrap(), &settings());
    assert!(mapped.events.is_empty());
    assert_eq!(mapped.unmappable.len(), 3);
    let first = &mapped.unmappable[0];
    assert_eq!(first.event_id, "04l37000000L0E5AAK");
    assert!(
        first.reason.contains("\"Lead1\" is not mapped"),
        "{}",
        first.reason
    );
}

#[test]
fn another_organization_or_none_is_refused() {
    let body = fixture_with_emails().replace("0123456789ABCDENNN", "00D5e000000abcdEAA");
    let refused = Message::parse(body.as_bytes())
        .unwrap()
        .verify_organization(&settings());
    assert!(matches!(refused, Err(ApiError::Unauthorized(_))));
    let lower = fixture_with_emails().replace("0123456789ABCDENNN", "0123456789abcdeAA5");
    assert!(
        receive(lower.as_bytes(), &settings(), &limits(), now()).is_err(),
        "15-character ids are case-sensitive"
    );

    let empty = Message::parse(EMPTY).unwrap();
    assert_eq!(empty.organization_id(), None);
    assert!(matches!(
        empty.verify_organization(&settings()),
        Err(ApiError::Unauthorized(_))
    ));
    assert!(
        empty
            .map(&settings(), &limits(), now())
            .unwrap()
            .events
            .is_empty()
    );
}

#[test]
fn the_token_must_match_exactly() {
    let settings = settings();
    assert!(verify_token(&"a".repeat(40), &settings).is_ok());
    let wrong = [
        String::new(),
        "a".to_owned(),
        "a".repeat(39),
        "a".repeat(41),
        "b".repeat(40),
    ];
    for wrong in wrong {
        assert!(matches!(
            verify_token(&wrong, &settings),
            Err(ApiError::Unauthorized(_))
        ));
    }
    let unset = SalesforceSettings {
        token: None,
        ..settings
    };
    assert!(
        verify_token("", &unset).is_err(),
        "no token configured: refuse all"
    );
}

#[test]
fn a_contact_its_mailing_country_numbers_and_a_custom_field_map() {
    let mut settings = settings();
    settings.fields.insert(
        "Demand_State__c".into(),
        LeadField::Profile(ProfileField::DemandState),
    );
    let states = ["early".to_owned(), "late".to_owned()];
    let limits = Limits {
        demand_states: &states,
        ..limits()
    };
    let body = message(&[
        notification(
            "04l000000000001AAA",
            "Contact",
            &[
                ("Id", "0035e000000aaaaAAA"),
                ("Email", " Ana@Globex.DE "),
                ("MailingCountry", "Deutschland"),
                ("Demand_State__c", "Late"),
                ("LastModifiedDate", "2026-11-20T09:00:00.000Z"),
            ],
        ),
        notification(
            "04l000000000002AAA",
            "Lead",
            &[
                ("Email", "bo@initech.com"),
                ("NumberOfEmployees", "250"),
                ("AnnualRevenue", "5.0E7"),
                ("Country", "United Kingdom"),
            ],
        ),
    ]);
    let mapped = receive(body.as_bytes(), &settings, &limits, now()).unwrap();
    assert!(mapped.unmappable.is_empty(), "{:?}", mapped.unmappable);
    let [ana, bo] = &mapped.events[..] else {
        panic!("two events: {:?}", mapped.events)
    };
    assert_eq!(ana.email.as_str(), "ana@globex.de");
    assert_eq!(ana.profile.country.as_deref(), Some("DE"));
    assert_eq!(ana.profile.demand_state.as_deref(), Some("late"));
    assert_eq!(ana.properties["sobject"], "Contact");
    assert_eq!(bo.profile.employee_count, Some(250));
    assert_eq!(bo.profile.annual_revenue, Some(50_000_000));
    assert_eq!(bo.profile.country.as_deref(), Some("GB"));
    assert_eq!(
        bo.occurred_at,
        now(),
        "no LastModifiedDate: the time received"
    );
}

#[test]
fn records_that_cannot_be_mapped_say_which_field_and_the_rest_map() {
    let body = message(&[
        notification("n-no-email", "Lead", &[("LastName", "Doe")]),
        notification("n-bad-email", "Lead", &[("Email", "not-an-address")]),
        notification(
            "n-country",
            "Lead",
            &[("Email", "a@x.io"), ("Country", "Narnia")],
        ),
        notification(
            "n-count",
            "Lead",
            &[("Email", "b@x.io"), ("NumberOfEmployees", "lots")],
        ),
        notification(
            "n-future",
            "Lead",
            &[
                ("Email", "c@x.io"),
                ("LastModifiedDate", "2027-01-01T00:00:00Z"),
            ],
        ),
        notification("n-account", "Account", &[("Name", "Acme")]),
        notification("n-good", "Lead", &[("Email", "d@x.io")]),
    ]);
    let mapped = map(&body, &settings());
    assert_eq!(mapped.events.len(), 1);
    assert_eq!(mapped.events[0].event_id, "n-good");
    let reasons: BTreeMap<&str, &str> = mapped
        .unmappable
        .iter()
        .map(|u| (u.event_id.as_str(), u.reason.as_str()))
        .collect();
    let expect = [
        ("n-no-email", "no email"),
        ("n-bad-email", "Email (lead.email): is not an email address"),
        (
            "n-country",
            "Country (lead.country): \"Narnia\" is not an ISO 3166-1",
        ),
        (
            "n-count",
            "NumberOfEmployees (lead.employee_count): \"lots\" is not a number",
        ),
        ("n-future", "LastModifiedDate (occurred_at): "),
        ("n-account", "\"Account\" is not mapped"),
    ];
    assert_eq!(reasons.len(), expect.len());
    for (id, words) in expect {
        assert!(reasons[id].contains(words), "{id}: {}", reasons[id]);
    }
}

#[test]
fn a_dead_letter_payload_is_a_message_of_its_one_notification_and_replays() {
    let body = message(&[
        notification("n-good", "Lead", &[("Email", "d@x.io")]),
        notification(
            "n-work",
            "Contact",
            &[("Work_Email__c", "w@x.io"), ("Title", "CTO &amp; founder")],
        ),
    ]);
    let mut settings = settings();
    let mapped = map(&body, &settings);
    let [dead] = &mapped.unmappable[..] else {
        panic!("{:?}", mapped.unmappable)
    };
    let again = Message::parse(dead.payload.as_bytes()).unwrap();
    assert_eq!(again.organization_id(), Some("0123456789ABCDENNN"));
    assert!(dead.payload.contains("<Id>n-work</Id>") && !dead.payload.contains("n-good"));

    let still = replay(&dead.payload, &settings, &limits(), now());
    assert!(matches!(still, Err(ApiError::Validation(_))), "{still:?}");
    settings
        .fields
        .insert("Work_Email__c".into(), LeadField::Email);
    let events = replay(&dead.payload, &settings, &limits(), now())
        .unwrap()
        .events;
    assert_eq!(events[0].event_id, "n-work");
    assert_eq!(events[0].email.as_str(), "w@x.io");
    assert_eq!(events[0].profile.title.as_deref(), Some("CTO & founder"));
}

#[test]
fn a_configured_field_can_pick_the_event_type() {
    let mut settings = settings();
    settings.event_type_field = Some("Lead_Source_Detail__c".into());
    settings
        .event_types
        .insert("Demo Request".into(), EventType::DemoRequest);
    let body = message(&[
        notification(
            "n-1",
            "Lead",
            &[
                ("Email", "a@x.io"),
                ("Lead_Source_Detail__c", "demo request"),
            ],
        ),
        notification(
            "n-2",
            "Lead",
            &[("Email", "b@x.io"), ("Lead_Source_Detail__c", "Webinar")],
        ),
    ]);
    let types: Vec<EventType> = map(&body, &settings)
        .events
        .iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(types, [EventType::DemoRequest, EventType::ProfileUpdate]);
}

#[test]
fn what_is_not_an_outbound_message_is_refused_before_anything_maps() {
    let parse = |body: &str| Message::parse(body.as_bytes()).err();
    assert!(matches!(parse("hello"), Some(ApiError::MalformedXml(_))));
    assert!(matches!(
        parse("<a><b></a>"),
        Some(ApiError::MalformedXml(_))
    ));
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
    assert!(
        matches!(parse(laughs), Some(ApiError::MalformedXml(_))),
        "no DTD, so no entity expansion"
    );
    assert!(matches!(
        Message::parse(b"\xff\xfe<a/>").err(),
        Some(ApiError::MalformedXml(_))
    ));
    assert!(matches!(
        parse("<Envelope/>"),
        Some(ApiError::Validation(_))
    ));
    let no_id = message(&["<Notification><sObject/></Notification>".to_owned()]);
    let refused = receive(no_id.as_bytes(), &settings(), &limits(), now());
    assert!(
        matches!(refused, Err(ApiError::Validation(_))),
        "{refused:?}"
    );
}

#[test]
fn a_message_of_more_than_100_notifications_is_refused_whole() {
    let leads = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                let email = format!("lead{i}@acme.io");
                notification(
                    &format!("04l0000000{i:05}AAA"),
                    "Lead",
                    &[("Email", &email)],
                )
            })
            .collect()
    };
    let full = map(&message(&leads(MAX_NOTIFICATIONS)), &settings());
    assert_eq!(full.events.len(), 100);
    let over = message(&leads(MAX_NOTIFICATIONS + 1));
    let Err(ApiError::Validation(errors)) = receive(over.as_bytes(), &settings(), &limits(), now())
    else {
        panic!("101 notifications are refused");
    };
    assert_eq!(errors[0].field, "Envelope.Body.notifications");
    assert!(errors[0].detail.contains("101"), "{}", errors[0].detail);
}
