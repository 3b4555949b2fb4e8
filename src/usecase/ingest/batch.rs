//! The locking path: the whole request in one transaction, set-based (a handful of
//! statements whatever the batch size), leads locked in email order.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{
    super::handoff, EventStatus, IngestOutcome, Key, apply_to_leads, evaluate_leads, fresh_events,
    fresh_mask, has_account, key, outcomes, record_nurture, triggers,
};
use crate::{
    db::{
        accounts,
        events::{self, NewEvent},
        leads::{self, Lead},
        transitions,
    },
    domain::LeadEvent,
    engine::RuleSet,
    error::ApiError,
};

/// Ingests `batch` in one transaction. Returns the outcomes, and the leads it wrote as they
/// are now stored.
pub(super) async fn ingest(
    conn: &mut PgConnection,
    rules: &RuleSet,
    now: DateTime<Utc>,
    batch: &[LeadEvent],
) -> Result<(Vec<IngestOutcome>, Vec<Lead>), ApiError> {
    let mut tx = conn.begin().await?;

    let keys: Vec<Key<'_>> = batch.iter().map(key).collect();
    let is_fresh = fresh_mask(batch, &events::leads_of(&mut tx, &keys).await?);
    let fresh = fresh_events(batch, &is_fresh);

    let (mut leads, created) = lock_or_create_leads(&mut tx, &fresh, rules, now).await?;
    let new_events: Vec<NewEvent<'_>> = fresh
        .iter()
        .map(|e| NewEvent {
            event: e,
            lead_id: leads[e.email.as_str()].id,
        })
        .collect();
    let stored: HashMap<(String, String), i64> = events::insert_new(&mut tx, &new_events, now)
        .await?
        .into_iter()
        .map(|(s, e, id)| ((s, e), id))
        .collect();
    let is_stored = |e: &LeadEvent| stored.contains_key(&(e.source.clone(), e.event_id.clone()));
    // Per position, so a repeat inside the batch is a duplicate though its key was stored.
    let accepted: Vec<bool> = batch
        .iter()
        .zip(&is_fresh)
        .map(|(e, f)| *f && is_stored(e))
        .collect();

    let applied = fresh.iter().copied().filter(|e| is_stored(e));
    let per_lead =
        apply_to_leads(&mut tx, applied, &mut leads, HashMap::new(), rules, true).await?;
    let mut effects = evaluate_leads(&per_lead, &mut leads, &created, rules, now);
    // A system transition points at the lead's latest event of the batch.
    let last_event: HashMap<Uuid, i64> = per_lead
        .iter()
        .map(|(email, events)| {
            let last = events[events.len() - 1];
            (
                leads[*email].id,
                stored[&(last.source.clone(), last.event_id.clone())],
            )
        })
        .collect();
    for t in &mut effects.transitions {
        t.event_row_id = last_event.get(&t.lead_id).copied();
    }
    let touched: Vec<&Lead> = per_lead.keys().map(|email| &leads[*email]).collect();
    leads::update_many(&mut tx, &touched).await?;
    transitions::record_many(&mut tx, &effects.transitions).await?;
    record_nurture(&mut tx, &effects, &leads, now).await?;
    handoff::follow(
        &mut tx,
        &touched,
        &effects.transitions,
        &triggers(&per_lead, &leads),
        rules,
        now,
    )
    .await?;

    // A lead created here whose events all turned out to be concurrent duplicates is undone.
    let touched_ids: HashSet<Uuid> = touched.iter().map(|l| l.id).collect();
    let orphans: Vec<Uuid> = created.difference(&touched_ids).copied().collect();
    if !orphans.is_empty() {
        leads::delete_many(&mut tx, &orphans).await?;
    }

    let outcomes = outcomes(&mut tx, batch, &accepted, &leads, &created, rules, now).await?;
    tx.commit().await?;
    let accepted = outcomes
        .iter()
        .filter(|o| o.status == EventStatus::Accepted)
        .count();
    tracing::info!(
        events.accepted = accepted,
        events.duplicate = outcomes.len() - accepted,
        "ingested events"
    );
    // `update_many` bumped each version by one (a created lead's from its default 0).
    let stored = leads
        .into_values()
        .filter(|l| touched_ids.contains(&l.id))
        .map(|l| Lead {
            version: l.version + 1,
            ..l
        })
        .collect();
    Ok((outcomes, stored))
}

/// Locks the leads of `events`, creating (with their accounts) those that do not exist.
/// Returns them by email, and the ids of those created.
async fn lock_or_create_leads(
    conn: &mut PgConnection,
    events: &[&LeadEvent],
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<(HashMap<String, Lead>, HashSet<Uuid>), ApiError> {
    let mut emails: Vec<&str> = events.iter().map(|e| e.email.as_str()).collect();
    emails.sort_unstable();
    emails.dedup();
    leads::lock_emails(conn, &emails).await?;
    let mut leads: HashMap<String, Lead> = leads::lock_by_emails(conn, &emails)
        .await?
        .into_iter()
        .map(|l| (l.email.to_string(), l))
        .collect();
    let mut created = HashSet::new();
    let missing: Vec<&LeadEvent> = {
        let mut firsts: BTreeMap<&str, &LeadEvent> = BTreeMap::new();
        for e in events
            .iter()
            .filter(|e| !leads.contains_key(e.email.as_str()))
        {
            firsts.entry(e.email.as_str()).or_insert(e);
        }
        firsts.into_values().collect()
    };
    if missing.is_empty() {
        return Ok((leads, created));
    }

    let mut domains: Vec<&str> = missing
        .iter()
        .map(|e| e.email.domain())
        .filter(|d| has_account(d, rules))
        .collect();
    domains.sort_unstable();
    domains.dedup();
    let account_ids: HashMap<String, Uuid> = accounts::link_domains(conn, &domains, now)
        .await?
        .into_iter()
        .collect();
    let new_leads: Vec<Lead> = missing
        .iter()
        .map(|e| {
            Lead::new(
                e.email.clone(),
                account_ids.get(e.email.domain()).copied(),
                &rules.version,
                now,
            )
        })
        .collect();
    let inserted: HashMap<Uuid, Option<i16>> =
        leads::insert_many(conn, &new_leads.iter().collect::<Vec<_>>())
            .await?
            .into_iter()
            .collect();
    let mut raced = Vec::new();
    for mut lead in new_leads {
        if let Some(tier) = inserted.get(&lead.id) {
            // The tier as read under the account's share lock, not the earlier unlocked read.
            lead.account_tier = tier.and_then(|t| u8::try_from(t).ok());
            created.insert(lead.id);
            leads.insert(lead.email.to_string(), lead);
        } else {
            raced.push(lead.email.to_string());
        }
    }
    if !raced.is_empty() {
        let raced: Vec<&str> = raced.iter().map(String::as_str).collect();
        for lead in leads::lock_by_emails(conn, &raced).await? {
            leads.insert(lead.email.to_string(), lead);
        }
    }
    Ok((leads, created))
}
