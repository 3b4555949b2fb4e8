//! One endpoint's description for the document, and the `const` builders the table in
//! `operations.rs` is written with (a `const` table, like `policy::POLICY`, so that it is
//! data, read by a test and by the document alike).

use super::schemas::Body;

/// A query parameter: its name and what it means.
pub type Query = (&'static str, &'static str);

/// One endpoint's description.
#[derive(Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub query: &'static [Query],
    pub request: Option<Body>,
    /// Whether the request body may be left out.
    pub body_optional: bool,
    /// The success status: 200, or 201 for a creation.
    pub status: u16,
    pub response: Body,
    /// Error statuses beyond those every operation of its kind may answer (see
    /// `super::errors_of`), e.g. 409 for a state that forbids the action.
    pub errors: &'static [u16],
    /// Whether the operation reads or writes the database, and so may answer 503.
    pub stored: bool,
}

pub(super) const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        query: &[],
        request: None,
        body_optional: false,
        status: 200,
        response: Body::Free("The result."),
        errors: &[],
        stored: true,
    }
}

pub(super) const fn get(path: &'static str, summary: &'static str) -> Operation {
    op("GET", path, summary)
}

pub(super) const fn post(path: &'static str, summary: &'static str) -> Operation {
    op("POST", path, summary)
}

pub(super) const fn patch(path: &'static str, summary: &'static str) -> Operation {
    op("PATCH", path, summary)
}

impl Operation {
    pub(super) const fn query(self, query: &'static [Query]) -> Self {
        Self { query, ..self }
    }

    pub(super) const fn takes(self, body: Body) -> Self {
        Self {
            request: Some(body),
            ..self
        }
    }

    /// Like [`Operation::takes`], for a body that may be left out.
    pub(super) const fn may_take(self, body: Body) -> Self {
        Self {
            request: Some(body),
            body_optional: true,
            ..self
        }
    }

    pub(super) const fn answers(self, response: Body) -> Self {
        Self { response, ..self }
    }

    pub(super) const fn creates(self, response: Body) -> Self {
        Self {
            status: 201,
            response,
            ..self
        }
    }

    pub(super) const fn errors(self, errors: &'static [u16]) -> Self {
        Self { errors, ..self }
    }

    /// Answered from memory: no database, so never a 503 for it.
    pub(super) const fn static_(self) -> Self {
        Self {
            stored: false,
            ..self
        }
    }
}
