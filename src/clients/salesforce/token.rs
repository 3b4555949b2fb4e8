//! The access token of the OAuth 2.0 client credentials flow, fetched on first use, shared by
//! every call, and renewed only when Salesforce answers that the session is invalid (its
//! tokens carry no expiry: the org's session timeout decides).

use tokio::sync::Mutex;

use super::{answer, describe};
use crate::{clients::crm::BatchAnswer, domain::Secret};

/// A token and the org instance it is for.
#[derive(Clone, Debug)]
pub(super) struct Token {
    pub access: Secret,
    /// Where the org's REST API is (`https://acme.my.salesforce.com`), from the token answer.
    pub instance_url: String,
    /// Which fetch issued it, so a renewal asked for by several calls at once fetches once.
    generation: u64,
}

#[derive(Debug, Default)]
struct Cache {
    token: Option<Token>,
    fetched: u64,
}

/// The token endpoint and the cached token.
#[derive(Debug)]
pub(super) struct Tokens {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    // A tokio mutex held across the fetch: concurrent calls wait for the one fetch instead of
    // each asking Salesforce for a token.
    cache: Mutex<Cache>,
}

impl Tokens {
    pub fn new(http: reqwest::Client, login_url: &str, client_id: &str, secret: Secret) -> Self {
        Self {
            http,
            token_url: format!("{}/services/oauth2/token", login_url.trim_end_matches('/')),
            client_id: client_id.to_owned(),
            client_secret: secret,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The cached token, fetched first if there is none.
    pub async fn current(&self) -> Result<Token, BatchAnswer> {
        let mut cache = self.cache.lock().await;
        match &cache.token {
            Some(token) => Ok(token.clone()),
            None => self.fetch(&mut cache).await,
        }
    }

    /// A token other than `stale`, which Salesforce no longer accepts: the one another call
    /// already renewed, or a new one.
    pub async fn renew(&self, stale: &Token) -> Result<Token, BatchAnswer> {
        let mut cache = self.cache.lock().await;
        match &cache.token {
            Some(token) if token.generation != stale.generation => Ok(token.clone()),
            _ => {
                cache.token = None;
                self.fetch(&mut cache).await
            }
        }
    }

    async fn fetch(&self, cache: &mut Cache) -> Result<Token, BatchAnswer> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| BatchAnswer::Unavailable {
                error: format!("Salesforce's token endpoint: {}", describe(&e)),
                retry_after: None,
            })?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| BatchAnswer::Unavailable {
                error: format!("Salesforce's token endpoint: {}", describe(&e)),
                retry_after: None,
            })?;
        let issued = answer::read_token(status, &body)?;
        cache.fetched += 1;
        let token = Token {
            access: Secret::new(issued.access_token),
            instance_url: issued.instance_url.trim_end_matches('/').to_owned(),
            generation: cache.fetched,
        };
        tracing::info!(
            salesforce.instance_url = %token.instance_url,
            "fetched a Salesforce access token"
        );
        cache.token = Some(token.clone());
        Ok(token)
    }
}
