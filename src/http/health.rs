//! Liveness and readiness.

use std::time::Duration;

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::routes::Routes;
use crate::{app::AppState, error::ApiError};

/// `/healthz` and `/readyz`.
pub fn router() -> Routes {
    Routes::default()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
}

/// The process is up; no I/O, so a slow database never fails liveness.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers within two seconds.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let ping = sqlx::query_scalar::<_, i32>("select 1").fetch_one(&state.pool);
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Ok(Json(json!({ "status": "ready" }))),
        Ok(Err(e)) => Err(ApiError::Unavailable(format!("database check failed: {e}"))),
        Err(_) => Err(ApiError::Unavailable(
            "database did not answer within 2 s".to_owned(),
        )),
    }
}
