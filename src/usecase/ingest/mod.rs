//! Ingesting lead events: store once, update the lead, score, advance. Each request's writes
//! commit before it is answered, and an event never lands without its effects on the lead.
//!
//! A batch request is one unit of work; concurrent single-event requests are gathered into one
//! by a group commit ([`group`]). Every unit, of new leads or known ones, is planned and
//! written the same way ([`plan`]): its leads from memory ([`cache`]) or one read, the engine,
//! then one write of all its effects, with the handoff of a lead that enters or leaves MQL in
//! the same transaction. A lead that changed since it was read, or that got an event already
//! stored, is not written; its events are planned again, on their own, in another round.

mod cache;
mod group;
mod plan;

pub use cache::LeadCache;
pub use group::{GroupCommit, GroupCommitSettings, GroupTotals};
use plan::Planned;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use super::{evaluation, handoff, handoff::status::HandoffStatus, nurture};
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

/// How many rounds a unit gets: the first writes all but the leads that changed since they
/// were read, and each later one plans those again. A round that PostgreSQL aborts to break
/// a deadlock counts as one.
const ROUNDS: usize = 4;

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

/// Ingests `events` as one unit on `conn`, in as many rounds as its leads need ([`ROUNDS`]).
/// `planned` is the first round's plan when the unit was planned already ([`group`] plans a
/// group while the one before it is written).
async fn write_events(
    writer: &Writer,
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    events: &[LeadEvent],
    mut planned: Option<Planned>,
) -> Result<Vec<IngestOutcome>, ApiError> {
    let mut outcomes: Vec<Option<IngestOutcome>> = vec![None; events.len()];
    let mut pending: Vec<usize> = (0..events.len()).collect();
    let mut again: Vec<LeadEvent> = Vec::new();
    for round in 0..ROUNDS {
        let unit = if round == 0 { events } else { &again[..] };
        let done = match write_round(writer, conn, now, unit, round, planned.take()).await {
            Err(ApiError::Unavailable(why)) if round + 1 < ROUNDS => {
                tracing::warn!(round, reason = %why, "writing events again");
                again = unit.to_vec();
                continue;
            }
            done => done?,
        };
        for (at, outcome) in done.outcomes.into_iter().enumerate() {
            if let Some(outcome) = outcome {
                outcomes[pending[at]] = Some(outcome);
            }
        }
        pending = done.stale.iter().map(|at| pending[*at]).collect();
        if pending.is_empty() {
            return Ok(outcomes
                .into_iter()
                .map(|o| o.expect("every event settled"))
                .collect());
        }
        again = pending.iter().map(|at| events[*at].clone()).collect();
        tracing::debug!(
            round,
            events = again.len(),
            "leads changed since read; planning again"
        );
    }
    Err(ApiError::Unavailable(
        "the leads of these events kept changing while they were written".to_owned(),
    ))
}

/// From this round on, a unit's existing leads are locked before it is planned, so that
/// leads other writers keep changing cannot starve it.
const LOCKED_FROM: usize = 2;

/// One round of [`write_events`]: plans `unit` (after the first round with its stored events
/// looked up, and its leads read afresh), then writes it.
async fn write_round(
    Writer { rules, cache, .. }: &Writer,
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    unit: &[LeadEvent],
    round: usize,
    planned: Option<Planned>,
) -> Result<plan::Round, ApiError> {
    let again = round > 0;
    if again {
        cache.forget(unit.iter().map(|e| e.email.as_str()));
    }
    let none_in_flight = HashSet::new();
    let plan_now = |conn| plan::plan(conn, rules, cache, now, unit, &none_in_flight, again);
    let mut done = if round < LOCKED_FROM {
        let plan = match planned {
            Some(Planned::Ready(plan)) => plan,
            _ => plan_now(conn).await?.ready(),
        };
        plan.write(conn, rules, unit, false).await?
    } else {
        let mut tx = conn.begin().await?;
        let mut emails: Vec<&str> = unit.iter().map(|e| e.email.as_str()).collect();
        emails.sort_unstable();
        emails.dedup();
        leads::lock_emails(&mut tx, &emails).await?;
        let plan = plan_now(&mut tx).await?.ready();
        let done = plan.write(&mut tx, rules, unit, true).await?;
        tx.commit().await?;
        done
    };
    // Only now: a lead put back before its write committed could pass a later version check.
    cache.put(std::mem::take(&mut done.written));
    Ok(done)
}

/// [`write_events`] on a connection from the pool.
async fn write_unit(
    writer: &Writer,
    now: DateTime<Utc>,
    events: &[LeadEvent],
) -> Result<Vec<IngestOutcome>, ApiError> {
    let mut conn = writer.pool.acquire().await?;
    write_events(writer, &mut conn, now, events, None).await
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

/// Applies `events` (none of them stored yet) to their leads, each lead's in `occurred_at`
/// order, refolding intent from the stored history where one arrived late: from `histories`
/// if it holds the lead's, else read now. Returns the events by lead email.
async fn apply_to_leads<'e>(
    conn: &mut PgConnection,
    events: impl Iterator<Item = &'e LeadEvent>,
    leads: &mut HashMap<String, Lead>,
    mut histories: HashMap<Uuid, History>,
    rules: &RuleSet,
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
            history.extend(events.iter().map(|e| (e.event_type, e.occurred_at)));
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

/// One outcome per event of the unit, in its order, for those `settled`: accepted (`fresh`)
/// ones from their leads as written (`leads`), duplicates from the lead stored with them.
#[allow(clippy::too_many_arguments)]
async fn outcomes(
    conn: &mut PgConnection,
    unit: &[LeadEvent],
    fresh: &[bool],
    settled: &[bool],
    leads: &HashMap<String, Lead>,
    created: &HashSet<Uuid>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<Vec<Option<IngestOutcome>>, ApiError> {
    let duplicates: Vec<Key<'_>> = (0..unit.len())
        .filter(|at| settled[*at] && !fresh[*at])
        .map(|at| key(&unit[at]))
        .collect();
    let (owners, others) = stored_with(conn, &duplicates, leads).await?;
    let by_id: HashMap<Uuid, &Lead> = leads
        .values()
        .chain(others.values())
        .map(|l| (l.id, l))
        .collect();
    (0..unit.len())
        .map(|at| {
            let event = &unit[at];
            if !settled[at] {
                return Ok(None);
            }
            if fresh[at] {
                let lead = &leads[event.email.as_str()];
                let created = created.contains(&lead.id);
                return Ok(Some(outcome(
                    event,
                    EventStatus::Accepted,
                    lead,
                    created,
                    rules,
                    now,
                )));
            }
            let lead_id = owners
                .get(&(event.source.clone(), event.event_id.clone()))
                .ok_or_else(|| anyhow::anyhow!("duplicate event has no stored row"))?;
            let lead = by_id[lead_id];
            Ok(Some(outcome(
                event,
                EventStatus::Duplicate,
                lead,
                false,
                rules,
                now,
            )))
        })
        .collect()
}

/// For the stored events `duplicates`, the lead each is stored with, and those leads that
/// are not among `leads` (the unit's, as written), read now.
async fn stored_with(
    conn: &mut PgConnection,
    duplicates: &[Key<'_>],
    leads: &HashMap<String, Lead>,
) -> Result<(HashMap<(String, String), Uuid>, HashMap<Uuid, Lead>), ApiError> {
    if duplicates.is_empty() {
        return Ok(Default::default());
    }
    let owners: HashMap<(String, String), Uuid> = events::leads_of(conn, duplicates)
        .await?
        .into_iter()
        .map(|(s, e, id)| ((s, e), id))
        .collect();
    let written: HashSet<Uuid> = leads.values().map(|l| l.id).collect();
    let mut unread: Vec<Uuid> = owners
        .values()
        .copied()
        .filter(|id| !written.contains(id))
        .collect();
    unread.sort_unstable();
    unread.dedup();
    let others = match unread.is_empty() {
        true => HashMap::new(),
        false => leads::by_ids(conn, &unread)
            .await?
            .into_iter()
            .map(|l| (l.id, l))
            .collect(),
    };
    Ok((owners, others))
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
