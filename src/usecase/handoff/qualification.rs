//! The qualification ladder applied to a stored lead: which framework it goes through (from
//! its MQL trigger, tier, demand state and size), the MEDDIC fields its rep has recorded, and
//! the checks a qualification to SQL must pass.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::actions::check_scope;
use crate::{
    db::{
        assignments,
        leads::{self, Lead},
        meddic::{self, MeddicValue},
    },
    domain::Caller,
    engine::{
        Framework, LadderFacts, MEDDIC_FIELDS, RuleSet, Stated, qualification_framework,
        qualification_problems,
    },
    error::{ApiError, FieldError},
    usecase::evaluation,
};

/// Where a lead stands on the ladder.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QualificationView {
    pub lead_id: Uuid,
    /// `bant`, or `meddic` (after BANT, for deals above `qualification.meddic_min_acv`).
    pub framework: Framework,
    /// The MEDDIC fields recorded, each with who recorded it and when.
    pub meddic: Vec<MeddicValue>,
    /// The MEDDIC fields not recorded yet.
    pub meddic_missing: Vec<&'static str>,
}

/// The framework the ladder gives `lead`.
pub async fn framework_of(
    conn: &mut PgConnection,
    lead: &Lead,
    rules: &RuleSet,
) -> sqlx::Result<Framework> {
    let trigger = assignments::latest_for_lead(conn, lead.id)
        .await?
        .and_then(|a| a.packet.0.trigger.map(|t| t.event_type));
    let segment = evaluation::segment(lead, rules);
    let facts = LadderFacts {
        trigger,
        tier: segment.account_tier,
        demand_state: segment.demand_state.as_deref(),
        employees: lead.profile.employee_count,
    };
    Ok(qualification_framework(&facts, &rules.rules.qualification))
}

/// The ladder's view of lead `lead_id`.
pub async fn view(
    conn: &mut PgConnection,
    lead: &Lead,
    rules: &RuleSet,
) -> sqlx::Result<QualificationView> {
    let framework = framework_of(conn, lead, rules).await?;
    let meddic = meddic::current(conn, lead.id).await?;
    let meddic_missing = MEDDIC_FIELDS
        .into_iter()
        .filter(|f| !meddic.iter().any(|m| m.field == *f))
        .collect();
    Ok(QualificationView {
        lead_id: lead.id,
        framework,
        meddic,
        meddic_missing,
    })
}

/// Records MEDDIC `values` (field, text) for lead `lead_id`, as its rep, its rep's manager or
/// admin; answers where the lead stands. Each value is a 422 naming it if its field is not one
/// of MEDDIC's six or it is empty.
pub async fn record_meddic(
    pool: &PgPool,
    rules: &RuleSet,
    caller: &Caller,
    lead_id: Uuid,
    values: Vec<(String, String)>,
    now: DateTime<Utc>,
) -> Result<QualificationView, ApiError> {
    let mut errors = Vec::new();
    for (field, value) in &values {
        if !MEDDIC_FIELDS.contains(&field.as_str()) {
            errors.push(FieldError::new(
                field.as_str(),
                format!("is not a MEDDIC field; one of {}", MEDDIC_FIELDS.join(", ")),
            ));
        } else if value.trim().is_empty() {
            errors.push(FieldError::new(field.as_str(), "is empty"));
        } else if let Some(problem) =
            crate::domain::text::too_long(value, crate::domain::text::MAX_NOTE_CHARS)
        {
            errors.push(FieldError::new(field.as_str(), problem));
        }
    }
    if values.is_empty() {
        errors.push(FieldError::new(
            "body",
            format!("names no field; give any of {}", MEDDIC_FIELDS.join(", ")),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = pool.begin().await?;
    let lead = leads::lock_by_id(&mut tx, lead_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lead {lead_id}")))?;
    check_scope(&mut tx, caller, lead_id).await?;
    let values: Vec<(&str, &str)> = values.iter().map(|(f, v)| (f.as_str(), v.trim())).collect();
    meddic::record(&mut tx, lead_id, &values, &caller.actor(), now).await?;
    let view = view(&mut tx, &lead, rules).await?;
    tx.commit().await?;
    tracing::info!(lead.id = %lead_id, fields = values.len(), "MEDDIC recorded");
    Ok(view)
}

/// Checks a qualification of `lead` to SQL against the ladder: BANT's amounts, and MEDDIC's
/// fields where it applies; a 422 naming each problem. Returns the framework applied.
pub async fn check(
    conn: &mut PgConnection,
    lead: &Lead,
    stated: &Stated,
    rules: &RuleSet,
    today: NaiveDate,
) -> Result<Framework, ApiError> {
    let framework = framework_of(conn, lead, rules).await?;
    let recorded = meddic::current(conn, lead.id).await?;
    let recorded: Vec<&str> = recorded.iter().map(|m| m.field.as_str()).collect();
    let problems = qualification_problems(
        framework,
        stated,
        &recorded,
        today,
        &rules.rules.qualification,
    );
    if problems.is_empty() {
        Ok(framework)
    } else {
        Err(ApiError::Validation(
            problems
                .into_iter()
                .map(|(field, detail)| FieldError::new(field, detail))
                .collect(),
        ))
    }
}
