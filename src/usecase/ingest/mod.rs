//! Ingesting lead events: store once, update the lead, score, advance. Each request's writes
//! commit before it is answered, and an event never lands without its effects on the lead.
//!
//! A single event takes the fast path (one read, one write statement: [`single`]); a batch, or
//! a single event that keeps losing races for its lead, takes one locking transaction
//! ([`batch`]).

mod batch;
mod single;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    db::{leads::Lead, transitions::NewTransition},
    domain::{EventType, LeadEvent, Stage},
    engine::{self, Absorbed, IntentState, LeadFacts, RuleSet},
    error::ApiError,
};

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
}

/// `accepted` the first time an event is seen, `duplicate` after that (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    Accepted,
    Duplicate,
}

/// How often a single event retries the fast path before taking the locking one.
const OPTIMISTIC_TRIES: usize = 3;

/// How often a batch is retried when PostgreSQL breaks a deadlock by aborting it.
const DEADLOCK_TRIES: usize = 3;

/// Ingests `events`; outcomes come back in their order.
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn ingest(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    events: &[LeadEvent],
) -> Result<Vec<IngestOutcome>, ApiError> {
    if let [event] = events {
        for _ in 0..OPTIMISTIC_TRIES {
            if let Some(outcome) = single::try_ingest(pool, rules, now, event).await? {
                return Ok(vec![outcome]);
            }
        }
    }
    let mut tries = 0;
    loop {
        tries += 1;
        match batch::ingest(pool, rules, now, events).await {
            Err(ApiError::Unavailable(why)) if tries < DEADLOCK_TRIES => {
                tracing::warn!(attempt = tries, reason = %why, "retrying batch");
            }
            result => return result,
        }
    }
}

/// Applies one lead's new events (in `occurred_at` order) to it: profile, then intent.
/// Returns `false`, with intent untouched, when an event predates the lead's last activity:
/// then intent must be refolded from the whole history ([`refold`]).
fn apply_events(lead: &mut Lead, events: &[&LeadEvent], rules: &RuleSet) -> bool {
    for event in events {
        lead.profile
            .merge(&mut lead.profile_stamps, &event.profile, event.occurred_at);
    }
    let mut intent = lead.intent.clone();
    for event in events {
        match intent.absorb(event.event_type, event.occurred_at, &rules.rules.intent) {
            Absorbed::Unchanged => {}
            Absorbed::Updated(next) => intent = next,
            Absorbed::NeedsHistory => return false,
        }
    }
    lead.intent = intent;
    true
}

/// Recomputes intent from the lead's full event history.
fn refold(
    lead: &mut Lead,
    history: impl IntoIterator<Item = (EventType, DateTime<Utc>)>,
    rules: &RuleSet,
) {
    lead.intent = IntentState::fold(history, &rules.rules.intent);
}

/// Scores the lead as of `now`, moves its stage, and returns the transitions to record
/// (creation first, when `created`).
fn evaluate(
    lead: &mut Lead,
    created_by: Option<&str>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Vec<NewTransition> {
    let facts = LeadFacts {
        email_domain: lead.email.domain(),
        profile: &lead.profile,
        stage: lead.stage,
        intent: &lead.intent,
    };
    let eval = engine::evaluate(facts, &rules.rules, now);
    lead.fit = eval.fit;
    lead.stage = eval.stage;
    lead.rules_version.clone_from(&rules.version);
    lead.updated_at = now;

    let transition = |from, to, reason: String| NewTransition {
        lead_id: lead.id,
        from,
        to,
        actor: "system".to_owned(),
        reason,
        fit_score: lead.fit.total,
        intent_score: eval.intent,
        rules_version: rules.version.clone(),
        event_row_id: None,
        at: now,
    };
    let mut transitions = Vec::new();
    if let Some(source) = created_by {
        transitions.push(transition(
            None,
            Stage::Lead,
            format!("first event from {source}"),
        ));
    }
    if let Some(change) = eval.change {
        tracing::info!(lead.id = %lead.id, stage.to = %change.to, "lead advanced");
        transitions.push(transition(Some(change.from), change.to, change.reason));
    }
    transitions
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
