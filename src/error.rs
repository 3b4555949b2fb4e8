//! The one error type clients see, and its one mapping to `application/problem+json`
//! (RFC 9457).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::problem_types::{self, ProblemType};

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
    /// The body is not well-formed XML (the SOAP connectors).
    #[error("malformed XML: {0}")]
    MalformedXml(String),
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
    /// The database cannot be reached, or the connection to it was lost (see
    /// [`DbFailure::Unreachable`]). Answered like [`ApiError::Unavailable`]; kept apart so
    /// that ingest does not retry, event by event, against a database that is down.
    #[error("the database cannot be reached: {0}")]
    DatabaseUnreachable(String),
    /// A vendor API the request depends on cannot be reached, refused or is rate limiting
    /// us: 503, with its own `Retry-After` when it gave one, so the vendor redelivers.
    #[error("{service} cannot be reached: {cause}")]
    UpstreamUnavailable {
        service: &'static str,
        cause: String,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Internal(anyhow::Error),
}

/// What a 503 asks the client to wait before retrying, in seconds (`Retry-After`). Short:
/// a lost race clears at once, and a database outage is noticed by the next request anyway.
pub const RETRY_AFTER_SECS: u64 = 1;

impl ApiError {
    /// A single-field validation failure.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, detail)])
    }

    /// The HTTP status this outcome is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::MalformedXml(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Conflict(_) | ApiError::ConflictWithFacts { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable(_)
            | ApiError::DatabaseUnreachable(_)
            | ApiError::UpstreamUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client is told: the `detail` of the problem (or of a SOAP fault).
    pub fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.detail),
                many => format!("{} fields are invalid; see errors", many.len()),
            },
            // The cause goes to the log (see `http::problems`), never to the client.
            ApiError::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            // The driver's words go to the log; the client learns only to come back.
            ApiError::DatabaseUnreachable(_) => {
                "the database cannot be reached right now; retry shortly".to_owned()
            }
            ApiError::UpstreamUnavailable { service, .. } => {
                format!(
                    "{service} cannot be reached right now, so nothing was stored; retry shortly"
                )
            }
            other => other.to_string(),
        }
    }
}

/// What a database error means for the client; [`classify`] decides, in one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbFailure {
    /// No such row: 404.
    NotFound,
    /// A transaction lost a race (serialization failure, deadlock, lock not available): 503,
    /// and safe to retry at once.
    Contention,
    /// The database cannot be reached or the connection to it was lost: refused, reset,
    /// terminated by an administrator, not accepting connections, out of connection slots,
    /// an I/O error, or no pooled connection within the acquire timeout. 503.
    Unreachable,
    /// A text value PostgreSQL cannot store (a NUL character): 422 on `body`.
    UnstorableText,
    /// Anything else is a bug or a broken invariant: 500.
    Other,
}

/// Classifies a database error by its kind and, for errors from PostgreSQL, its SQLSTATE
/// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
pub fn classify(error: &sqlx::Error) -> DbFailure {
    match error {
        sqlx::Error::RowNotFound => DbFailure::NotFound,
        // A backend killed under a request can surface as a socket error, a TLS error, or a
        // message the driver did not expect; the pool gives up or is gone.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbFailure::Unreachable,
        // 55000 (object_not_in_prerequisite_state) says "database … is not currently
        // accepting connections" when connections are switched off, and means a bug
        // elsewhere (a sequence's currval before nextval, say).
        sqlx::Error::Database(db) if db.code().as_deref() == Some("55000") => {
            if db.message().contains("accepting connections") {
                DbFailure::Unreachable
            } else {
                DbFailure::Other
            }
        }
        sqlx::Error::Database(db) => classify_sqlstate(db.code().as_deref().unwrap_or("")),
        _ => DbFailure::Other,
    }
}

fn classify_sqlstate(code: &str) -> DbFailure {
    match code {
        // serialization_failure, deadlock_detected, lock_not_available.
        "40001" | "40P01" | "55P03" => DbFailure::Contention,
        // admin_shutdown, crash_shutdown, cannot_connect_now; io_error.
        "57P01" | "57P02" | "57P03" | "58030" => DbFailure::Unreachable,
        // Class 08, connection exception; class 53, insufficient resources (53300
        // too_many_connections, out of memory or disk).
        _ if code.starts_with("08") || code.starts_with("53") => DbFailure::Unreachable,
        // character_not_in_repertoire, untranslatable_character.
        "22021" | "22P05" => DbFailure::UnstorableText,
        _ => DbFailure::Other,
    }
}

/// The client's answer for a classified database error; `None` for [`DbFailure::Other`].
fn known_db_error(error: &sqlx::Error) -> Option<ApiError> {
    Some(match classify(error) {
        DbFailure::NotFound => ApiError::NotFound("resource".to_owned()),
        // Counted here, where a fault becomes a 503, so that the metric means what clients
        // see (a lost race that ingest retries is counted too: it cost a round trip).
        DbFailure::Contention => {
            crate::metrics::db_error("contention");
            ApiError::Unavailable("a concurrent update got in the way".to_owned())
        }
        DbFailure::Unreachable => {
            crate::metrics::db_error("unreachable");
            ApiError::DatabaseUnreachable(error.to_string())
        }
        DbFailure::UnstorableText => ApiError::field(
            "body",
            "a text value holds a character PostgreSQL cannot store (NUL)",
        ),
        DbFailure::Other => return None,
    })
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        known_db_error(&error).unwrap_or_else(|| ApiError::Internal(error.into()))
    }
}

/// An outage or a lost race keeps its meaning however much context wraps it, so neither is
/// a 500 because it passed through `anyhow`. Anything else wrapped is a bug: a row that had
/// to exist and did not is a logged 500, not a 404.
impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        let known = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
            .filter(|db| matches!(classify(db), DbFailure::Unreachable | DbFailure::Contention))
            .and_then(known_db_error);
        known.unwrap_or(ApiError::Internal(error))
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
    // Each ApiError variant's status has its own type, so the status decides here too for
    // the errors that layers and axum produce.
    let type_ = ProblemType::for_status(status)
        .map_or_else(|| problem_types::ABOUT_BLANK.to_owned(), ProblemType::uri);
    let body = Problem {
        type_,
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
            ApiError::Unavailable(reason) | ApiError::DatabaseUnreachable(reason) => {
                Some(reason.clone())
            }
            ApiError::UpstreamUnavailable { .. } => Some(self.to_string()),
            _ => None,
        };
        let retry_after = match &self {
            ApiError::UpstreamUnavailable {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => RETRY_AFTER_SECS,
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
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
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

#[cfg(test)]
mod tests {
    use std::{borrow::Cow, io};

    use anyhow::Context;

    use super::*;

    /// A PostgreSQL error with its SQLSTATE and message.
    #[derive(Debug)]
    struct Sqlstate(&'static str, &'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            self.1
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn db(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Sqlstate(code, "error")))
    }

    fn status_of(error: impl Into<ApiError>) -> StatusCode {
        error.into().status()
    }

    #[test]
    fn connection_failures_of_the_driver_and_the_pool_are_unreachable() {
        let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let reset = io::Error::new(io::ErrorKind::ConnectionReset, "reset");
        let errors = [
            sqlx::Error::Io(refused),
            sqlx::Error::Io(reset),
            sqlx::Error::Tls("handshake failed".into()),
            sqlx::Error::Protocol("unexpected message".to_owned()),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
        ];
        for error in errors {
            assert_eq!(classify(&error), DbFailure::Unreachable, "{error}");
            assert_eq!(status_of(error), StatusCode::SERVICE_UNAVAILABLE);
        }
    }

    #[test]
    fn connection_exceptions_class_08_are_unreachable() {
        for code in ["08000", "08001", "08003", "08006", "08P01"] {
            assert_eq!(classify(&db(code)), DbFailure::Unreachable, "{code}");
        }
    }

    #[test]
    fn shutdowns_and_refused_connections_are_unreachable() {
        // admin_shutdown (pg_terminate_backend), crash_shutdown, cannot_connect_now.
        for code in ["57P01", "57P02", "57P03"] {
            assert_eq!(classify(&db(code)), DbFailure::Unreachable, "{code}");
            assert_eq!(status_of(db(code)), StatusCode::SERVICE_UNAVAILABLE);
        }
        let refusing = sqlx::Error::Database(Box::new(Sqlstate(
            "55000",
            "database \"leadrouter\" is not currently accepting connections",
        )));
        assert_eq!(classify(&refusing), DbFailure::Unreachable);
        let bug = sqlx::Error::Database(Box::new(Sqlstate(
            "55000",
            "currval of sequence \"s\" is not yet defined in this session",
        )));
        assert_eq!(
            classify(&bug),
            DbFailure::Other,
            "55000 is not always an outage"
        );
    }

    #[test]
    fn insufficient_resources_class_53_and_io_errors_are_unreachable() {
        for code in ["53000", "53100", "53200", "53300", "53400", "58030"] {
            assert_eq!(classify(&db(code)), DbFailure::Unreachable, "{code}");
        }
    }

    #[test]
    fn lost_races_are_contention_and_retryable() {
        for code in ["40001", "40P01", "55P03"] {
            assert_eq!(classify(&db(code)), DbFailure::Contention, "{code}");
            assert!(matches!(ApiError::from(db(code)), ApiError::Unavailable(_)));
        }
    }

    #[test]
    fn text_postgres_cannot_store_is_a_422_on_the_body() {
        for code in ["22021", "22P05"] {
            assert_eq!(classify(&db(code)), DbFailure::UnstorableText, "{code}");
            let ApiError::Validation(errors) = ApiError::from(db(code)) else {
                panic!("{code} is a validation error");
            };
            assert_eq!(errors[0].field, "body");
        }
    }

    #[test]
    fn a_missing_row_is_a_404_and_other_errors_are_500s() {
        assert_eq!(classify(&sqlx::Error::RowNotFound), DbFailure::NotFound);
        assert_eq!(status_of(sqlx::Error::RowNotFound), StatusCode::NOT_FOUND);
        for code in ["23505", "42P01", "22P02"] {
            assert_eq!(classify(&db(code)), DbFailure::Other, "{code}");
            assert_eq!(status_of(db(code)), StatusCode::INTERNAL_SERVER_ERROR);
        }
        let decode = sqlx::Error::ColumnNotFound("x".to_owned());
        assert_eq!(classify(&decode), DbFailure::Other);
    }

    #[test]
    fn a_database_outage_wrapped_in_anyhow_context_is_still_a_503() {
        let wrapped = Err::<(), _>(db("57P01"))
            .context("reading the lead")
            .context("ingesting")
            .unwrap_err();
        let error = ApiError::from(wrapped);
        assert!(
            matches!(error, ApiError::DatabaseUnreachable(_)),
            "{error:?}"
        );
        let plain = ApiError::from(anyhow::anyhow!("a broken invariant"));
        assert_eq!(plain.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let missing = Err::<(), _>(sqlx::Error::RowNotFound)
            .context("reading a row that must exist")
            .unwrap_err();
        assert_eq!(
            ApiError::from(missing).status(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "a wrapped missing row is a bug, not a 404"
        );
    }

    #[test]
    fn every_503_says_when_to_retry() {
        let response = ApiError::from(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[header::RETRY_AFTER],
            RETRY_AFTER_SECS.to_string().as_str()
        );
    }
}
