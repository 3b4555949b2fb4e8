//! The problem types (RFC 9457 §3.1.1): the stable `type` URI of every kind of error the
//! service answers with. Clients may branch on these URIs; they never change once published,
//! and the OpenAPI document and `docs/api.md` list them from [`ProblemType::ALL`].

use axum::http::StatusCode;

/// Every kind of error; each has its own status, so the status alone tells the type of an
/// error produced outside [`ApiError`](crate::error::ApiError) (by a layer or by axum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    MalformedRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Validation,
    Internal,
    Unavailable,
}

/// The prefix of every problem type URI.
pub const BASE: &str = "https://leadrouter.dev/problems/";

/// The `type` of an error the service has no type of its own for (RFC 9457 §4.2.1): its
/// `title` is the status phrase and says all there is.
pub const ABOUT_BLANK: &str = "about:blank";

impl ProblemType {
    /// Every problem type, in status order.
    pub const ALL: [ProblemType; 12] = [
        Self::MalformedRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::Validation,
        Self::Internal,
        Self::Unavailable,
    ];

    /// The last segment of the URI.
    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed-request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not-found",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::RequestTimeout => "request-timeout",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::Validation => "validation",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }

    /// The `type` member: `https://leadrouter.dev/problems/<slug>`.
    pub fn uri(self) -> String {
        format!("{BASE}{}", self.slug())
    }

    /// The status every problem of this type is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The type of an error answered with `status`, if the service has one.
    pub fn for_status(status: StatusCode) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.status() == status)
    }

    /// What a problem of this type means and what the client should do, for the docs.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::MalformedRequest => {
                "The request cannot be read: the body is not well-formed JSON (or XML on the \
                 SOAP route). Fix the request; retrying it unchanged fails the same way."
            }
            Self::Unauthorized => {
                "No API key, or one that is unknown or revoked; on the vendor webhooks, a \
                 signature, token or secret header that does not verify. Send \
                 `Authorization: Bearer <key>`."
            }
            Self::Forbidden => {
                "The key is valid but its role may not call this endpoint, or the lead is not \
                 the caller's (a rep acts on their own leads, a manager on their team's)."
            }
            Self::NotFound => "No such resource (lead, rep, account, key...) or no such endpoint.",
            Self::MethodNotAllowed => "The endpoint exists but does not take this method.",
            Self::RequestTimeout => {
                "The request took longer than the configured timeout; nothing was committed."
            }
            Self::Conflict => {
                "The request is valid but the resource's state forbids it (e.g. accepting a \
                 lead below the thresholds, whose scores come as extension members). \
                 Re-read the resource before trying again."
            }
            Self::PayloadTooLarge => "The body is larger than the configured limit.",
            Self::UnsupportedMediaType => {
                "The body's `Content-Type` is not one the endpoint takes (JSON, or CSV for the \
                 account import)."
            }
            Self::Validation => {
                "The body or query is well-formed but some fields are wrong; `errors` names \
                 each one (a JSON path such as `[3].lead.email`, or a query parameter). \
                 Nothing was written."
            }
            Self::Internal => "A bug; the cause is logged, never shown. Nothing was committed.",
            Self::Unavailable => {
                "The database is unreachable or overloaded, a transaction lost a race, or a \
                 vendor API the request needs cannot be reached. Nothing was committed; retry \
                 after `Retry-After` seconds."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_type_has_its_own_slug_and_its_own_status() {
        let slugs: HashSet<_> = ProblemType::ALL.iter().map(|t| t.slug()).collect();
        let statuses: HashSet<_> = ProblemType::ALL.iter().map(|t| t.status()).collect();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
        assert_eq!(statuses.len(), ProblemType::ALL.len());
        for kind in ProblemType::ALL {
            assert_eq!(ProblemType::for_status(kind.status()), Some(kind));
        }
    }

    #[test]
    fn every_api_error_has_a_type_of_its_own_status() {
        use crate::error::ApiError;
        let errors = [
            ApiError::MalformedJson(String::new()),
            ApiError::MalformedXml(String::new()),
            ApiError::field("f", "d"),
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::UnsupportedMediaType(String::new()),
            ApiError::Conflict(String::new()),
            ApiError::ConflictWithFacts {
                detail: String::new(),
                facts: serde_json::Map::new(),
            },
            ApiError::Unavailable(String::new()),
            ApiError::DatabaseUnreachable(String::new()),
            ApiError::UpstreamUnavailable {
                service: "x",
                cause: String::new(),
                retry_after_secs: 1,
            },
            ApiError::Internal(anyhow::anyhow!("x")),
        ];
        for error in errors {
            assert!(
                ProblemType::for_status(error.status()).is_some(),
                "{error:?}"
            );
        }
    }

    #[test]
    fn uris_are_absolute_under_the_base() {
        assert_eq!(
            ProblemType::Validation.uri(),
            "https://leadrouter.dev/problems/validation"
        );
        assert_eq!(ProblemType::for_status(StatusCode::IM_A_TEAPOT), None);
    }
}
