//! One notification's `sObject` mapped to a canonical event through the configured field
//! mapping, validated by the canonical schema's own checks ([`Checker`]).

use chrono::{DateTime, Utc};
use roxmltree::Node;
use serde_json::{Map, Value};

use crate::{
    adapters::{
        canonical::{Checker, Limits},
        vendor_fields,
    },
    config::SalesforceSettings,
    domain::{EventType, LeadEvent},
};

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The sObject types mapped to leads: both carry a person's email.
const MAPPED_TYPES: [&str; 2] = ["Lead", "Contact"];

/// An `sObject` as sent.
pub(super) struct Record<'d> {
    /// The type, without its namespace prefix (`sf:Lead` is `Lead`).
    kind: &'d str,
    /// Field API names and values in document order; `None` for an empty or nil field.
    fields: Vec<(&'d str, Option<&'d str>)>,
}

impl<'d> Record<'d> {
    /// Reads the type and the fields of `sobject`.
    pub(super) fn read(sobject: Node<'d, '_>) -> Self {
        let kind = sobject
            .attribute((XSI_NS, "type"))
            .map_or("", |t| t.rsplit(':').next().unwrap_or(t));
        let fields = sobject
            .children()
            .filter(Node::is_element)
            .map(|field| {
                let nil = field.attribute((XSI_NS, "nil")) == Some("true");
                let value = field
                    .text()
                    .map(str::trim)
                    .filter(|v| !nil && !v.is_empty());
                (field.tag_name().name(), value)
            })
            .collect();
        Self { kind, fields }
    }

    /// The value of field `name` (API names are case-insensitive).
    fn value(&self, name: &str) -> Option<&'d str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| *v)
    }

    /// The record's own Id (`00Q…` for a Lead, `003…` for a Contact), if sent.
    pub(super) fn id(&self) -> Option<&'d str> {
        self.value("Id")
    }

    /// The event notification `id` stands for, or why there can be none. Its time is the
    /// record's `LastModifiedDate` (Salesforce's own clock, so that late and out-of-order
    /// deliveries fold as ingest folds any), `now` if the message does not send it.
    pub(super) fn event(
        &self,
        id: &str,
        organization_id: &str,
        settings: &SalesforceSettings,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Result<LeadEvent, String> {
        if !MAPPED_TYPES.contains(&self.kind) {
            return Err(format!(
                "sObject type {:?} is not mapped (Lead and Contact are)",
                self.kind
            ));
        }
        let fields = self
            .fields
            .iter()
            .filter_map(|(name, value)| value.map(|v| (*name, v)));
        let lead = vendor_fields::lead("", fields, &settings.fields, limits);
        let mut errors = Vec::new();
        let occurred_at = match self.value("LastModifiedDate") {
            Some(at) => Checker::new("", &mut errors).timestamp(at, limits, now),
            None => Some(now),
        };
        let mut problems: Vec<String> = lead.as_ref().err().cloned().into_iter().collect();
        problems.extend(
            errors
                .iter()
                .map(|e| format!("LastModifiedDate ({}): {}", e.field, e.detail)),
        );
        match (lead, occurred_at) {
            (Ok((email, profile)), Some(occurred_at)) if problems.is_empty() => Ok(LeadEvent {
                event_id: id.to_owned(),
                source: super::SOURCE.to_owned(),
                event_type: self.event_type(settings),
                occurred_at,
                email,
                profile,
                properties: self.properties(organization_id),
            }),
            _ => Err(problems.join("; ")),
        }
    }

    /// `profile_update` (a record changed), unless the configured field's value names
    /// another type.
    fn event_type(&self, settings: &SalesforceSettings) -> EventType {
        settings
            .event_type_field
            .as_deref()
            .and_then(|field| self.value(field))
            .and_then(|value| {
                settings
                    .event_types
                    .iter()
                    .find(|(v, _)| v.eq_ignore_ascii_case(value))
                    .map(|(_, t)| *t)
            })
            .unwrap_or(EventType::ProfileUpdate)
    }

    /// Where the event came from in Salesforce's terms, stored with it.
    fn properties(&self, organization_id: &str) -> Map<String, Value> {
        let mut properties = Map::new();
        properties.insert("sobject".into(), self.kind.into());
        if let Some(id) = self.id() {
            properties.insert("record_id".into(), id.into());
        }
        properties.insert("organization_id".into(), organization_id.into());
        properties
    }
}
