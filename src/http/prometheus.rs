//! `GET /metrics`: the Prometheus text exposition (format 0.0.4), for ops and admin keys.
//! Prometheus sends the key as `Authorization: Bearer <key>` (its `authorization` scrape
//! setting); see `docs/operations/metrics.md`.

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use super::routes::Routes;
use crate::{app::AppState, usecase::prometheus};

/// The media type of the text format Prometheus asks for.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`.
pub fn router() -> Routes {
    Routes::default().get("/metrics", metrics)
}

async fn metrics(State(state): State<AppState>) -> Response {
    let pools = [("main", &state.pool), ("ingest", state.group_commit.pool())];
    let text = prometheus::scrape(&state.metrics, &pools, state.now()).await;
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}
