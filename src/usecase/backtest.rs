//! Backtest: would the rules have made MQLs of the deals that closed? Each historical record is
//! replayed by the engine as live ingestion would have taken its events (in `occurred_at`
//! order, evaluated after each moment as of that moment), then the engine counts, per outcome,
//! the records that crossed MQL: at the rules' thresholds and over a threshold grid. Nothing
//! is read or written; the HTTP endpoint and the `backtest` CLI command both land here.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    adapters::calibration::BacktestRequest,
    domain::{DisqualifyReason, LeadRecord, Outcome},
    engine::{BacktestReport, Replay, RuleSet, backtest as count, replay},
    error::ApiError,
};

/// The answer of a backtest.
#[derive(Debug, Serialize)]
pub struct BacktestAnswer {
    /// The version of the rules backtested.
    pub rules_version: String,
    /// Whether those are candidate rules sent with the request (else the running ones).
    pub candidate: bool,
    #[serde(flatten)]
    pub report: BacktestReport,
    /// One per record, in request order.
    pub records: Vec<RecordResult>,
}

/// How one record fared at the rules' thresholds.
#[derive(Debug, Serialize)]
pub struct RecordResult {
    pub index: usize,
    pub id: Option<String>,
    pub email: String,
    pub outcome: Outcome,
    /// When it would have become MQL; `null` if never.
    pub mql_at: Option<DateTime<Utc>>,
    /// The highest fit and intent it showed after any of its events (before a
    /// disqualification): how close a record that never crossed came.
    pub peak_fit: Option<i32>,
    pub peak_intent: Option<f64>,
    pub disqualified_reason: Option<DisqualifyReason>,
    pub disqualified_at: Option<DateTime<Utc>>,
}

/// Backtests `request` under its candidate rules, else `running`, off the async runtime.
pub async fn run(
    request: BacktestRequest,
    running: Arc<RuleSet>,
    now: DateTime<Utc>,
) -> Result<BacktestAnswer, ApiError> {
    tokio::task::spawn_blocking(move || backtest(&request, &running, now))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("backtest task failed: {e}")))
}

/// Backtests `request` under its candidate rules, else `running`. Each record is replayed up to
/// its last event (a record without events is judged as of `now`).
pub fn backtest(
    request: &BacktestRequest,
    running: &RuleSet,
    now: DateTime<Utc>,
) -> BacktestAnswer {
    let rules = request.rules.as_ref().unwrap_or(running);
    let replays: Vec<(Outcome, Replay)> = request
        .records
        .iter()
        .map(|(outcome, record)| {
            let end = record.last_event_at().unwrap_or(now);
            (*outcome, replay(record, &rules.rules, end))
        })
        .collect();
    let pairs: Vec<(Outcome, &Replay)> = replays.iter().map(|(o, r)| (*o, r)).collect();
    let report = count(&pairs, &rules.rules.mql, &request.grid, request.target);
    let records = request
        .records
        .iter()
        .zip(&replays)
        .enumerate()
        .map(|(index, ((_, record), (outcome, replayed)))| {
            result(index, record, *outcome, replayed)
        })
        .collect();
    BacktestAnswer {
        rules_version: rules.version.clone(),
        candidate: request.rules.is_some(),
        report,
        records,
    }
}

fn result(index: usize, record: &LeadRecord, outcome: Outcome, replayed: &Replay) -> RecordResult {
    RecordResult {
        index,
        id: record.id.clone(),
        email: record.email.to_string(),
        outcome,
        mql_at: replayed.mql_at,
        peak_fit: replayed.steps.iter().map(|s| s.fit).max(),
        peak_intent: replayed
            .steps
            .iter()
            .map(|s| s.intent)
            .max_by(f64::total_cmp),
        disqualified_reason: replayed.disqualified.as_ref().map(|(_, hit)| hit.reason),
        disqualified_at: replayed.disqualified.as_ref().map(|(at, _)| *at),
    }
}
