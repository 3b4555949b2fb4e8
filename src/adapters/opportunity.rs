//! The canonical opportunity event of `POST /webhooks/opportunities`: one object or an array,
//! validated whole, each problem named by its JSON path (`[1].opportunity.amount`).

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::canonical::{Checker, Limits, check_batch};
use crate::{
    domain::{
        AccountDomain, ContactRef, IdSystem, Money, OpportunityEvent, OpportunityEventType,
        OpportunityFacts,
    },
    error::ApiError,
};

/// The most contacts one event may name.
pub const MAX_CONTACTS: usize = 100;

/// Every field optional here, so that a missing one is reported by name.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CanonicalOpportunityEvent)]
pub(crate) struct RawOpportunityEvent {
    /// Unique per source: re-sending it changes nothing.
    #[schema(required = true, value_type = String)]
    event_id: Option<String>,
    /// The reporting system, e.g. `salesforce`; with `opportunity.id`, the opportunity's key.
    #[schema(required = true, value_type = String)]
    source: Option<String>,
    #[serde(rename = "type")]
    #[schema(required = true, value_type = OpportunityEventType)]
    event_type: Option<String>,
    /// RFC 3339; events are folded in this order, whatever order they arrive in.
    #[schema(required = true, value_type = String, format = DateTime)]
    occurred_at: Option<String>,
    #[schema(required = true, value_type = RawOpportunity)]
    opportunity: Option<RawOpportunity>,
}

/// What the event says of the opportunity; absent fields keep what earlier events said.
#[derive(Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CanonicalOpportunity)]
pub(crate) struct RawOpportunity {
    /// The reporting system's id for the opportunity.
    #[schema(required = true, value_type = String)]
    id: Option<String>,
    name: Option<String>,
    /// A decimal with at most two places, as a number or a string; requires `currency`.
    #[schema(value_type = Option<String>)]
    amount: Option<Value>,
    /// ISO 4217, e.g. `USD`.
    currency: Option<String>,
    /// The CRM's stage name, as shown there.
    stage: Option<String>,
    /// When it was opened in the CRM (RFC 3339); absent, the creation event's time.
    #[schema(value_type = Option<String>, format = DateTime)]
    opened_at: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(value_type = Option<String>, format = Date)]
    close_date: Option<String>,
    /// When it was won or lost (RFC 3339); absent, the closing event's time.
    #[schema(value_type = Option<String>, format = DateTime)]
    closed_at: Option<String>,
    /// The account's domain, e.g. `acme.io`: its leads are the opportunity's when no contact
    /// named is a lead.
    account_domain: Option<String>,
    /// The people it belongs to: `{"email": …}` or `{"system": "salesforce", "id": …}`.
    #[schema(value_type = Option<Vec<Object>>)]
    contacts: Option<Vec<RawContact>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    email: Option<String>,
    system: Option<String>,
    id: Option<String>,
}

/// Parses and validates a request body into opportunity events.
pub fn parse_batch(
    body: &[u8],
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<OpportunityEvent>, ApiError> {
    let mut seen = HashSet::new();
    check_batch(body, limits, |check, raw: RawOpportunityEvent| {
        let event = event(check, raw, limits, now)?;
        // An id is one event: twice in a batch is a mistake, not a redelivery.
        if !seen.insert((event.source.clone(), event.event_id.clone())) {
            check.fail("event_id", "is repeated in this batch (unique per source)");
            return None;
        }
        Some(event)
    })
}

fn event(
    check: &mut Checker<'_>,
    raw: RawOpportunityEvent,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Option<OpportunityEvent> {
    let event_id = check.required("event_id", raw.event_id);
    let source = check
        .required("source", raw.source)
        .map(|s| s.to_lowercase());
    let event_type = check.required("type", raw.event_type).and_then(|t| match t
        .parse::<OpportunityEventType>()
    {
        Ok(t) => Some(t),
        Err(why) => {
            check.fail("type", why);
            None
        }
    });
    let occurred_at = check
        .required("occurred_at", raw.occurred_at)
        .and_then(|at| check.timestamp(&at, limits, now));
    let opportunity = match raw.opportunity {
        Some(raw) => facts(check, raw),
        None => {
            check.fail("opportunity", "is required (an object with at least an id)");
            None
        }
    };
    Some(OpportunityEvent {
        event_id: event_id?,
        source: source?,
        event_type: event_type?,
        occurred_at: occurred_at?,
        opportunity: opportunity?,
    })
}

fn facts(check: &mut Checker<'_>, raw: RawOpportunity) -> Option<OpportunityFacts> {
    let before = check.noted();
    let id = check.required("opportunity.id", raw.id);
    let name = optional(check, "opportunity.name", raw.name);
    let stage = optional(check, "opportunity.stage", raw.stage);
    let money = money(check, raw.amount, raw.currency);
    let opened_at = raw
        .opened_at
        .and_then(|at| check.instant("opportunity.opened_at", at.trim()));
    let closed_at = raw
        .closed_at
        .and_then(|at| check.instant("opportunity.closed_at", at.trim()));
    let close_date = raw.close_date.and_then(|day| {
        NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
            .map_err(|_| {
                check.fail(
                    "opportunity.close_date",
                    format!("{day:?} is not a date such as 2027-01-31"),
                )
            })
            .ok()
    });
    let account_domain = raw.account_domain.and_then(|domain| {
        AccountDomain::parse(&domain)
            .map_err(|why| check.fail("opportunity.account_domain", why.to_string()))
            .ok()
            .map(|d| d.as_str().to_owned())
    });
    let contacts = contacts(check, raw.contacts.unwrap_or_default());
    (check.noted() == before).then_some(OpportunityFacts {
        id: id?,
        name,
        money,
        stage,
        opened_at,
        close_date,
        closed_at,
        account_domain,
        contacts,
    })
}

fn optional(check: &mut Checker<'_>, field: &str, value: Option<String>) -> Option<String> {
    let value = value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())?;
    check.bounded(field, value)
}

fn money(
    check: &mut Checker<'_>,
    amount: Option<Value>,
    currency: Option<String>,
) -> Option<Money> {
    let amount = amount.filter(|a| !a.is_null())?;
    let Some(currency) = currency else {
        check.fail(
            "opportunity.currency",
            "is required with an amount (ISO 4217, e.g. USD)",
        );
        return None;
    };
    Money::from_json(&amount, &currency)
        .map_err(|e| {
            let (field, why) = e.field("opportunity.amount", "opportunity.currency");
            check.fail(field, why)
        })
        .ok()
}

fn contacts(check: &mut Checker<'_>, raw: Vec<RawContact>) -> Vec<ContactRef> {
    if raw.len() > MAX_CONTACTS {
        check.fail(
            "opportunity.contacts",
            format!("names {} contacts; at most {MAX_CONTACTS}", raw.len()),
        );
        return Vec::new();
    }
    let mut contacts = Vec::with_capacity(raw.len());
    for (i, contact) in raw.into_iter().enumerate() {
        let field = format!("opportunity.contacts[{i}]");
        match contact {
            RawContact {
                email: Some(email),
                system: None,
                id: None,
            } => {
                if let Some(email) = check.email(&format!("{field}.email"), Some(email)) {
                    contacts.push(ContactRef::Email { email });
                }
            }
            RawContact {
                email: None,
                system: Some(system),
                id: Some(id),
            } => {
                let Some(system) = IdSystem::parse(system.trim()) else {
                    let known: Vec<&str> = IdSystem::ALL.iter().map(|s| s.as_str()).collect();
                    check.fail(
                        &format!("{field}.system"),
                        format!("{system:?} is not one of {}", known.join(", ")),
                    );
                    continue;
                };
                if let Some(id) = check.required(&format!("{field}.id"), Some(id)) {
                    contacts.push(ContactRef::Crm { system, id });
                }
            }
            _ => check.fail(
                &field,
                "must be {\"email\": …} or {\"system\": …, \"id\": …}",
            ),
        }
    }
    contacts.sort();
    contacts.dedup();
    contacts
}
