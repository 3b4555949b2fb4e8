//! Marketo webhooks: `POST /webhooks/marketo`.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::{extract::require_json, inbound::vendor_problem, routes::Routes};
use crate::{
    adapters::marketo,
    app::AppState,
    error::ApiError,
    usecase::inbound::{self, Receipt},
};

/// `POST /webhooks/marketo`.
pub fn router() -> Routes {
    Routes::default().post("/webhooks/marketo", receive)
}

/// 200 once the call is committed (as an event or a dead letter). While the connector is
/// disabled the route answers like an unknown path.
async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !state.settings.sources.marketo.enabled {
        return ApiError::NotFound("endpoint POST /webhooks/marketo".to_owned()).into_response();
    }
    match accept(&state, &headers, &body).await {
        Ok(received) => Json(received).into_response(),
        Err(error) => vendor_problem(error),
    }
}

/// The secret first (before the body is even looked at), then the media type, the mapping
/// and the store.
async fn accept(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Receipt, ApiError> {
    let settings = &state.settings.sources.marketo;
    let presented = headers.get(settings.header.as_str()).map(|v| v.as_bytes());
    marketo::verify_secret(presented, settings)?;
    require_json(headers)?;
    let now = state.now();
    let mapped = marketo::receive(body, settings, &state.limits(), now)?;
    inbound::receive(
        &state.pool,
        &state.group_commit,
        now,
        marketo::SOURCE,
        mapped,
    )
    .await
}
