//! One notification's `sObject` mapped to a canonical event through the configured field
//! mapping, validated by the canonical schema's own checks ([`Checker`]).

use chrono::{DateTime, Utc};
use roxmltree::Node;
use serde_json::{Map, Value};

use crate::{
    adapters::canonical::{Checker, Limits, RawLead},
    config::SalesforceSettings,
    domain::{EventType, LeadEvent, LeadField},
};

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The sObject types mapped to leads: both carry a person's email.
const MAPPED_TYPES: [&str; 2] = ["Lead", "Contact"];

/// Which Salesforce field filled each lead field.
type FilledBy<'d> = Vec<(LeadField, &'d str)>;

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
        let (mut raw, filled_by, mut problems) = self.raw_lead(settings);
        if raw.email.is_none() {
            return Err(
                "the record has no email (no field mapped to email has a value), so it names no lead"
                    .to_owned(),
            );
        }
        let mut errors = Vec::new();
        let mut check = Checker::new("", &mut errors);
        let email = check.email("lead.email", raw.email.take());
        let profile = check.profile(raw, limits);
        let occurred_at = match self.value("LastModifiedDate") {
            Some(at) => check.timestamp(at, limits, now),
            None => Some(now),
        };
        problems.extend(errors.iter().map(|e| {
            let field = match e.field.strip_prefix("lead.") {
                Some(wire) => filled_by
                    .iter()
                    .find(|(target, _)| target.as_str() == wire)
                    .map(|(_, sf)| format!("{sf} ({})", e.field))
                    .unwrap_or_else(|| e.field.clone()),
                None if e.field == "occurred_at" => "LastModifiedDate (occurred_at)".to_owned(),
                None => e.field.clone(),
            };
            format!("{field}: {}", e.detail)
        }));
        match (email, occurred_at) {
            (Some(email), Some(occurred_at)) if problems.is_empty() => Ok(LeadEvent {
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

    /// The lead object the mapped fields make, which Salesforce field filled each lead field
    /// (the first with a value, in document order), and the values that are not even of the
    /// right kind (a count that is no number).
    fn raw_lead(&self, settings: &SalesforceSettings) -> (RawLead, FilledBy<'d>, Vec<String>) {
        let mut raw = RawLead::default();
        let mut filled_by = FilledBy::new();
        let mut problems = Vec::new();
        for (name, value) in &self.fields {
            let Some(value) = value else { continue };
            let target = settings
                .fields
                .iter()
                .find(|(sf, _)| sf.eq_ignore_ascii_case(name))
                .map(|(_, target)| *target);
            let Some(target) = target else { continue };
            if filled_by.iter().any(|(t, _)| *t == target) {
                continue;
            }
            filled_by.push((target, *name));
            if let Err(problem) = raw.fill(target, value) {
                problems.push(format!("{name} ({}): {problem}", target.as_str()));
            }
        }
        (raw, filled_by, problems)
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
