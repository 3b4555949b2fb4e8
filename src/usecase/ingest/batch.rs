//! The locking path: the whole request in one transaction, set-based (a handful of
//! statements whatever the batch size), leads locked in email order.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{EventStatus, IngestOutcome, apply_events, evaluate, has_account, outcome, refold};
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

type Key<'a> = (&'a str, &'a str);

fn key(event: &LeadEvent) -> Key<'_> {
    (&event.source, &event.event_id)
}

/// Ingests `batch` in one transaction.
pub(super) async fn ingest(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    batch: &[LeadEvent],
) -> Result<Vec<IngestOutcome>, ApiError> {
    let mut tx = pool.begin().await?;

    // Events stored before, and repeats within the batch, are duplicates.
    let keys: Vec<Key<'_>> = batch.iter().map(key).collect();
    let known: HashSet<(String, String)> = events::leads_of(&mut tx, &keys)
        .await?
        .into_iter()
        .map(|(s, e, _)| (s, e))
        .collect();
    let mut seen = HashSet::new();
    let is_fresh: Vec<bool> = batch
        .iter()
        .map(|e| !known.contains(&(e.source.clone(), e.event_id.clone())) && seen.insert(key(e)))
        .collect();
    let fresh: Vec<&LeadEvent> = batch
        .iter()
        .zip(&is_fresh)
        .filter(|(_, f)| **f)
        .map(|(e, _)| e)
        .collect();

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

    // Apply each lead's stored events in occurred_at order.
    let mut per_lead: BTreeMap<&str, Vec<&LeadEvent>> = BTreeMap::new();
    for event in fresh.iter().copied().filter(|e| is_stored(e)) {
        per_lead
            .entry(event.email.as_str())
            .or_default()
            .push(event);
    }
    let mut refolds = Vec::new();
    for (email, events) in &mut per_lead {
        events.sort_by_key(|e| e.occurred_at);
        let lead = leads.get_mut(*email).expect("every fresh event has a lead");
        if !apply_events(lead, events, rules) {
            refolds.push(lead.id);
        }
    }
    if !refolds.is_empty() {
        let mut histories: HashMap<Uuid, Vec<_>> = HashMap::new();
        for (lead_id, t, at) in events::intent_histories(&mut tx, &refolds).await? {
            histories.entry(lead_id).or_default().push((t, at));
        }
        for lead in leads.values_mut().filter(|l| refolds.contains(&l.id)) {
            refold(lead, histories.remove(&lead.id).unwrap_or_default(), rules);
        }
    }
    let mut new_transitions = Vec::new();
    for (email, events) in &per_lead {
        let lead = leads.get_mut(*email).expect("every fresh event has a lead");
        let created_by = created
            .contains(&lead.id)
            .then(|| events[0].source.as_str());
        let last_event = stored[&(
            events[events.len() - 1].source.clone(),
            events[events.len() - 1].event_id.clone(),
        )];
        for mut t in evaluate(lead, created_by, rules, now) {
            t.event_row_id = Some(last_event);
            new_transitions.push(t);
        }
    }
    let touched: Vec<&Lead> = per_lead.keys().map(|email| &leads[*email]).collect();
    leads::update_many(&mut tx, &touched).await?;
    transitions::record_many(&mut tx, &new_transitions).await?;

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
    Ok(outcomes)
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
    let account_ids: HashMap<String, Uuid> = accounts::link_domains(conn, &domains)
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
    let inserted: HashSet<Uuid> = leads::insert_many(conn, &new_leads.iter().collect::<Vec<_>>())
        .await?
        .into_iter()
        .collect();
    let mut raced = Vec::new();
    for lead in new_leads {
        if inserted.contains(&lead.id) {
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

/// One outcome per event of the batch, in its order.
async fn outcomes(
    conn: &mut PgConnection,
    batch: &[LeadEvent],
    accepted: &[bool],
    leads: &HashMap<String, Lead>,
    created: &HashSet<Uuid>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<Vec<IngestOutcome>, ApiError> {
    let duplicates: Vec<Key<'_>> = batch
        .iter()
        .zip(accepted)
        .filter(|(_, a)| !**a)
        .map(|(e, _)| key(e))
        .collect();
    let owners: HashMap<(String, String), Uuid> = if duplicates.is_empty() {
        HashMap::new()
    } else {
        events::leads_of(conn, &duplicates)
            .await?
            .into_iter()
            .map(|(s, e, id)| ((s, e), id))
            .collect()
    };
    let locked: HashSet<Uuid> = leads.values().map(|l| l.id).collect();
    let mut others: Vec<Uuid> = owners
        .values()
        .copied()
        .filter(|id| !locked.contains(id))
        .collect();
    others.sort_unstable();
    others.dedup();
    let others: HashMap<Uuid, Lead> = leads::by_ids(conn, &others)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let by_id: HashMap<Uuid, &Lead> = leads
        .values()
        .chain(others.values())
        .map(|l| (l.id, l))
        .collect();

    batch
        .iter()
        .zip(accepted)
        .map(|(event, accepted)| {
            if *accepted {
                let lead = &leads[event.email.as_str()];
                return Ok(outcome(
                    event,
                    EventStatus::Accepted,
                    lead,
                    created.contains(&lead.id),
                    rules,
                    now,
                ));
            }
            let lead_id = owners
                .get(&(event.source.clone(), event.event_id.clone()))
                .ok_or_else(|| anyhow::anyhow!("duplicate event has no stored row"))?;
            Ok(outcome(
                event,
                EventStatus::Duplicate,
                by_id[lead_id],
                false,
                rules,
                now,
            ))
        })
        .collect()
}
