//! A local server that answers as Salesforce documents the two calls CRM write-back makes:
//! the OAuth 2.0 client credentials flow (`POST /services/oauth2/token`) and the update of
//! records through sObject Collections (`PATCH /services/data/v62.0/composite/sobjects`).
//!
//! It holds Leads and their field values, knows which Lead fields exist, and answers per
//! record (deleted, unknown or malformed ids, a restricted picklist, a scripted
//! `UNABLE_TO_LOCK_ROW`) or for the whole call (a bad token: 401 `INVALID_SESSION_ID`; more
//! than 200 records: 400 `EXCEEDED_ID_LIMIT`; an unknown field: 400 `INVALID_FIELD`; the
//! org's daily request allocation spent: 403 `REQUEST_LIMIT_EXCEEDED`; scripted 503s, the
//! concurrent-request limit and hangs). It counts the calls and records what it was asked.
//!
//! The e2e tests (`tests/api/salesforce_writeback.rs`) use it; so can a write-back benchmark.

mod handlers;

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    routing::{patch, post},
};
use serde_json::{Map, Value};
use tokio::net::TcpListener;

use crate::{config::SalesforceApiSettings, domain::Secret};

/// The consumer key it issues tokens for.
pub const CLIENT_ID: &str =
    "3MVG9VwZxxW3bBQjhE6m21CG2nSS4WC.GNbZCtKeQxFH7218ns6xOLCNnJVKnZFTZWKzt2";
/// The consumer secret that goes with [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "8A4BE698BCA216718ECB0B1DCA294C69732EAD9472A1790F8FED38DD2E02B5FA";
/// The only API version it serves.
pub const API_VERSION: &str = "62.0";
/// The Lead fields every org has that it knows (custom ones are added with
/// [`SalesforceApi::custom_fields`]).
const STANDARD_FIELDS: &[&str] = &[
    "FirstName",
    "LastName",
    "Company",
    "Email",
    "Title",
    "Phone",
    "Status",
    "Rating",
    "LeadSource",
    "Description",
    "OwnerId",
];

/// A scripted answer for the next update call, after its token is checked.
#[derive(Clone, Debug)]
pub enum Fault {
    /// 401 `INVALID_SESSION_ID` whatever the token, as when the session was ended between
    /// the token check and the call.
    InvalidSession,
    /// 503 `SERVER_UNAVAILABLE`, as during maintenance.
    Unavailable,
    /// 403 `REQUEST_LIMIT_EXCEEDED` for too many concurrent long-running requests.
    ConcurrentLimit,
    /// No answer for this long; then the call is served as usual (a client that gave up
    /// does not know whether it was written).
    Hang(Duration),
}

/// One update call as received.
#[derive(Clone, Debug)]
pub struct Asked {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The body's `allOrNone`.
    pub all_or_none: bool,
    /// The records' ids, in order.
    pub ids: Vec<String>,
}

#[derive(Default)]
struct Inner {
    base: String,
    leads: BTreeMap<String, Map<String, Value>>,
    deleted: BTreeSet<String>,
    custom_fields: BTreeSet<String>,
    picklists: BTreeMap<String, Vec<String>>,
    /// Lead id → how many more updates of it fail with `UNABLE_TO_LOCK_ROW`.
    locked: BTreeMap<String, u32>,
    faults: VecDeque<Fault>,
    tokens: BTreeSet<String>,
    tokens_issued: u64,
    token_requests: usize,
    daily_limit: Option<u64>,
    requests_used: u64,
    asked: Vec<Asked>,
}

/// The stand-in, serving on the runtime that started it until that runtime ends.
#[derive(Clone)]
pub struct SalesforceApi {
    /// Where it listens (`http://127.0.0.1:port`): both the login URL and the instance URL
    /// its tokens name.
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl SalesforceApi {
    /// Listens on a free local port and serves in a task of the current runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let inner = Arc::new(Mutex::new(Inner {
            base: base.clone(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/services/oauth2/token", post(handlers::token))
            .route(
                "/services/data/{version}/composite/sobjects",
                patch(handlers::update),
            )
            .with_state(inner.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the Salesforce API stand-in stopped");
            }
        });
        Ok(Self { base, inner })
    }

    /// Settings of a client of this org: its credentials, a 2 s timeout, a 15 min pause.
    pub fn settings(&self) -> SalesforceApiSettings {
        SalesforceApiSettings {
            login_url: self.base.clone(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: Secret::new(CLIENT_SECRET.to_owned()),
            api_version: API_VERSION.to_owned(),
            timeout_secs: 2,
            request_limit_pause_secs: 900,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// Makes Lead `id` exist with `fields` (a JSON object).
    pub fn lead(&self, id: &str, fields: Value) {
        let fields = fields.as_object().cloned().unwrap_or_default();
        self.with(|i| i.leads.insert(id.to_owned(), fields));
    }

    /// Deletes Lead `id` (it is in the recycle bin: updates answer `ENTITY_IS_DELETED`).
    pub fn delete(&self, id: &str) {
        self.with(|i| {
            i.leads.remove(id);
            i.deleted.insert(id.to_owned());
        });
    }

    /// Makes custom Lead fields (`Fit_Score__c`, …) exist.
    pub fn custom_fields(&self, names: &[&str]) {
        self.with(|i| {
            i.custom_fields
                .extend(names.iter().map(|n| (*n).to_owned()))
        });
    }

    /// Makes `field` a restricted picklist of `values`.
    pub fn restricted_picklist(&self, field: &str, values: &[&str]) {
        let values = values.iter().map(|v| (*v).to_owned()).collect();
        self.with(|i| {
            i.custom_fields.insert(field.to_owned());
            i.picklists.insert(field.to_owned(), values)
        });
    }

    /// Makes the next `times` updates of Lead `id` fail with `UNABLE_TO_LOCK_ROW`.
    pub fn lock(&self, id: &str, times: u32) {
        self.with(|i| i.locked.insert(id.to_owned(), times));
    }

    /// Answers the next update call with `fault`.
    pub fn fail_next(&self, fault: Fault) {
        self.with(|i| i.faults.push_back(fault));
    }

    /// Invalidates every token issued so far, as when the session times out or an admin
    /// revokes it: the next call with one gets 401 `INVALID_SESSION_ID`.
    pub fn revoke_tokens(&self) {
        self.with(|i| i.tokens.clear());
    }

    /// Sets the org's daily API request allocation: update calls past it get 403
    /// `REQUEST_LIMIT_EXCEEDED`. Unlimited unless set.
    pub fn set_daily_limit(&self, requests: u64) {
        self.with(|i| i.daily_limit = Some(requests));
    }

    /// Lead `id`'s fields as Salesforce holds them, if it exists.
    pub fn fields_of(&self, id: &str) -> Option<Map<String, Value>> {
        self.with(|i| i.leads.get(id).cloned())
    }

    /// Every update call so far (served or not).
    pub fn asked(&self) -> Vec<Asked> {
        self.with(|i| i.asked.clone())
    }

    /// How many update calls it has received.
    pub fn calls(&self) -> usize {
        self.with(|i| i.asked.len())
    }

    /// How many token requests it has received (granted or not).
    pub fn token_requests(&self) -> usize {
        self.with(|i| i.token_requests)
    }

    /// Update calls counted against the daily allocation.
    pub fn requests_used(&self) -> u64 {
        self.with(|i| i.requests_used)
    }
}
