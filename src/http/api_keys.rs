//! API keys (admin): mint, list, revoke.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::IntoResponse,
};

use super::{
    extract::{ApiJson, Paging, uuid},
    routes::Routes,
};
use crate::{
    app::AppState,
    db::api_keys::ApiKey,
    error::ApiError,
    usecase::{
        Page,
        api_keys::{self, MintInput},
    },
};

/// `POST /api/v1/api-keys`, `GET /api/v1/api-keys`, `POST /api/v1/api-keys/{id}/revoke`.
pub fn router() -> Routes {
    Routes::default()
        .post("/api/v1/api-keys", mint)
        .get("/api/v1/api-keys", list)
        .post("/api/v1/api-keys/{id}/revoke", revoke)
}

/// Mints a key; the answer is the only place the key ever appears.
async fn mint(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<MintInput>,
) -> Result<impl IntoResponse, ApiError> {
    let minted = api_keys::mint(&state.pool, input, state.now()).await?;
    // The body holds a secret: no cache along the way may keep it.
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(minted),
    ))
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<ApiKey>>, ApiError> {
    let paging = Paging::from_query(&query)?;
    Ok(Json(
        api_keys::list(&state.pool, paging.limit, paging.offset).await?,
    ))
}

/// Revokes a key (kept for the record, refused from now on).
async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    let id = uuid("id", &id)?;
    Ok(Json(
        api_keys::revoke(&state.pool, &state.key_cache, id, state.now()).await?,
    ))
}
