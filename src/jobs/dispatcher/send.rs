//! One attempt over HTTP: the signed envelope out, the status (and `Retry-After`) back.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};

use super::Settings;
use super::schedule::{self, Answer};
use crate::{
    adapters::{slack, standard_webhooks},
    db::deliveries::Due,
};

/// How an attempt went, before it is judged.
#[derive(Debug)]
pub struct Sent {
    pub answer: Answer,
    /// Why there was no answer.
    pub error: Option<String>,
    pub latency: Duration,
}

/// The client every attempt goes through: `timeout` for the whole exchange up to the answer's
/// status, no redirects (a 3xx is a failure, as the specification has it).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the TLS backend initialises")
}

/// POSTs `due` through `client` (whose timeout is the settings'): the envelope signed at
/// `timestamp` (Unix seconds), or for a Slack endpoint the message Slack shows.
pub async fn attempt(
    client: &reqwest::Client,
    settings: Settings,
    due: &Due,
    timestamp: i64,
) -> Sent {
    let timeout = settings.attempt_timeout;
    let (body, headers) = if due.format == "slack" {
        let link = |lead_id: &str| settings.lead_url.replace("{id}", lead_id);
        let message = slack::render(&due.topic, &due.payload, &link);
        (message.to_string().into_bytes(), Vec::new())
    } else {
        let id = crate::domain::message_id(due.message_id);
        let body = standard_webhooks::envelope(&due.topic, due.created_at, &due.payload);
        match standard_webhooks::headers(&due.secret, &id, timestamp, &body) {
            Ok(headers) => (body, headers.to_vec()),
            Err(error) => return failed(error.to_string(), Duration::ZERO),
        }
    };
    let mut request = client
        .post(&due.url)
        .header(CONTENT_TYPE, "application/json")
        .header(
            USER_AGENT,
            concat!("leadrouter/", env!("CARGO_PKG_VERSION")),
        )
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let started = Instant::now();
    let result = request.send().await;
    let latency = started.elapsed();
    match result {
        Ok(response) => Sent {
            answer: Answer {
                status: Some(response.status().as_u16()),
                retry_after: response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(schedule::parse_retry_after),
            },
            error: None,
            latency,
        },
        Err(error) => failed(describe(error, timeout), latency),
    }
}

fn failed(error: String, latency: Duration) -> Sent {
    Sent {
        answer: Answer {
            status: None,
            retry_after: None,
        },
        error: Some(error),
        latency,
    }
}

/// Why an attempt got no answer, without the URL (it may carry a token) but with the causes.
fn describe(error: reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs_f64());
    }
    let kind = if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let error = error.without_url();
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
