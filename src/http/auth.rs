//! Authentication and authorization: one layer in front of every route. It resolves the API
//! key a request carries to its [`Caller`], checks the caller's role against the policy
//! table (`http::policy`), and leaves the caller in the request for handlers that need it.

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, MatchedPath, Request, State},
    http::{HeaderMap, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{
    policy::{self, Access},
    routes::Endpoint,
};
use crate::{app::AppState, domain::Caller, error::ApiError, usecase::api_keys};

/// What the layer needs: the state (database, bootstrap key) and the endpoints served.
#[derive(Clone)]
pub struct Guard {
    state: AppState,
    served: Arc<[Endpoint]>,
}

impl Guard {
    /// A guard for a router serving `served`.
    pub fn new(state: AppState, served: &[Endpoint]) -> Self {
        Self {
            state,
            served: served.into(),
        }
    }
}

/// The layer: open routes pass; others need a valid key (else 401) whose role the policy
/// allows (else 403).
pub async fn authorize(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let roles = match policy::access(request.method(), path, &guard.served) {
        Access::Open => return next.run(request).await,
        Access::Roles(roles) => roles,
    };
    let caller = match identify(&guard.state, request.headers()).await {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    tracing::Span::current().record("caller", caller.actor());
    if !roles.contains(&caller.role) {
        return ApiError::Forbidden(format!(
            "a {} key may not call {} {}",
            caller.role,
            request.method(),
            path.unwrap_or("this endpoint")
        ))
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The caller behind the request's key, or the 401 to answer.
async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let key = presented_key(headers)?;
    api_keys::authenticate(&state.pool, &state.key_cache, state.admin_key.as_ref(), key)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the API key is unknown or revoked".to_owned()))
}

/// The key from `Authorization: Bearer <key>`, else from `x-api-key: <key>`.
fn presented_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let bearer = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|key| !key.is_empty());
        return bearer.ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <API key>`".to_owned())
        });
    }
    match headers.get("x-api-key").map(|v| v.to_str().map(str::trim)) {
        Some(Ok(key)) if !key.is_empty() => Ok(key),
        Some(_) => Err(ApiError::Unauthorized(
            "the x-api-key header holds no usable key".to_owned(),
        )),
        None => Err(ApiError::Unauthorized(
            "this endpoint needs an API key: send `Authorization: Bearer <key>` \
             (or `x-api-key: <key>`)"
                .to_owned(),
        )),
    }
}

/// Handlers that need to know who calls take [`Caller`] as an argument; the auth layer has
/// put it in the request.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Missing only on an open route, which is a wiring mistake: fail loudly, never open.
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "a handler asked for the caller on a route the auth layer lets through unauthenticated"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_key_comes_from_bearer_first_then_x_api_key() {
        let key = |pairs| presented_key(&headers(pairs)).map(str::to_owned).ok();
        assert_eq!(
            key(&[("authorization", "Bearer lr_a")]).as_deref(),
            Some("lr_a")
        );
        assert_eq!(
            key(&[("authorization", "bearer  lr_a ")]).as_deref(),
            Some("lr_a")
        );
        assert_eq!(key(&[("x-api-key", "lr_b")]).as_deref(), Some("lr_b"));
        assert_eq!(
            key(&[("authorization", "Bearer lr_a"), ("x-api-key", "lr_b")]).as_deref(),
            Some("lr_a")
        );
        assert_eq!(key(&[("authorization", "Basic dXNlcjpwdw==")]), None);
        assert_eq!(key(&[("authorization", "Bearer ")]), None);
        assert_eq!(key(&[("x-api-key", "")]), None);
        assert_eq!(key(&[]), None);
    }
}
