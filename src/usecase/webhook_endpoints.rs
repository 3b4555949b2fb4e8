//! Webhook endpoints (admin): registering receivers of outbox topics, changing them,
//! rotating their signing secrets. The secret is shown only in the answers that set it.

use chrono::{DateTime, Utc};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::Page;
use crate::{
    adapters::standard_webhooks,
    db::webhook_endpoints::{self, EndpointWithCounts, WebhookEndpoint},
    domain::{Email, Secret, Topic},
    error::{ApiError, FieldError},
};

/// What an endpoint may receive (`webhook_endpoints_format_known`): the signed Standard
/// Webhooks envelope, or a Slack incoming webhook's message.
pub const FORMATS: [&str; 2] = ["standard_webhooks", "slack"];
/// Most topics one endpoint subscribes to (`webhook_endpoints_topics_some`).
const MAX_TOPICS: usize = 32;
/// Longest URL, in bytes.
const MAX_URL_LEN: usize = 2_048;
/// What `disabled_reason` says when an admin turns an endpoint off.
pub const DISABLED_BY_OPERATOR: &str = "disabled by an operator";

/// A new endpoint.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInput {
    // Optional here so that a missing field is a 422 naming it, like a wrong one.
    pub url: Option<String>,
    pub topics: Option<Vec<String>>,
    /// `standard_webhooks` (the default) or `slack`.
    pub format: Option<String>,
    /// Only the messages for this person (a rep's or manager's email).
    pub recipient: Option<String>,
}

/// A change to an endpoint; absent fields keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInput {
    pub url: Option<String>,
    pub topics: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint with its signing secret: the answer to creating one or rotating its secret,
/// the only answers that carry it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    #[serde(serialize_with = "Secret::serialize_exposed")]
    #[schema(value_type = String)]
    pub secret: Secret,
}

/// Registers an endpoint for `input.topics`, enabled, with a new secret.
#[tracing::instrument(skip_all, fields(endpoint.id = tracing::field::Empty))]
pub async fn create(
    pool: &PgPool,
    input: CreateInput,
    now: DateTime<Utc>,
) -> Result<WithSecret, ApiError> {
    let mut errors = Vec::new();
    let url = match &input.url {
        Some(url) => check_url("url", url, &mut errors),
        None => {
            errors.push(FieldError::new("url", "is required"));
            None
        }
    };
    let topics = match &input.topics {
        Some(topics) => check_topics(topics, &mut errors),
        None => {
            errors.push(FieldError::new("topics", "is required"));
            None
        }
    };
    let format = input.format.as_deref().unwrap_or(FORMATS[0]);
    if !FORMATS.contains(&format) {
        errors.push(FieldError::new(
            "format",
            format!(
                "{format:?} is not a format; expected one of {}",
                FORMATS.join(", ")
            ),
        ));
    }
    let recipient = match input.recipient.as_deref().map(Email::parse) {
        None => None,
        Some(Ok(email)) => Some(email.as_str().to_owned()),
        Some(Err(why)) => {
            errors.push(FieldError::new("recipient", why.to_string()));
            None
        }
    };
    let (Some(url), Some(topics), true) = (url, topics, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let endpoint = WebhookEndpoint {
        id: Uuid::now_v7(),
        url,
        topics,
        format: format.to_owned(),
        recipient,
        enabled: true,
        disabled_reason: None,
        rep_id: None,
        created_at: now,
        updated_at: now,
    };
    tracing::Span::current().record("endpoint.id", tracing::field::display(endpoint.id));
    let secret = generate_secret();
    let mut conn = pool.acquire().await?;
    let endpoint = webhook_endpoints::insert(&mut conn, &endpoint, secret.expose()).await?;
    tracing::info!(endpoint.topics = ?endpoint.topics, "registered a webhook endpoint");
    Ok(WithSecret { endpoint, secret })
}

/// A page of endpoints, newest first, with their delivery counts.
pub async fn list(
    pool: &PgPool,
    limit: i64,
    offset: i64,
) -> Result<Page<EndpointWithCounts>, ApiError> {
    let mut conn = pool.acquire().await?;
    let (items, total) = webhook_endpoints::list(&mut conn, limit, offset).await?;
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}

/// One endpoint with its delivery counts.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<EndpointWithCounts, ApiError> {
    let mut conn = pool.acquire().await?;
    webhook_endpoints::with_counts(&mut conn, id)
        .await?
        .ok_or_else(|| not_found(id))
}

/// Changes the url, topics or enabled state of endpoint `id`. Turning it off records that an
/// operator did (unless it was off already, keeping the first reason); turning it on clears
/// the reason. New topics apply to messages written from now on.
#[tracing::instrument(skip_all, fields(endpoint.id = %id))]
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    input: UpdateInput,
    now: DateTime<Utc>,
) -> Result<EndpointWithCounts, ApiError> {
    let mut errors = Vec::new();
    let url = input
        .url
        .as_deref()
        .map(|u| check_url("url", u, &mut errors));
    let topics = input
        .topics
        .as_deref()
        .map(|t| check_topics(t, &mut errors));
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut tx = pool.begin().await?;
    let mut endpoint = webhook_endpoints::by_id(&mut tx, id, true)
        .await?
        .ok_or_else(|| not_found(id))?;
    refuse_rep_owned(&endpoint)?;
    if let Some(Some(url)) = url {
        endpoint.url = url;
    }
    if let Some(Some(topics)) = topics {
        endpoint.topics = topics;
    }
    match input.enabled {
        Some(true) => {
            endpoint.enabled = true;
            endpoint.disabled_reason = None;
        }
        Some(false) if endpoint.enabled => {
            endpoint.enabled = false;
            endpoint.disabled_reason = Some(DISABLED_BY_OPERATOR.to_owned());
        }
        Some(false) | None => {}
    }
    endpoint.updated_at = now;
    webhook_endpoints::update(&mut tx, &endpoint).await?;
    let updated = webhook_endpoints::with_counts(&mut tx, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    tx.commit().await?;
    tracing::info!(
        endpoint.enabled = updated.endpoint.enabled,
        "changed a webhook endpoint"
    );
    Ok(updated)
}

/// Gives endpoint `id` a new secret, which signs every attempt from now on.
#[tracing::instrument(skip_all, fields(endpoint.id = %id))]
pub async fn rotate_secret(
    pool: &PgPool,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<WithSecret, ApiError> {
    let secret = generate_secret();
    let mut tx = pool.begin().await?;
    let current = webhook_endpoints::by_id(&mut tx, id, true)
        .await?
        .ok_or_else(|| not_found(id))?;
    refuse_rep_owned(&current)?;
    let endpoint = webhook_endpoints::set_secret(&mut tx, id, secret.expose(), now)
        .await?
        .ok_or_else(|| not_found(id))?;
    tx.commit().await?;
    tracing::info!("rotated a webhook endpoint's secret");
    Ok(WithSecret { endpoint, secret })
}

/// The 409 for changing, over the endpoints API, the Slack endpoint a rep record keeps.
fn refuse_rep_owned(endpoint: &WebhookEndpoint) -> Result<(), ApiError> {
    match endpoint.rep_id {
        Some(rep) => Err(ApiError::Conflict(format!(
            "webhook endpoint {} is rep {rep}'s Slack channel: change the rep's \
             slack_webhook_url (PATCH /api/v1/reps/{rep}) instead",
            endpoint.id
        ))),
        None => Ok(()),
    }
}

/// The 404 for endpoint `id`.
pub fn not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("webhook endpoint {id}"))
}

/// A new Standard Webhooks secret.
fn generate_secret() -> Secret {
    Secret::new(standard_webhooks::generate_secret())
}

/// `raw` as stored (normalised by the URL parser), or `None` with its problem in `errors`
/// under `field`: an absolute `https` URL without credentials; plain `http` only to this
/// machine (`localhost`, `127.0.0.1`, `[::1]`), for receivers under development.
pub(crate) fn check_url(field: &str, raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let problem = |detail: &str| FieldError::new(field, detail);
    if raw.len() > MAX_URL_LEN {
        errors.push(problem(&format!("is longer than {MAX_URL_LEN} bytes")));
        return None;
    }
    // The parser would quietly drop or escape white space; a URL with some is a mistake.
    if raw.chars().any(char::is_whitespace) {
        errors.push(problem("holds white space"));
        return None;
    }
    let url = match Url::parse(raw) {
        Ok(url) => url,
        Err(why) => {
            errors.push(problem(&format!("is not an absolute URL: {why}")));
            return None;
        }
    };
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let detail = match url.scheme() {
        _ if url.host_str().is_none_or(str::is_empty) => Some("names no host"),
        _ if !url.username().is_empty() || url.password().is_some() => {
            Some("holds credentials; put them in the path or rely on the signature")
        }
        "https" => None,
        "http" if local => None,
        "http" => Some("must be https (plain http only to localhost or 127.0.0.1)"),
        _ => Some("must be an http(s) URL"),
    };
    match detail {
        Some(detail) => {
            errors.push(problem(detail));
            None
        }
        None => Some(url.to_string()),
    }
}

/// `topics` as stored, or `None` with their problems in `errors`, each naming `topics[i]`.
fn check_topics(topics: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    if topics.is_empty() {
        errors.push(FieldError::new(
            "topics",
            format!("must name at least one topic of: {}", Topic::known()),
        ));
        return None;
    }
    if topics.len() > MAX_TOPICS {
        errors.push(FieldError::new(
            "topics",
            format!("names {} topics; at most {MAX_TOPICS}", topics.len()),
        ));
        return None;
    }
    let before = errors.len();
    for (i, topic) in topics.iter().enumerate() {
        let field = format!("topics[{i}]");
        if let Err(unknown) = topic.parse::<Topic>() {
            errors.push(FieldError::new(field, unknown.to_string()));
        } else if let Some(first) = topics[..i].iter().position(|t| t == topic) {
            errors.push(FieldError::new(field, format!("repeats topics[{first}]")));
        }
    }
    (errors.len() == before).then(|| topics.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> Result<String, Vec<FieldError>> {
        let mut errors = Vec::new();
        check_url("url", raw, &mut errors).ok_or(errors)
    }

    fn topics(names: &[&str]) -> Result<Vec<String>, Vec<String>> {
        let mut errors = Vec::new();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        check_topics(&names, &mut errors).ok_or(errors.into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn https_anywhere_and_plain_http_only_to_this_machine() {
        assert_eq!(
            url("https://hooks.example.com/lr").unwrap(),
            "https://hooks.example.com/lr"
        );
        assert_eq!(
            url("https://Hooks.Example.com").unwrap(),
            "https://hooks.example.com/"
        );
        assert!(url("http://localhost:9000/hook").is_ok());
        assert!(url("http://127.0.0.1:9000/hook").is_ok());
        assert!(url("http://[::1]:9000/hook").is_ok());
        for bad in [
            "http://hooks.example.com/lr",
            "ftp://hooks.example.com/lr",
            "/relative/path",
            "hooks.example.com",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/a b",
            "mailto:ops@example.com",
        ] {
            let errors = url(bad).unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
            assert_eq!(errors[0].field, "url");
        }
        assert!(url(&format!("https://h.example/{}", "a".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn topics_are_known_distinct_some_and_at_most_32() {
        assert_eq!(
            topics(&["rep.assigned", "manager.escalation"]).unwrap(),
            ["rep.assigned", "manager.escalation"]
        );
        assert_eq!(topics(&[]).unwrap_err(), ["topics"]);
        assert_eq!(
            topics(&["rep.assigned", "rep.task", "lead.created", "rep.assigned"]).unwrap_err(),
            ["topics[2]", "topics[3]"]
        );
        assert_eq!(topics(&["rep.task"; 33]).unwrap_err(), ["topics"]);
    }
}
