//! A local server that answers as HubSpot's CRM API documents its batch read of contacts
//! (`POST /crm/v3/objects/contacts/batch/read`): a bearer token or 401, at most 100 inputs or
//! 400, 200 when every id is found and 207 with an `OBJECT_NOT_FOUND` error when some are not,
//! and, when told to, 429 with `Retry-After` or a 5xx. It records what it was asked.
//!
//! It also answers the batch update of contacts as HubSpot documents it ([`update`]), with
//! HubSpot's rolling ten-second request limit, for CRM write-back; the batch read of deals;
//! and the v4 batch read of deals' contacts
//! (`POST /crm/v4/associations/deals/contacts/batch/read`), 207 with an error for a deal with
//! none.
//!
//! The e2e tests (`tests/api/hubspot.rs`, `tests/api/crm_writeback.rs`) and `loadgen`'s
//! HubSpot and write-back phases use it.

mod update;

pub use update::Update;

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The access token it accepts (`Authorization: Bearer …`); any other is a 401.
pub const TOKEN: &str = "pat-na1-00000000-0000-0000-0000-000000000000";

/// A scripted answer, used before the normal one.
#[derive(Clone, Debug)]
pub enum Fault {
    /// 429 with this `Retry-After` (seconds), as HubSpot's rate limiter answers.
    RateLimited(u64),
    /// 502, HubSpot's answer when its backend fails.
    BadGateway,
    /// (Batch update) no answer for this long, then 504.
    Hang(Duration),
    /// (Batch update) the normal answer, after this long.
    Slow(Duration),
    /// (Batch update) these contact ids fail with an error of `category` in a 207, the
    /// others are updated.
    RecordErrors { ids: Vec<String>, category: String },
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Asked {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The object type read (`contacts`, `companies`).
    pub object: String,
    /// The ids of `inputs`.
    pub ids: Vec<String>,
    /// The properties asked for.
    pub properties: Vec<String>,
}

/// Contacts made by rule rather than one by one: an id's properties, or `None` for an id that
/// is no contact.
type Directory = Arc<dyn Fn(&str) -> Option<Vec<(String, String)>> + Send + Sync>;

#[derive(Default)]
struct Inner {
    contacts: BTreeMap<String, BTreeMap<String, String>>,
    companies: BTreeMap<String, BTreeMap<String, String>>,
    deals: BTreeMap<String, BTreeMap<String, String>>,
    /// Each deal's associated contact ids.
    deal_contacts: BTreeMap<String, Vec<u64>>,
    directory: Option<Directory>,
    faults: VecDeque<Fault>,
    /// Every request is a 502 while set.
    down: bool,
    asked: Vec<Asked>,
    /// Contact properties that do not exist in the portal (any other does).
    undefined: BTreeSet<String>,
    /// Batch updates a rolling ten seconds takes (`None`: 100, the private-app limit of
    /// Free and Starter portals; 190 for Professional and Enterprise).
    rate_limit: Option<usize>,
    /// The rolling window's length (`None`: HubSpot's ten seconds).
    rate_window: Option<Duration>,
    /// When each batch update within the last ten seconds arrived.
    window: VecDeque<Instant>,
    updates: Vec<Update>,
    /// 429s its own rate limit gave (not scripted ones).
    rate_limited: usize,
}

/// The stand-in, serving on the runtime that started it until that runtime ends.
#[derive(Clone)]
pub struct HubSpotApi {
    /// Where it listens (`http://127.0.0.1:port`): the connector's `api_base_url`.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl HubSpotApi {
    /// Listens on a free local port and serves in a task of the current runtime.
    pub async fn start() -> std::io::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/crm/v3/objects/{object}/batch/read", post(batch_read))
            .route(
                "/crm/v4/associations/{from}/{to}/batch/read",
                post(associations_read),
            )
            .route(
                "/crm/v3/objects/contacts/batch/update",
                post(update::batch_update),
            )
            .with_state(inner.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the HubSpot API stand-in stopped");
            }
        });
        Ok(Self { base, inner })
    }

    /// Makes contact `id` exist with `properties`.
    pub fn contact(&self, id: &str, properties: &[(&str, &str)]) {
        self.inner
            .lock()
            .unwrap()
            .contacts
            .insert(id.to_owned(), owned(properties));
    }

    /// Makes company `id` exist with `properties`.
    pub fn company(&self, id: &str, properties: &[(&str, &str)]) {
        self.inner
            .lock()
            .unwrap()
            .companies
            .insert(id.to_owned(), owned(properties));
    }

    /// Makes deal `id` exist with `properties`, associated with the contacts `contacts`.
    pub fn deal(&self, id: &str, properties: &[(&str, &str)], contacts: &[u64]) {
        let mut inner = self.inner.lock().unwrap();
        inner.deals.insert(id.to_owned(), owned(properties));
        inner.deal_contacts.insert(id.to_owned(), contacts.to_vec());
    }

    /// Makes every id that `directory` gives properties for a contact too (those set with
    /// [`HubSpotApi::contact`] come first): for more contacts than are worth storing, such as a
    /// benchmark's, which reads new ones all the time.
    pub fn contacts_from(
        &self,
        directory: impl Fn(&str) -> Option<Vec<(String, String)>> + Send + Sync + 'static,
    ) {
        self.inner.lock().unwrap().directory = Some(Arc::new(directory));
    }

    /// Answers the next request with `fault`.
    pub fn fail_next(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    /// Makes every request a 502 (HubSpot down) until set back.
    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }

    /// Every request so far.
    pub fn asked(&self) -> Vec<Asked> {
        self.inner.lock().unwrap().asked.clone()
    }

    /// How many requests it has received.
    pub fn requests(&self) -> usize {
        self.inner.lock().unwrap().asked.len()
    }

    /// Every batch update so far, answered or not.
    pub fn updates(&self) -> Vec<Update> {
        self.inner.lock().unwrap().updates.clone()
    }

    /// How many 429s its rolling ten-second limit gave.
    pub fn rate_limited(&self) -> usize {
        self.inner.lock().unwrap().rate_limited
    }

    /// Batch updates any rolling ten seconds takes from now on (default 100).
    pub fn set_rate_limit(&self, per_ten_seconds: usize) {
        self.inner.lock().unwrap().rate_limit = Some(per_ten_seconds);
    }

    /// Makes the rolling window `window` long instead of ten seconds, so that a test sees
    /// the limit at work without waiting ten seconds.
    pub fn set_rate_window(&self, window: Duration) {
        self.inner.lock().unwrap().rate_window = Some(window);
    }

    /// Makes contact property `name` not exist in the portal.
    pub fn undefine_property(&self, name: &str) {
        self.inner.lock().unwrap().undefined.insert(name.to_owned());
    }

    /// Contact `id`'s properties as they stand, if it is stored.
    pub fn contact_properties(&self, id: &str) -> Option<BTreeMap<String, String>> {
        self.inner.lock().unwrap().contacts.get(id).cloned()
    }
}

fn owned(properties: &[(&str, &str)]) -> BTreeMap<String, String> {
    properties
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The `Authorization` header, if any.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// HubSpot's 401 unless `authorization` carries [`TOKEN`].
fn unauthorized(authorization: Option<&str>) -> Option<Response> {
    (authorization != Some(&format!("Bearer {TOKEN}"))).then(|| {
        error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        )
    })
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let body = json!({
        "status": "error",
        "message": message,
        "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
        "category": category,
    });
    (status, Json(body)).into_response()
}

async fn batch_read(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(object): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let authorization = authorization(&headers);
    let texts = |key: &str, field: &str| -> Vec<String> {
        body[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| {
                        if field.is_empty() {
                            i.as_str()
                        } else {
                            i[field].as_str()
                        }
                    })
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let ids = texts("inputs", "id");
    let properties = texts("properties", "");
    inner.asked.push(Asked {
        object: object.clone(),
        authorization: authorization.clone(),
        ids: ids.clone(),
        properties: properties.clone(),
    });
    if let Some(refused) = unauthorized(authorization.as_deref()) {
        return refused;
    }
    if ids.len() > 100 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Batch input cannot exceed 100 inputs.",
        );
    }
    if inner.down {
        return error(StatusCode::BAD_GATEWAY, "INTERNAL_ERROR", "Bad Gateway");
    }
    match inner.faults.pop_front() {
        Some(Fault::RateLimited(secs)) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITS",
                "You have reached your secondly limit.",
            );
            response
                .headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            return response;
        }
        Some(Fault::BadGateway) => {
            return error(StatusCode::BAD_GATEWAY, "INTERNAL_ERROR", "Bad Gateway");
        }
        Some(Fault::Hang(_) | Fault::Slow(_) | Fault::RecordErrors { .. }) | None => {}
    }
    let (mut results, mut missing) = (Vec::new(), Vec::new());
    for id in &ids {
        let stored = match object.as_str() {
            "contacts" => inner.contacts.get(id).cloned().or_else(|| {
                let directory = inner.directory.as_ref()?;
                Some(directory(id)?.into_iter().collect())
            }),
            "companies" => inner.companies.get(id).cloned(),
            "deals" => inner.deals.get(id).cloned(),
            _ => None,
        };
        match stored {
            Some(stored) => {
                let props: serde_json::Map<String, Value> = properties
                    .iter()
                    .map(|p| {
                        (
                            p.clone(),
                            stored.get(p).map_or(Value::Null, |v| v.clone().into()),
                        )
                    })
                    .collect();
                results.push(json!({
                    "id": id,
                    "properties": props,
                    "createdAt": "2026-11-01T09:00:00.000Z",
                    "updatedAt": "2026-11-20T09:00:00.000Z",
                    "archived": false,
                }));
            }
            None => missing.push(id.clone()),
        }
    }
    let mut answer = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2026-11-20T10:00:00.000Z",
        "completedAt": "2026-11-20T10:00:00.020Z",
    });
    if missing.is_empty() {
        return (StatusCode::OK, Json(answer)).into_response();
    }
    answer["numErrors"] = 1.into();
    answer["errors"] = json!([{
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": format!(
            "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
            match object.as_str() {
                "companies" => "COMPANY",
                "deals" => "DEAL",
                _ => "CONTACT",
            }
        ),
        "context": { "ids": missing },
    }]);
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}

/// The v4 batch read of associations, for deals to contacts (type 3, `deal_to_contact`): 401
/// without the token, 400 past 1,000 inputs, a 207 naming the deals that have none.
async fn associations_read(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((from, to)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut inner = inner.lock().unwrap();
    let authorization = authorization(&headers);
    let ids: Vec<String> = body["inputs"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    inner.asked.push(Asked {
        object: format!("{from}/{to}"),
        authorization: authorization.clone(),
        ids: ids.clone(),
        properties: Vec::new(),
    });
    if let Some(refused) = unauthorized(authorization.as_deref()) {
        return refused;
    }
    if (from.as_str(), to.as_str()) != ("deals", "contacts") {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Only deals to contacts is served here.",
        );
    }
    if ids.len() > 1_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Batch input cannot exceed 1000 inputs.",
        );
    }
    if inner.down {
        return error(StatusCode::BAD_GATEWAY, "INTERNAL_ERROR", "Bad Gateway");
    }
    let (mut results, mut errors) = (Vec::new(), Vec::new());
    for id in &ids {
        match inner.deal_contacts.get(id).filter(|c| !c.is_empty()) {
            Some(contacts) => results.push(json!({
                "from": {"id": id},
                "to": contacts.iter().map(|c| json!({
                    "toObjectId": c,
                    "associationTypes": [
                        {"category": "HUBSPOT_DEFINED", "typeId": 3, "label": null}
                    ],
                })).collect::<Vec<_>>(),
            })),
            None => errors.push(json!({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": format!("No contacts is associated with deal {id}."),
                "context": {"fromObjectId": [id]},
            })),
        }
    }
    let mut answer = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2026-11-20T10:00:00.000Z",
        "completedAt": "2026-11-20T10:00:00.020Z",
    });
    if errors.is_empty() {
        return (StatusCode::OK, Json(answer)).into_response();
    }
    answer["numErrors"] = errors.len().into();
    answer["errors"] = errors.into();
    (StatusCode::MULTI_STATUS, Json(answer)).into_response()
}
