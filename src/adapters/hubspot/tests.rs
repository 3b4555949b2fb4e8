use serde_json::{Value, json};

use super::*;
use crate::adapters::testing::{limits, now};
use crate::domain::{ContactRef, Money, OpportunityEventType};

/// The shipped `[sources.hubspot]`.
fn settings() -> HubSpotSettings {
    use figment::{
        Figment,
        providers::{Format, Toml},
    };
    Figment::from(Toml::string(include_str!("../../../config/default.toml")))
        .extract_inner("sources.hubspot")
        .expect("the shipped section parses")
}

fn at_ms() -> i64 {
    now().timestamp_millis() - 60_000
}

fn change(property: &str, value: &str) -> Value {
    json!({
        "eventId": 100, "subscriptionId": 7, "portalId": 62515, "occurredAt": at_ms(),
        "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 101,
        "propertyName": property, "propertyValue": value, "changeSource": "CRM",
    })
}

fn payload(items: &[Value]) -> Payload {
    parse(Value::from(items.to_vec()).to_string().as_bytes()).unwrap()
}

fn known() -> Resolved {
    let contact = Contact {
        email: Some(Email::parse("ana@globex.de").unwrap()),
        properties: Vec::new(),
    };
    Resolved {
        contacts: Contacts::from([("101".to_owned(), Ok(contact))]),
        companies: Companies::new(),
        deals: Deals::new(),
    }
}

fn map(payload: &Payload, resolved: &Resolved) -> Received {
    payload.map(
        &settings(),
        resolved,
        EventType::ProfileUpdate,
        &limits(),
        now(),
    )
}

#[test]
fn the_key_is_the_change_itself_so_a_redelivery_has_the_same_one() {
    let first = payload(&[change("jobtitle", "CTO")]);
    let mut again = change("jobtitle", "CTO");
    again["attemptNumber"] = 4.into();
    let mut later = change("jobtitle", "CTO");
    later["occurredAt"] = (at_ms() + 1).into();
    let key = |p: &Payload| match p {
        Payload::Notifications(all) => all[0].0.key(),
        Payload::Workflow(_) => unreachable!(),
    };
    assert_eq!(key(&first), key(&payload(&[again])));
    assert_ne!(
        key(&first),
        key(&payload(&[later])),
        "same eventId, another change"
    );
}

#[test]
fn a_signal_wins_over_the_mapping_and_the_first_signal_wins() {
    let received = map(
        &payload(&[
            change("recent_conversion_event_name", "Demo request form"),
            change("recent_conversion_event_name", "Newsletter"),
            change(
                "hs_analytics_last_url",
                "https://globex.example/compare/us-vs-them",
            ),
            change("jobtitle", "CTO"),
        ]),
        &known(),
    );
    let types: Vec<EventType> = received
        .mapped
        .events
        .iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        types,
        [
            EventType::DemoRequest,
            EventType::FormSubmission,
            EventType::ComparisonPageVisit,
            EventType::ProfileUpdate,
        ]
    );
    assert_eq!(
        received.mapped.events[3].profile.title.as_deref(),
        Some("CTO")
    );
    assert!(
        received
            .mapped
            .events
            .iter()
            .all(|e| e.email.as_str() == "ana@globex.de")
    );
}

#[test]
fn an_email_change_names_its_lead_without_a_lookup_and_others_need_one() {
    let p = payload(&[
        change("email", "Ana.New@Globex.de"),
        change("jobtitle", "CTO"),
        json!({"occurredAt": at_ms(), "subscriptionType": "contact.deletion", "objectId": 202}),
    ]);
    let needed = p.contact_ids(&settings());
    assert_eq!(
        needed,
        [
            Needed {
                id: "101".into(),
                readable: true
            },
            Needed {
                id: "202".into(),
                readable: false
            },
        ],
        "the email change needs nothing; a deleted contact cannot be read from the API"
    );
    let received = map(&p, &Resolved::default());
    assert_eq!(received.mapped.events.len(), 1);
    assert_eq!(
        received.mapped.events[0].email.as_str(),
        "ana.new@globex.de"
    );
    assert_eq!(received.mapped.source_ids[0].id, "101");
    assert_eq!(received.mapped.unmappable.len(), 2);
}

#[test]
fn eventtype_is_read_like_subscriptiontype_and_ids_may_be_text() {
    let p = payload(&[json!({
        "eventId": "55", "portalId": "62515", "occurredAt": at_ms(),
        "eventType": "contact.propertyChange", "objectId": "101",
        "propertyName": "firstname", "propertyValue": "Ana",
    })]);
    let received = map(&p, &known());
    assert_eq!(
        received.mapped.events[0].profile.first_name.as_deref(),
        Some("Ana")
    );
}

#[test]
fn a_merge_moves_ids_and_makes_no_event() {
    let p = payload(&[json!({
        "occurredAt": at_ms(), "subscriptionType": "contact.merge", "objectId": 101,
        "primaryObjectId": 101, "mergedObjectIds": [202, "303"],
    })]);
    let received = map(&p, &Resolved::default());
    assert_eq!(
        received.merges,
        [Merge {
            primary: "101".into(),
            merged: vec!["202".into(), "303".into()]
        }]
    );
    assert!(received.mapped.events.is_empty() && received.mapped.unmappable.is_empty());
}

#[test]
fn unknown_kinds_future_times_and_unmapped_properties_are_dead_letters_naming_why() {
    let mut future = change("jobtitle", "CTO");
    future["occurredAt"] = (now().timestamp_millis() + 3_600_000).into();
    let received = map(
        &payload(&[
            json!({"occurredAt": at_ms(), "subscriptionType": "deal.deletion", "objectId": 9}),
            future,
            change("hs_persona", "persona_1"),
        ]),
        &known(),
    );
    let reasons: Vec<&str> = received
        .mapped
        .unmappable
        .iter()
        .map(|u| u.reason.as_str())
        .collect();
    assert!(
        reasons[0].contains("\"deal.deletion\" notifications are not mapped"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("is in the future"), "{reasons:?}");
    assert!(
        reasons[2].contains("property \"hs_persona\" is not mapped"),
        "{reasons:?}"
    );
    let again = parse_dead_letter(&received.mapped.unmappable[2].payload)
        .unwrap()
        .0;
    assert!(matches!(again, Payload::Notifications(ref all) if all.len() == 1));
}

#[test]
fn a_workflow_dead_letter_replays_with_its_event_type_and_key() {
    let body = json!({"vid": 77, "properties": {"firstname": {"value": "Kim"}}});
    let p = parse(body.to_string().as_bytes()).unwrap();
    let received = p.map(
        &settings(),
        &Resolved::default(),
        EventType::DemoRequest,
        &limits(),
        now(),
    );
    let [letter] = &received.mapped.unmappable[..] else {
        panic!("{:?}", received.mapped)
    };
    assert!(letter.reason.contains("no email"), "{}", letter.reason);
    let (again, event) = parse_dead_letter(&letter.payload).unwrap();
    assert_eq!(event, EventType::DemoRequest);
    let Payload::Workflow(snapshot) = &again else {
        panic!("a workflow")
    };
    assert_eq!(
        workflow_key(snapshot),
        letter.event_id,
        "the key it arrived with"
    );
}

#[test]
fn more_than_100_notifications_or_a_scalar_body_are_refused() {
    let many: Vec<Value> = (0..101).map(|_| change("jobtitle", "CTO")).collect();
    assert!(parse(Value::from(many).to_string().as_bytes()).is_err());
    assert!(parse(b"42").is_err());
    assert!(
        parse(br#"[{"objectId": 1}]"#).is_err(),
        "occurredAt is required"
    );
}

#[test]
fn a_company_is_its_account_as_read_with_the_tier_its_property_names() {
    let company = |property: &str| {
        json!({
            "occurredAt": at_ms(), "subscriptionType": "company.propertyChange",
            "objectId": 5001, "propertyName": property, "propertyValue": "x",
        })
    };
    let p = payload(&[
        company("hs_ideal_customer_profile"),
        company("description"),
        json!({"occurredAt": at_ms(), "subscriptionType": "company.creation", "objectId": 5002}),
    ]);
    assert_eq!(
        p.company_ids(&settings()),
        ["5001", "5002"],
        "not for a description"
    );
    let read = |pairs: &[(&str, &str)]| {
        Ok(pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect())
    };
    let resolved = Resolved {
        contacts: Contacts::new(),
        companies: Companies::from([
            (
                "5001".to_owned(),
                read(&[
                    ("domain", "globex.de"),
                    ("name", "Globex"),
                    ("hs_ideal_customer_profile", "tier_1"),
                ]),
            ),
            ("5002".to_owned(), read(&[("name", "No Domain Inc")])),
        ]),
        deals: Deals::new(),
    };
    let received = map(&p, &resolved);
    let [account] = &received.accounts[..] else {
        panic!("{:?}", received.accounts)
    };
    assert_eq!(account.domain.as_deref(), Some("globex.de"));
    assert_eq!(account.tier, Some(Some(1)));
    assert_eq!(account.name, Some(Some("Globex".to_owned())));
    let reasons: Vec<&str> = received
        .mapped
        .unmappable
        .iter()
        .map(|u| u.reason.as_str())
        .collect();
    assert!(
        reasons[0].contains("\"description\" says nothing of its account"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("company 5002 has no domain"),
        "{reasons:?}"
    );
}

#[test]
fn a_deal_change_maps_to_the_outcome_hubspot_holds_now() {
    let change = |event_id: u64, deal: u64| {
        json!({"eventId": event_id, "portalId": 62515, "occurredAt": 1_763_634_000_000i64,
               "subscriptionType": "deal.propertyChange", "objectId": deal,
               "propertyName": "dealstage", "propertyValue": "closedlost"})
    };
    let p = parse(
        Value::from(vec![change(1, 7), change(2, 8), change(3, 9)])
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(p.deal_ids(), ["7", "8", "9"]);
    let deal = |properties: &[(&str, &str)]| {
        Ok(Deal {
            properties: properties
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            contacts: vec!["101".to_owned()],
        })
    };
    let resolved = Resolved {
        deals: Deals::from([
            (
                "7".to_owned(),
                deal(&[
                    ("hs_is_closed", "true"),
                    ("hs_is_closed_won", "false"),
                    ("amount", "1200.5"),
                    ("deal_currency_code", "EUR"),
                ]),
            ),
            (
                "8".to_owned(),
                deal(&[("hs_is_closed", "false"), ("dealstage", "contractsent")]),
            ),
            ("9".to_owned(), deal(&[("amount", "a lot")])),
        ]),
        ..Resolved::default()
    };
    let received = map(&p, &resolved);
    let kinds: Vec<_> = received
        .mapped
        .opportunities
        .iter()
        .map(|o| o.event_type)
        .collect();
    assert_eq!(
        kinds,
        [
            OpportunityEventType::OpportunityClosedLost,
            OpportunityEventType::OpportunityStageChanged
        ]
    );
    let lost = &received.mapped.opportunities[0].opportunity;
    assert_eq!(lost.money, Some(Money::parse("1200.5", "EUR").unwrap()));
    assert_eq!(
        lost.contacts,
        [ContactRef::Crm {
            system: IdSystem::HubSpot,
            id: "101".into()
        }]
    );
    let [letter] = &received.mapped.unmappable[..] else {
        panic!("{:?}", received.mapped.unmappable)
    };
    assert!(
        letter.reason.starts_with("deal 9's amount: "),
        "{}",
        letter.reason
    );
}
