//! Request extractors whose rejections are [`ApiError`]s, so every bad input gets the same
//! problem+json answer naming the field.

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{adapters::json, error::ApiError};

/// A JSON body decoded into `T`; wrong shapes are 422s naming the JSON path.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A body past the size limit keeps axum's 413, which the problem layer renders.
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        json::decode(&body)
            .map(ApiJson)
            .map_err(ApiError::into_response)
    }
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
