//! Applying the engine's verdict to a lead: the one place that turns an [`Evaluation`] into
//! the lead's new fields and the transitions to record. Ingest, the sweeper and
//! reinstatement all go through it, so a rule acts the same whatever woke the lead up.
//!
//! [`Evaluation`]: crate::engine::Evaluation

use chrono::{DateTime, Utc};

use crate::{
    db::{
        leads::{Lead, Review},
        transitions::NewTransition,
    },
    domain::Stage,
    engine::{self, LeadFacts, RuleSet, Segment},
};

/// The engine's view of `lead`.
pub fn facts(lead: &Lead) -> LeadFacts<'_> {
    LeadFacts {
        email_domain: lead.email.domain(),
        profile: &lead.profile,
        stage: lead.stage,
        intent: &lead.intent,
        activity: &lead.activity,
        first_seen: lead.created_at,
        account_tier: lead.account_tier,
        exempt: &lead.exempt_reasons,
        rejection: match lead.stage {
            Stage::Rejected => lead.rejection_reason.zip(lead.since_rejection.as_ref()),
            _ => None,
        },
    }
}

/// The lead's routing keys as they stand.
pub fn segment(lead: &Lead, rules: &RuleSet) -> Segment {
    Segment::of(
        lead.profile.demand_state.as_deref(),
        lead.activity.derived_demand_state.as_deref(),
        lead.account_tier,
        &rules.rules.segmentation,
    )
}

/// Scores `lead` as of `now`, moves its stage, and returns the transitions to record, the
/// lead's creation first when `created_by` names the source that created it.
pub fn apply(
    lead: &mut Lead,
    created_by: Option<&str>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Vec<NewTransition> {
    let transitions = settle(lead, created_by, rules, now);
    for t in transitions.iter().filter(|t| t.from.is_some()) {
        tracing::info!(lead.id = %lead.id, stage.to = %t.to, "lead moved");
    }
    transitions
}

/// [`apply`] without its log line, for a dry run, where nothing really moves.
pub fn settle(
    lead: &mut Lead,
    created_by: Option<&str>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Vec<NewTransition> {
    let eval = engine::evaluate(facts(lead), &rules.rules, now);
    lead.fit = eval.fit;
    lead.stage = eval.stage;
    if lead.stage != Stage::Rejected {
        // A recycled lead qualified again: its next rejection starts a new count, and the
        // rejection no longer describes it (the write clears the column the same way).
        lead.since_rejection = None;
        lead.rejection_reason = None;
    }
    lead.account_tier = eval.segment.account_tier;
    if let Some(hit) = &eval.disqualification {
        lead.disqualified_reason = Some(hit.reason);
        // A suppressed lead is not waiting for routing any more.
        lead.review = None;
    }
    if let Some(missing) = eval.review_missing {
        lead.review = Some(Review {
            missing,
            queued_at: now,
        });
    }
    lead.rules_version.clone_from(&rules.version);
    lead.updated_at = now;

    let reason_code = eval
        .disqualification
        .as_ref()
        .map(|hit| hit.reason.as_str());
    let transition = |from, to, reason: String| NewTransition {
        lead_id: lead.id,
        from,
        to,
        actor: "system".to_owned(),
        reason,
        source: from
            .is_none()
            .then(|| created_by.unwrap_or_default().to_owned()),
        reason_code: (to == Stage::Disqualified).then_some(reason_code).flatten(),
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
        transitions.push(transition(Some(change.from), change.to, change.reason));
    }
    transitions
}
