//! Salesforce Outbound Messages: `POST /webhooks/salesforce/{token}`.

use axum::{
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, header, response::Parts},
    response::{IntoResponse, Response},
};

use super::{extract::require_xml, routes::Routes};
use crate::{
    adapters::salesforce::{self, soap},
    app::AppState,
    error::ApiError,
    usecase::inbound,
};

/// The route path, which answers only in SOAP (see [`as_soap_fault`]).
pub(super) const PATH: &str = "/webhooks/salesforce/{token}";

/// `POST /webhooks/salesforce/{token}`.
pub fn router() -> Routes {
    Routes::default().post(PATH, receive)
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
        return ApiError::NotFound(format!("endpoint POST {PATH}")).into_response();
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
    let detail = match &error {
        ApiError::Validation(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.detail))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.detail(),
    };
    let (parts, _) = error.into_response().into_parts();
    as_soap_fault(parts, &detail)
}

/// An error response as a SOAP fault saying `detail`: a `soapenv:Client` fault for a 4xx,
/// `soapenv:Server` otherwise. The status, the other headers and the extensions stay. Also
/// used for the errors the shared layers make on this route (413, 408, 405), which
/// Salesforce would otherwise get as problem+json.
pub(super) fn as_soap_fault(mut parts: Parts, detail: &str) -> Response {
    let client = parts.status.is_client_error();
    let headers = &mut parts.headers;
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(soap::CONTENT_TYPE),
    );
    headers.remove(header::CONTENT_LENGTH);
    // The problem's `Bearer` challenge names a scheme this route does not take.
    headers.remove(header::WWW_AUTHENTICATE);
    Response::from_parts(parts, Body::from(soap::fault(client, detail)))
}
