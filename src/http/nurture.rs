//! Trying nurture without writing anything.

use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::Value;

use super::{extract::ApiJson, routes::Routes};
use crate::{
    adapters::canonical::{self, Limits},
    app::AppState,
    domain::{RejectReason, Stage},
    engine::TIERS,
    error::ApiError,
    usecase::nurture::simulate::{self, Sample, Simulation},
};

/// `POST /api/v1/nurture/simulate`.
pub fn router() -> Routes {
    Routes::default().post("/api/v1/nurture/simulate", simulate)
}

/// One sample lead: its account tier, stage and events.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SimulateInput {
    /// The tier the account list gives the lead's account; none: the configured default.
    account_tier: Option<u8>,
    #[serde(default = "lead_stage")]
    stage: Stage,
    rejection_reason: Option<RejectReason>,
    /// Canonical events (as `POST /webhooks/events` takes them), in delivery order.
    #[schema(value_type = Option<Vec<crate::adapters::canonical::RawEvent>>)]
    events: Option<Value>,
}

fn lead_stage() -> Stage {
    Stage::Lead
}

async fn simulate(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SimulateInput>,
) -> Result<Json<Simulation>, ApiError> {
    if let Some(tier) = input.account_tier.filter(|t| !TIERS.contains(t)) {
        return Err(ApiError::field(
            "account_tier",
            format!("{tier} is not a tier; allowed: 1, 2, 3"),
        ));
    }
    let events = input
        .events
        .ok_or_else(|| ApiError::field("events", "is required: the sample's events"))?;
    // A sample is evaluated at its own times, so it may be dated in the future.
    let limits = Limits {
        max_future_skew: chrono::Duration::days(36_500),
        ..state.limits()
    };
    let events = canonical::parse_nested("events", &events, &limits, state.now())?;
    let sample = Sample {
        account_tier: input.account_tier,
        stage: input.stage,
        rejection_reason: input.rejection_reason,
        events,
    };
    Ok(Json(simulate::simulate(sample, &state.rules)?))
}
