//! Marketing spend (ops): recorded for CAC by segment, listed.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
};

use super::{
    extract::{ApiJson, Paging},
    routes::Routes,
};
use crate::{
    app::AppState,
    db::spend::Spend,
    error::ApiError,
    usecase::{
        Page,
        spend::{self, SpendInput},
    },
};

/// `POST /api/v1/spend`, `GET /api/v1/spend`.
pub fn router() -> Routes {
    Routes::default()
        .post("/api/v1/spend", record)
        .get("/api/v1/spend", list)
}

async fn record(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SpendInput>,
) -> Result<(StatusCode, Json<Spend>), ApiError> {
    let states = &state.rules.rules.segmentation.demand_states;
    let spend = spend::record(&state.pool, input, states, state.now()).await?;
    Ok((StatusCode::CREATED, Json(spend)))
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<Spend>>, ApiError> {
    let paging = Paging::from_query(&query)?;
    Ok(Json(
        spend::list(&state.pool, paging.limit, paging.offset).await?,
    ))
}
