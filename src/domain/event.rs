use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Email, Profile};

/// The closed list of event types of the canonical schema (DESIGN §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
    /// stores and what adapters of other systems produce.
    pub fn to_canonical_json(&self) -> serde_json::Value {
        let mut lead = serde_json::to_value(&self.profile).expect("a profile serialises");
        if let serde_json::Value::Object(fields) = &mut lead {
            fields.retain(|_, v| !v.is_null());
            fields.insert("email".into(), self.email.as_str().into());
        }
        serde_json::json!({
            "event_id": self.event_id,
            "source": self.source,
            "type": self.event_type,
            "occurred_at": self.occurred_at,
            "lead": lead,
            "properties": self.properties,
        })
    }
}
