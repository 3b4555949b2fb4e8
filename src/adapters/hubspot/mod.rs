//! HubSpot: app webhooks (`contact.*` notifications naming a contact by id, `company.*` and
//! `deal.*` ones naming a company or a deal) and workflow webhooks (a contact with its
//! properties), both at `POST /webhooks/hubspot`.
//!
//! Mapping is pure and comes after two steps that are not: the signature is verified on the
//! raw request ([`signature`]), and the contacts a payload names only by id are resolved to
//! an email (and properties) by the caller ([`Payload::contact_ids`], then [`Payload::map`]
//! with what was found), from the ids leads remember or from HubSpot's CRM API.

mod company;
mod deal;
mod payload;
pub mod signature;
#[cfg(test)]
mod tests;

pub use deal::{Deal, Deals, PROPERTIES as DEAL_PROPERTIES};
pub use payload::{MAX_NOTIFICATIONS, Notification, Payload, Snapshot, parse};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{account_list::AccountInput, canonical::Limits, vendor_fields};
use crate::{
    config::HubSpotSettings,
    domain::{
        Email, EventType, IdSystem, LeadEvent, LeadField, Mapped, Profile, SourceId, Unmappable,
    },
    error::ApiError,
};

/// The `source` of the events this adapter makes.
pub const SOURCE: &str = "hubspot";

/// What is known of a contact a payload names by id.
#[derive(Clone, Debug, Default)]
pub struct Contact {
    /// Its email, when a lead remembers the id.
    pub email: Option<Email>,
    /// Its properties, when read from HubSpot's API (the email among them).
    pub properties: Vec<(String, String)>,
}

/// Each contact id a payload needs: what was found, or why nothing was.
pub type Contacts = BTreeMap<String, Result<Contact, String>>;

/// Each company id a payload needs: its properties as read from HubSpot, or why there are
/// none.
pub type Companies = BTreeMap<String, Result<Vec<(String, String)>, String>>;

/// What the caller found of the ids a payload names.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub contacts: Contacts,
    pub companies: Companies,
    pub deals: Deals,
}

/// HubSpot merged `merged` into `primary`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merge {
    pub primary: String,
    pub merged: Vec<String>,
}

/// What a payload maps to: events, dead letters and ids, the merges to apply and the
/// accounts its companies describe.
#[derive(Debug, Default)]
pub struct Received {
    pub mapped: Mapped,
    pub merges: Vec<Merge>,
    pub accounts: Vec<AccountInput>,
}

/// A contact id the payload needs resolved, and whether HubSpot's API may be asked (a
/// deleted contact can only be known from the ids leads remember).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needed {
    pub id: String,
    pub readable: bool,
}

const CREATION: &str = "contact.creation";
const PROPERTY_CHANGE: &str = "contact.propertyChange";
const DELETION: &str = "contact.deletion";
const PRIVACY_DELETION: &str = "contact.privacyDeletion";
const MERGE: &str = "contact.merge";

impl Payload {
    /// The contacts to resolve before [`Payload::map`].
    pub fn contact_ids(&self, settings: &HubSpotSettings) -> Vec<Needed> {
        let mut needed: Vec<Needed> = Vec::new();
        let mut need = |id: &Option<String>, readable: bool| {
            if let Some(id) = id {
                match needed.iter_mut().find(|n| n.id == *id) {
                    Some(n) => n.readable |= readable,
                    None => needed.push(Needed {
                        id: id.clone(),
                        readable,
                    }),
                }
            }
        };
        match self {
            Payload::Notifications(all) => {
                for (n, _) in all {
                    match n.kind() {
                        CREATION => need(&n.object_id, true),
                        PROPERTY_CHANGE if !is_email(settings, n.property_name.as_deref()) => {
                            need(&n.object_id, true)
                        }
                        DELETION | PRIVACY_DELETION => need(&n.object_id, false),
                        _ => {}
                    }
                }
            }
            Payload::Workflow(snapshot) => {
                let has_email = email_property(settings)
                    .is_some_and(|p| snapshot.property(p).is_some_and(|v| !v.trim().is_empty()));
                if !has_email {
                    need(&snapshot.contact_id, true);
                }
            }
        }
        needed
    }

    /// The companies to read from HubSpot's API before [`Payload::map`]: those whose
    /// notifications say something about their account.
    pub fn company_ids(&self, settings: &HubSpotSettings) -> Vec<String> {
        let Payload::Notifications(all) = self else {
            return Vec::new();
        };
        let mut ids: Vec<String> = all
            .iter()
            .filter(|(n, _)| company::is_company(n) && company::relevant(n, settings).is_ok())
            .filter_map(|(n, _)| n.object_id.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The deals to read from HubSpot's API before [`Payload::map`], with their contacts.
    pub fn deal_ids(&self) -> Vec<String> {
        let Payload::Notifications(all) = self else {
            return Vec::new();
        };
        let mut ids: Vec<String> = all
            .iter()
            .filter(|(n, _)| deal::is_deal(n) && deal::wanted(n))
            .filter_map(|(n, _)| n.object_id.clone())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Maps the payload with its ids resolved: `event` is the type a workflow's webhook
    /// stands for (the URL's `event` parameter).
    pub fn map(
        &self,
        settings: &HubSpotSettings,
        resolved: &Resolved,
        event: EventType,
        limits: &Limits<'_>,
        now: DateTime<Utc>,
    ) -> Received {
        let mut received = Received::default();
        match self {
            Payload::Notifications(all) => {
                for (n, raw) in all {
                    if n.kind() == MERGE {
                        if let Some(primary) = &n.primary_object_id {
                            received.merges.push(Merge {
                                primary: primary.clone(),
                                merged: n.merged_object_ids.clone(),
                            });
                            continue;
                        }
                    }
                    let letter = || Unmappable {
                        event_id: n.key(),
                        reason: String::new(),
                        payload: format!("[{}]", raw.get()),
                    };
                    if company::is_company(n) {
                        match company_account(n, settings, &resolved.companies) {
                            Ok(account) => received.accounts.push(account),
                            Err(reason) => received
                                .mapped
                                .unmappable
                                .push(Unmappable { reason, ..letter() }),
                        }
                        continue;
                    }
                    if deal::is_deal(n) {
                        let currency = settings.currency.as_deref().unwrap_or("USD");
                        match deal::event(n, &resolved.deals, currency, limits, now) {
                            Ok(event) => received.mapped.opportunities.push(event),
                            Err(reason) => received
                                .mapped
                                .unmappable
                                .push(Unmappable { reason, ..letter() }),
                        }
                        continue;
                    }
                    let outcome = notification(n, settings, &resolved.contacts, limits, now);
                    keep(
                        &mut received.mapped,
                        outcome,
                        n.object_id.as_deref(),
                        letter,
                    );
                }
            }
            Payload::Workflow(snapshot) => {
                let outcome = workflow(snapshot, settings, &resolved.contacts, event, limits, now);
                let id = workflow_key(snapshot);
                let payload =
                    json!({ "workflow": { "event_id": id, "event": event, "body": snapshot.raw } });
                keep(
                    &mut received.mapped,
                    outcome,
                    snapshot.contact_id.as_deref(),
                    || Unmappable {
                        event_id: workflow_key(snapshot),
                        reason: String::new(),
                        payload: payload.to_string(),
                    },
                );
            }
        }
        received
    }
}

/// Adds an event (and the contact id it ties) or a dead letter with its reason.
fn keep(
    mapped: &mut Mapped,
    outcome: Result<LeadEvent, String>,
    contact_id: Option<&str>,
    letter: impl FnOnce() -> Unmappable,
) {
    match outcome {
        Ok(event) => {
            if let Some(id) = contact_id {
                mapped.source_ids.push(SourceId {
                    system: IdSystem::HubSpot,
                    id: id.to_owned(),
                    email: event.email.clone(),
                });
            }
            mapped.events.push(event);
        }
        Err(reason) => mapped.unmappable.push(Unmappable { reason, ..letter() }),
    }
}

/// The account a company notification describes, from the company as read.
fn company_account(
    n: &Notification,
    settings: &HubSpotSettings,
    companies: &Companies,
) -> Result<AccountInput, String> {
    company::relevant(n, settings)?;
    let id = n
        .object_id
        .as_deref()
        .ok_or("the notification has no objectId")?;
    match companies.get(id) {
        Some(Ok(properties)) => company::account(id, properties, settings),
        Some(Err(why)) => Err(why.clone()),
        None => Err(format!("company {id} is not known")),
    }
}

/// The property mapped to email.
fn email_property(settings: &HubSpotSettings) -> Option<&str> {
    settings
        .properties
        .iter()
        .find(|(_, field)| **field == LeadField::Email)
        .map(|(name, _)| name.as_str())
}

fn is_email(settings: &HubSpotSettings, property: Option<&str>) -> bool {
    property.is_some_and(|p| email_property(settings).is_some_and(|e| e.eq_ignore_ascii_case(p)))
}

/// One app webhook notification as an event, or why it cannot be one.
fn notification(
    n: &Notification,
    settings: &HubSpotSettings,
    contacts: &Contacts,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<LeadEvent, String> {
    let kind = n.kind();
    let occurred_at = milliseconds(n.occurred_at, limits, now)?;
    let contact = || -> Result<&Contact, String> {
        let id = n
            .object_id
            .as_deref()
            .ok_or("the notification has no objectId")?;
        match contacts.get(id) {
            Some(Ok(contact)) => Ok(contact),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("contact {id} is not known")),
        }
    };
    let mut changed = Vec::new();
    let event_type = match kind {
        CREATION => EventType::ProfileUpdate,
        DELETION | PRIVACY_DELETION => EventType::OptOut,
        PROPERTY_CHANGE => {
            let property = n
                .property_name
                .as_deref()
                .ok_or("a propertyChange without propertyName")?;
            let value = n.property_value.as_deref().unwrap_or("");
            changed.push((property.to_owned(), value.to_owned()));
            change_type(settings, property, value)?
        }
        other => {
            return Err(format!(
                "{other:?} notifications are not mapped ({CREATION}, {PROPERTY_CHANGE}, \
                 {DELETION}, {PRIVACY_DELETION} and {MERGE} are)"
            ));
        }
    };
    let known = if is_email(settings, n.property_name.as_deref()) {
        None
    } else {
        Some(contact()?)
    };
    let fields = record_fields(settings, &changed, known);
    let (email, profile) = lead(settings, &fields, limits)?;
    let mut properties = Map::new();
    properties.insert("hubspot_event".into(), kind.into());
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            properties.insert(key.into(), v.clone().into());
        }
    };
    put("object_id", &n.object_id);
    put("portal_id", &n.portal_id);
    put("property_name", &n.property_name);
    put("property_value", &n.property_value);
    put("change_source", &n.change_source);
    kept(settings, &fields, &mut properties);
    Ok(LeadEvent {
        event_id: n.key(),
        source: SOURCE.to_owned(),
        event_type,
        occurred_at,
        email,
        profile,
        properties,
    })
}

/// What a change of `property` to `value` is: the first signal it matches, else a profile
/// update if the property is mapped or kept.
fn change_type(
    settings: &HubSpotSettings,
    property: &str,
    value: &str,
) -> Result<EventType, String> {
    if let Some(signal) = settings.signals.iter().find(|s| s.matches(property, value)) {
        return Ok(signal.event);
    }
    let known = |name: &String| name.eq_ignore_ascii_case(property);
    if settings.properties.keys().any(known) || settings.kept_properties.iter().any(known) {
        return Ok(EventType::ProfileUpdate);
    }
    Err(format!(
        "property {property:?} is not mapped: add it to sources.hubspot.properties, \
         kept_properties or signals"
    ))
}

/// The fields a record is mapped from, first wins: what changed, then the email a lead
/// remembers, then the properties read from HubSpot.
fn record_fields(
    settings: &HubSpotSettings,
    changed: &[(String, String)],
    known: Option<&Contact>,
) -> Vec<(String, String)> {
    let mut fields = changed.to_vec();
    if let Some(contact) = known {
        if let (Some(email), Some(property)) = (&contact.email, email_property(settings)) {
            fields.push((property.to_owned(), email.as_str().to_owned()));
        }
        fields.extend(contact.properties.iter().cloned());
    }
    fields
}

/// The lead that a contact's `fields` make through the property mapping.
fn lead(
    settings: &HubSpotSettings,
    fields: &[(String, String)],
    limits: &Limits<'_>,
) -> Result<(Email, Profile), String> {
    let fields = fields.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    vendor_fields::lead("", fields, &settings.properties, limits)
}

/// Copies the kept properties found in `fields` into the event's properties.
fn kept(
    settings: &HubSpotSettings,
    fields: &[(String, String)],
    properties: &mut Map<String, Value>,
) {
    for name in &settings.kept_properties {
        if let Some((_, value)) = fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            properties.insert(name.clone(), value.clone().into());
        }
    }
}

/// A workflow's webhook as an event of type `event`.
fn workflow(
    snapshot: &Snapshot,
    settings: &HubSpotSettings,
    contacts: &Contacts,
    event: EventType,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<LeadEvent, String> {
    let known = match snapshot
        .contact_id
        .as_deref()
        .and_then(|id| contacts.get(id))
    {
        Some(Ok(contact)) => Some(contact),
        Some(Err(why)) => return Err(why.clone()),
        None => None,
    };
    let fields = record_fields(settings, &snapshot.properties, known);
    let (email, profile) = lead(settings, &fields, limits)?;
    let occurred_at = match snapshot.property("lastmodifieddate") {
        Some(at) => stamp("lastmodifieddate", at, limits, now)?,
        None => now,
    };
    let mut properties = Map::new();
    properties.insert("hubspot_event".into(), "workflow".into());
    if let Some(id) = &snapshot.contact_id {
        properties.insert("object_id".into(), id.clone().into());
    }
    kept(settings, &fields, &mut properties);
    Ok(LeadEvent {
        event_id: workflow_key(snapshot),
        source: SOURCE.to_owned(),
        event_type: event,
        occurred_at,
        email,
        profile,
        properties,
    })
}

/// A workflow webhook's idempotency key: HubSpot gives it no id, and a redelivery is the
/// same bytes.
fn workflow_key(snapshot: &Snapshot) -> String {
    format!(
        "workflow:{}:{}",
        snapshot.contact_id.as_deref().unwrap_or(""),
        snapshot.digest
    )
}

/// Epoch milliseconds as an instant, refused past the allowed clock skew.
fn milliseconds(ms: i64, limits: &Limits<'_>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let at = DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| format!("occurredAt {ms} is not a time in epoch milliseconds"))?;
    if at > now + limits.max_future_skew {
        return Err(format!("occurredAt {} is in the future", at.to_rfc3339()));
    }
    Ok(at)
}

/// A HubSpot date property: epoch milliseconds or RFC 3339.
fn stamp(
    name: &str,
    at: &str,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    match at.parse::<i64>() {
        Ok(ms) => milliseconds(ms, limits, now),
        Err(_) => DateTime::parse_from_rfc3339(at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("{name} {at:?} is neither epoch milliseconds nor RFC 3339"))
            .and_then(|t| milliseconds(t.timestamp_millis(), limits, now)),
    }
}

/// A dead letter's payload, parsed again: a one-notification array, or a workflow webhook
/// with the event type and key it arrived with.
pub fn parse_dead_letter(payload: &str) -> Result<(Payload, EventType), ApiError> {
    let value: Value =
        serde_json::from_str(payload).map_err(|e| ApiError::field("payload", e.to_string()))?;
    let Some(workflow) = value.get("workflow") else {
        return Ok((parse(payload.as_bytes())?, EventType::ProfileUpdate));
    };
    let event = workflow
        .get("event")
        .and_then(Value::as_str)
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| ApiError::field("payload.workflow.event", "is not an event type"))?;
    let body = workflow.get("body").cloned().unwrap_or(Value::Null);
    let Payload::Workflow(mut snapshot) = parse(body.to_string().as_bytes())? else {
        return Err(ApiError::field(
            "payload.workflow.body",
            "is not a contact object",
        ));
    };
    // The key the webhook arrived with: the body, written again, digests differently.
    if let Some(key) = workflow.get("event_id").and_then(Value::as_str) {
        snapshot.digest = key.rsplit(':').next().unwrap_or_default().to_owned();
    }
    Ok((Payload::Workflow(snapshot), event))
}
