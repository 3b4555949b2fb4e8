//! The reps and managers admin.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};

use super::{
    extract::{ApiJson, uuid},
    routes::Routes,
};
use crate::{
    app::AppState,
    db::reps::Rep,
    domain::Caller,
    error::ApiError,
    usecase::reps::{self, RepInput},
};

/// `/api/v1/reps`: create, list, read, update, deactivate.
pub fn router() -> Routes {
    Routes::default()
        .post("/api/v1/reps", create)
        .get("/api/v1/reps", list)
        .get("/api/v1/reps/{id}", read)
        .patch("/api/v1/reps/{id}", update)
        .post("/api/v1/reps/{id}/deactivate", deactivate)
}

async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RepInput>,
) -> Result<(StatusCode, Json<Rep>), ApiError> {
    let rep = reps::save(&state.pool, &state.rules, state.now(), None, input).await?;
    Ok((StatusCode::CREATED, Json(rep)))
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Rep>>, ApiError> {
    let active = match query.get("active").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::field(
                "active",
                format!("{other:?} is not true or false"),
            ));
        }
    };
    Ok(Json(reps::list(&state.pool, active).await?))
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Rep>, ApiError> {
    Ok(Json(
        reps::get(&state.pool, &caller, uuid("id", &id)?).await?,
    ))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RepInput>,
) -> Result<Json<Rep>, ApiError> {
    let id = uuid("id", &id)?;
    Ok(Json(
        reps::save(&state.pool, &state.rules, state.now(), Some(id), input).await?,
    ))
}

async fn deactivate(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Rep>, ApiError> {
    let id = uuid("id", &id)?;
    let input = RepInput {
        active: Some(false),
        ..RepInput::default()
    };
    Ok(Json(
        reps::save(&state.pool, &state.rules, state.now(), Some(id), input).await?,
    ))
}
