//! The governance views as JSON (`/api/v1/metrics/*`): ops and admin read them; the
//! dashboard draws them.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Query, State},
};

use sqlx::PgPool;

use super::routes::Routes;
use crate::{
    app::AppState,
    error::ApiError,
    usecase::metrics::{
        MetricsQuery,
        demand_states::{self, DemandStateReport},
        disqualifications, funnel, nurture, rejections,
        revenue::{self, RevenueQuery, RevenueReport},
        sla::{self, SlaReport},
    },
};

/// `GET /api/v1/metrics/{funnel,rejections,sla,disqualifications,nurture,revenue,demand-states}`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/metrics/funnel", funnel)
        .get("/api/v1/metrics/rejections", rejections)
        .get("/api/v1/metrics/sla", sla)
        .get("/api/v1/metrics/disqualifications", disqualifications)
        .get("/api/v1/metrics/nurture", nurture)
        .get("/api/v1/metrics/revenue", revenue)
        .get("/api/v1/metrics/demand-states", demand_states)
}

type Params = Query<HashMap<String, String>>;

async fn funnel(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<funnel::FunnelReport>, ApiError> {
    let query = MetricsQuery::parse(&params, funnel::GROUPINGS, state.now())?;
    let query = &query;
    let read = |pool: PgPool| async move { funnel::report(&pool, query).await };
    Ok(Json(state.reads.read(read).await?))
}

async fn rejections(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<rejections::RejectionReport>, ApiError> {
    let query = MetricsQuery::parse(&params, &[], state.now())?;
    let query = &query;
    let read = |pool: PgPool| async move { rejections::report(&pool, query).await };
    Ok(Json(state.reads.read(read).await?))
}

async fn sla(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<SlaReport>, ApiError> {
    let now = state.now();
    let query = MetricsQuery::parse(&params, sla::GROUPINGS, now)?;
    let (query, rules) = (&query, &state.rules.rules.sla);
    let read = |pool: PgPool| async move { sla::report(&pool, query, rules, now).await };
    Ok(Json(state.reads.read(read).await?))
}

async fn disqualifications(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<disqualifications::DisqualificationReport>, ApiError> {
    let query = MetricsQuery::parse(&params, &[], state.now())?;
    let query = &query;
    let read = |pool: PgPool| async move { disqualifications::report(&pool, query).await };
    Ok(Json(state.reads.read(read).await?))
}

async fn nurture(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<nurture::NurtureReport>, ApiError> {
    let query = MetricsQuery::parse(&params, &[], state.now())?;
    let (query, rules) = (&query, &state.rules);
    let read = |pool: PgPool| async move { nurture::report(&pool, rules, query).await };
    Ok(Json(state.reads.read(read).await?))
}

async fn revenue(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<RevenueReport>, ApiError> {
    let query = RevenueQuery::parse(&params, state.now())?;
    let (query, states) = (&query, &state.rules.rules.segmentation.demand_states);
    let read = |pool: PgPool| async move { revenue::report(&pool, query, states).await };
    Ok(Json(state.reads.read(read).await?))
}

async fn demand_states(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<DemandStateReport>, ApiError> {
    let query = MetricsQuery::parse(&params, &[], state.now())?;
    let (query, states) = (&query, &state.rules.rules.segmentation.demand_states);
    let read = |pool: PgPool| async move { demand_states::report(&pool, query, states).await };
    Ok(Json(state.reads.read(read).await?))
}
