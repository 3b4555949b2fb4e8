//! The one error type clients see, and its one mapping to `application/problem+json`
//! (RFC 9457).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem with one field of the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where the problem is: a JSON path such as `[3].lead.email`, or a query parameter.
    pub field: String,
    pub detail: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// Every outcome other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The request is well-formed but some fields are wrong; nothing was written.
    #[error("invalid request: {0:?}")]
    Validation(Vec<FieldError>),
    /// No API key, or one that is unknown or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// A valid API key whose role may not do this, or a lead the caller may not act on.
    #[error("{0}")]
    Forbidden(String),
    /// `{0}` names what is missing, as a noun phrase (`lead 0193…`, `endpoint GET /x`): the
    /// detail reads "{0} not found".
    #[error("{0} not found")]
    NotFound(String),
    /// The body comes in a format the endpoint does not take (`Content-Type`).
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A conflict whose numbers the client needs (e.g. scores against thresholds); `facts`
    /// become extension members of the problem.
    #[error("conflict: {detail}")]
    ConflictWithFacts {
        detail: String,
        facts: serde_json::Map<String, serde_json::Value>,
    },
    /// The database is overloaded or a transaction lost a race; the client should retry.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A single-field validation failure.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, detail)])
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) | ApiError::ConflictWithFacts { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.detail),
                many => format!("{} fields are invalid; see errors", many.len()),
            },
            // The cause goes to the log (see `http::problems`), never to the client.
            ApiError::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => ApiError::NotFound("resource".to_owned()),
            sqlx::Error::PoolTimedOut => ApiError::Unavailable("the database is busy".to_owned()),
            sqlx::Error::Database(db) => match db.code().as_deref() {
                // serialization_failure, deadlock_detected, lock_not_available: safe to retry.
                Some("40001" | "40P01" | "55P03") => {
                    ApiError::Unavailable("a concurrent update got in the way".to_owned())
                }
                _ => ApiError::Internal(error.into()),
            },
            _ => ApiError::Internal(error.into()),
        }
    }
}

/// The cause of a 5xx, attached to the response for the logging middleware.
#[derive(Clone, Debug)]
pub struct InternalCause(pub std::sync::Arc<String>);

/// An RFC 9457 problem body.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extension members (RFC 9457 §3.2).
    #[serde(flatten)]
    pub facts: serde_json::Map<String, serde_json::Value>,
}

/// Builds a problem response; also used for errors produced by middleware (413, 408, 405).
pub fn problem_response(status: StatusCode, detail: String, errors: Vec<FieldError>) -> Response {
    problem_with_facts(status, detail, errors, serde_json::Map::new())
}

fn problem_with_facts(
    status: StatusCode,
    detail: String,
    errors: Vec<FieldError>,
    facts: serde_json::Map<String, serde_json::Value>,
) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let slug = title.to_lowercase().replace(' ', "-");
    let body = Problem {
        type_: format!("/problems/{slug}"),
        title,
        status: status.as_u16(),
        detail,
        errors,
        facts,
    };
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = self.detail();
        let cause = match &self {
            ApiError::Internal(e) => Some(format!("{e:#}")),
            ApiError::Unavailable(reason) => Some(reason.clone()),
            _ => None,
        };
        let (errors, facts) = match self {
            ApiError::Validation(errors) => (errors, serde_json::Map::new()),
            ApiError::ConflictWithFacts { facts, .. } => (Vec::new(), facts),
            _ => (Vec::new(), serde_json::Map::new()),
        };
        let mut response = problem_with_facts(status, detail, errors, facts);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        // RFC 9110 §11.6.1: a 401 says which scheme would be accepted.
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(cause) = cause {
            response
                .extensions_mut()
                .insert(InternalCause(std::sync::Arc::new(cause)));
        }
        response
    }
}
