//! HubSpot app webhooks and workflow webhooks: `POST /webhooks/hubspot`.

use std::collections::HashMap;

use axum::{
    Json,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, Method, Uri},
    response::{IntoResponse, Response},
};

use super::{extract::require_json, inbound::vendor_problem, routes::Routes};
use crate::{
    adapters::hubspot::{self, signature},
    app::AppState,
    domain::EventType,
    error::ApiError,
    usecase::{self, inbound::Receipt},
};

/// `POST /webhooks/hubspot`.
pub fn router() -> Routes {
    Routes::default().post("/webhooks/hubspot", receive)
}

/// Answered only after the commit; a dead letter is a 200 too (HubSpot would otherwise
/// redeliver for a day what no redelivery can fix). While the connector is disabled the route
/// answers like an unknown path.
async fn receive(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.settings.sources.hubspot.enabled {
        return ApiError::NotFound("endpoint POST /webhooks/hubspot".to_owned()).into_response();
    }
    match accept(&state, &method, &uri, &query, &headers, &body).await {
        Ok(receipt) => Json(receipt).into_response(),
        Err(error) => vendor_problem(error),
    }
}

/// Signature first, on the raw request, then the body.
async fn accept(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Receipt, ApiError> {
    let settings = &state.settings.sources.hubspot;
    let now = state.now();
    let secret = settings.client_secret.as_ref().map_or("", |s| s.expose());
    let public = public_uri(settings.public_base_url.as_deref().unwrap_or(""), uri);
    let signed = signature::Signed {
        method: method.as_str(),
        uri: &public,
        body,
        headers,
    };
    signature::verify(&signed, secret, now)?;
    require_json(headers)?;
    let event = match query.get("event") {
        Some(name) => name
            .parse::<EventType>()
            .map_err(|e| ApiError::field("event", e.to_string()))?,
        None => EventType::ProfileUpdate,
    };
    let payload = hubspot::parse(body)?;
    let limits = state.limits();
    usecase::hubspot::receive(
        &state.pool,
        &state.group_commit,
        state.hubspot(&limits),
        &payload,
        event,
        now,
        &state.rules,
    )
    .await
}

/// The URI HubSpot called: the configured public base and the path and query received.
fn public_uri(base: &str, uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{}{path}", base.trim_end_matches('/'))
}
