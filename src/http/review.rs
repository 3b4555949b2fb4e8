//! The manual review queue.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
};

use super::{
    extract::{ApiJson, Paging, uuid},
    routes::Routes,
};
use crate::{
    app::AppState,
    db::leads::ReviewItem,
    domain::Caller,
    error::ApiError,
    usecase::{
        Page,
        review::{self, ResolveInput, Resolved},
    },
};

/// `GET /api/v1/review-queue` and `POST /api/v1/review-queue/{lead_id}/resolve`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/review-queue", queue)
        .post("/api/v1/review-queue/{lead_id}/resolve", resolve)
}

async fn queue(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<ReviewItem>>, ApiError> {
    let paging = Paging::from_query(&query)?;
    Ok(Json(
        review::queue(&state.pool, paging.limit, paging.offset).await?,
    ))
}

async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(lead_id): Path<String>,
    ApiJson(input): ApiJson<ResolveInput>,
) -> Result<Json<Resolved>, ApiError> {
    let lead_id = uuid("lead_id", &lead_id)?;
    let resolved = review::resolve(
        &state.pool,
        &state.rules,
        state.now(),
        lead_id,
        input,
        &caller.actor(),
    )
    .await?;
    Ok(Json(resolved))
}
