//! Makes every error response problem+json (or leaves a SOAP fault as it is) and logs 5xx
//! causes once, inside the request span.

use axum::{
    extract::Request,
    http::{StatusCode, header},
    middleware::Next,
    response::Response,
};

use crate::{
    adapters::salesforce::soap,
    error::{InternalCause, PROBLEM_JSON, problem_response},
};

/// Rewrites bare error responses from layers and axum (413, 408, 405, rejected extractors)
/// as problem+json, and logs the cause attached by [`ApiError`](crate::error::ApiError).
pub async fn render_and_log(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error = %cause, "request refused for now");
        } else {
            tracing::error!(error = %cause, "request failed");
        }
    }
    // A SOAP fault (the Salesforce route's) is rendered already, for a client that reads
    // only SOAP.
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(PROBLEM_JSON.as_bytes())
                || v.as_bytes() == soap::CONTENT_TYPE.as_bytes()
        });
    if !status.is_client_error() && !status.is_server_error() || is_problem {
        return response;
    }
    let detail = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than the configured limit".to_owned()
        }
        StatusCode::REQUEST_TIMEOUT => {
            "the request took longer than the configured timeout".to_owned()
        }
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not accept that method".to_owned(),
        _ => {
            let (_, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_owned();
            return problem_response(
                status,
                if text.is_empty() {
                    "request refused".to_owned()
                } else {
                    text
                },
                Vec::new(),
            );
        }
    };
    let (parts, _) = response.into_parts();
    let mut rewritten = problem_response(status, detail, Vec::new());
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    rewritten
}
