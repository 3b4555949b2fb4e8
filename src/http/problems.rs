//! Makes every error response problem+json, or on the Salesforce route a SOAP fault, and logs
//! 5xx causes once, inside the request span.

use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header, response::Parts},
    middleware::Next,
    response::Response,
};

use super::salesforce;
use crate::{
    adapters::salesforce::soap,
    app::AppState,
    error::{InternalCause, PROBLEM_JSON, problem_response},
};

/// How much of an error body is read to reword it.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Rewrites bare error responses from layers and axum (413, 408, 405, rejected extractors)
/// as problem+json, and logs the cause attached by [`ApiError`](crate::error::ApiError).
///
/// The Salesforce route, while enabled, answers only in SOAP (Salesforce reads nothing
/// else): there every error that is not a SOAP fault already, bare or problem+json (from a
/// layer in front of the handler), becomes one.
pub async fn render_and_log(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let soap_route = state.settings.sources.salesforce.enabled
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| path.as_str() == salesforce::PATH);
    let response = next.run(request).await;
    let status = response.status();
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %cause, "request refused for now");
        } else {
            tracing::error!(error = %cause, "request failed");
        }
    }
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE);
    if content_type.is_some_and(|v| v.as_bytes() == soap::CONTENT_TYPE.as_bytes()) {
        return response;
    }
    if content_type.is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes())) {
        if !soap_route {
            return response;
        }
        let (parts, body) = response.into_parts();
        let detail = problem_detail(&read(body).await).unwrap_or_else(|| reason(status));
        return salesforce::as_soap_fault(parts, &detail);
    }
    let (parts, body) = response.into_parts();
    let (detail, keep_headers) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "the request body is larger than the configured limit".to_owned(),
            true,
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "the request took longer than the configured timeout".to_owned(),
            true,
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("this endpoint does not accept that method".to_owned(), true)
        }
        _ => {
            let text = String::from_utf8_lossy(&read(body).await).trim().to_owned();
            let detail = if text.is_empty() {
                "request refused".to_owned()
            } else {
                text
            };
            (detail, false)
        }
    };
    if soap_route {
        return salesforce::as_soap_fault(parts, &detail);
    }
    let mut rewritten = problem_response(status, detail, Vec::new());
    if keep_headers {
        copy_headers(&parts, &mut rewritten);
    }
    rewritten
}

/// The headers of `parts` on `response`, but for its own content type and length.
fn copy_headers(parts: &Parts, response: &mut Response) {
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            response.headers_mut().insert(name, value.clone());
        }
    }
}

/// Up to [`ERROR_BODY_LIMIT`] bytes of `body`; nothing if it is longer or fails.
async fn read(body: Body) -> bytes::Bytes {
    axum::body::to_bytes(body, ERROR_BODY_LIMIT)
        .await
        .unwrap_or_default()
}

fn reason(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("Error").to_owned()
}

/// What a problem says: each of its `errors` as `field: detail`, else its `detail`.
fn problem_detail(body: &[u8]) -> Option<String> {
    let problem: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors: Vec<String> = problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(format!(
                "{}: {}",
                e["field"].as_str()?,
                e["detail"].as_str()?
            ))
        })
        .collect();
    if errors.is_empty() {
        problem["detail"].as_str().map(str::to_owned)
    } else {
        Some(errors.join("; "))
    }
}
