//! Request extractors whose rejections are problem+json naming what is wrong.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;

use crate::{adapters::json, error::ApiError};

/// A JSON body of type `T`. A missing or non-JSON `Content-Type` is a 415; a wrong type or
/// unknown field a 422 naming its JSON path.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    // Reading the body can fail for reasons of its own (the size limit: 413), which axum
    // already renders; the problem layer turns those into problem+json.
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match media_type(request.headers()) {
            Some(media) if is_json(&media) => {}
            other => return Err(unsupported(other.as_deref(), "application/json").into_response()),
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        json::from_slice(&body)
            .map(ApiJson)
            .map_err(IntoResponse::into_response)
    }
}

/// The media type of the body (`Content-Type` without parameters, lower-cased).
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// `application/json` or a `+json` type such as `application/merge-patch+json`.
pub fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// The 415 for a body in `got` (none when `None`), naming what the endpoint takes.
pub fn unsupported(got: Option<&str>, expected: &str) -> ApiError {
    ApiError::UnsupportedMediaType(match got {
        Some(got) => format!("this endpoint does not take {got}; send {expected}"),
        None => format!("the request has no Content-Type; send {expected}"),
    })
}
