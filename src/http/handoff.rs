//! The sales side of the handoff: the rep's queue and the four actions on a lead.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State},
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{
    extract::{ApiJson, uuid},
    routes::Routes,
};
use crate::{
    app::AppState,
    db::assignments::QueueItem,
    domain::{Caller, RejectReason, Role},
    error::ApiError,
    usecase::handoff::{
        actions::{self, Acted, Action, Qualification},
        qualification::{self, QualificationView},
        queue,
    },
};

/// `GET /api/v1/queue` and `POST /api/v1/leads/{id}/{acknowledge,accept,reject,qualify}`.
pub fn router() -> Routes {
    Routes::default()
        .get("/api/v1/queue", rep_queue)
        .post("/api/v1/leads/{id}/acknowledge", acknowledge)
        .post("/api/v1/leads/{id}/accept", accept)
        .post("/api/v1/leads/{id}/reject", reject)
        .post("/api/v1/leads/{id}/qualify", qualify)
        .post("/api/v1/leads/{id}/meddic", meddic)
}

/// The caller's own queue; an admin names the rep with `?rep_id=`.
async fn rep_queue(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<QueueItem>>, ApiError> {
    let asked = query
        .get("rep_id")
        .map(|id| uuid("rep_id", id))
        .transpose()?;
    let rep_id: Uuid = match (caller.role, caller.rep_id, asked) {
        (Role::Admin, _, Some(rep)) => rep,
        (_, Some(own), None) => own,
        (_, Some(own), Some(rep)) if rep == own => own,
        (_, Some(_), Some(_)) => {
            return Err(ApiError::Forbidden(
                "a rep key reads only its own queue".into(),
            ));
        }
        (_, None, None) => {
            return Err(ApiError::field(
                "rep_id",
                "this key is bound to no rep: name the rep with ?rep_id=",
            ));
        }
        (_, None, Some(_)) => {
            return Err(ApiError::Forbidden(
                "only admin reads another rep's queue".into(),
            ));
        }
    };
    Ok(Json(queue::queue(&state.pool, rep_id).await?))
}

async fn run(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
) -> Result<Json<Acted>, ApiError> {
    let id = uuid("id", id)?;
    let acted = actions::act(&state.pool, &state.rules, state.now(), caller, id, action).await?;
    Ok(Json(acted))
}

async fn acknowledge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Acted>, ApiError> {
    run(&state, &caller, &id, Action::Acknowledge).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AcceptBody {
    /// The rep confirms the lead is interested in a conversation (DESIGN §2, Handoff).
    confirmed_interest: bool,
}

async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AcceptBody>,
) -> Result<Json<Acted>, ApiError> {
    let action = Action::Accept {
        confirmed_interest: body.confirmed_interest,
    };
    run(&state, &caller, &id, action).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RejectBody {
    #[schema(value_type = RejectReason)]
    reason: String,
    note: Option<String>,
}

async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RejectBody>,
) -> Result<Json<Acted>, ApiError> {
    let reason: RejectReason =
        body.reason
            .parse()
            .map_err(|e: crate::domain::UnknownRejectReason| {
                ApiError::field("reason", e.to_string())
            })?;
    let note = body
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    run(&state, &caller, &id, Action::Reject { reason, note }).await
}

/// Budget, authority, need and timing, each confirmed with `true`.
// Each of the four is taken as any JSON value, so one left out or not a boolean is named
// with the others (every one not `true` is a 422 entry), not as the first serde error.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct QualifyBody {
    #[schema(value_type = bool, required = true)]
    budget: Option<Value>,
    #[schema(value_type = bool, required = true)]
    authority: Option<Value>,
    #[schema(value_type = bool, required = true)]
    need: Option<Value>,
    #[schema(value_type = bool, required = true)]
    timing: Option<Value>,
    /// The buyer's budget, at least `qualification.price_floor`.
    #[schema(value_type = f64, required = true)]
    budget_amount: Option<Value>,
    /// When the buyer decides (`YYYY-MM-DD`), within `qualification.decision_window_months`.
    #[schema(value_type = String, format = Date, required = true)]
    decision_by: Option<Value>,
    /// The deal's estimated ACV; the budget stands for it when absent. Above
    /// `qualification.meddic_min_acv`, the ladder may require MEDDIC.
    #[schema(value_type = Option<f64>)]
    estimated_acv: Option<Value>,
}

/// A number, or a number written as text.
fn amount(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// MEDDIC's six fields, any of them, each a text the rep recorded.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MeddicBody {
    metrics: Option<String>,
    economic_buyer: Option<String>,
    decision_criteria: Option<String>,
    decision_process: Option<String>,
    identify_pain: Option<String>,
    champion: Option<String>,
}

/// Records MEDDIC field values for the lead; answers where it stands on the ladder.
async fn meddic(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MeddicBody>,
) -> Result<Json<QualificationView>, ApiError> {
    let id = uuid("id", &id)?;
    let values: Vec<(String, String)> = [
        ("metrics", body.metrics),
        ("economic_buyer", body.economic_buyer),
        ("decision_criteria", body.decision_criteria),
        ("decision_process", body.decision_process),
        ("identify_pain", body.identify_pain),
        ("champion", body.champion),
    ]
    .into_iter()
    .filter_map(|(field, value)| value.map(|v| (field.to_owned(), v)))
    .collect();
    let view =
        qualification::record_meddic(&state.pool, &state.rules, &caller, id, values, state.now())
            .await?;
    Ok(Json(view))
}

async fn qualify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<QualifyBody>,
) -> Result<Json<Acted>, ApiError> {
    let confirmed = |v: Option<Value>| v == Some(Value::Bool(true));
    let confirmed = Qualification {
        budget: confirmed(body.budget),
        authority: confirmed(body.authority),
        need: confirmed(body.need),
        timing: confirmed(body.timing),
        budget_amount: amount(body.budget_amount.as_ref()),
        decision_by: body
            .decision_by
            .as_ref()
            .and_then(Value::as_str)
            .and_then(|d| d.trim().parse().ok()),
        estimated_acv: amount(body.estimated_acv.as_ref()),
    };
    run(&state, &caller, &id, Action::Qualify(confirmed)).await
}
