//! The HTTP surface: one router per area, merged under the shared layers.

mod accounts;
mod api_keys;
mod auth;
mod calibration;
mod crm_writes;
mod dashboard;
mod extract;
mod governance;
mod handoff;
mod health;
mod hubspot;
mod inbound;
mod leads;
pub mod listener;
mod marketo;
mod metrics;
mod model;
mod nurture;
mod openapi;
mod outbox;
mod policy;
mod problems;
mod prometheus;
mod reps;
mod request_metrics;
mod review;
mod routes;
mod salesforce;
mod segment;
mod spend;
mod suppression;
mod webhook_endpoints;
mod webhooks;

pub use routes::Endpoint;

use std::time::Duration;

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath},
    http::{Method, Request, StatusCode, Uri},
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

/// Every endpoint, from the area routers. Areas register through [`routes::Routes`] so that
/// the access policy can be checked against this list.
fn api() -> routes::Routes {
    routes::Routes::default()
        .merge(health::router())
        .merge(openapi::router())
        .merge(webhooks::router())
        .merge(hubspot::router())
        .merge(salesforce::router())
        .merge(segment::router())
        .merge(marketo::router())
        .merge(inbound::router())
        .merge(leads::router())
        .merge(suppression::router())
        .merge(review::router())
        .merge(nurture::router())
        .merge(reps::router())
        .merge(handoff::router())
        .merge(accounts::router())
        .merge(api_keys::router())
        .merge(webhook_endpoints::router())
        .merge(outbox::router())
        .merge(crm_writes::router())
        .merge(calibration::router())
        .merge(metrics::router())
        .merge(spend::router())
        .merge(model::router())
        .merge(governance::router())
        .merge(prometheus::router())
        .merge(dashboard::router())
}

/// Every endpoint the service serves (method and route path), in registration order.
pub fn endpoints() -> Vec<Endpoint> {
    api().endpoints().to_vec()
}

/// The whole API with its layers. From the outside in: request id, tracing span, request id
/// echo, request metrics, problem+json for errors the layers produce, timeout, body size
/// limit, and around each route the auth layer (API key and policy, see `policy::POLICY`).
pub fn router(state: AppState) -> Router {
    let server = &state.settings.server;
    // Each `.layer` wraps what is above it, so the list reads innermost first. Separate calls
    // (rather than one ServiceBuilder) let axum turn every layer's response into its own type.
    let api = api();
    let guard = auth::Guard::new(state.clone(), api.endpoints());
    api.into_router()
        // A route layer runs after routing, so it sees the matched route path the policy is
        // keyed by; an unknown path gets the 404 below without asking for a key.
        .route_layer(middleware::from_fn_with_state(guard, auth::authorize))
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::NotFound(format!("endpoint {method} {}", uri.path()))
        })
        .layer(middleware::from_fn(extract::refuse_nul_in_uri))
        .layer(RequestBodyLimitLayer::new(server.body_limit_bytes))
        // The tower-http limit above answers 413; axum's own default (2 MB) would otherwise
        // apply first with a different number.
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(server.request_timeout_secs),
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            problems::render_and_log,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Outside the problem rendering, timeout and body limit, so it counts the status the
        // client got (408, 413 included); inside the span, whose fields its logs would share.
        .layer(middleware::from_fn(request_metrics::record))
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
    // `caller` is filled in by the auth layer: the key's actor name, never the key.
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        matched_path = path,
        caller = tracing::field::Empty
    )
}
