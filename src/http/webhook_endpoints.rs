//! Webhook endpoints (admin): register, list, read, change, rotate the secret, read the
//! delivery log, replay dead deliveries.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::IntoResponse,
};

use super::{
    extract::{ApiJson, Paging, uuid},
    routes::Routes,
};
use crate::{
    app::AppState,
    db::webhook_endpoints::EndpointWithCounts,
    error::ApiError,
    usecase::{
        Page,
        deliveries_admin::{self, DeliveryView, Replayed},
        webhook_endpoints::{self, CreateInput, UpdateInput},
    },
};

/// `/api/v1/webhook-endpoints` and its sub-resources.
pub fn router() -> Routes {
    Routes::default()
        .post("/api/v1/webhook-endpoints", create)
        .get("/api/v1/webhook-endpoints", list)
        .get("/api/v1/webhook-endpoints/{id}", read)
        .patch("/api/v1/webhook-endpoints/{id}", update)
        .post(
            "/api/v1/webhook-endpoints/{id}/rotate-secret",
            rotate_secret,
        )
        .get("/api/v1/webhook-endpoints/{id}/deliveries", deliveries)
        .post("/api/v1/webhook-endpoints/{id}/replay-dead", replay_dead)
}

/// Registers an endpoint; the answer is one of the two that show its secret.
async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CreateInput>,
) -> Result<impl IntoResponse, ApiError> {
    let created = webhook_endpoints::create(&state.pool, input, state.now()).await?;
    // The body holds a secret: no cache along the way may keep it.
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(created),
    ))
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<EndpointWithCounts>>, ApiError> {
    let paging = Paging::from_query(&query)?;
    let page = webhook_endpoints::list(&state.pool, paging.limit, paging.offset).await?;
    Ok(Json(page))
}

async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<EndpointWithCounts>, ApiError> {
    let id = uuid("id", &id)?;
    Ok(Json(webhook_endpoints::get(&state.pool, id).await?))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateInput>,
) -> Result<Json<EndpointWithCounts>, ApiError> {
    let id = uuid("id", &id)?;
    let updated = webhook_endpoints::update(&state.pool, id, input, state.now()).await?;
    Ok(Json(updated))
}

/// A new secret, shown in this answer only; the old one stops signing at once.
async fn rotate_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id = uuid("id", &id)?;
    let rotated = webhook_endpoints::rotate_secret(&state.pool, id, state.now()).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(rotated)))
}

/// Newest first; `status` narrows to `pending`, `delivered` or `dead`.
async fn deliveries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    let id = uuid("id", &id)?;
    let paging = Paging::from_query(&query)?;
    let status = query.get("status").map(String::as_str);
    let page = deliveries_admin::for_endpoint(&state.pool, id, status, paging.limit, paging.offset)
        .await?;
    Ok(Json(page))
}

async fn replay_dead(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    let id = uuid("id", &id)?;
    Ok(Json(
        deliveries_admin::replay_dead(&state.pool, id, state.now()).await?,
    ))
}
