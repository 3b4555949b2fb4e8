//! The manual review queue: MQLs that lack a demand state or an account tier wait here until
//! someone supplies what is missing, which sends them on to handoff.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Page, handoff, persist};
use crate::{
    db::{
        leads::{self, ReviewItem},
        reviews::{self, Resolution},
    },
    domain::{Profile, Stage},
    engine::{RuleSet, TIERS},
    error::{ApiError, FieldError},
};

/// A page of the queue, oldest first.
pub async fn queue(pool: &PgPool, limit: i64, offset: i64) -> Result<Page<ReviewItem>, ApiError> {
    let mut conn = pool.acquire().await?;
    let (items, total) = leads::review_queue(&mut conn, limit, offset).await?;
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}

/// What a reviewer supplies.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    pub demand_state: Option<String>,
    pub account_tier: Option<u8>,
    pub note: Option<String>,
}

/// The lead once resolved.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Resolved {
    pub lead_id: Uuid,
    pub lifecycle_stage: Stage,
    pub demand_state: String,
    pub account_tier: u8,
}

/// Supplies the missing routing keys of a queued lead and releases it.
pub async fn resolve(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    lead_id: Uuid,
    input: ResolveInput,
    actor: &str,
) -> Result<Resolved, ApiError> {
    let mut tx = pool.begin().await?;
    let mut lead = leads::lock_by_id(&mut tx, lead_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lead {lead_id}")))?;
    let Some(review) = lead.review.take() else {
        return Err(ApiError::Conflict(format!(
            "lead {lead_id} is not in the review queue"
        )));
    };
    let demand_state = input
        .demand_state
        .map(|s| s.trim().to_lowercase())
        .or_else(|| lead.profile.demand_state.clone())
        .or_else(|| lead.activity.derived_demand_state.clone());
    let account_tier = input.account_tier.or(lead.account_tier);
    let mut errors = Vec::new();
    match &demand_state {
        None => errors.push(FieldError::new("demand_state", "is missing: supply one")),
        Some(state) if !rules.rules.segmentation.demand_states.contains(state) => {
            errors.push(FieldError::new(
                "demand_state",
                format!(
                    "unknown demand state {state:?}; configured: {}",
                    rules.rules.segmentation.demand_states.join(", ")
                ),
            ));
        }
        Some(_) => {}
    }
    match account_tier {
        None => errors.push(FieldError::new(
            "account_tier",
            "is missing: supply 1, 2 or 3",
        )),
        Some(tier) if !TIERS.contains(&tier) => errors.push(FieldError::new(
            "account_tier",
            format!("unknown tier {tier}; allowed: 1, 2, 3"),
        )),
        Some(_) => {}
    }
    let (Some(demand_state), Some(account_tier)) = (demand_state, account_tier) else {
        return Err(ApiError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    // The reviewer's state is a fact as of now: a later MAP value still replaces it.
    let update = Profile {
        demand_state: Some(demand_state.clone()),
        ..Profile::default()
    };
    lead.profile.merge(&mut lead.profile_stamps, &update, now);
    lead.account_tier = Some(account_tier);
    lead.updated_at = now;
    let decided = persist::Decided {
        leads: vec![&lead],
        transitions: &[],
        nurture: Vec::new(),
    };
    persist::locked(&mut tx, decided, rules, now).await?;
    handoff::assign::assign(&mut tx, &[&lead], &HashMap::new(), rules, now).await?;
    reviews::record(
        &mut tx,
        &Resolution {
            lead_id,
            missing: &review.missing,
            queued_at: review.queued_at,
            resolved_at: now,
            resolved_by: actor,
            demand_state: Some(&demand_state),
            account_tier: Some(account_tier),
            note: input.note.as_deref(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(lead.id = %lead_id, "review resolved");
    Ok(Resolved {
        lead_id,
        lifecycle_stage: lead.stage,
        demand_state,
        account_tier,
    })
}
