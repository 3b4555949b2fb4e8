//! A lead as the API shows it: scores as of the request, breakdowns and history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    evaluation,
    handoff::qualification::{self, QualificationView},
};
use crate::{
    db::{
        accounts,
        assignments::{self, AssignmentView},
        demand_states, events,
        leads::{self, Review},
        nurture, opportunities, source_ids, transitions,
    },
    domain::{DisqualifyReason, Email, EventType, IdSystem, Profile, RejectReason, Stage},
    engine::{Asset, FitHit, IntentState, NurtureState, RuleSet, Segment},
    error::ApiError,
};

/// How many recent events a lead's history shows.
const RECENT_EVENTS: i64 = 20;
/// How many nurture log rows it shows.
const RECENT_NURTURE: i64 = 50;

/// The lead document of `GET /api/v1/leads/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadView {
    pub id: Uuid,
    pub email: String,
    pub account: Option<AccountRef>,
    /// The lead's ids in the systems that sent its events, by system (`hubspot`,
    /// `salesforce`, `segment_user`, `segment_anonymous`, `marketo`).
    pub source_ids: BTreeMap<String, Vec<String>>,
    pub profile: Profile,
    pub lifecycle_stage: Stage,
    /// Set while the lead is on the suppression list.
    pub disqualified_reason: Option<DisqualifyReason>,
    /// Set while the lead is `Rejected`: the reason the rep gave (DESIGN §2).
    pub rejection_reason: Option<RejectReason>,
    /// Reasons an ops user overruled by reinstating the lead.
    pub exempt_reasons: Vec<DisqualifyReason>,
    /// The routing keys: demand state (the MAP's, else behaviour's) and account tier.
    #[schema(value_type = Object)]
    pub segment: Segment,
    /// Set while the lead waits in the manual review queue.
    #[schema(value_type = Option<Object>)]
    pub review: Option<Review>,
    /// The lead's latest assignment: owner, context packet and SLA times.
    pub handoff: Option<AssignmentView>,
    pub nurture: NurtureView,
    /// The qualification ladder's framework for the lead and its recorded MEDDIC fields.
    pub qualification: QualificationView,
    pub fit_score: i32,
    /// Decayed as of the request.
    pub intent_score: f64,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub scores: Scores,
    pub history: History,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where the lead is in nurture and what it was sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NurtureView {
    /// None when the lead is not in nurture (never was, or exited).
    pub workflow: Option<String>,
    pub step: Option<usize>,
    #[schema(value_type = Option<Object>)]
    pub current_asset: Option<Asset>,
    /// What the next trigger would send (none at the end of the workflow).
    #[schema(value_type = Option<Object>)]
    pub next_asset: Option<Asset>,
    /// Touches sent, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub touches: Vec<nurture::EntryView>,
    /// Enrollments, moves, advances, triggers and exits, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub log: Vec<nurture::EntryView>,
}

/// The account a lead is linked to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountRef {
    pub id: Uuid,
    pub domain: String,
}

/// Both scores with what made them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Scores {
    pub fit: FitView,
    pub intent: IntentView,
    /// While the lead is `Rejected`: the intent of its signals since the rejection, which
    /// makes a recycled lead MQL again when it meets the threshold.
    pub since_rejection: Option<SinceRejectionView>,
    /// The rules version that last scored this lead.
    pub rules_version: String,
    pub as_of: DateTime<Utc>,
}

/// Intent earned since a rejection.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SinceRejectionView {
    pub rejected_at: DateTime<Utc>,
    pub intent: IntentView,
}

/// Fit and the rules that gave its points.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FitView {
    pub score: i32,
    #[schema(value_type = Vec<Object>)]
    pub breakdown: Vec<FitHit>,
}

/// Intent now, before decay, and per signal type.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntentView {
    pub score: f64,
    pub at_last_activity: f64,
    pub decay_factor: f64,
    pub breakdown: Vec<IntentLine>,
}

impl IntentView {
    /// `intent` as of `now`, with its breakdown.
    pub fn of(intent: &IntentState, rules: &RuleSet, now: DateTime<Utc>) -> Self {
        let intent_rules = &rules.rules.intent;
        IntentView {
            score: intent.score_at(now, intent_rules),
            at_last_activity: intent.at_last_activity,
            decay_factor: intent.decay_at(now, intent_rules),
            breakdown: intent
                .signals
                .iter()
                .map(|(t, s)| IntentLine {
                    event_type: *t,
                    count: s.count,
                    points: s.points,
                })
                .collect(),
        }
    }
}

/// One signal type's raw contribution.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntentLine {
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub count: u32,
    pub points: f64,
}

/// Transitions (oldest first) and the latest events (newest first).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    #[schema(value_type = Vec<Object>)]
    pub transitions: Vec<transitions::TransitionView>,
    #[schema(value_type = Vec<Object>)]
    pub recent_events: Vec<events::EventSummary>,
    /// The opportunities the lead belongs to (as a contact, or through its account), newest
    /// opened first.
    pub opportunities: Vec<opportunities::LeadOpportunity>,
    /// The lead's moves between demand states, oldest first.
    pub demand_states: Vec<demand_states::DemandStateMove>,
}

/// How to find the lead.
#[derive(Debug, Clone)]
pub enum LeadKey {
    Id(Uuid),
    Email(Email),
    /// The lead's id in another system.
    SourceId(IdSystem, String),
}

/// Loads a lead and renders it as of `now`.
pub async fn lead_view(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    key: LeadKey,
) -> Result<LeadView, ApiError> {
    let mut conn = pool.acquire().await?;
    let lead = match &key {
        LeadKey::Id(id) => leads::by_id(&mut conn, *id).await?,
        LeadKey::Email(email) => leads::by_email(&mut conn, email).await?,
        LeadKey::SourceId(system, id) => match source_ids::lead_of(&mut conn, *system, id).await? {
            Some(email) => leads::by_email(&mut conn, &email).await?,
            None => None,
        },
    };
    let lead = lead.ok_or_else(|| {
        ApiError::NotFound(match key {
            LeadKey::Id(id) => format!("lead {id}"),
            LeadKey::Email(_) => "lead with that email".to_owned(),
            LeadKey::SourceId(system, id) => format!("lead with {} id {id:?}", system.as_str()),
        })
    })?;
    let account = match lead.account_id {
        Some(id) => accounts::domain_of(&mut conn, id)
            .await?
            .map(|domain| AccountRef { id, domain }),
        None => None,
    };
    let source_ids = source_ids::of_lead(&mut conn, &lead.email).await?;
    let handoff = assignments::latest_for_lead(&mut conn, lead.id).await?;
    let log = nurture::for_lead(&mut conn, lead.id, RECENT_NURTURE).await?;
    let nurture = nurture_view(&lead.nurture, log, rules);
    let qualification = qualification::view(&mut conn, &lead, rules).await?;
    let history = History {
        transitions: transitions::for_lead(&mut conn, lead.id).await?,
        recent_events: events::recent(&mut conn, lead.id, RECENT_EVENTS).await?,
        opportunities: opportunities::of_lead(&mut conn, lead.id).await?,
        demand_states: demand_states::of_lead(&mut conn, lead.id).await?,
    };

    let intent = IntentView::of(&lead.intent, rules, now);
    let segment = evaluation::segment(&lead, rules);
    Ok(LeadView {
        id: lead.id,
        email: lead.email.to_string(),
        account,
        source_ids,
        profile: lead.profile,
        lifecycle_stage: lead.stage,
        disqualified_reason: lead.disqualified_reason,
        rejection_reason: lead.rejection_reason,
        segment,
        exempt_reasons: lead.exempt_reasons,
        review: lead.review,
        handoff,
        nurture,
        qualification,
        fit_score: lead.fit.total,
        intent_score: intent.score,
        last_activity_at: lead.intent.last_activity_at,
        scores: Scores {
            fit: FitView {
                score: lead.fit.total,
                breakdown: lead.fit.breakdown,
            },
            intent,
            since_rejection: lead.since_rejection.map(|s| SinceRejectionView {
                rejected_at: s.rejected_at,
                intent: IntentView::of(&s.intent, rules, now),
            }),
            rules_version: lead.rules_version,
            as_of: now,
        },
        history,
        created_at: lead.created_at,
        updated_at: lead.updated_at,
    })
}

fn nurture_view(
    state: &NurtureState,
    log: Vec<nurture::EntryView>,
    rules: &RuleSet,
) -> NurtureView {
    let nurture = &rules.rules.nurture;
    let assets = state
        .workflow
        .as_ref()
        .and_then(|w| nurture.workflows.get(w));
    let asset_at = |i: usize| {
        assets
            .and_then(|a| a.get(i))
            .and_then(|id| nurture.asset(id))
            .cloned()
    };
    NurtureView {
        workflow: state.workflow.clone(),
        step: state.workflow.as_ref().map(|_| state.step),
        current_asset: asset_at(state.step),
        next_asset: asset_at(state.step + 1),
        touches: log
            .iter()
            .filter(|e| e.asset_id.is_some())
            .cloned()
            .collect(),
        log,
    }
}
