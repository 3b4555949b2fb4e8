//! The predictive model (ops): fitted on request, proposing candidate rules.

use axum::{Json, extract::State};

use super::{extract::ApiJson, routes::Routes};
use crate::{
    app::AppState,
    error::ApiError,
    usecase::model::{self, ModelReport, ProposalRequest},
};

/// `POST /api/v1/model/proposals`.
pub fn router() -> Routes {
    Routes::default().post("/api/v1/model/proposals", propose)
}

async fn propose(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ProposalRequest>,
) -> Result<Json<ModelReport>, ApiError> {
    let settings = &state.settings.revenue;
    Ok(Json(
        model::propose(&state.pool, &state.rules, settings, request, state.now()).await?,
    ))
}
