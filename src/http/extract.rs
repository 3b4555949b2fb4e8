//! Request extractors whose rejections are problem+json naming what is wrong.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

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
        json::decode(&body)
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

/// A UUID from the path, or a 422 naming `field`.
pub fn uuid(field: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::field(field, format!("{raw:?} is not a UUID")))
}

/// `limit` (1 to 500, default 50) and `offset` (default 0) of a list query.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl Paging {
    /// Reads the paging parameters of `query`.
    pub fn from_query(query: &HashMap<String, String>) -> Result<Self, ApiError> {
        let number = |name: &str, default: i64, range: std::ops::RangeInclusive<i64>| match query
            .get(name)
        {
            None => Ok(default),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    ApiError::field(
                        name,
                        format!(
                            "{raw:?} is not a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        };
        Ok(Paging {
            limit: number("limit", 50, 1..=500)?,
            offset: number("offset", 0, 0..=i64::from(i32::MAX))?,
        })
    }
}

/// Refuses a body that is not declared JSON (415), for handlers that read raw bytes.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    match media_type(headers) {
        Some(media) if is_json(&media) => Ok(()),
        other => Err(unsupported(other.as_deref(), "application/json")),
    }
}

/// Refuses a body that is not declared XML (415): `text/xml`, as SOAP 1.1 senders declare it,
/// `application/xml`, or a `+xml` type.
pub fn require_xml(headers: &HeaderMap) -> Result<(), ApiError> {
    match media_type(headers) {
        Some(media)
            if media == "text/xml" || media == "application/xml" || media.ends_with("+xml") =>
        {
            Ok(())
        }
        other => Err(unsupported(other.as_deref(), "text/xml")),
    }
}

/// Refuses a request whose path or query holds an encoded NUL (`%00`), which no text column
/// can store, with a 422 naming the query parameter (or `path`).
pub async fn refuse_nul_in_uri(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match nul_in_uri(request.uri()) {
        Some(field) => ApiError::field(field, json::NUL_DETAIL).into_response(),
        None => next.run(request).await,
    }
}

/// Where `uri` holds `%00`: `path`, or the name of the query parameter.
fn nul_in_uri(uri: &axum::http::Uri) -> Option<String> {
    if uri.path().contains("%00") {
        return Some("path".to_owned());
    }
    let pair = uri.query()?.split('&').find(|pair| pair.contains("%00"))?;
    let name = pair.split('=').next().unwrap_or_default();
    Some(if name.is_empty() || name.contains("%00") {
        "query".to_owned()
    } else {
        name.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoded_nul_is_found_in_the_path_or_named_by_its_parameter() {
        let at = |uri: &str| nul_in_uri(&uri.parse().unwrap());
        assert_eq!(
            at("/api/v1/leads?email=a%00b@x.io").as_deref(),
            Some("email")
        );
        assert_eq!(at("/api/v1/accounts/acme%00.io").as_deref(), Some("path"));
        assert_eq!(at("/api/v1/leads?x%00=1").as_deref(), Some("query"));
        assert_eq!(
            at("/api/v1/leads?email=a%2500@x.io"),
            None,
            "%25 is a percent sign"
        );
    }
}
