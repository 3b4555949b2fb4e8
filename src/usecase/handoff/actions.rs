//! The sales actions on a handed-off lead: acknowledge, accept, reject, qualify. Each is one
//! transaction and one transition with the actor.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    db::{
        assignments::{self, OpenAssignment},
        leads::{self, Lead},
        reps,
        transitions::NewTransition,
    },
    domain::{Caller, LeadScope, RejectReason, Stage},
    engine::{RuleSet, SalesAction, SinceRejection, Stated, may_accept, next_stage},
    error::{ApiError, FieldError},
    usecase::{handoff::qualification, nurture, persist},
};

/// What the rep confirmed and stated when qualifying (BANT, the amounts the ladder checks).
#[derive(Clone, Copy, Debug, Default)]
pub struct Qualification {
    pub budget: bool,
    pub authority: bool,
    pub need: bool,
    pub timing: bool,
    /// The buyer's budget, checked against `qualification.price_floor`.
    pub budget_amount: Option<f64>,
    /// When the buyer decides, checked against `qualification.decision_window_months`.
    pub decision_by: Option<NaiveDate>,
    /// The deal's estimated ACV (the budget stands for it when absent).
    pub estimated_acv: Option<f64>,
}

impl Qualification {
    /// The amounts, once [`check_input`] has found them given.
    fn stated(&self) -> Option<Stated> {
        Some(Stated {
            budget_amount: self.budget_amount?,
            decision_by: self.decision_by?,
            estimated_acv: self.estimated_acv,
        })
    }
}

/// An action with what it carries.
#[derive(Clone, Debug)]
pub enum Action {
    Acknowledge,
    Accept {
        confirmed_interest: bool,
    },
    Reject {
        reason: RejectReason,
        note: Option<String>,
    },
    Qualify(Qualification),
}

impl Action {
    fn kind(&self) -> SalesAction {
        match self {
            Action::Acknowledge => SalesAction::Acknowledge,
            Action::Accept { .. } => SalesAction::Accept,
            Action::Reject { reason, .. } => SalesAction::Reject(*reason),
            Action::Qualify(_) => SalesAction::Qualify,
        }
    }
}

/// The lead after the action.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Acted {
    pub lead_id: Uuid,
    /// `acknowledge`, `accept`, `reject` or `qualify`.
    #[schema(value_type = String)]
    pub action: &'static str,
    pub lifecycle_stage: Stage,
    pub fit_score: i32,
    pub intent_score: f64,
    pub at: DateTime<Utc>,
}

/// Applies `action` to the lead for `actor`.
pub async fn act(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    caller: &Caller,
    lead_id: Uuid,
    action: Action,
) -> Result<Acted, ApiError> {
    check_input(&action)?;
    let mut tx = pool.begin().await?;
    let mut lead = leads::lock_by_id(&mut tx, lead_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lead {lead_id}")))?;
    check_scope(&mut tx, caller, lead_id).await?;
    let kind = action.kind();
    let to = next_stage(lead.stage, kind).map_err(ApiError::Conflict)?;
    let intent = lead.intent.score_at(now, &rules.rules.intent);
    let open = assignments::lock_open(&mut tx, lead_id).await?;
    let reason = match &action {
        Action::Acknowledge => {
            let open = require_open(open, lead_id)?;
            if let Some(at) = open.acknowledged_at {
                return Err(ApiError::Conflict(format!(
                    "lead {lead_id} was acknowledged at {}",
                    at.to_rfc3339()
                )));
            }
            assignments::acknowledge(&mut tx, open.id, now).await?;
            "acknowledged".to_owned()
        }
        Action::Accept { .. } => {
            if !may_accept(lead.fit.total, intent, &rules.rules.mql) {
                return Err(below_threshold(&lead, intent, rules));
            }
            assignments::dispose(&mut tx, require_open(open, lead_id)?.id, now).await?;
            format!(
                "accepted: interest confirmed (fit {}, intent {intent})",
                lead.fit.total
            )
        }
        Action::Reject { reason, note } => {
            assignments::dispose(&mut tx, require_open(open, lead_id)?.id, now).await?;
            lead.rejection_reason = Some(*reason);
            // What it does from now on decides whether a recycled lead comes back to sales.
            lead.since_rejection = Some(SinceRejection::new(now));
            match note {
                Some(note) => format!("{reason}: {note}"),
                None => reason.to_string(),
            }
        }
        Action::Qualify(q) => {
            let stated = q.stated().expect("check_input requires the amounts");
            let framework =
                qualification::check(&mut tx, &lead, &stated, rules, now.date_naive()).await?;
            format!(
                "qualified ({framework}): budget {} and authority, need and timing confirmed; \
                 decision by {}",
                stated.budget_amount, stated.decision_by
            )
        }
    };
    let from = lead.stage;
    lead.stage = to;
    lead.updated_at = now;
    // A rejection for timing or budget recycles the lead into nurture.
    let nurtured = nurture::plan(&mut lead, &[], rules, now);
    let transition = NewTransition {
        lead_id,
        from: Some(from),
        to,
        actor: caller.actor(),
        reason,
        source: None,
        reason_code: match &action {
            Action::Reject { reason, .. } => Some(reason.as_str()),
            _ => None,
        },
        fit_score: lead.fit.total,
        intent_score: intent,
        rules_version: rules.version.clone(),
        event_row_id: None,
        at: now,
    };
    let transitions = [transition];
    let decided = persist::Decided {
        leads: vec![&lead],
        transitions: &transitions,
        nurture: vec![(&lead, nurtured)],
    };
    persist::locked(&mut tx, decided, rules, now).await?;
    if let Some(reason) = lead.rejection_reason.filter(|_| to == Stage::Rejected) {
        // Kept by the lead write while the lead stays rejected.
        leads::set_rejection_reason(&mut tx, lead_id, Some(reason.as_str())).await?;
    }
    tx.commit().await?;
    tracing::info!(lead.id = %lead_id, action = kind.name(), stage = %to, "sales action");
    Ok(Acted {
        lead_id,
        action: kind.name(),
        lifecycle_stage: to,
        fit_score: lead.fit.total,
        intent_score: intent,
        at: now,
    })
}

/// The body checks that do not need the lead: 422s naming the field.
fn check_input(action: &Action) -> Result<(), ApiError> {
    let errors: Vec<FieldError> = match action {
        Action::Accept {
            confirmed_interest: false,
        } => vec![FieldError::new(
            "confirmed_interest",
            "must be true: accept only after the lead confirmed interest in a conversation",
        )],
        Action::Qualify(q) => {
            let mut errors: Vec<FieldError> = [
                ("budget", q.budget),
                ("authority", q.authority),
                ("need", q.need),
                ("timing", q.timing),
            ]
            .into_iter()
            .filter(|(_, confirmed)| !confirmed)
            .map(|(field, _)| FieldError::new(field, "must be true: confirm it before qualifying"))
            .collect();
            if q.budget_amount.is_none_or(|a| !a.is_finite() || a < 0.0) {
                errors.push(FieldError::new(
                    "budget_amount",
                    "is required: the buyer's budget, a finite number ≥ 0",
                ));
            }
            if q.decision_by.is_none() {
                errors.push(FieldError::new(
                    "decision_by",
                    "is required: the date the buyer decides (YYYY-MM-DD)",
                ));
            }
            if q.estimated_acv.is_some_and(|a| !a.is_finite() || a < 0.0) {
                errors.push(FieldError::new(
                    "estimated_acv",
                    "must be a finite number ≥ 0",
                ));
            }
            errors
        }
        _ => Vec::new(),
    };
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Reps act on their own leads, managers on their team's.
pub(super) async fn check_scope(
    conn: &mut PgConnection,
    caller: &Caller,
    lead_id: Uuid,
) -> Result<(), ApiError> {
    let owner = leads::owner_of(conn, lead_id).await?;
    let allowed = match caller.lead_scope() {
        LeadScope::All => true,
        LeadScope::OwnedBy(rep) => owner == Some(rep),
        LeadScope::TeamOf(manager) => match owner {
            Some(owner) if owner == manager => true,
            Some(owner) => reps::by_id(conn, owner)
                .await?
                .is_some_and(|r| r.manager_id == Some(manager)),
            None => false,
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "lead {lead_id} is not yours to act on"
        )))
    }
}

fn require_open(open: Option<OpenAssignment>, lead_id: Uuid) -> Result<OpenAssignment, ApiError> {
    open.ok_or_else(|| {
        ApiError::Conflict(format!(
            "lead {lead_id} is not assigned to anyone yet (it waits for an active rep)"
        ))
    })
}

fn below_threshold(lead: &Lead, intent: f64, rules: &RuleSet) -> ApiError {
    let mql = &rules.rules.mql;
    let facts = json!({
        "fit_score": lead.fit.total, "intent_score": intent,
        "fit_threshold": mql.fit, "intent_threshold": mql.intent,
    });
    ApiError::ConflictWithFacts {
        detail: format!(
            "accept needs fit ≥ {} and intent ≥ {} as of now; the lead has fit {} and intent {intent}",
            mql.fit, mql.intent, lead.fit.total
        ),
        facts: facts.as_object().cloned().unwrap_or_default(),
    }
}
