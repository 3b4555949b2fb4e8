//! Counts and times every request by its matched route path (`/api/v1/leads/{id}`), never
//! the raw URI, so the number of series stays bounded whatever clients send.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};

use crate::metrics::{self, UNMATCHED_ROUTE};

/// Records the request's method, route and final status, and its latency to the response
/// head. Applied with `Router::layer`, which wraps each route (so `MatchedPath` is known)
/// and the fallback (a 404: [`UNMATCHED_ROUTE`]).
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or(UNMATCHED_ROUTE);
    metrics::http_request(&method, route, response.status(), started.elapsed());
    response
}
