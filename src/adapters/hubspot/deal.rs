//! Deal notifications: a HubSpot deal is an opportunity. A notification names the deal only
//! by id, so the deal and its contacts are read from HubSpot's API, as they are now; each
//! notification becomes an opportunity event at its own `occurredAt`, and the fold keeps the
//! latest, so late and out-of-order notifications end in the deal's current state.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::{Notification, milliseconds, stamp};
use crate::{
    adapters::canonical::{Limits, MAX_TEXT_CHARS},
    domain::{
        ContactRef, IdSystem, Money, OpportunityEvent, OpportunityEventType, OpportunityFacts,
    },
};

const CREATION: &str = "deal.creation";
const PROPERTY_CHANGE: &str = "deal.propertyChange";

/// The deal properties an opportunity is made of.
pub const PROPERTIES: [&str; 8] = [
    "dealname",
    "amount",
    "deal_currency_code",
    "dealstage",
    "closedate",
    "createdate",
    "hs_is_closed",
    "hs_is_closed_won",
];

/// A deal as read from HubSpot: its properties and the ids of its contacts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deal {
    pub properties: Vec<(String, String)>,
    pub contacts: Vec<String>,
}

/// Each deal id a payload needs: the deal as read, or why there is none.
pub type Deals = BTreeMap<String, Result<Deal, String>>;

/// Whether `n` is about a deal.
pub(super) fn is_deal(n: &Notification) -> bool {
    n.kind().starts_with("deal.")
}

/// Whether the deal of `n` is to be read: its creation or a change of it.
pub(super) fn wanted(n: &Notification) -> bool {
    [CREATION, PROPERTY_CHANGE].contains(&n.kind())
}

/// The opportunity event `n` stands for, from its deal as read; `currency` is the portal's,
/// for a deal that names none. Why not, otherwise.
pub(super) fn event(
    n: &Notification,
    deals: &Deals,
    currency: &str,
    limits: &Limits<'_>,
    now: DateTime<Utc>,
) -> Result<OpportunityEvent, String> {
    if !wanted(n) {
        return Err(format!(
            "{:?} notifications are not mapped ({CREATION} and {PROPERTY_CHANGE} are)",
            n.kind()
        ));
    }
    let id = n
        .object_id
        .as_deref()
        .ok_or("the notification has no objectId")?;
    let deal = match deals.get(id) {
        Some(Ok(deal)) => deal,
        Some(Err(why)) => return Err(why.clone()),
        None => return Err(format!("deal {id} is not known")),
    };
    let value = |name: &str| {
        deal.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let flag = |name: &str| value(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    // A creation is an opening whatever the deal is now; a later change closes it as of its
    // own time, so the deal's closing time is that of the change, not of the read.
    let event_type = if n.kind() == CREATION {
        OpportunityEventType::OpportunityCreated
    } else if flag("hs_is_closed_won") {
        OpportunityEventType::OpportunityClosedWon
    } else if flag("hs_is_closed") {
        OpportunityEventType::OpportunityClosedLost
    } else {
        OpportunityEventType::OpportunityStageChanged
    };
    let money = match value("amount") {
        Some(amount) => Some(
            Money::parse(amount, value("deal_currency_code").unwrap_or(currency)).map_err(|e| {
                let (field, why) = e.field("amount", "deal_currency_code");
                format!("deal {id}'s {field}: {why}")
            })?,
        ),
        None => None,
    };
    let opened_at = value("createdate")
        .map(|at| stamp("createdate", at, limits, now).map_err(|why| format!("deal {id}'s {why}")))
        .transpose()?;
    // Every notification reads the deal as it is now, so one read after the close reads as a
    // close at its own, earlier time: the deal's close date is the closing time they share.
    // A close date outside the accepted window leaves the notification's time standing.
    let closed_at = match event_type {
        OpportunityEventType::OpportunityClosedWon
        | OpportunityEventType::OpportunityClosedLost => {
            value("closedate").and_then(|at| stamp("closedate", at, limits, now).ok())
        }
        _ => None,
    };
    let close_date = value("closedate")
        .map(|at| close_day(at).ok_or(format!("deal {id}'s closedate {at:?} is not a date")))
        .transpose()?;
    let text = |name: &str| value(name).map(|v| v.chars().take(MAX_TEXT_CHARS).collect());
    Ok(OpportunityEvent {
        event_id: n.key(),
        source: super::SOURCE.to_owned(),
        event_type,
        occurred_at: milliseconds(n.occurred_at, limits, now)?,
        opportunity: OpportunityFacts {
            id: id.to_owned(),
            name: text("dealname"),
            money,
            stage: text("dealstage"),
            opened_at,
            close_date,
            closed_at,
            account_domain: None,
            contacts: deal
                .contacts
                .iter()
                .map(|contact| ContactRef::Crm {
                    system: IdSystem::HubSpot,
                    id: contact.clone(),
                })
                .collect(),
        },
    })
}

/// A close date as HubSpot renders one: RFC 3339 (its date taken), a date, or epoch
/// milliseconds.
fn close_day(at: &str) -> Option<NaiveDate> {
    if let Ok(ms) = at.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms).map(|t| t.date_naive());
    }
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc).date_naive())
        .ok()
        .or_else(|| NaiveDate::parse_from_str(at, "%Y-%m-%d").ok())
}
