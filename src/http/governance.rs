//! The weekly governance reports (ops, admin), for any ISO week: what the governance job sends
//! each Monday, read again.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Query, State},
};
use sqlx::PgPool;

use super::routes::Routes;
use crate::{
    app::AppState,
    error::{ApiError, FieldError},
    usecase::{
        governance::{self, PipelineForecast, RejectionReview},
        metrics::Week,
    },
};

/// `GET /api/v1/governance/rejection-review`, `GET /api/v1/governance/pipeline-forecast`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/governance/rejection-review", rejection_review)
        .get("/api/v1/governance/pipeline-forecast", pipeline_forecast)
}

type Params = Query<HashMap<String, String>>;

/// `week` (an ISO week), else `default`; any other parameter is a 422 naming it.
fn week(params: &HashMap<String, String>, default: Week) -> Result<Week, ApiError> {
    if let Some(name) = params.keys().find(|k| k.as_str() != "week") {
        return Err(ApiError::Validation(vec![FieldError::new(
            name.as_str(),
            "unknown parameter; allowed: week",
        )]));
    }
    params.get("week").map_or(Ok(default), |w| Week::parse(w))
}

/// The review of `week`, by default the last whole week.
async fn rejection_review(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<RejectionReview>, ApiError> {
    let week = week(&params, Week::of(state.now()).previous())?;
    let read = |pool: PgPool| async move { governance::rejection_review(&pool, week).await };
    Ok(Json(state.reads.read(read).await?))
}

/// The forecast of `week`, by default this week's (as of its Monday).
async fn pipeline_forecast(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<PipelineForecast>, ApiError> {
    let week = week(&params, Week::of(state.now()))?;
    let settings = &state.settings.revenue;
    let read =
        |pool: PgPool| async move { governance::pipeline_forecast(&pool, week, settings).await };
    Ok(Json(state.reads.read(read).await?))
}
