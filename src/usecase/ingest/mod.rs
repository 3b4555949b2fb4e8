//! Ingesting lead events: store once, update the lead, score, advance. Each request's writes
//! commit before it is answered, and an event never lands without its effects on the lead.
//!
//! A batch request is one unit of work; concurrent single-event requests are gathered into one
//! by a group commit ([`group`]). A unit whose leads all exist takes the optimistic path (the
//! leads from memory ([`cache`]) or one read, then one write statement: [`optimistic`]), and
//! the MQLs it made are handed off right after ([`Owed::settle`]); one that creates leads,
//! takes a lead out of MQL, or loses a race, takes one set-based locking transaction
//! ([`batch`]).

mod batch;
mod cache;
mod group;
mod optimistic;

pub use cache::LeadCache;
pub use group::{GroupCommit, GroupCommitSettings, GroupTotals};
use optimistic::Planned;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    evaluation, handoff,
    handoff::{Owed, status::HandoffStatus},
    nurture,
};
use crate::{
    db::{
        events,
        leads::{self, History, Lead},
        transitions::NewTransition,
    },
    domain::{LeadEvent, Stage},
    engine::{IntentState, NurtureRecord, Observed, RuleSet, Touch},
    error::ApiError,
};

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IngestOutcome {
    pub source: String,
    pub event_id: String,
    pub status: EventStatus,
    pub lead_id: Uuid,
    /// Whether this request created the lead.
    pub lead_created: bool,
    /// The lead's state once the request's events are applied.
    pub lifecycle_stage: Stage,
    pub fit_score: i32,
    pub intent_score: f64,
    /// For an MQL: the rep it went to, or why it waits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffStatus>,
}

/// `accepted` the first time an event is seen, `duplicate` after that (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Accepted,
    Duplicate,
}

/// How often a unit of work is retried when PostgreSQL breaks a deadlock by aborting it.
const DEADLOCK_TRIES: usize = 3;

/// Ingests a request's `events`; outcomes come back in their order. A lone event joins a
/// group commit ([`group`]); a batch is its own unit.
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn ingest(
    group_commit: &GroupCommit,
    now: DateTime<Utc>,
    mut events: Vec<LeadEvent>,
) -> Result<Vec<IngestOutcome>, ApiError> {
    let mut outcomes = if events.len() == 1 {
        let event = events.pop().expect("one event");
        vec![group_commit.ingest(event, now).await?]
    } else {
        group_commit.ingest_batch(&events, now).await?
    };
    let accepted = outcomes
        .iter()
        .filter(|o| o.status == EventStatus::Accepted)
        .count() as u64;
    crate::metrics::ingested(accepted, outcomes.len() as u64 - accepted);
    report_handoffs(group_commit.pool(), &mut outcomes).await;
    Ok(outcomes)
}

/// Names, in each MQL's outcome, the rep it went to or why it waits: the handoffs the write
/// owed are settled by now. The events are committed whatever this read does, so when it
/// fails the answer only goes without `handoff`.
async fn report_handoffs(pool: &PgPool, outcomes: &mut [IngestOutcome]) {
    let mqls: Vec<Uuid> = outcomes
        .iter()
        .filter(|o| o.lifecycle_stage == Stage::Mql)
        .map(|o| o.lead_id)
        .collect();
    if mqls.is_empty() {
        return;
    }
    match handoff::status::of(pool, &mqls).await {
        Ok(statuses) => {
            for outcome in outcomes.iter_mut() {
                if outcome.lifecycle_stage == Stage::Mql {
                    outcome.handoff = statuses.get(&outcome.lead_id).cloned();
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, "reading where the MQLs stand failed; answering without it");
        }
    }
}

/// What every unit of ingest work writes with: ingest's pool, the rules, and the leads it
/// wrote lately.
#[derive(Clone)]
struct Writer {
    pool: PgPool,
    rules: Arc<RuleSet>,
    cache: Arc<LeadCache>,
}

/// Ingests `events` as one unit: optimistically on `conn` if it can, else in one locking
/// transaction, retried when PostgreSQL breaks a deadlock by aborting it. `planned` is the
/// optimistic path's plan when the unit was planned already ([`group`] plans a group while
/// the one before it is written). Returns the outcomes and the handoffs the unit committed
/// MQLs for but left to [`Owed::settle`].
async fn write_events(
    Writer { rules, cache, .. }: &Writer,
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    events: &[LeadEvent],
    planned: Option<Planned>,
) -> Result<(Vec<IngestOutcome>, Owed), ApiError> {
    let planned = match planned {
        Some(planned) => planned,
        None => optimistic::plan(conn, rules, cache, now, events, &HashSet::new()).await?,
    };
    if let Planned::Ready(plan) = planned
        && let Some(written) = plan.write(conn, rules, cache, events).await?
    {
        return Ok(written);
    }
    // The locking path rewrites these leads: their cached copies would only fail a check.
    cache.forget(events.iter().map(|e| e.email.as_str()));
    let mut tries = 0;
    loop {
        tries += 1;
        match batch::ingest(conn, rules, now, events).await {
            Err(ApiError::Unavailable(why)) if tries < DEADLOCK_TRIES => {
                tracing::warn!(attempt = tries, reason = %why, "retrying batch");
            }
            result => {
                let (outcomes, stored) = result?;
                cache.put(stored);
                return Ok((outcomes, Owed::default()));
            }
        }
    }
}

/// [`write_events`] on a connection from the pool, then the handoffs it owes, before
/// answering.
async fn write_and_hand_off(
    writer: &Writer,
    now: DateTime<Utc>,
    events: &[LeadEvent],
) -> Result<Vec<IngestOutcome>, ApiError> {
    let mut conn = writer.pool.acquire().await?;
    let (outcomes, owed) = write_events(writer, &mut conn, now, events, None).await?;
    drop(conn);
    owed.settle(&writer.pool, &writer.rules, now).await;
    Ok(outcomes)
}

/// Applies one lead's new events (in `occurred_at` order) to it, through the engine's fold
/// (the one previews, backtests and rescoring use). Returns `false` when a signal predates
/// the lead's intent streak (or that of its intent since a rejection): then intent must be
/// refolded from the whole history ([`refold_intent`]).
pub(crate) fn apply_events(lead: &mut Lead, events: &[&LeadEvent], rules: &RuleSet) -> bool {
    let observed: Vec<Observed<'_>> = events.iter().map(|e| Observed::from(*e)).collect();
    let intent = &rules.rules.intent;
    lead.parts().absorb(&observed, &rules.rules)
        && lead
            .since_rejection
            .as_mut()
            .is_none_or(|since| since.absorb(&observed, intent))
}

/// Rebuilds the lead's intent, and its intent since a rejection, from its whole history.
pub(crate) fn refold_intent(lead: &mut Lead, history: &History, rules: &RuleSet) {
    let intent = &rules.rules.intent;
    lead.intent = IntentState::fold(history.iter().copied(), intent);
    if let Some(since) = &mut lead.since_rejection {
        since.refold(history, intent);
    }
}

/// An event's idempotency key.
type Key<'a> = (&'a str, &'a str);

fn key(event: &LeadEvent) -> Key<'_> {
    (&event.source, &event.event_id)
}

/// Per event of `batch`: whether it is new, i.e. its key is not among `stored` and it does
/// not repeat an earlier event of the batch.
fn fresh_mask(batch: &[LeadEvent], stored: &[(String, String, Uuid)]) -> Vec<bool> {
    let stored: HashSet<Key<'_>> = stored
        .iter()
        .map(|(s, e, _)| (s.as_str(), e.as_str()))
        .collect();
    let mut seen = HashSet::new();
    batch
        .iter()
        .map(|e| !stored.contains(&key(e)) && seen.insert(key(e)))
        .collect()
}

/// The events of `batch` that [`fresh_mask`] marks new.
fn fresh_events<'b>(batch: &'b [LeadEvent], is_fresh: &[bool]) -> Vec<&'b LeadEvent> {
    batch
        .iter()
        .zip(is_fresh)
        .filter(|(_, fresh)| **fresh)
        .map(|(e, _)| e)
        .collect()
}

/// Applies `events` to their leads, each lead's in `occurred_at` order, refolding intent from
/// the stored history where one arrived late: from `histories` if it holds the lead's, else
/// read now. `stored` says whether the history already holds `events`. Returns the events by
/// lead email.
async fn apply_to_leads<'e>(
    conn: &mut PgConnection,
    events: impl Iterator<Item = &'e LeadEvent>,
    leads: &mut HashMap<String, Lead>,
    mut histories: HashMap<Uuid, History>,
    rules: &RuleSet,
    stored: bool,
) -> Result<BTreeMap<&'e str, Vec<&'e LeadEvent>>, ApiError> {
    let per_lead = by_lead(events);
    let mut refolds = Vec::new();
    for (email, events) in &per_lead {
        let lead = leads.get_mut(*email).expect("every event has a lead");
        if !apply_events(lead, events, rules) {
            refolds.push(lead.id);
        }
    }
    let unread: Vec<Uuid> = refolds
        .iter()
        .copied()
        .filter(|id| !histories.contains_key(id))
        .collect();
    if !unread.is_empty() {
        for (lead_id, t, at) in events::intent_histories(conn, &unread).await? {
            histories.entry(lead_id).or_default().push((t, at));
        }
    }
    for (email, events) in &per_lead {
        let lead = leads.get_mut(*email).expect("every event has a lead");
        if refolds.contains(&lead.id) {
            let mut history = histories.remove(&lead.id).unwrap_or_default();
            if !stored {
                history.extend(events.iter().map(|e| (e.event_type, e.occurred_at)));
            }
            refold_intent(lead, &history, rules);
        }
    }
    Ok(per_lead)
}

/// `events` by lead email, each lead's in `occurred_at` order (the order of arrival among
/// equals): the order the engine applies them in and the write stores them in.
fn by_lead<'e>(
    events: impl Iterator<Item = &'e LeadEvent>,
) -> BTreeMap<&'e str, Vec<&'e LeadEvent>> {
    let mut per_lead: BTreeMap<&str, Vec<&LeadEvent>> = BTreeMap::new();
    for event in events {
        per_lead
            .entry(event.email.as_str())
            .or_default()
            .push(event);
    }
    for events in per_lead.values_mut() {
        events.sort_by_key(|e| e.occurred_at);
    }
    per_lead
}

/// What evaluating a unit's leads decided, beyond the lead rows themselves.
struct Effects {
    transitions: Vec<NewTransition>,
    /// Per lead (by email) that nurture moved, what it did.
    nurture: Vec<(String, Vec<NurtureRecord>)>,
}

impl Effects {
    /// Whether the unit must hold its leads' locks while it works: a lead leaves MQL, and
    /// its open assignment must close with it.
    fn needs_locks(&self) -> bool {
        handoff::leaves_handoff(&self.transitions)
    }

    /// Nurture's records with the leads they belong to, for [`nurture::rows`].
    fn planned_nurture<'l>(
        &self,
        leads: &'l HashMap<String, Lead>,
    ) -> Vec<(&'l Lead, Vec<NurtureRecord>)> {
        self.nurture
            .iter()
            .map(|(email, records)| (&leads[email.as_str()], records.clone()))
            .collect()
    }
}

/// Evaluates every lead that got events, then moves it on in nurture; the transitions come
/// with each lead's creation first where `created` holds it.
fn evaluate_leads(
    per_lead: &BTreeMap<&str, Vec<&LeadEvent>>,
    leads: &mut HashMap<String, Lead>,
    created: &HashSet<Uuid>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Effects {
    let mut effects = Effects {
        transitions: Vec::new(),
        nurture: Vec::new(),
    };
    for (email, events) in per_lead {
        let lead = leads.get_mut(*email).expect("every event has a lead");
        let created_by = created
            .contains(&lead.id)
            .then(|| events[0].source.as_str());
        effects
            .transitions
            .extend(evaluation::apply(lead, created_by, rules, now));
        let seen: Vec<_> = events.iter().map(|e| nurture::nurture_event(e)).collect();
        let records = nurture::plan(lead, &seen, rules, now);
        if !records.is_empty() {
            effects.nurture.push(((*email).to_owned(), records));
        }
    }
    effects
}

/// Per lead, the latest of its events in `per_lead`: what a handoff's packet names as the
/// trigger.
fn triggers(
    per_lead: &BTreeMap<&str, Vec<&LeadEvent>>,
    leads: &HashMap<String, Lead>,
) -> HashMap<Uuid, Touch> {
    per_lead
        .iter()
        .map(|(email, events)| {
            let last = events[events.len() - 1];
            let touch = Touch {
                event_type: last.event_type,
                source: last.source.clone(),
                occurred_at: last.occurred_at,
            };
            (leads[*email].id, touch)
        })
        .collect()
}

/// Writes nurture's side of `effects` for leads already written.
async fn record_nurture(
    conn: &mut PgConnection,
    effects: &Effects,
    leads: &HashMap<String, Lead>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    nurture::record(conn, &effects.planned_nurture(leads), now).await
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
    let others: HashMap<Uuid, Lead> = if others.is_empty() {
        HashMap::new()
    } else {
        leads::by_ids(conn, &others)
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect()
    };
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

/// The outcome reported for an event, from the lead's state.
fn outcome(
    event: &LeadEvent,
    status: EventStatus,
    lead: &Lead,
    created: bool,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> IngestOutcome {
    IngestOutcome {
        source: event.source.clone(),
        event_id: event.event_id.clone(),
        status,
        lead_id: lead.id,
        lead_created: created,
        lifecycle_stage: lead.stage,
        fit_score: lead.fit.total,
        intent_score: lead.intent.score_at(now, &rules.rules.intent),
        handoff: None,
    }
}

/// Whether leads at `domain` get an account.
fn has_account(domain: &str, rules: &RuleSet) -> bool {
    !rules
        .rules
        .accounts
        .free_mail_domains
        .iter()
        .any(|d| d == domain)
}
