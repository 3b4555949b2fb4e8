//! HubSpot webhooks: the contacts a payload names only by id are resolved (from the ids leads
//! remember, else from HubSpot's CRM API) and its companies read, then the payload is mapped
//! and received as every connector's is ([`inbound::receive`]); companies are written to the
//! tiered account list and HubSpot's merges move the ids they name.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    accounts,
    inbound::{self, Receipt},
    ingest::GroupCommit,
};
use crate::{
    adapters::{
        account_list::{AccountInput, Row},
        canonical::Limits,
        hubspot::{self, Contact, Contacts, DEAL_PROPERTIES, Deal, Deals, Payload, Resolved},
    },
    clients::hubspot::{CrmApi, Object},
    config::HubSpotSettings,
    db::source_ids,
    domain::{EventType, IdSystem, Mapped},
    engine::RuleSet,
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
    rules: &RuleSet,
) -> Result<Receipt, ApiError> {
    let resolved = resolve(pool, connector, payload).await?;
    let mut received = payload.map(connector.settings, &resolved, event, connector.limits, now);
    forget_remembered(&mut received.mapped, &resolved.contacts);
    write_accounts(pool, rules, received.accounts, now).await?;
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

/// Maps a dead letter's payload again with the current settings, resolving its ids as on
/// arrival (and writing the account a company notification describes); a 422 if it still
/// cannot be mapped.
pub async fn replay(
    pool: &PgPool,
    connector: Connector<'_>,
    rules: &RuleSet,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<Mapped, ApiError> {
    let (payload, event) = hubspot::parse_dead_letter(payload)?;
    let resolved = resolve(pool, connector, &payload).await?;
    let mut received = payload.map(connector.settings, &resolved, event, connector.limits, now);
    forget_remembered(&mut received.mapped, &resolved.contacts);
    if let Some(still) = received.mapped.unmappable.first() {
        return Err(ApiError::field("payload", still.reason.clone()));
    }
    write_accounts(pool, rules, received.accounts, now).await?;
    Ok(received.mapped)
}

/// Writes the accounts companies describe to the tiered account list, in one transaction
/// (the last of a domain wins), as `POST /api/v1/accounts/import` does.
async fn write_accounts(
    pool: &PgPool,
    rules: &RuleSet,
    accounts: Vec<AccountInput>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if accounts.is_empty() {
        return Ok(());
    }
    let mut by_domain: Vec<AccountInput> = Vec::new();
    for account in accounts.into_iter().rev() {
        if !by_domain.iter().any(|a| a.domain == account.domain) {
            by_domain.push(account);
        }
    }
    let rows = by_domain
        .into_iter()
        .map(|input| Row {
            label: format!("company of {}", input.domain.as_deref().unwrap_or("")),
            input,
        })
        .collect();
    let report = accounts::import(pool, rules, rows, Vec::new(), now).await?;
    tracing::info!(
        created = report.created,
        updated = report.updated,
        "HubSpot companies written to the account list"
    );
    Ok(())
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

/// Every contact, company and deal the payload needs. Contacts come from the ids leads
/// remember, else from HubSpot's API (one batch read for all of them); companies and deals
/// (with their contacts' ids) always from the API, as they are now. HubSpot failing is a 503, so the webhook is redelivered; an id HubSpot
/// does not have is a reason for a dead letter.
async fn resolve(
    pool: &PgPool,
    connector: Connector<'_>,
    payload: &Payload,
) -> Result<Resolved, ApiError> {
    let contacts = resolve_contacts(pool, connector, payload).await?;
    let ids = payload.company_ids(connector.settings);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let properties = connector.settings.company_properties();
    let companies = read_or_explain(connector, Object::Companies, &ids, &properties).await?;
    let deals = read_deals(connector, payload).await?;
    Ok(Resolved {
        contacts,
        companies,
        deals,
    })
}

/// The deals the payload names, each with the ids of its contacts.
async fn read_deals(connector: Connector<'_>, payload: &Payload) -> Result<Deals, ApiError> {
    let ids = payload.deal_ids();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let read = read_or_explain(connector, Object::Deals, &ids, &DEAL_PROPERTIES).await?;
    let found: Vec<&str> = read
        .iter()
        .filter(|(_, deal)| deal.is_ok())
        .map(|(id, _)| id.as_str())
        .collect();
    let mut contacts = match connector.api {
        Some(api) if !found.is_empty() => {
            api.associations(Object::Deals, Object::Contacts, &found)
                .await?
        }
        _ => BTreeMap::new(),
    };
    Ok(read
        .into_iter()
        .map(|(id, deal)| {
            let deal = deal.map(|properties| Deal {
                properties,
                contacts: contacts.remove(&id).unwrap_or_default(),
            });
            (id, deal)
        })
        .collect())
}

async fn resolve_contacts(
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
    let properties = connector.settings.read_properties();
    let read = read_or_explain(connector, Object::Contacts, &to_read, &properties).await?;
    contacts.extend(read.into_iter().map(|(id, found)| {
        let contact = found.map(|properties| Contact {
            email: None,
            properties,
        });
        (id, contact)
    }));
    Ok(contacts)
}

/// Reads `ids` from HubSpot's API: each one's properties, or why there are none (not found,
/// or no access token to ask with).
async fn read_or_explain(
    connector: Connector<'_>,
    object: Object,
    ids: &[&str],
    properties: &[&str],
) -> Result<BTreeMap<String, Result<Vec<(String, String)>, String>>, ApiError> {
    let mut found = BTreeMap::new();
    if ids.is_empty() {
        return Ok(found);
    }
    let kind = match object {
        Object::Contacts => "contact",
        Object::Companies => "company",
        Object::Deals => "deal",
    };
    let Some(api) = connector.api else {
        for id in ids {
            let why = format!(
                "{kind} {id} is not known here, and no access token is configured to read it \
                 from HubSpot (sources.hubspot.access_token)"
            );
            found.insert((*id).to_owned(), Err(why));
        }
        return Ok(found);
    };
    let mut read = api.read(object, ids, properties).await?;
    for id in ids {
        let one = read
            .remove(*id)
            .ok_or_else(|| format!("{kind} {id} was not found in HubSpot"));
        found.insert((*id).to_owned(), one);
    }
    Ok(found)
}
