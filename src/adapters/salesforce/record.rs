//! One notification's `sObject` mapped to a canonical event: a Lead or Contact through the
//! configured field mapping, validated by the canonical schema's own checks ([`Checker`]); an
//! Opportunity to an opportunity event ([`Record::opportunity`]).

use chrono::{DateTime, NaiveDate, Utc};
use roxmltree::Node;
use serde_json::{Map, Value};

use crate::{
    adapters::{
        canonical::{Checker, Limits, MAX_TEXT_CHARS},
        vendor_fields,
    },
    config::SalesforceSettings,
    domain::{
        AccountDomain, ContactRef, EventType, IdSystem, LeadEvent, Money, OpportunityEvent,
        OpportunityEventType, OpportunityFacts,
    },
};

const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The sObject types mapped to leads: both carry a person's email.
const MAPPED_TYPES: [&str; 2] = ["Lead", "Contact"];

/// The sObject type mapped to opportunity events.
pub(super) const OPPORTUNITY: &str = "Opportunity";

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

    /// The type, without its namespace prefix.
    pub(super) fn kind(&self) -> &'d str {
        self.kind
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

    /// The opportunity event notification `id` stands for, or why there can be none. Its type
    /// comes from `IsWon` and `IsClosed`, else it is a creation when the record was last
    /// modified when it was created, a stage change otherwise; its time is
    /// `LastModifiedDate`, and the opening time `CreatedDate`.
    pub(super) fn opportunity(
        &self,
        id: &str,
        settings: &SalesforceSettings,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Result<OpportunityEvent, String> {
        let mut errors = Vec::new();
        let mut check = Checker::new("", &mut errors);
        let record_id = check.required("Id", self.value("Id").map(str::to_owned));
        let occurred_at = match self.value("LastModifiedDate") {
            Some(at) => check.timestamp(at, limits, now),
            None => Some(now),
        };
        let opened_at = self
            .value("CreatedDate")
            .and_then(|at| check.instant("CreatedDate", at));
        let flag = |name: &str| {
            self.value(name)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        };
        let event_type = if flag("IsWon") {
            OpportunityEventType::OpportunityClosedWon
        } else if flag("IsClosed") {
            OpportunityEventType::OpportunityClosedLost
        } else if self.value("CreatedDate").is_some()
            && self.value("CreatedDate") == self.value("LastModifiedDate")
        {
            OpportunityEventType::OpportunityCreated
        } else {
            OpportunityEventType::OpportunityStageChanged
        };
        let currency = self
            .value("CurrencyIsoCode")
            .or(settings.currency.as_deref())
            .unwrap_or("USD");
        let money = self.value("Amount").and_then(|amount| {
            Money::parse(amount, currency)
                .map_err(|e| {
                    let (field, why) = e.field("Amount", "CurrencyIsoCode");
                    check.fail(field, why)
                })
                .ok()
        });
        let close_date = self.value("CloseDate").and_then(|day| {
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| check.fail("CloseDate", format!("{day:?} is not a date")))
                .ok()
        });
        let account_domain = settings
            .opportunity_domain_field
            .as_deref()
            .and_then(|field| self.value(field))
            .and_then(|domain| AccountDomain::parse(domain).ok())
            .map(|d| d.as_str().to_owned());
        let contacts = self
            .value("ContactId")
            .map(|contact| ContactRef::Crm {
                system: IdSystem::Salesforce,
                id: contact.to_owned(),
            })
            .into_iter()
            .collect();
        let text = |name: &str| {
            self.value(name)
                .map(|v| v.chars().take(MAX_TEXT_CHARS).collect())
        };
        match (record_id, occurred_at, errors.is_empty()) {
            (Some(record_id), Some(occurred_at), true) => Ok(OpportunityEvent {
                event_id: id.to_owned(),
                source: super::SOURCE.to_owned(),
                event_type,
                occurred_at,
                opportunity: OpportunityFacts {
                    id: record_id,
                    name: text("Name"),
                    money,
                    stage: text("StageName"),
                    opened_at,
                    close_date,
                    closed_at: None,
                    account_domain,
                    contacts,
                },
            }),
            _ => Err(errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.detail))
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }

    /// The Contact a converted Lead became (`ConvertedContactId`), which names the same
    /// person in the Opportunities converted with it.
    pub(super) fn converted_contact(&self) -> Option<&'d str> {
        self.value("ConvertedContactId")
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
