//! Scoring preview: what the rules make of records (attributes and dated events) before they
//! go live. Nothing is read or written; each record is replayed by the engine as live
//! ingestion would have taken its events (`engine::replay`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::lead_view::{FitView, IntentView};
use crate::{
    adapters::calibration::PreviewRequest,
    domain::{DisqualifyReason, LeadRecord, Outcome, Stage},
    engine::{Replay, RuleSet, Segment, replay},
    error::ApiError,
};

/// The answer of a preview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewReport {
    pub as_of: DateTime<Utc>,
    pub rules_version: String,
    /// One per record, in request order: its fit and intent with breakdowns, stage and
    /// segment.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<RecordVerdict>,
}

/// What the rules make of one record.
#[derive(Debug, Serialize)]
pub struct RecordVerdict {
    /// The record's position in the request.
    pub index: usize,
    pub id: Option<String>,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The stage the lead would be at as of `as_of`.
    pub lifecycle_stage: Stage,
    /// When it would have become MQL.
    pub mql_at: Option<DateTime<Utc>>,
    pub fit: FitView,
    /// Decayed as of `as_of`.
    pub intent: IntentView,
    pub disqualification: Option<DisqualificationView>,
    pub segment: Segment,
    /// Set when it would have become MQL without a full segment: it would wait in the manual
    /// review queue for these.
    pub review_missing: Option<Vec<String>>,
    /// Events dated after `as_of`, left out.
    pub events_after_as_of: usize,
}

/// The rule that disqualified a record, and when.
#[derive(Debug, Serialize)]
pub struct DisqualificationView {
    pub reason: DisqualifyReason,
    /// The rule's position in `[[disqualify]]`, counting from 0.
    pub rule: usize,
    pub detail: String,
    pub at: DateTime<Utc>,
}

/// Previews `request` under `rules`, as of its `as_of` or else `now`. The replays run off the
/// async runtime: a thousand records with long histories are real work.
pub async fn preview(
    request: PreviewRequest,
    rules: Arc<RuleSet>,
    now: DateTime<Utc>,
) -> Result<PreviewReport, ApiError> {
    tokio::task::spawn_blocking(move || {
        let as_of = request.as_of.unwrap_or(now);
        let results = request
            .records
            .iter()
            .enumerate()
            .map(|(index, record)| {
                let replayed = replay(record, &rules.rules, as_of);
                verdict(index, record, &replayed, &rules, as_of)
            })
            .collect();
        PreviewReport {
            as_of,
            rules_version: rules.version.clone(),
            results,
        }
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("preview task failed: {e}")))
}

/// One record's verdict from its replay.
pub fn verdict(
    index: usize,
    record: &LeadRecord,
    replayed: &Replay,
    rules: &RuleSet,
    as_of: DateTime<Utc>,
) -> RecordVerdict {
    let eval = &replayed.evaluation;
    RecordVerdict {
        index,
        id: record.id.clone(),
        email: record.email.to_string(),
        outcome: record.outcome,
        lifecycle_stage: eval.stage,
        mql_at: replayed.mql_at,
        fit: FitView {
            score: eval.fit.total,
            breakdown: eval.fit.breakdown.clone(),
        },
        intent: IntentView::of(&replayed.built.intent, rules, as_of),
        disqualification: replayed
            .disqualified
            .as_ref()
            .map(|(at, hit)| DisqualificationView {
                reason: hit.reason,
                rule: hit.rule,
                detail: hit.detail.clone(),
                at: *at,
            }),
        segment: eval.segment.clone(),
        review_missing: replayed.review_missing.clone(),
        events_after_as_of: replayed.ignored_events,
    }
}
