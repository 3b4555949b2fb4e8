//! `[writeback.salesforce_api]`: the Salesforce org that CRM write-back updates Leads in, through
//! an External Client App (or Connected App) with the OAuth 2.0 client credentials flow.
//!
//! As it is to appear in `config/default.toml`:
//!
//! ```toml
//! [writeback.salesforce_api]
//! # The org's My Domain URL, where tokens are issued (the client credentials flow is not
//! # served by login.salesforce.com), e.g. "https://acme.my.salesforce.com".
//! login_url = "https://acme.my.salesforce.com"
//! # The app's consumer key.
//! client_id = ""
//! # The app's consumer secret: from the environment only
//! # (LEADROUTER_WRITEBACK__SALESFORCE_API__CLIENT_SECRET), never in this file.
//! # client_secret = ""
//! # The REST API version called (/services/data/v62.0/...).
//! api_version = "62.0"
//! # How long one call (token or update) may take, in seconds, before the batch is
//! # answered as unavailable and tried again later.
//! timeout_secs = 10
//! # How long to wait after Salesforce answers REQUEST_LIMIT_EXCEEDED for the org's rolling
//! # 24-hour API request allocation, in seconds: Salesforce says no time to wait.
//! request_limit_pause_secs = 900
//! ```

use serde::Deserialize;

use crate::domain::Secret;

/// The Salesforce org and app write-back uses (`[writeback.salesforce_api]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceApiSettings {
    /// The org's My Domain URL, where `POST /services/oauth2/token` issues tokens.
    pub login_url: String,
    /// The app's consumer key.
    pub client_id: String,
    /// The app's consumer secret, from the environment only.
    pub client_secret: Secret,
    /// The REST API version, without the `v` (`62.0`).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// How long one HTTP call may take, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// The pause after the org's daily request allocation is exhausted, in seconds.
    #[serde(default = "default_request_limit_pause_secs")]
    pub request_limit_pause_secs: u64,
}

fn default_api_version() -> String {
    "62.0".to_owned()
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_request_limit_pause_secs() -> u64 {
    900
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_org_and_the_app_are_required() {
        let settings: SalesforceApiSettings = serde_json::from_value(serde_json::json!({
            "login_url": "https://acme.my.salesforce.com",
            "client_id": "3MVG9",
            "client_secret": "s3cr3t",
        }))
        .unwrap();
        assert_eq!(settings.api_version, "62.0");
        assert_eq!(settings.timeout_secs, 10);
        assert_eq!(settings.request_limit_pause_secs, 900);
        assert_eq!(format!("{:?}", settings.client_secret), "***");
    }
}
