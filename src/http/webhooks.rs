//! Inbound events from sources.

use axum::{Json, body::Bytes, extract::State, http::HeaderMap};
use serde::Serialize;

use super::{extract::require_json, routes::Routes};
use crate::{
    adapters::{canonical, opportunity},
    app::AppState,
    error::ApiError,
    usecase::{
        ingest::{self, EventStatus, IngestOutcome},
        opportunities::{self, OpportunityOutcome},
    },
};

/// `POST /webhooks/events`, `POST /webhooks/opportunities`.
pub fn router() -> Routes {
    Routes::default()
        .post("/webhooks/events", ingest_events)
        .post("/webhooks/opportunities", record_opportunities)
}

/// The answer to a batch: counts, and one outcome per event in the order sent.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct IngestResponse {
    accepted: usize,
    duplicates: usize,
    results: Vec<IngestOutcome>,
}

/// Canonical events, one object or an array; answered only after the commit.
async fn ingest_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IngestResponse>, ApiError> {
    require_json(&headers)?;
    let now = state.now();
    let events = canonical::parse_batch(&body, &state.limits(), now)?;
    let results = ingest::ingest(&state.group_commit, now, events).await?;
    let duplicates = results
        .iter()
        .filter(|r| r.status == EventStatus::Duplicate)
        .count();
    Ok(Json(IngestResponse {
        accepted: results.len() - duplicates,
        duplicates,
        results,
    }))
}

/// The answer to a batch of opportunity events, one outcome per event in the order sent.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct OpportunitiesResponse {
    accepted: usize,
    duplicates: usize,
    results: Vec<OpportunityOutcome>,
}

/// Canonical opportunity events, one object or an array; answered only after the commit.
async fn record_opportunities(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<OpportunitiesResponse>, ApiError> {
    require_json(&headers)?;
    let now = state.now();
    let events = opportunity::parse_batch(&body, &state.limits(), now)?;
    let results = opportunities::record(&state.pool, &events, now).await?;
    let duplicates = results.iter().filter(|r| r.status == "duplicate").count();
    Ok(Json(OpportunitiesResponse {
        accepted: results.len() - duplicates,
        duplicates,
        results,
    }))
}
