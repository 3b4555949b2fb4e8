//! Marketo webhooks: `POST /webhooks/marketo`.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{extract::require_json, routes::Routes};
use crate::{
    adapters::marketo,
    app::AppState,
    error::ApiError,
    usecase::{
        inbound,
        ingest::{EventStatus, IngestOutcome},
    },
};

/// `POST /webhooks/marketo`.
pub fn router() -> Routes {
    Routes::default().post("/webhooks/marketo", receive)
}

/// What a call did, once committed; Marketo's response mappings can read it.
#[derive(Serialize)]
struct Received {
    /// The call's idempotency key (`lead_id:event:occurred_at`).
    event_id: String,
    /// `accepted`, `duplicate`, or `dead_letter` (kept, replayable, not scored).
    status: &'static str,
    /// Why a dead letter could not be mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// What ingest did with the event.
    results: Vec<IngestOutcome>,
}

/// 200 once the call is committed (as an event or a dead letter). While the connector is
/// disabled the route answers like an unknown path.
async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if !state.settings.sources.marketo.enabled {
        return ApiError::NotFound("endpoint POST /webhooks/marketo".to_owned()).into_response();
    }
    match accept(&state, &headers, &body).await {
        Ok(received) => Json(received).into_response(),
        Err(error) => {
            let mut response = error.into_response();
            // The problem's `Bearer` challenge names a scheme this route does not take.
            response.headers_mut().remove(header::WWW_AUTHENTICATE);
            response
        }
    }
}

/// The secret first (before the body is even looked at), then the media type, the mapping
/// and the store.
async fn accept(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Received, ApiError> {
    let settings = &state.settings.sources.marketo;
    let presented = headers.get(settings.header.as_str()).map(|v| v.as_bytes());
    marketo::verify_secret(presented, settings)?;
    require_json(headers)?;
    let now = state.now();
    let mapped = marketo::receive(body, settings, &state.limits(), now)?;
    let letter = mapped
        .unmappable
        .first()
        .map(|u| (u.event_id.clone(), u.reason.clone()));
    let results = inbound::receive(
        &state.pool,
        &state.group_commit,
        now,
        marketo::SOURCE,
        mapped,
    )
    .await?;
    Ok(match (letter, results.first()) {
        (Some((event_id, reason)), _) => Received {
            event_id,
            status: "dead_letter",
            reason: Some(reason),
            results,
        },
        (None, Some(outcome)) => Received {
            event_id: outcome.event_id.clone(),
            status: match outcome.status {
                EventStatus::Accepted => "accepted",
                EventStatus::Duplicate => "duplicate",
            },
            reason: None,
            results,
        },
        (None, None) => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "a Marketo call mapped to nothing"
            )));
        }
    })
}
