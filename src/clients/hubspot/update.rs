//! HubSpot's batch update of contacts (`POST /crm/v3/objects/contacts/batch/update`, at most
//! 100 inputs a call), for CRM write-back, answered as a [`BatchAnswer`].
//!
//! HubSpot answers 200 when every contact was updated and 207 when some were not, with an
//! `errors` entry per problem naming the contact ids in its `context.ids`
//! (`OBJECT_NOT_FOUND` for a deleted contact). A property that does not exist or a value it
//! refuses fails the whole call with 400 (`VALIDATION_ERROR`, `PROPERTY_DOESNT_EXIST` in the
//! errors): that is configuration for an operator to fix, so it is [`BatchAnswer::Refused`].
//! Property values are strings in HubSpot's API; an empty string clears one.

use std::{collections::BTreeSet, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{
    clients::crm::{BatchAnswer, RecordFailure, RecordUpdate},
    config::HubSpotSettings,
    domain::Secret,
};

/// Most inputs one batch update takes.
pub const MAX_BATCH_UPDATE: usize = 100;
/// How long one call may take: a batch of 100 is slower than a webhook's read.
const TIMEOUT: Duration = Duration::from_secs(20);
/// HubSpot's rolling window, the wait after a 429 that gave no `Retry-After`.
const WINDOW: Duration = Duration::from_secs(10);
/// Error categories that fail the same way on every retry.
const FOR_GOOD: [&str; 4] = [
    "OBJECT_NOT_FOUND",
    "VALIDATION_ERROR",
    "INVALID_EMAIL",
    "OBJECT_ALREADY_EXISTS",
];

/// A client of HubSpot's contacts batch update.
#[derive(Clone, Debug)]
pub struct ContactsApi {
    http: reqwest::Client,
    url: String,
    token: Secret,
}

#[derive(Serialize)]
struct BatchUpdate<'a> {
    inputs: Vec<Input<'a>>,
}

#[derive(Serialize)]
struct Input<'a> {
    id: &'a str,
    properties: Map<String, Value>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<Updated>,
    #[serde(default)]
    errors: Vec<Error>,
}

#[derive(Deserialize)]
struct Updated {
    id: String,
}

#[derive(Deserialize)]
struct Error {
    #[serde(default)]
    category: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    context: Context,
}

#[derive(Default, Deserialize)]
struct Context {
    #[serde(default)]
    ids: Vec<String>,
}

impl ContactsApi {
    /// The client of `sources.hubspot`'s API base URL and access token, if one is set.
    pub fn from_settings(settings: &HubSpotSettings) -> Option<Self> {
        let token = settings.access_token.clone()?;
        let http = reqwest::Client::builder().timeout(TIMEOUT).build().ok()?;
        Some(Self {
            http,
            url: format!(
                "{}/crm/v3/objects/contacts/batch/update",
                settings.api_base_url.trim_end_matches('/')
            ),
            token,
        })
    }

    /// Updates `records` (at most [`MAX_BATCH_UPDATE`]) in one call.
    pub async fn update(&self, records: &[RecordUpdate]) -> BatchAnswer {
        let request = BatchUpdate {
            inputs: records
                .iter()
                .map(|r| Input {
                    id: &r.id,
                    properties: r
                        .fields
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(as_text(v))))
                        .collect(),
                })
                .collect(),
        };
        let sent = self
            .http
            .post(&self.url)
            .bearer_auth(self.token.expose())
            .json(&request)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                return BatchAnswer::Unavailable {
                    error: format!("HubSpot's API: {e}"),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = crate::clients::retry_after(&response);
        let body = response.text().await.unwrap_or_default();
        match status.as_u16() {
            200 | 207 => match serde_json::from_str::<Answer>(&body) {
                Ok(answer) => BatchAnswer::Answered {
                    failed: failures(records, answer),
                },
                Err(e) => BatchAnswer::Unavailable {
                    error: format!("HubSpot's API: an unreadable {status} answer: {e}"),
                    retry_after: None,
                },
            },
            429 => BatchAnswer::RateLimited {
                retry_after: retry_after.unwrap_or(WINDOW),
            },
            s if s >= 500 => BatchAnswer::Unavailable {
                error: format!("HubSpot's API: {status} {}", clip(&body)),
                retry_after,
            },
            _ => BatchAnswer::Refused {
                status: status.as_u16(),
                error: clip(&body),
            },
        }
    }
}

/// The records of `sent` that `answer` does not report updated, each with HubSpot's reason
/// (a record the answer does not mention at all may be tried again).
fn failures(sent: &[RecordUpdate], answer: Answer) -> Vec<RecordFailure> {
    let updated: BTreeSet<&str> = answer.results.iter().map(|r| r.id.as_str()).collect();
    let mut failed: Vec<RecordFailure> = Vec::new();
    for error in &answer.errors {
        for id in &error.context.ids {
            if failed.iter().any(|f| &f.id == id) {
                continue;
            }
            failed.push(RecordFailure {
                id: id.clone(),
                code: error.category.clone(),
                message: error.message.clone(),
                retryable: !FOR_GOOD.contains(&error.category.as_str()),
            });
        }
    }
    for record in sent {
        let known =
            updated.contains(record.id.as_str()) || failed.iter().any(|f| f.id == record.id);
        if !known {
            failed.push(RecordFailure {
                id: record.id.clone(),
                code: "NOT_IN_ANSWER".into(),
                message: "HubSpot's answer neither updated nor refused the contact".into(),
                retryable: true,
            });
        }
    }
    failed
}

/// A value as HubSpot's API takes it: text, a number's digits, "" for null (clears it).
fn as_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn clip(body: &str) -> String {
    body.chars().take(500).collect()
}
