//! Reading leads.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
};

use sqlx::PgPool;

use super::{extract::uuid, routes::Routes};
use crate::{
    app::AppState,
    domain::{Email, IdSystem, text::MAX_NAME_CHARS},
    error::ApiError,
    usecase::lead_view::{LeadKey, LeadView, lead_view},
};

/// `GET /api/v1/leads/{id}` and `GET /api/v1/leads?email=` (or `?hubspot_id=`, ...).
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/leads", by_email)
        .get("/api/v1/leads/{id}", by_id)
}

async fn by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LeadView>, ApiError> {
    let id = uuid("id", &id)?;
    read_lead(&state, LeadKey::Id(id)).await
}

/// `?email=`, or one of `?hubspot_id=`, `?salesforce_id=`, `?segment_user_id=`,
/// `?segment_anonymous_id=`, `?marketo_id=` (the lead's id in that system).
async fn by_email(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<LeadView>, ApiError> {
    read_lead(&state, lead_key(&query)?).await
}

/// The lead `key` names, from where reads that may lag go.
async fn read_lead(state: &AppState, key: LeadKey) -> Result<Json<LeadView>, ApiError> {
    let (rules, now, key) = (&state.rules, state.now(), &key);
    let read = |pool: PgPool| async move { lead_view(&pool, rules, now, key.clone()).await };
    Ok(Json(state.reads.read(read).await?))
}

/// The one key the query names.
fn lead_key(query: &HashMap<String, String>) -> Result<LeadKey, ApiError> {
    let mut keys = Vec::new();
    if let Some(raw) = query.get("email") {
        let email = Email::parse(raw).map_err(|why| ApiError::field("email", why.to_string()))?;
        keys.push(LeadKey::Email(email));
    }
    for system in IdSystem::ALL {
        let param = format!("{}_id", system.as_str());
        if let Some(id) = query.get(&param) {
            let id = id.trim();
            if id.is_empty() || id.chars().count() > MAX_NAME_CHARS {
                return Err(ApiError::field(
                    param,
                    format!("must be 1 to {MAX_NAME_CHARS} characters"),
                ));
            }
            keys.push(LeadKey::SourceId(system, id.to_owned()));
        }
    }
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => Err(ApiError::field(
            "email",
            "query parameter is required (GET /api/v1/leads?email=..., or ?hubspot_id=..., \
             ?salesforce_id=..., ?segment_user_id=..., ?segment_anonymous_id=..., ?marketo_id=...)",
        )),
        _ => Err(ApiError::field(
            "email",
            "name the lead by one key only (email or one system's id)",
        )),
    }
}
