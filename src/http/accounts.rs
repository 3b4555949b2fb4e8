//! The tiered account list (admin): one account at a time, or a whole list imported.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
};

use super::{
    extract::{ApiJson, is_json, media_type, unsupported},
    routes::Routes,
};
use crate::{
    adapters::account_list::{self, AccountInput, Format},
    app::AppState,
    db::accounts::Account,
    error::ApiError,
    usecase::accounts::{self, ImportReport, MAX_IMPORT_ROWS, Upsert},
};

/// `POST /api/v1/accounts`, `POST /api/v1/accounts/import`, `GET /api/v1/accounts/{domain}`.
pub fn router() -> Routes {
    Routes::default()
        .post("/api/v1/accounts", upsert)
        .post("/api/v1/accounts/import", import)
        .get("/api/v1/accounts/{domain}", by_domain)
}

/// Creates or updates one account, keyed by domain.
async fn upsert(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<AccountInput>,
) -> Result<Json<Upsert>, ApiError> {
    Ok(Json(
        accounts::upsert(&state.pool, &state.rules, input, state.now()).await?,
    ))
}

/// Imports a list, as CSV (`text/csv`) or as a JSON array, all rows or none.
async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    let format = match media_type(&headers) {
        Some(media) if media == "text/csv" => Format::Csv,
        Some(media) if is_json(&media) => Format::Json,
        other => {
            return Err(unsupported(
                other.as_deref(),
                "text/csv or application/json",
            ));
        }
    };
    let decoded = account_list::decode(format, &body, MAX_IMPORT_ROWS)?;
    let report = accounts::import(
        &state.pool,
        &state.rules,
        decoded.rows,
        decoded.errors,
        state.now(),
    )
    .await?;
    Ok(Json(report))
}

async fn by_domain(
    State(state): State<AppState>,
    Path(domain): Path<String>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(accounts::by_domain(&state.pool, &domain).await?))
}
