//! `POST /crm/v3/objects/contacts/batch/update` as HubSpot answers it: a bearer token or 401;
//! more than 100 inputs, 400 `VALIDATION_ERROR`; a property the portal does not have, 400
//! `VALIDATION_ERROR` with `PROPERTY_DOESNT_EXIST` in its errors (nothing is updated); ids that
//! are no contact, 207 with an `OBJECT_NOT_FOUND` error naming them in `context.ids` (the rest
//! are updated); past the rolling ten-second limit, 429 with HubSpot's body, `Retry-After` and
//! the `X-HubSpot-RateLimit-*` headers, which every answer carries.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{Fault, Inner, error, unauthorized};

/// HubSpot's rolling window.
const WINDOW: Duration = Duration::from_secs(10);
/// The default limit of that window (private apps, Free and Starter portals).
const DEFAULT_LIMIT: usize = 100;

/// One batch update as received, and the status it was answered with.
#[derive(Clone, Debug)]
pub struct Update {
    pub authorization: Option<String>,
    /// Each input's id and properties.
    pub inputs: Vec<(String, Map<String, Value>)>,
    pub status: u16,
}

impl Update {
    /// The ids of the inputs.
    pub fn ids(&self) -> Vec<String> {
        self.inputs.iter().map(|(id, _)| id.clone()).collect()
    }
}

fn with_limit_headers(mut response: Response, limit: usize, used: usize) -> Response {
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("x-hubspot-ratelimit-interval-milliseconds", "10000".into());
    set("x-hubspot-ratelimit-max", limit.to_string());
    set(
        "x-hubspot-ratelimit-remaining",
        limit.saturating_sub(used).to_string(),
    );
    response
}

fn rate_limited(retry_after: u64) -> Response {
    let body = json!({
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
        "policyName": "TEN_SECONDLY_ROLLING",
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from(retry_after));
    response
}

fn property_doesnt_exist(names: &[String]) -> Response {
    let results: Vec<Value> = names
        .iter()
        .map(|n| {
            json!({"isValid": false, "message": format!("Property \"{n}\" does not exist"),
                   "error": "PROPERTY_DOESNT_EXIST", "name": n,
                   "localizedErrorMessage": format!("Property \"{n}\" does not exist"),
                   "portalId": 62_515})
        })
        .collect();
    let body = json!({
        "status": "error",
        "message": format!("Property values were not valid: {}", Value::Array(results)),
        "correlationId": "5a7a8e0e-2b4c-4a0e-9d9a-6a1a3bfe0c55",
        "category": "VALIDATION_ERROR",
        "errors": names.iter().map(|n| json!({
            "message": format!("Property \"{n}\" does not exist"),
            "code": "PROPERTY_DOESNT_EXIST",
            "context": {"propertyName": [n]},
        })).collect::<Vec<_>>(),
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn inputs(body: &Value) -> Vec<(String, Map<String, Value>)> {
    body["inputs"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let id = i["id"].as_str().unwrap_or_default().to_owned();
                    let properties = i["properties"].as_object().cloned().unwrap_or_default();
                    (id, properties)
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn batch_update(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let inputs = inputs(&body);
    let (answer, hang) = {
        let mut inner = inner.lock().unwrap();
        let (answer, hang) = answer(&mut inner, authorization.as_deref(), &inputs);
        inner.updates.push(Update {
            authorization,
            inputs,
            status: answer.status().as_u16(),
        });
        (answer, hang)
    };
    if let Some(hang) = hang {
        tokio::time::sleep(hang).await;
    }
    answer
}

/// The answer, and how long to hang before giving it.
fn answer(
    inner: &mut Inner,
    authorization: Option<&str>,
    inputs: &[(String, Map<String, Value>)],
) -> (Response, Option<Duration>) {
    if let Some(refused) = unauthorized(authorization) {
        return (refused, None);
    }
    let limit = inner.rate_limit.unwrap_or(DEFAULT_LIMIT);
    let window = inner.rate_window.unwrap_or(WINDOW);
    let now = Instant::now();
    while inner.window.front().is_some_and(|t| now - *t >= window) {
        inner.window.pop_front();
    }
    if inner.window.len() >= limit {
        inner.rate_limited += 1;
        let wait = inner
            .window
            .front()
            .map_or(window, |t| window.saturating_sub(now - *t));
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return (
            with_limit_headers(rate_limited(secs.max(1)), limit, limit),
            None,
        );
    }
    inner.window.push_back(now);
    let used = inner.window.len();
    let (response, hang) = counted_answer(inner, inputs);
    (with_limit_headers(response, limit, used), hang)
}

/// The answer to a request within the rate limit.
fn counted_answer(
    inner: &mut Inner,
    inputs: &[(String, Map<String, Value>)],
) -> (Response, Option<Duration>) {
    if inputs.len() > 100 {
        let response = error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Batch input cannot exceed 100 inputs.",
        );
        return (response, None);
    }
    if inner.down {
        let response = error(StatusCode::BAD_GATEWAY, "INTERNAL_ERROR", "Bad Gateway");
        return (response, None);
    }
    let mut failing: (Vec<String>, String) = (Vec::new(), String::new());
    let mut delay = None;
    match inner.faults.pop_front() {
        Some(Fault::RateLimited(secs)) => return (rate_limited(secs), None),
        Some(Fault::BadGateway) => {
            let response = error(StatusCode::BAD_GATEWAY, "INTERNAL_ERROR", "Bad Gateway");
            return (response, None);
        }
        Some(Fault::Hang(d)) => {
            let response = error(StatusCode::GATEWAY_TIMEOUT, "TIMEOUT", "Gateway Timeout");
            return (response, Some(d));
        }
        Some(Fault::RecordErrors { ids, category }) => failing = (ids, category),
        Some(Fault::Slow(d)) => delay = Some(d),
        None => {}
    }
    let mut undefined: Vec<String> = inputs
        .iter()
        .flat_map(|(_, p)| p.keys())
        .filter(|k| inner.undefined.contains(*k))
        .cloned()
        .collect();
    undefined.sort();
    undefined.dedup();
    if !undefined.is_empty() {
        return (property_doesnt_exist(&undefined), None);
    }
    (apply(inner, inputs, &failing), delay)
}

/// Updates the contacts that exist and are not `failing`; 200, or 207 naming the others.
fn apply(
    inner: &mut Inner,
    inputs: &[(String, Map<String, Value>)],
    failing: &(Vec<String>, String),
) -> Response {
    let (mut results, mut missing, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for (id, properties) in inputs {
        if failing.0.contains(id) {
            failed.push(id.clone());
            continue;
        }
        let exists = inner.contacts.contains_key(id)
            || inner.directory.as_ref().is_some_and(|d| d(id).is_some());
        if !exists {
            missing.push(id.clone());
            continue;
        }
        let stored = inner.contacts.entry(id.clone()).or_default();
        for (name, value) in properties {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            stored.insert(name.clone(), text);
        }
        let mut shown = properties.clone();
        shown.insert(
            "hs_lastmodifieddate".into(),
            "2026-11-20T10:00:00.000Z".into(),
        );
        results.push(json!({
            "id": id, "properties": shown, "createdAt": "2026-11-01T09:00:00.000Z",
            "updatedAt": "2026-11-20T10:00:00.000Z", "archived": false,
        }));
    }
    let mut answer = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2026-11-20T10:00:00.000Z",
        "completedAt": "2026-11-20T10:00:00.040Z",
    });
    let mut errors = Vec::new();
    if !missing.is_empty() {
        errors.push(json!({
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
            "context": {"ids": missing},
        }));
    }
    if !failed.is_empty() {
        errors.push(json!({
            "status": "error",
            "category": failing.1,
            "message": "The update of these contacts failed; try again.",
            "context": {"ids": failed},
        }));
    }
    if errors.is_empty() {
        return (StatusCode::OK, Json(answer)).into_response();
    }
    answer["numErrors"] = errors.len().into();
    answer["errors"] = Value::Array(errors);
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}
