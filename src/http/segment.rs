//! Segment's Webhooks destination: `POST /webhooks/segment`.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::{extract::require_json, inbound::vendor_problem, routes::Routes};
use crate::{
    adapters::segment::{self, Payload},
    app::AppState,
    error::ApiError,
    usecase::{inbound::Receipt, segment as usecase},
};

/// `POST /webhooks/segment`.
pub fn router() -> Routes {
    Routes::default().post("/webhooks/segment", receive)
}

/// 200 with a summary once every message is committed (as an event or a dead letter). The
/// signature is checked before the body is parsed; while the connector is disabled the route
/// answers like an unknown path.
async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match accept(&state, &headers, &body).await {
        Ok(receipt) => Json(receipt).into_response(),
        Err(error) => vendor_problem(error),
    }
}

/// The signature first (before the body is parsed), then the body and the store.
async fn accept(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Receipt, ApiError> {
    let settings = &state.settings.sources.segment;
    if !settings.enabled {
        return Err(ApiError::NotFound(
            "endpoint POST /webhooks/segment".to_owned(),
        ));
    }
    let signature = headers
        .get(segment::SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    segment::verify_signature(signature, body, settings)?;
    require_json(headers)?;
    let limits = state.limits();
    let payload = Payload::parse(body, &limits)?;
    let now = state.now();
    usecase::receive(
        &state.pool,
        &state.group_commit,
        now,
        &payload,
        settings,
        &limits,
    )
    .await
}
