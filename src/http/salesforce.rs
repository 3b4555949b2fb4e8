//! Salesforce Outbound Messages: `POST /webhooks/salesforce/{token}`.

use axum::{
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::{extract::require_xml, routes::Routes};
use crate::{
    adapters::salesforce::{self, soap},
    app::AppState,
    error::ApiError,
    usecase::inbound,
};

/// `POST /webhooks/salesforce/{token}`.
pub fn router() -> Routes {
    Routes::default().post("/webhooks/salesforce/{token}", receive)
}

/// The Ack once every notification is committed (as an event or a dead letter), else a SOAP
/// fault. While the connector is disabled the route answers like an unknown path.
async fn receive(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !state.settings.sources.salesforce.enabled {
        return ApiError::NotFound("endpoint POST /webhooks/salesforce/{token}".to_owned())
            .into_response();
    }
    match accept(&state, &token, &headers, &body).await {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(soap::CONTENT_TYPE),
            )],
            soap::ACK,
        )
            .into_response(),
        Err(error) => soap_fault(error),
    }
}

/// Token first (before the body is even parsed), then the envelope's organization, then the
/// mapping, then the store.
async fn accept(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let settings = &state.settings.sources.salesforce;
    salesforce::verify_token(token, settings)?;
    require_xml(headers)?;
    let now = state.now();
    let mapped = salesforce::receive(body, settings, &state.limits(), now)?;
    let source = salesforce::SOURCE;
    inbound::receive(&state.pool, &state.group_commit, now, source, mapped).await?;
    Ok(())
}

/// `error` as the SOAP fault Salesforce reads, keeping its status and headers (a 503's
/// `Retry-After`) and the cause the logging layer reads.
fn soap_fault(error: ApiError) -> Response {
    let client = error.status().is_client_error();
    let detail = match &error {
        ApiError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.detail))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.detail(),
    };
    let mut response = error.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(soap::CONTENT_TYPE),
    );
    headers.remove(header::CONTENT_LENGTH);
    // The problem's `Bearer` challenge names a scheme this route does not take.
    headers.remove(header::WWW_AUTHENTICATE);
    *response.body_mut() = Body::from(soap::fault(client, &detail));
    response
}
