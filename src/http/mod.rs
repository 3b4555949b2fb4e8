//! The HTTP surface: one router per area, merged under the shared layers.

mod accounts;
mod extract;
mod health;
mod leads;
mod problems;
mod reps;
mod review;
mod suppression;
mod webhooks;

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath},
    http::{Request, StatusCode},
    middleware,
};
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{app::AppState, error::ApiError};

/// The whole API with its layers. From the outside in: request id, tracing span, request id
/// echo, problem+json for errors the layers produce, timeout, body size limit.
pub fn router(state: AppState) -> Router {
    let server = &state.settings.server;
    // Each `.layer` wraps what is above it, so the list reads innermost first. Separate calls
    // (rather than one ServiceBuilder) let axum turn every layer's response into its own type.
    Router::new()
        .merge(health::router())
        .merge(webhooks::router())
        .merge(leads::router())
        .merge(suppression::router())
        .merge(review::router())
        .merge(reps::router())
        .merge(accounts::router())
        .fallback(|| async { ApiError::NotFound("no such endpoint".to_owned()) })
        .layer(RequestBodyLimitLayer::new(server.body_limit_bytes))
        // The tower-http limit above answers 413; axum's own default (2 MB) would otherwise
        // apply first with a different number.
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(server.request_timeout_secs),
        ))
        .layer(middleware::from_fn(problems::render_and_log))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
    tracing::info_span!("request", request_id, method = %request.method(), matched_path = path)
}
