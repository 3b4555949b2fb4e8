//! Reading leads.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
};

use super::{extract::uuid, routes::Routes};
use crate::{
    app::AppState,
    domain::Email,
    error::ApiError,
    usecase::lead_view::{LeadKey, LeadView, lead_view},
};

/// `GET /api/v1/leads/{id}` and `GET /api/v1/leads?email=`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/leads", by_email)
        .get("/api/v1/leads/{id}", by_id)
}

async fn by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LeadView>, ApiError> {
    let id = uuid("id", &id)?;
    Ok(Json(
        lead_view(&state.pool, &state.rules, state.now(), LeadKey::Id(id)).await?,
    ))
}

async fn by_email(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<LeadView>, ApiError> {
    let raw = query.get("email").ok_or_else(|| {
        ApiError::field(
            "email",
            "query parameter is required (GET /api/v1/leads?email=...)",
        )
    })?;
    let email = Email::parse(raw).map_err(|why| ApiError::field("email", why.to_string()))?;
    Ok(Json(
        lead_view(
            &state.pool,
            &state.rules,
            state.now(),
            LeadKey::Email(email),
        )
        .await?,
    ))
}
