//! HubSpot webhooks: the contacts a payload names only by id are resolved (from the ids leads
//! remember, else from HubSpot's CRM API), then the payload is mapped and received as every
//! connector's is ([`inbound::receive`]), and HubSpot's merges move the ids they name.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    inbound::{self, Receipt},
    ingest::GroupCommit,
};
use crate::{
    adapters::{
        canonical::Limits,
        hubspot::{self, Contact, Contacts, Payload},
    },
    clients::hubspot::CrmApi,
    config::HubSpotSettings,
    db::source_ids,
    domain::{EventType, IdSystem, Mapped},
    error::ApiError,
};

/// What the HubSpot connector needs besides the database.
#[derive(Clone, Copy)]
pub struct Connector<'a> {
    pub settings: &'a HubSpotSettings,
    /// `None` without an access token.
    pub api: Option<&'a CrmApi>,
    pub limits: &'a Limits<'a>,
}

/// Receives a verified payload; `event` is what a workflow's webhook stands for.
pub async fn receive(
    pool: &PgPool,
    group_commit: &GroupCommit,
    connector: Connector<'_>,
    payload: &Payload,
    event: EventType,
    now: DateTime<Utc>,
) -> Result<Receipt, ApiError> {
    let contacts = resolve(pool, connector, payload).await?;
    let mut received = payload.map(connector.settings, &contacts, event, connector.limits, now);
    forget_remembered(&mut received.mapped, &contacts);
    let receipt =
        inbound::receive(pool, group_commit, now, hubspot::SOURCE, received.mapped).await?;
    if !received.merges.is_empty() {
        let mut conn = pool.acquire().await?;
        for merge in &received.merges {
            let merged: Vec<&str> = merge.merged.iter().map(String::as_str).collect();
            let moved =
                source_ids::merge(&mut conn, IdSystem::HubSpot, &merge.primary, &merged, now)
                    .await?;
            tracing::info!(primary = %merge.primary, merged = ?merge.merged, moved, "HubSpot merge applied to lead ids");
        }
    }
    Ok(receipt)
}

/// Maps a dead letter's payload again with the current settings, resolving its contact as
/// on arrival; a 422 if it still cannot be mapped.
pub async fn replay(
    pool: &PgPool,
    connector: Connector<'_>,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<Mapped, ApiError> {
    let (payload, event) = hubspot::parse_dead_letter(payload)?;
    let contacts = resolve(pool, connector, &payload).await?;
    let mut mapped = payload
        .map(connector.settings, &contacts, event, connector.limits, now)
        .mapped;
    forget_remembered(&mut mapped, &contacts);
    match mapped.unmappable.first() {
        Some(still) => Err(ApiError::field("payload", still.reason.clone())),
        None => Ok(mapped),
    }
}

/// Drops the ids to tie that a lead remembers already: those resolved from the lead's memory
/// whose event names that lead's email. Tying them again changes nothing, but it would still
/// lock each one's row and commit, once per notification of a contact seen before: the
/// connector's common case.
fn forget_remembered(mapped: &mut Mapped, contacts: &Contacts) {
    mapped.source_ids.retain(|tie| {
        !matches!(
            contacts.get(&tie.id),
            Some(Ok(Contact { email: Some(email), .. })) if *email == tie.email
        )
    });
}

/// Every contact the payload needs: from the ids leads remember, else read from HubSpot's
/// API (one batch read for all of them). HubSpot failing is a 503, so the webhook is
/// redelivered; a contact HubSpot does not have is a reason for a dead letter.
async fn resolve(
    pool: &PgPool,
    connector: Connector<'_>,
    payload: &Payload,
) -> Result<Contacts, ApiError> {
    let needed = payload.contact_ids(connector.settings);
    let mut contacts = Contacts::new();
    if needed.is_empty() {
        return Ok(contacts);
    }
    let ids: Vec<&str> = needed.iter().map(|n| n.id.as_str()).collect();
    let mut known = {
        let mut conn = pool.acquire().await?;
        source_ids::emails(&mut conn, IdSystem::HubSpot, &ids).await?
    };
    let mut to_read = Vec::new();
    for need in &needed {
        match known.remove(&need.id) {
            Some(email) => {
                let contact = Contact {
                    email: Some(email),
                    properties: Vec::new(),
                };
                contacts.insert(need.id.clone(), Ok(contact));
            }
            None if need.readable => to_read.push(need.id.as_str()),
            None => {
                let why = format!(
                    "contact {} is named by id only, and no lead remembers it",
                    need.id
                );
                contacts.insert(need.id.clone(), Err(why));
            }
        }
    }
    if to_read.is_empty() {
        return Ok(contacts);
    }
    let Some(api) = connector.api else {
        for id in to_read {
            let why = format!(
                "contact {id} is not known here, and no access token is configured to read it \
                 from HubSpot (sources.hubspot.access_token)"
            );
            contacts.insert(id.to_owned(), Err(why));
        }
        return Ok(contacts);
    };
    let mut read = api
        .read_contacts(&to_read, &connector.settings.read_properties())
        .await?;
    for id in to_read {
        let found = read.remove(id).map(|properties| Contact {
            email: None,
            properties,
        });
        let found = found.ok_or_else(|| format!("contact {id} was not found in HubSpot"));
        contacts.insert(id.to_owned(), found);
    }
    Ok(contacts)
}
