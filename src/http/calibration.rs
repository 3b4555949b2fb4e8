//! Calibration: scoring preview, backtest and rescoring.

use axum::{Json, body::Bytes, extract::State, http::HeaderMap};

use super::{extract::require_json, routes::Routes};
use crate::{
    adapters::{calibration, rescore_request},
    app::AppState,
    error::ApiError,
    usecase::{
        backtest::{self, BacktestAnswer},
        preview::{self, PreviewReport},
        rescore::{self, RescoreReport},
    },
};

/// `POST /api/v1/scoring/preview`, `/backtest` and `POST /api/v1/admin/rescore`.
pub fn router() -> Routes {
    Routes::default()
        .post("/api/v1/scoring/preview", preview)
        .post("/api/v1/scoring/backtest", backtest)
        .post("/api/v1/admin/rescore", rescore)
}

async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PreviewReport>, ApiError> {
    require_json(&headers)?;
    let request = calibration::parse_preview(&body, &state.rules.rules)?;
    Ok(Json(
        preview::preview(request, state.rules.clone(), state.now()).await?,
    ))
}

async fn backtest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<BacktestAnswer>, ApiError> {
    require_json(&headers)?;
    let request = calibration::parse_backtest(&body, &state.rules.rules)?;
    Ok(Json(
        backtest::run(request, state.rules.clone(), state.now()).await?,
    ))
}

/// An empty body is a dry run with the running rules.
async fn rescore(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RescoreReport>, ApiError> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        require_json(&headers)?;
    }
    let request = rescore_request::parse(&body, &state.rules.rules)?;
    Ok(Json(
        rescore::rescore(&state.pool, &state.rules, &request, state.now()).await?,
    ))
}
