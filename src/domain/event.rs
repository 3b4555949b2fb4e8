use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Email, Profile};

/// The closed list of event types of the canonical schema (DESIGN §3).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    FormSubmission,
    DemoRequest,
    PricingPageVisit,
    ComparisonPageVisit,
    ContentDownload,
    EmailOpen,
    EmailClick,
    WebinarAttended,
    PageView,
    ProfileUpdate,
    OptOut,
}

/// An event type name outside the closed list.
#[derive(Debug, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventType(pub String);

impl EventType {
    /// Every event type, in the order the design lists them.
    pub const ALL: [EventType; 11] = [
        EventType::FormSubmission,
        EventType::DemoRequest,
        EventType::PricingPageVisit,
        EventType::ComparisonPageVisit,
        EventType::ContentDownload,
        EventType::EmailOpen,
        EventType::EmailClick,
        EventType::WebinarAttended,
        EventType::PageView,
        EventType::ProfileUpdate,
        EventType::OptOut,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::FormSubmission => "form_submission",
            EventType::DemoRequest => "demo_request",
            EventType::PricingPageVisit => "pricing_page_visit",
            EventType::ComparisonPageVisit => "comparison_page_visit",
            EventType::ContentDownload => "content_download",
            EventType::EmailOpen => "email_open",
            EventType::EmailClick => "email_click",
            EventType::WebinarAttended => "webinar_attended",
            EventType::PageView => "page_view",
            EventType::ProfileUpdate => "profile_update",
            EventType::OptOut => "opt_out",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

impl TryFrom<String> for EventType {
    type Error = UnknownEventType;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A validated event in the canonical schema, whatever system it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct LeadEvent {
    /// The sender's id for the event; unique together with `source`.
    pub event_id: String,
    /// The sending system (`hubspot`, `segment`, ...).
    pub source: String,
    pub event_type: EventType,
    pub occurred_at: DateTime<Utc>,
    pub email: Email,
    /// Profile fields carried by the event; absent fields leave the lead's values alone.
    pub profile: Profile,
    /// Free-form extra data, stored with the event.
    pub properties: serde_json::Map<String, serde_json::Value>,
}

impl LeadEvent {
    /// The event in the canonical wire schema (DESIGN §3), normalised: what the event log
    /// stores and what adapters of other systems produce. Serialised straight from the event,
    /// without building a JSON tree first: every ingested event goes through it on the
    /// writer's path.
    pub fn canonical(&self) -> Canonical<'_> {
        Canonical {
            event_id: &self.event_id,
            source: &self.source,
            event_type: self.event_type,
            occurred_at: self.occurred_at,
            lead: CanonicalLead {
                email: self.email.as_str(),
                profile: &self.profile,
            },
            properties: &self.properties,
        }
    }
}

/// [`LeadEvent::canonical`].
#[derive(Serialize)]
pub struct Canonical<'e> {
    event_id: &'e str,
    source: &'e str,
    #[serde(rename = "type")]
    event_type: EventType,
    occurred_at: DateTime<Utc>,
    lead: CanonicalLead<'e>,
    properties: &'e serde_json::Map<String, serde_json::Value>,
}

/// The email and the profile fields the event carries (absent ones are left out).
struct CanonicalLead<'e> {
    email: &'e str,
    profile: &'e Profile,
}

impl Serialize for CanonicalLead<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // Named in full, so that a new profile field does not compile until it is added here.
        let Profile {
            first_name,
            last_name,
            title,
            company,
            industry,
            employee_count,
            annual_revenue,
            country,
            demand_state,
        } = self.profile;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("email", self.email)?;
        let texts = [
            ("first_name", first_name),
            ("last_name", last_name),
            ("title", title),
            ("company", company),
            ("industry", industry),
            ("country", country),
            ("demand_state", demand_state),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                map.serialize_entry(name, value)?;
            }
        }
        for (name, value) in [
            ("employee_count", employee_count),
            ("annual_revenue", annual_revenue),
        ] {
            if let Some(value) = value {
                map.serialize_entry(name, &value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_canonical_form_names_every_field_the_event_carries_and_nothing_else() {
        let event = LeadEvent {
            event_id: "e-1".into(),
            source: "hubspot".into(),
            event_type: EventType::PricingPageVisit,
            occurred_at: "2026-11-20T10:00:00.250Z".parse().unwrap(),
            email: Email::parse(" Ana@Acme.io ").unwrap(),
            profile: Profile {
                title: Some("VP Marketing".into()),
                employee_count: Some(250),
                country: Some("US".into()),
                ..Profile::default()
            },
            properties: json!({ "asset_id": "comparison-guide" })
                .as_object()
                .unwrap()
                .clone(),
        };
        assert_eq!(
            serde_json::to_value(event.canonical()).unwrap(),
            json!({
                "event_id": "e-1",
                "source": "hubspot",
                "type": "pricing_page_visit",
                "occurred_at": "2026-11-20T10:00:00.250Z",
                "lead": {
                    "email": "ana@acme.io",
                    "title": "VP Marketing",
                    "employee_count": 250,
                    "country": "US"
                },
                "properties": { "asset_id": "comparison-guide" }
            })
        );
    }
}
