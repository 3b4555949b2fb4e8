//! Salesforce's REST API, for CRM write-back: Lead fields updated through sObject
//! Collections (`PATCH {instance_url}/services/data/v{version}/composite/sobjects`, at most
//! [`MAX_BATCH`] records a call, `allOrNone: false` so each record stands alone), with a token
//! from the OAuth 2.0 client credentials flow.
//!
//! Every outcome is a [`BatchAnswer`]: per-record failures when Salesforce answered the
//! records, `RateLimited` for the org's request limits, `Unavailable` for 5xx, connection
//! errors and timeouts, `Refused` for what only an operator can fix. A rejected token is
//! renewed once and the call tried once more; nothing else is retried here, since the
//! write-back pipeline schedules retries.

mod answer;
#[cfg(test)]
mod tests;
mod token;

use std::{sync::Arc, time::Duration};

use serde_json::{Map, Value, json};

use self::{
    answer::Reply,
    token::{Token, Tokens},
};
use crate::{
    clients::crm::{BatchAnswer, RecordFailure, RecordUpdate},
    config::SalesforceApiSettings,
};

/// Most records one update call takes (Salesforce answers more with `EXCEEDED_ID_LIMIT`).
pub const MAX_BATCH: usize = 200;
/// The key prefix of Lead ids: the only records this client writes.
const LEAD_PREFIX: &str = "00Q";
/// The code of a record refused before sending because its id is no Lead's (ours, not
/// Salesforce's).
pub const NOT_A_LEAD: &str = "NOT_A_LEAD_ID";

/// A client of one org's Leads; cheap to clone, and clones share the token.
#[derive(Clone, Debug)]
pub struct LeadsApi {
    http: reqwest::Client,
    tokens: Arc<Tokens>,
    api_version: String,
    request_limit_pause: Duration,
}

impl LeadsApi {
    /// The client the settings describe, with its own HTTP client and their timeout.
    ///
    /// # Panics
    ///
    /// As `reqwest::Client::new` does, if the TLS backend cannot be initialised.
    pub fn new(settings: &SalesforceApiSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs))
            .build()
            .expect("the TLS backend initialises");
        Self::with_client(settings, http)
    }

    /// The client the settings describe, calling through `http` (whose timeout applies;
    /// `timeout_secs` is not read).
    pub fn with_client(settings: &SalesforceApiSettings, http: reqwest::Client) -> Self {
        let tokens = Tokens::new(
            http.clone(),
            &settings.login_url,
            &settings.client_id,
            settings.client_secret.clone(),
        );
        Self {
            http,
            tokens: Arc::new(tokens),
            api_version: settings.api_version.trim_start_matches('v').to_owned(),
            request_limit_pause: Duration::from_secs(settings.request_limit_pause_secs),
        }
    }

    /// Sets `records`' fields on their Leads, in one call.
    ///
    /// More than [`MAX_BATCH`] records are never sent: the answer is `Refused` (status 400,
    /// as Salesforce's `EXCEEDED_ID_LIMIT`), and the caller is to split the batch. A record
    /// whose id is not a Lead's (`00Q…`) is not sent either, and is answered as a permanent
    /// [`NOT_A_LEAD`] failure along with Salesforce's answer for the rest.
    #[tracing::instrument(skip_all, fields(salesforce.records = records.len()))]
    pub async fn update(&self, records: &[RecordUpdate]) -> BatchAnswer {
        if records.len() > MAX_BATCH {
            return BatchAnswer::Refused {
                status: 400,
                error: format!(
                    "EXCEEDED_ID_LIMIT: {} records, at most {MAX_BATCH} a call; not sent",
                    records.len()
                ),
            };
        }
        let (leads, others): (Vec<&RecordUpdate>, Vec<&RecordUpdate>) =
            records.iter().partition(|r| r.id.starts_with(LEAD_PREFIX));
        let mut failed: Vec<RecordFailure> = others.iter().map(|r| not_a_lead(&r.id)).collect();
        if leads.is_empty() {
            return BatchAnswer::Answered { failed };
        }
        match self.send(&leads).await {
            BatchAnswer::Answered { failed: answered } => {
                failed.extend(answered);
                BatchAnswer::Answered { failed }
            }
            other => other,
        }
    }

    /// One update call, and one more with a new token if Salesforce rejects the token.
    async fn send(&self, leads: &[&RecordUpdate]) -> BatchAnswer {
        let body = request_body(leads);
        let ids: Vec<&str> = leads.iter().map(|r| r.id.as_str()).collect();
        let token = match self.tokens.current().await {
            Ok(token) => token,
            Err(answer) => return answer,
        };
        let said = match self.patch(&token, &body, &ids).await {
            Reply::Done(answer) => return answer,
            Reply::SessionInvalid(said) => said,
        };
        tracing::info!(cause = %said, "Salesforce rejected the access token; renewing it");
        let token = match self.tokens.renew(&token).await {
            Ok(token) => token,
            Err(answer) => return answer,
        };
        match self.patch(&token, &body, &ids).await {
            Reply::Done(answer) => answer,
            Reply::SessionInvalid(said) => BatchAnswer::Refused {
                status: 401,
                error: format!("a new access token was rejected too: {said}"),
            },
        }
    }

    async fn patch(&self, token: &Token, body: &Value, ids: &[&str]) -> Reply {
        let url = format!(
            "{}/services/data/v{}/composite/sobjects",
            token.instance_url, self.api_version
        );
        let sent = self
            .http
            .patch(&url)
            .bearer_auth(token.access.expose())
            .json(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return unavailable(format!("{url}: {}", describe(&e))),
        };
        let status = response.status().as_u16();
        let retry_after = crate::clients::retry_after(&response);
        match response.bytes().await {
            Ok(bytes) => {
                answer::read_update(status, retry_after, &bytes, ids, self.request_limit_pause)
            }
            Err(e) => unavailable(format!("{url}: {status}, then {}", describe(&e))),
        }
    }
}

/// The sObject Collections body: each record typed `Lead`, with its id and fields.
fn request_body(leads: &[&RecordUpdate]) -> Value {
    let records: Vec<Value> = leads
        .iter()
        .map(|record| {
            let mut fields = Map::with_capacity(record.fields.len() + 2);
            fields.insert("attributes".to_owned(), json!({ "type": "Lead" }));
            fields.insert("id".to_owned(), record.id.clone().into());
            for (name, value) in &record.fields {
                if !matches!(name.as_str(), "attributes" | "id" | "Id") {
                    fields.insert(name.clone(), value.clone());
                }
            }
            Value::Object(fields)
        })
        .collect();
    json!({ "allOrNone": false, "records": records })
}

fn not_a_lead(id: &str) -> RecordFailure {
    RecordFailure {
        id: id.to_owned(),
        code: NOT_A_LEAD.to_owned(),
        message: format!("{id:?} is not a Lead id (00Q…); not sent"),
        retryable: false,
    }
}

fn unavailable(error: String) -> Reply {
    Reply::Done(BatchAnswer::Unavailable {
        error,
        retry_after: None,
    })
}

/// A transport error with its causes (reqwest's own message names only the URL).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
