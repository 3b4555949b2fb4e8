//! One call of the webhook: the payload template's shape, read from the rendered JSON, and
//! the canonical event it maps to through the configured event names and field mapping,
//! validated by the canonical schema's own checks ([`Checker`]).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::time;
use crate::{
    adapters::{
        canonical::{Checker, Limits, MAX_TEXT_CHARS},
        json, vendor_fields,
    },
    config::MarketoSettings,
    domain::LeadEvent,
    error::ApiError,
};

/// The template's members, as rendered.
pub(super) struct Call {
    /// `{{lead.Id}}`: Marketo's id of the person.
    pub(super) lead_id: String,
    /// What happened: a constant per webhook, matched against `sources.marketo.events`.
    event: String,
    /// When: `{{system.dateTime}}` (or a DateTime field), as rendered.
    occurred_at: String,
    /// `{{campaign.id}}`, if the template sends it: kept with the event.
    campaign_id: Option<String>,
    /// The `lead` object's members.
    lead: Map<String, Value>,
}

impl Call {
    /// Reads `body`: JSON (a syntax error is a 400) in the template's shape, or a 422 naming
    /// the member that breaks it. Values are Marketo's renderings: text, or a number.
    pub(super) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let Value::Object(mut call) = json::decode::<Value>(body)? else {
            return Err(ApiError::field(
                "body",
                "is not a JSON object (the payload template of docs/integrations/marketo.md)",
            ));
        };
        let mut required = |name: &str, token: &str| match call.remove(name).as_ref().map(text) {
            Some(Ok(Some(value))) => Ok(value),
            Some(Err(kind)) => Err(ApiError::field(
                name,
                format!("is {kind}, not the text of {token}"),
            )),
            _ => Err(ApiError::field(name, format!("is required ({token})"))),
        };
        let lead_id = required("lead_id", "{{lead.Id}}")?;
        let event = required("event", "the webhook's event name")?;
        let occurred_at = required("occurred_at", "{{system.dateTime}}")?;
        let campaign_id = match call.remove("campaign_id").as_ref().map(text) {
            Some(Err(kind)) => {
                return Err(ApiError::field(
                    "campaign_id",
                    format!("is {kind}, not the text of {{{{campaign.id}}}}"),
                ));
            }
            Some(Ok(id)) => id,
            None => None,
        };
        let lead = match call.remove("lead") {
            Some(Value::Object(lead)) => lead,
            _ => {
                return Err(ApiError::field(
                    "lead",
                    "is required (an object of the person's fields)",
                ));
            }
        };
        let call = Self {
            lead_id,
            event,
            occurred_at,
            campaign_id,
            lead,
        };
        let id = call.event_id();
        if id.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::field(
                "event",
                format!(
                    "with lead_id and occurred_at makes an event id longer than {MAX_TEXT_CHARS} characters"
                ),
            ));
        }
        Ok(call)
    }

    /// The idempotency key: the person, what happened, and when, to the second Marketo
    /// renders. The same on every delivery of one rendering (and on a re-rendering whose time
    /// comes from a field the campaign stamped), different for another event of the same
    /// person, or the same event at another second. Made here rather than in the template,
    /// since Marketo quotes each string token itself and so cannot join tokens in one string.
    pub(super) fn event_id(&self) -> String {
        format!("{}:{}:{}", self.lead_id, self.event, self.occurred_at)
    }

    /// The event this call stands for, or why there can be none.
    pub(super) fn event(
        &self,
        settings: &MarketoSettings,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Result<LeadEvent, String> {
        let Some(event_type) = settings.event_type(&self.event) else {
            return Err(format!(
                "event {:?} is not mapped (add it to sources.marketo.events)",
                self.event
            ));
        };
        let mut problems = Vec::new();
        let fields: Vec<(&str, String)> = self
            .lead
            .iter()
            .filter_map(|(name, value)| match text(value) {
                Ok(value) => value.map(|v| (name.as_str(), v)),
                Err(kind) => {
                    if let Some(target) = settings.field(name) {
                        problems.push(format!(
                            "lead.{name} (lead.{}): is {kind}, not text or a number",
                            target.as_str()
                        ));
                    }
                    None
                }
            })
            .collect();
        let lead = vendor_fields::lead(
            "lead.",
            fields.iter().map(|(name, value)| (*name, value.as_str())),
            &settings.fields,
            limits,
        );
        let mut errors = Vec::new();
        let mut check = Checker::new("", &mut errors);
        let occurred_at =
            match time::parse(&self.occurred_at, settings.time_zone.map(|zone| zone.0)) {
                Ok(at) => check.timestamp(&at.to_rfc3339(), limits, now),
                Err(problem) => {
                    check.fail("occurred_at", problem);
                    None
                }
            };
        let (email, profile) = match lead {
            Ok(lead) => (Some(lead.0), lead.1),
            Err(problem) => {
                problems.push(problem);
                (None, Default::default())
            }
        };
        problems.extend(errors.iter().map(|e| format!("{}: {}", e.field, e.detail)));
        match (email, occurred_at) {
            (Some(email), Some(occurred_at)) if problems.is_empty() => Ok(LeadEvent {
                event_id: self.event_id(),
                source: super::SOURCE.to_owned(),
                event_type,
                occurred_at,
                email,
                profile,
                properties: self.properties(),
            }),
            _ => Err(problems.join("; ")),
        }
    }

    /// Where the event came from in Marketo's terms, stored with it.
    fn properties(&self) -> Map<String, Value> {
        let mut properties = Map::new();
        properties.insert("lead_id".into(), self.lead_id.clone().into());
        properties.insert("event".into(), self.event.clone().into());
        if let Some(id) = &self.campaign_id {
            properties.insert("campaign_id".into(), id.clone().into());
        }
        properties
    }
}

/// A rendered token's text: a string (trimmed; empty is no value, as Marketo renders a field
/// without one), or a number as written; `null` is no value. `Err` names any other kind.
fn text(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_owned()))
        }
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(_) => Err("a boolean"),
        Value::Array(_) => Err("an array"),
        Value::Object(_) => Err("an object"),
    }
}
