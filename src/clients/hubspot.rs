//! HubSpot's CRM API, for the reads the webhook connector needs: contacts, companies and
//! deals by id (`POST /crm/v3/objects/{contacts,companies,deals}/batch/read`, at most 100 ids
//! a call) and the contacts of deals (`POST /crm/v4/associations/deals/contacts/batch/read`),
//! authenticated with a private app's access token.
//!
//! Every failure is a 503 for the webhook being handled ([`ApiError::UpstreamUnavailable`]),
//! so HubSpot redelivers it later: an event is never acknowledged unless it was stored. A 429
//! or a 5xx is retried within the call's budget when HubSpot's `Retry-After` fits in it.

mod update;

pub use update::{ContactsApi, MAX_BATCH_UPDATE};

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use tokio::time::Instant;

use crate::{config::HubSpotSettings, domain::Secret, error::ApiError};

/// Most ids one batch read takes.
pub const MAX_BATCH_READ: usize = 100;
/// How long all the calls for one webhook may take together: HubSpot waits 5 s for the
/// answer, and the events must still be stored after.
const BUDGET: Duration = Duration::from_millis(3_500);
/// Retries of one call after a 429 or a 5xx, at most: HubSpot is not to be hammered.
const MAX_RETRIES: u32 = 2;
/// The wait before retrying a 5xx that gave no `Retry-After`.
const SERVER_ERROR_BACKOFF: Duration = Duration::from_millis(250);
const SERVICE: &str = "HubSpot's API";

/// A client of HubSpot's CRM API.
#[derive(Clone, Debug)]
pub struct CrmApi {
    http: reqwest::Client,
    objects_url: String,
    associations_url: String,
    token: Secret,
}

/// The CRM objects the connector reads.
#[derive(Clone, Copy, Debug)]
pub enum Object {
    Contacts,
    Companies,
    Deals,
}

impl Object {
    fn path(self) -> &'static str {
        match self {
            Object::Contacts => "contacts",
            Object::Companies => "companies",
            Object::Deals => "deals",
        }
    }
}

/// The properties a read returns: id to (property, value), null values left out.
pub type ReadObjects = BTreeMap<String, Vec<(String, String)>>;

#[derive(Serialize)]
struct BatchRead<'a> {
    properties: &'a [&'a str],
    inputs: Vec<Input<'a>>,
}

#[derive(Serialize)]
struct Input<'a> {
    id: &'a str,
}

#[derive(Deserialize)]
struct BatchResult {
    #[serde(default)]
    results: Vec<CrmObject>,
}

/// A v4 association batch read's answer: each object's associated ids.
#[derive(Deserialize)]
struct AssociationsResult {
    #[serde(default)]
    results: Vec<Associated>,
}

#[derive(Deserialize)]
struct Associated {
    from: Id,
    #[serde(default)]
    to: Vec<AssociatedTo>,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssociatedTo {
    /// A number in v4's answers.
    to_object_id: serde_json::Value,
}

#[derive(Serialize)]
struct AssociationsRead<'a> {
    inputs: Vec<Input<'a>>,
}

#[derive(Deserialize)]
struct CrmObject {
    id: String,
    #[serde(default)]
    properties: BTreeMap<String, Option<String>>,
}

/// HubSpot's error body (`{"status":"error","message":…,"category":…}`).
#[derive(Deserialize)]
struct ErrorBody {
    message: Option<String>,
    category: Option<String>,
}

impl CrmApi {
    /// The client the settings describe, if an access token is configured.
    pub fn from_settings(settings: &HubSpotSettings) -> Option<Self> {
        let token = settings.access_token.clone()?;
        let base = settings.api_base_url.trim_end_matches('/');
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.api_timeout_ms))
            .build()
            .ok()?;
        Some(Self {
            http,
            objects_url: format!("{base}/crm/v3/objects"),
            associations_url: format!("{base}/crm/v4/associations"),
            token,
        })
    }

    /// Reads `object`s `ids` with `properties`, in batches of [`MAX_BATCH_READ`]. An id
    /// HubSpot does not find (deleted, or never one) is absent from the result.
    pub async fn read(
        &self,
        object: Object,
        ids: &[&str],
        properties: &[&str],
    ) -> Result<ReadObjects, ApiError> {
        let deadline = Instant::now() + BUDGET;
        let url = format!("{}/{}/batch/read", self.objects_url, object.path());
        let mut found = ReadObjects::new();
        for chunk in ids.chunks(MAX_BATCH_READ) {
            let request = BatchRead {
                properties,
                inputs: chunk.iter().map(|id| Input { id }).collect(),
            };
            let read: BatchResult = self.post(&url, &request, deadline).await?;
            for contact in read.results {
                let properties = contact
                    .properties
                    .into_iter()
                    .filter_map(|(name, value)| value.map(|v| (name, v)))
                    .collect();
                found.insert(contact.id, properties);
            }
        }
        Ok(found)
    }

    /// The ids of the `to` objects each of `from`'s `ids` is associated with, in batches of
    /// [`MAX_BATCH_READ`]; an id with none (or not found) is absent.
    pub async fn associations(
        &self,
        from: Object,
        to: Object,
        ids: &[&str],
    ) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
        let deadline = Instant::now() + BUDGET;
        let url = format!(
            "{}/{}/{}/batch/read",
            self.associations_url,
            from.path(),
            to.path()
        );
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for chunk in ids.chunks(MAX_BATCH_READ) {
            let request = AssociationsRead {
                inputs: chunk.iter().map(|id| Input { id }).collect(),
            };
            let read: AssociationsResult = self.post(&url, &request, deadline).await?;
            for associated in read.results {
                let ids = associated
                    .to
                    .into_iter()
                    .filter_map(|t| match t.to_object_id {
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        serde_json::Value::String(s) => Some(s),
                        _ => None,
                    });
                found.entry(associated.from.id).or_default().extend(ids);
            }
        }
        Ok(found)
    }

    /// One read (a POST, as HubSpot's batch reads are), retried on 429 and 5xx while the wait
    /// fits before `deadline`.
    async fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        request: &impl Serialize,
        deadline: Instant,
    ) -> Result<T, ApiError> {
        let mut attempt = 0;
        loop {
            let sent = self
                .http
                .post(url)
                .bearer_auth(self.token.expose())
                .json(request)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => return Err(unavailable(format!("{e}"), None)),
            };
            let status = response.status();
            // 207: some ids were not found, the rest are in `results`.
            if status.is_success() {
                return response
                    .json::<T>()
                    .await
                    .map_err(|e| unavailable(format!("an unreadable answer: {e}"), None));
            }
            let retry_after = crate::clients::retry_after(&response);
            let error: Option<ErrorBody> = response.json().await.ok();
            let said = error
                .map(|e| {
                    format!(
                        "{}{}",
                        e.category.map(|c| format!("{c}: ")).unwrap_or_default(),
                        e.message.unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            let cause = format!("{url} {status} {said}");
            let retryable =
                status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            let wait = retry_after.unwrap_or(SERVER_ERROR_BACKOFF);
            if retryable && attempt < MAX_RETRIES && Instant::now() + wait < deadline {
                tracing::warn!(%status, wait_ms = wait.as_millis() as u64, "HubSpot's API asked to retry");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            if !retryable {
                // A wrong token or scope is the operator's to fix; redelivery finds it fixed.
                tracing::error!(%status, cause = %said, "HubSpot's API refused the read");
            }
            return Err(unavailable(cause, retry_after));
        }
    }
}

fn unavailable(cause: String, retry_after: Option<Duration>) -> ApiError {
    ApiError::UpstreamUnavailable {
        service: SERVICE,
        cause,
        retry_after_secs: retry_after
            .map_or(crate::error::RETRY_AFTER_SECS, |d| d.as_secs().max(1)),
    }
}
