//! `POST /api/v1/nurture/simulate`: a sample lead's events run through the same functions as
//! live ingestion (profile and intent, the engine's verdict, nurture), each as if delivered
//! when it happened, with nothing written. A team tries a trigger here before turning it on.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{nurture_event, plan};
use crate::{
    db::leads::Lead,
    domain::{LeadEvent, RejectReason, Stage},
    engine::{NurtureRecord, RuleSet, Segment, SinceRejection},
    error::ApiError,
    usecase::{
        evaluation,
        ingest::{apply_events, refold_intent},
    },
};

/// The lead before its events.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The tier its account has on the tiered account list, if any.
    pub account_tier: Option<u8>,
    /// `Lead`, or `Rejected` with the rep's reason (to try the recycle path).
    pub stage: Stage,
    pub rejection_reason: Option<RejectReason>,
    /// In delivery order, all for one email.
    pub events: Vec<LeadEvent>,
}

/// The path taken.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    pub steps: Vec<SimStep>,
    pub workflow: Option<String>,
    pub step: usize,
    pub touches: Vec<String>,
}

/// The lead after one event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimStep {
    pub event_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// A repeat of an earlier event of the sample: ignored, as ingestion ignores it.
    pub duplicate: bool,
    pub lifecycle_stage: Stage,
    pub fit_score: i32,
    pub intent_score: f64,
    /// The routing keys: `demand_state` and `account_tier`.
    #[schema(value_type = Object)]
    pub segment: Segment,
    pub workflow: Option<String>,
    pub step: usize,
    /// The nurture log entries this event wrote.
    #[schema(value_type = Vec<Object>)]
    pub nurture: Vec<NurtureRecord>,
}

/// Runs `sample` through the rules; each event is evaluated as of its `occurred_at`.
pub fn simulate(sample: Sample, rules: &RuleSet) -> Result<Simulation, ApiError> {
    let Some(first) = sample.events.first() else {
        return Err(ApiError::field("events", "needs at least one event"));
    };
    if let Some(i) = sample.events.iter().position(|e| e.email != first.email) {
        return Err(ApiError::field(
            format!("events[{i}].lead.email"),
            "every event of a sample must be about the same lead",
        ));
    }
    match (sample.stage, sample.rejection_reason) {
        (Stage::Lead, None) | (Stage::Rejected, Some(_)) => {}
        _ => {
            return Err(ApiError::field(
                "stage",
                "must be Lead, or Rejected with a rejection_reason",
            ));
        }
    }
    let mut lead = Lead::new(first.email.clone(), None, &rules.version, first.occurred_at);
    // A sample lead needs an id only to exist; nothing is stored.
    lead.id = Uuid::nil();
    lead.account_tier = sample.account_tier;
    lead.stage = sample.stage;
    lead.rejection_reason = sample.rejection_reason;
    if sample.stage == Stage::Rejected {
        // Rejected before any event of the sample: all of them count.
        lead.since_rejection = Some(SinceRejection::new(DateTime::<Utc>::MIN_UTC));
    }

    let mut seen = HashSet::new();
    let mut history = Vec::new();
    let mut steps = Vec::new();
    let mut touches = Vec::new();
    for (i, event) in sample.events.iter().enumerate() {
        let now = event.occurred_at;
        let duplicate = !seen.insert((event.source.as_str(), event.event_id.as_str()));
        let mut records = Vec::new();
        if !duplicate {
            history.push((event.event_type, event.occurred_at));
            if !apply_events(&mut lead, &[event], rules) {
                refold_intent(&mut lead, &history, rules);
            }
            let created_by = (i == 0).then_some(event.source.as_str());
            evaluation::apply(&mut lead, created_by, rules, now);
            records = plan(&mut lead, &[nurture_event(event)], rules, now);
            touches.extend(
                records
                    .iter()
                    .filter_map(|r| r.touch.as_ref().map(|a| a.id.clone())),
            );
        }
        steps.push(SimStep {
            event_id: event.event_id.clone(),
            event_type: event.event_type.to_string(),
            occurred_at: event.occurred_at,
            duplicate,
            lifecycle_stage: lead.stage,
            fit_score: lead.fit.total,
            intent_score: lead.intent.score_at(now, &rules.rules.intent),
            segment: evaluation::segment(&lead, rules),
            workflow: lead.nurture.workflow.clone(),
            step: lead.nurture.step,
            nurture: records,
        });
    }
    Ok(Simulation {
        workflow: lead.nurture.workflow.clone(),
        step: lead.nurture.step,
        touches,
        steps,
    })
}
