//! The stand-in's two endpoints, answering with Salesforce's documented bodies.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use super::{API_VERSION, Asked, CLIENT_ID, CLIENT_SECRET, Fault, Inner, STANDARD_FIELDS};

type Shared = State<Arc<Mutex<Inner>>>;

/// Most records one sObject Collections call takes.
const MAX_RECORDS: usize = 200;

/// Salesforce's whole-call error answer: `[{message, errorCode, fields}]`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!([{ "message": message, "errorCode": code, "fields": [] }]);
    (status, Json(body)).into_response()
}

/// The token endpoint's error answer.
fn oauth_error(error: &str, description: &str) -> Response {
    let body = json!({ "error": error, "error_description": description });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `POST /services/oauth2/token` with the client credentials flow.
pub(super) async fn token(
    State(inner): Shared,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    inner.token_requests += 1;
    let field = |name: &str| form.get(name).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return oauth_error("unsupported_grant_type", "grant type not supported");
    }
    if field("client_id") != Some(CLIENT_ID) {
        return oauth_error("invalid_client_id", "client identifier invalid");
    }
    if field("client_secret") != Some(CLIENT_SECRET) {
        return oauth_error("invalid_client", "invalid client credentials");
    }
    inner.tokens_issued += 1;
    let token = format!(
        "00D5e0000000001!AQ4AQ{:012}.standin.token",
        inner.tokens_issued
    );
    inner.tokens.insert(token.clone());
    let body = json!({
        "access_token": token,
        "signature": "nUFHwtfIGLKDTHcLWmDBG8frv0t+HQGl/iCZFIQUarE=",
        "token_format": "opaque",
        "scope": "api",
        "instance_url": inner.base,
        "id": format!("{}/id/00D5e0000000001EAA/0055e000001AbCdAAK", inner.base),
        "token_type": "Bearer",
        "issued_at": "1796644800000",
    });
    (StatusCode::OK, Json(body)).into_response()
}

/// `PATCH /services/data/v{version}/composite/sobjects`.
pub(super) async fn update(
    State(inner): Shared,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let mut inner = inner.lock().unwrap();
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let parsed: Value = serde_json::from_slice(&body).unwrap_or_default();
        inner.asked.push(Asked {
            authorization: authorization.clone(),
            all_or_none: parsed["allOrNone"].as_bool().unwrap_or(false),
            ids: parsed["records"]
                .as_array()
                .map(|records| {
                    let ids = records.iter().filter_map(|r| r["id"].as_str());
                    ids.map(str::to_owned).collect()
                })
                .unwrap_or_default(),
        });
        if let Some(refused) = admit(&mut inner, &version, authorization.as_deref()) {
            return refused;
        }
        inner.faults.pop_front()
    };
    match fault {
        Some(Fault::InvalidSession) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
            );
        }
        Some(Fault::Unavailable) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVER_UNAVAILABLE",
                "Server is temporarily unavailable for maintenance.",
            );
        }
        Some(Fault::ConcurrentLimit) => {
            return error(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "ConcurrentPerOrgLongTxn Limit exceeded.",
            );
        }
        Some(Fault::Hang(pause)) => tokio::time::sleep(pause).await,
        None => {}
    }
    serve(&mut inner.lock().unwrap(), &body)
}

/// The token, the version and the daily allocation, which every call passes first.
fn admit(inner: &mut Inner, version: &str, authorization: Option<&str>) -> Option<Response> {
    let token = authorization.and_then(|a| a.strip_prefix("Bearer "));
    if !token.is_some_and(|t| inner.tokens.contains(t)) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        ));
    }
    if version.strip_prefix('v') != Some(API_VERSION) {
        return Some(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        ));
    }
    if inner
        .daily_limit
        .is_some_and(|limit| inner.requests_used >= limit)
    {
        return Some(error(
            StatusCode::FORBIDDEN,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        ));
    }
    inner.requests_used += 1;
    None
}

/// The update itself: the whole call checked, then each record.
fn serve(inner: &mut Inner, body: &[u8]) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "The request body isn't valid JSON.",
        );
    };
    let Some(records) = body["records"].as_array() else {
        return error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "records: a list of sObjects is required",
        );
    };
    if records.len() > MAX_RECORDS {
        return error(
            StatusCode::BAD_REQUEST,
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        );
    }
    let updates = match read_records(inner, records) {
        Ok(updates) => updates,
        Err((code, message)) => return error(StatusCode::BAD_REQUEST, code, &message),
    };
    let all_or_none = body["allOrNone"].as_bool().unwrap_or(false);
    let checked: Vec<Option<Value>> = updates
        .iter()
        .map(|(id, fields)| check(inner, id.as_deref(), fields))
        .collect();
    let rolled_back = all_or_none && checked.iter().any(Option::is_some);
    let results: Vec<Value> = updates
        .into_iter()
        .zip(checked)
        .map(|((id, fields), failed)| match failed {
            Some(error) => json!({ "success": false, "errors": [error] }),
            None if rolled_back => json!({ "success": false, "errors": [save_error(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request was \
                 using AllOrNone header",
                &[],
            )] }),
            None => {
                let id = id.unwrap_or_default();
                inner.leads.entry(id.clone()).or_default().extend(fields);
                json!({ "id": id, "success": true, "errors": [] })
            }
        })
        .collect();
    (StatusCode::OK, Json(Value::Array(results))).into_response()
}

/// Each record's id (if it has one) and the fields to set.
type Records = Vec<(Option<String>, Map<String, Value>)>;

/// The records of a call, or the code and message of the whole call's 400: a record that is no sObject, a type
/// other than Lead, or a field Leads do not have.
fn read_records(inner: &Inner, records: &[Value]) -> Result<Records, (&'static str, String)> {
    let mut updates = Vec::with_capacity(records.len());
    for record in records {
        let Some(record) = record.as_object() else {
            return Err((
                "JSON_PARSER_ERROR",
                "records: each must be an sObject".to_string(),
            ));
        };
        match record.get("attributes").and_then(|a| a["type"].as_str()) {
            Some("Lead") => {}
            Some(other) => {
                return Err((
                    "INVALID_TYPE",
                    format!("sObject type '{other}' is not supported."),
                ));
            }
            None => {
                return Err((
                    "INVALID_TYPE",
                    "Must send a concrete entity type.".to_string(),
                ));
            }
        }
        let fields: Map<String, Value> = record
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "attributes" | "id" | "Id"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if let Some(unknown) = fields.keys().find(|name| !knows(inner, name)) {
            return Err((
                "INVALID_FIELD",
                format!("No such column '{unknown}' on sobject of type Lead"),
            ));
        }
        let id = record
            .get("id")
            .or(record.get("Id"))
            .and_then(Value::as_str);
        updates.push((id.map(str::to_owned), fields));
    }
    Ok(updates)
}

fn knows(inner: &Inner, field: &str) -> bool {
    STANDARD_FIELDS.contains(&field) || inner.custom_fields.contains(field)
}

fn save_error(code: &str, message: &str, fields: &[&str]) -> Value {
    json!({ "statusCode": code, "message": message, "fields": fields })
}

/// Why one record cannot be written, if it cannot (a scripted lock is used up by trying).
fn check(inner: &mut Inner, id: Option<&str>, fields: &Map<String, Value>) -> Option<Value> {
    let Some(id) = id else {
        return Some(save_error(
            "MISSING_ARGUMENT",
            "Id not specified in an update call",
            &[],
        ));
    };
    let well_formed = matches!(id.len(), 15 | 18) && id.chars().all(|c| c.is_ascii_alphanumeric());
    if !well_formed {
        return Some(save_error(
            "MALFORMED_ID",
            &format!("malformed id {id}"),
            &["Id"],
        ));
    }
    if !id.starts_with("00Q") {
        return Some(save_error(
            "MALFORMED_ID",
            &format!("Lead ID: id value of incorrect type: {id}"),
            &["Id"],
        ));
    }
    if inner.deleted.contains(id) {
        return Some(save_error("ENTITY_IS_DELETED", "entity is deleted", &[]));
    }
    if !inner.leads.contains_key(id) {
        return Some(save_error(
            "INVALID_CROSS_REFERENCE_KEY",
            "invalid cross reference id",
            &[],
        ));
    }
    for (field, value) in fields {
        let Some(allowed) = inner.picklists.get(field) else {
            continue;
        };
        if !value
            .as_str()
            .is_some_and(|v| allowed.iter().any(|a| a == v))
        {
            let shown = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            return Some(save_error(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                &format!("{field}: bad value for restricted picklist field: {shown}"),
                &[field],
            ));
        }
    }
    if let Some(left) = inner.locked.get_mut(id).filter(|left| **left > 0) {
        *left -= 1;
        return Some(save_error(
            "UNABLE_TO_LOCK_ROW",
            &format!("unable to obtain exclusive access to this record or 1 records: {id}"),
            &[],
        ));
    }
    None
}
