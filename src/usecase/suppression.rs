//! The suppression list and reinstatement: disqualified leads keep all their data and can be
//! brought back by an ops user, with a recorded reason.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{Page, evaluation, nurture, persist};
use crate::{
    db::{
        leads::{self, SuppressedLead},
        transitions::NewTransition,
    },
    domain::{DisqualifyReason, Stage},
    engine::RuleSet,
    error::ApiError,
};

/// A page of the suppression list, newest first, optionally only one reason.
pub async fn list(
    pool: &PgPool,
    reason: Option<DisqualifyReason>,
    limit: i64,
    offset: i64,
) -> Result<Page<SuppressedLead>, ApiError> {
    let mut conn = pool.acquire().await?;
    let (items, total) = leads::suppressed(&mut conn, reason, limit, offset).await?;
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}

/// Where a reinstated lead ended up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Reinstated {
    pub lead_id: Uuid,
    /// The reason that was overruled; its rule no longer applies to this lead.
    pub overruled: DisqualifyReason,
    pub lifecycle_stage: Stage,
    /// Set if another rule disqualified the lead again at once.
    pub disqualified_reason: Option<DisqualifyReason>,
    pub fit_score: i32,
    pub intent_score: f64,
}

/// Brings a disqualified lead back to `Lead`, exempts it from the rule that fired, and
/// re-evaluates it at once (it may qualify as MQL, or another rule may still catch it).
pub async fn reinstate(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    lead_id: Uuid,
    reason: &str,
    actor: &str,
) -> Result<Reinstated, ApiError> {
    let mut tx = pool.begin().await?;
    let mut lead = leads::lock_by_id(&mut tx, lead_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lead {lead_id}")))?;
    let overruled = match (lead.stage, lead.disqualified_reason) {
        (Stage::Disqualified, Some(reason)) => reason,
        (stage, _) => {
            return Err(ApiError::Conflict(format!(
                "lead {lead_id} is at stage {stage}; only a Disqualified lead can be reinstated"
            )));
        }
    };
    lead.stage = Stage::Lead;
    lead.disqualified_reason = None;
    if !lead.exempt_reasons.contains(&overruled) {
        lead.exempt_reasons.push(overruled);
    }
    let mut new_transitions = vec![NewTransition {
        lead_id,
        from: Some(Stage::Disqualified),
        to: Stage::Lead,
        actor: actor.to_owned(),
        reason: format!("reinstated, overruling {overruled}: {reason}"),
        source: None,
        reason_code: None,
        fit_score: lead.fit.total,
        intent_score: lead.intent.score_at(now, &rules.rules.intent),
        rules_version: rules.version.clone(),
        event_row_id: None,
        at: now,
    }];
    new_transitions.extend(evaluation::apply(&mut lead, None, rules, now));
    let back_in_nurture = nurture::plan(&mut lead, &[], rules, now);
    let decided = persist::Decided {
        leads: vec![&lead],
        transitions: &new_transitions,
        nurture: vec![(&lead, back_in_nurture)],
    };
    persist::locked(&mut tx, decided, rules, now).await?;
    tx.commit().await?;
    tracing::info!(lead.id = %lead_id, reason.overruled = %overruled, stage = %lead.stage, "lead reinstated");
    Ok(Reinstated {
        lead_id,
        overruled,
        lifecycle_stage: lead.stage,
        disqualified_reason: lead.disqualified_reason,
        fit_score: lead.fit.total,
        intent_score: lead.intent.score_at(now, &rules.rules.intent),
    })
}
