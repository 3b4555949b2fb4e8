//! CRM write-back: the operator's view, and replaying what a CRM refused for good.

use axum::{
    Json,
    extract::{Path, State},
};

use super::routes::Routes;
use crate::{
    app::AppState,
    error::ApiError,
    usecase::crm_writes::{self, Overview, Replayed},
};

/// `GET /api/v1/crm-writes` and `POST /api/v1/crm-writes/{crm}/replay`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/crm-writes", overview)
        .post("/api/v1/crm-writes/{crm}/replay", replay)
}

async fn overview(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    Ok(Json(crm_writes::overview(&state.pool, state.now()).await?))
}

async fn replay(
    State(state): State<AppState>,
    Path(crm): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    Ok(Json(
        crm_writes::replay(&state.pool, &crm, state.now()).await?,
    ))
}
