//! The suppression list and reinstatement.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;

use super::{
    extract::{ApiJson, Paging, uuid},
    routes::Routes,
};
use crate::{
    app::AppState,
    db::leads::SuppressedLead,
    domain::{Caller, DisqualifyReason},
    error::ApiError,
    usecase::{
        Page,
        suppression::{self, Reinstated},
    },
};

/// `GET /api/v1/suppression` and `POST /api/v1/leads/{id}/reinstate`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/suppression", list)
        .post("/api/v1/leads/{id}/reinstate", reinstate)
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<SuppressedLead>>, ApiError> {
    let paging = Paging::from_query(&query)?;
    let reason = query
        .get("reason")
        .map(|r| r.parse::<DisqualifyReason>())
        .transpose()
        .map_err(|e| ApiError::field("reason", e.to_string()))?;
    Ok(Json(
        suppression::list(&state.pool, reason, paging.limit, paging.offset).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReinstateBody {
    /// Why the lead is reinstated, for the record.
    reason: String,
}

async fn reinstate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReinstateBody>,
) -> Result<Json<Reinstated>, ApiError> {
    let id = uuid("id", &id)?;
    let reason = body.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::field(
            "reason",
            "must say why the lead is reinstated",
        ));
    }
    let reinstated = suppression::reinstate(
        &state.pool,
        &state.rules,
        state.now(),
        id,
        reason,
        &caller.actor(),
    )
    .await?;
    Ok(Json(reinstated))
}
