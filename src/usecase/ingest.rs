//! Ingesting lead events: store once, update the lead, score, advance — in one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    db::{accounts, events, leads, transitions},
    domain::{LeadEvent, Stage},
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
    /// Whether this event created the lead.
    pub lead_created: bool,
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

/// Ingests a batch atomically: every event is applied, or (on any error) none is.
/// Outcomes come back in the order of `batch`.
#[tracing::instrument(skip_all, fields(events = batch.len()))]
pub async fn ingest(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    batch: &[LeadEvent],
) -> Result<Vec<IngestOutcome>, ApiError> {
    // Rows are locked in (domain, email) order, the same in every transaction, so two
    // batches sharing accounts or leads queue behind each other instead of deadlocking.
    // Within a lead, occurred_at order keeps intent on its cheap in-order path.
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&batch[a], &batch[b]);
        (a.email.domain(), &a.email, a.occurred_at).cmp(&(
            b.email.domain(),
            &b.email,
            b.occurred_at,
        ))
    });

    let mut tx = pool.begin().await?;
    let mut outcomes = vec![None; batch.len()];
    for i in order {
        outcomes[i] = Some(ingest_one(&mut tx, &batch[i], rules, now).await?);
    }
    tx.commit().await?;

    let outcomes: Vec<IngestOutcome> = outcomes.into_iter().flatten().collect();
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

async fn ingest_one(
    conn: &mut PgConnection,
    event: &LeadEvent,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<IngestOutcome, ApiError> {
    let payload = event.to_canonical_json();
    let (mut lead, lead_created, event_row_id) =
        match leads::lock_by_email(conn, &event.email).await? {
            Some(lead) => match events::insert_if_new(conn, event, &payload, lead.id, now).await? {
                Some(row_id) => (lead, false, row_id),
                None => return duplicate(conn, event, rules, now).await,
            },
            None => {
                // A savepoint, so that a duplicate discovered after creating the lead (an event
                // id re-sent with another email) leaves no lead behind.
                let mut savepoint = conn.begin().await?;
                let (lead, created) = lock_or_create(&mut savepoint, event, rules, now).await?;
                match events::insert_if_new(&mut savepoint, event, &payload, lead.id, now).await? {
                    Some(row_id) => {
                        savepoint.commit().await?;
                        (lead, created, row_id)
                    }
                    None => {
                        savepoint.rollback().await?;
                        return duplicate(conn, event, rules, now).await;
                    }
                }
            }
        };

    lead.profile
        .merge(&mut lead.profile_stamps, &event.profile, event.occurred_at);
    lead.intent = match lead
        .intent
        .absorb(event.event_type, event.occurred_at, &rules.rules.intent)
    {
        Absorbed::Unchanged => lead.intent,
        Absorbed::Updated(next) => next,
        Absorbed::NeedsHistory => IntentState::fold(
            events::intent_history(conn, lead.id).await?,
            &rules.rules.intent,
        ),
    };
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
    leads::save(conn, &lead).await?;

    let created_reason = format!("first event from {}", event.source);
    let transition = |from, to, actor, reason| transitions::NewTransition {
        lead_id: lead.id,
        from,
        to,
        actor,
        reason,
        fit_score: lead.fit.total,
        intent_score: eval.intent,
        rules_version: &rules.version,
        event_row_id: Some(event_row_id),
        at: now,
    };
    if lead_created {
        transitions::record(
            conn,
            &transition(None, Stage::Lead, "system", &created_reason),
        )
        .await?;
    }
    if let Some(change) = &eval.change {
        transitions::record(
            conn,
            &transition(Some(change.from), change.to, "system", &change.reason),
        )
        .await?;
        tracing::info!(lead.id = %lead.id, stage.to = %change.to, "lead advanced");
    }

    Ok(IngestOutcome {
        source: event.source.clone(),
        event_id: event.event_id.clone(),
        status: EventStatus::Accepted,
        lead_id: lead.id,
        lead_created,
        lifecycle_stage: lead.stage,
        fit_score: lead.fit.total,
        intent_score: eval.intent,
    })
}

/// The lead for a first event, locked: created with its account link, or, when a concurrent
/// transaction created it first, that one.
async fn lock_or_create(
    conn: &mut PgConnection,
    event: &LeadEvent,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<(leads::Lead, bool), ApiError> {
    let domain = event.email.domain();
    let account_id = if rules
        .rules
        .accounts
        .free_mail_domains
        .iter()
        .any(|d| d == domain)
    {
        None
    } else {
        Some(accounts::link_by_domain(conn, domain).await?)
    };
    if let Some(lead) =
        leads::insert_new(conn, &event.email, account_id, &rules.version, now).await?
    {
        return Ok((lead, true));
    }
    let lead = leads::lock_by_email(conn, &event.email)
        .await?
        .ok_or_else(|| anyhow::anyhow!("lead vanished after a conflicting insert"))?;
    Ok((lead, false))
}

/// The answer for an event already stored: the lead as it stands, nothing changed.
async fn duplicate(
    conn: &mut PgConnection,
    event: &LeadEvent,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<IngestOutcome, ApiError> {
    let lead_id = events::lead_of(conn, &event.source, &event.event_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("duplicate event has no stored row"))?;
    let lead = leads::by_id(conn, lead_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("stored event points at a missing lead"))?;
    Ok(IngestOutcome {
        source: event.source.clone(),
        event_id: event.event_id.clone(),
        status: EventStatus::Duplicate,
        lead_id,
        lead_created: false,
        lifecycle_stage: lead.stage,
        fit_score: lead.fit.total,
        intent_score: lead.intent.score_at(now, &rules.rules.intent),
    })
}
