//! The outbox: the operator's view of outbound delivery, and retrying one message.

use axum::{
    Json,
    extract::{Path, State},
};

use super::routes::Routes;
use crate::{
    app::AppState,
    domain::parse_message_id,
    error::ApiError,
    usecase::deliveries_admin::{self, Overview, Retried},
};

/// `GET /api/v1/outbox` and `POST /api/v1/outbox/messages/{id}/retry`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/outbox", overview)
        .post("/api/v1/outbox/messages/{id}/retry", retry)
}

async fn overview(State(state): State<AppState>) -> Result<Json<Overview>, ApiError> {
    Ok(Json(
        deliveries_admin::overview(&state.pool, state.now()).await?,
    ))
}

/// `id` is the message's public id (`msg_42`) or its bare number.
async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Retried>, ApiError> {
    let id = parse_message_id(&id).ok_or_else(|| {
        ApiError::field("id", format!("{id:?} is not a message id such as msg_42"))
    })?;
    Ok(Json(
        deliveries_admin::retry_message(&state.pool, id, state.now()).await?,
    ))
}
