//! Inbound dead letters: records a connector authenticated but could not map.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
    http::header,
    response::{IntoResponse, Response},
};

use super::{
    extract::{Paging, uuid},
    routes::Routes,
};
use sqlx::PgConnection;

use crate::{
    adapters::{self, marketo, salesforce},
    app::AppState,
    db::dead_letters::DeadLetter,
    error::ApiError,
    usecase::{
        self, Page,
        inbound::{self, Replayed},
        segment,
    },
};

/// `error` as a connector route answers it: the problem, without the `Bearer` challenge of a
/// 401, since a vendor authenticates by its own scheme (a signature, a secret header).
pub(super) fn vendor_problem(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().remove(header::WWW_AUTHENTICATE);
    response
}

/// `GET /api/v1/inbound/dead-letters` and `POST /api/v1/inbound/dead-letters/{id}/replay`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/inbound/dead-letters", list)
        .post("/api/v1/inbound/dead-letters/{id}/replay", replay)
}

/// Newest first; `source` narrows to one connector.
async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Page<DeadLetter>>, ApiError> {
    let paging = Paging::from_query(&query)?;
    let source = query.get("source").map(|s| s.trim().to_lowercase());
    let page = inbound::list(&state.pool, source.as_deref(), paging.limit, paging.offset).await?;
    Ok(Json(page))
}

/// Maps the payload again with the connector's current settings and ingests it, once.
async fn replay(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    let id = uuid("id", &id)?;
    let now = state.now();
    let limits = state.limits();
    let sources = &state.settings.sources;
    let hubspot = state.hubspot(&limits);
    let map = async |conn: &mut PgConnection, source: &str, payload: &str| match source {
        salesforce::SOURCE => salesforce::replay(payload, &sources.salesforce, &limits, now),
        marketo::SOURCE => marketo::replay(payload, &sources.marketo, &limits, now),
        adapters::hubspot::SOURCE => {
            usecase::hubspot::replay(&state.pool, hubspot, &state.rules, payload, now).await
        }
        adapters::segment::SOURCE => {
            segment::replay_map(conn, payload, &sources.segment, &limits, now).await
        }
        other => Err(ApiError::Conflict(format!(
            "no connector replays dead letters of source {other:?}"
        ))),
    };
    let replayed = inbound::replay(&state.pool, &state.group_commit, now, id, map).await?;
    Ok(Json(replayed))
}
