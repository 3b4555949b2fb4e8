//! A local receiver of the dispatcher's webhooks for `loadgen`'s delivery phases: at
//! `/assigned` it records when each lead's first `rep.assigned` arrived (by `data.lead_email`),
//! at `/fast` it only counts; both
//! answer 204 at once.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use serde_json::Value;
use tokio::net::TcpListener;

/// The receiver on its random local port.
#[derive(Clone)]
pub struct WebhookReceiver {
    /// `http://127.0.0.1:port`, without a path.
    pub base: String,
    seen: Arc<Seen>,
}

#[derive(Default)]
struct Seen {
    assigned: Mutex<HashMap<String, Instant>>,
    fast: AtomicU64,
}

impl WebhookReceiver {
    /// Starts the receiver on the current runtime.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let receiver = Self {
            base: format!("http://{}", listener.local_addr()?),
            seen: Arc::default(),
        };
        let router = Router::new()
            .route("/assigned", post(assigned))
            .route("/fast", post(fast))
            .with_state(receiver.seen.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(receiver)
    }

    /// How many leads' `rep.assigned` have arrived.
    pub fn assigned(&self) -> usize {
        self.seen.assigned.lock().expect("receiver lock").len()
    }

    /// When the first `rep.assigned` of each lead of `emails` arrived, if it did.
    pub fn arrivals<'a>(&self, emails: impl IntoIterator<Item = &'a str>) -> Vec<Option<Instant>> {
        let seen = self.seen.assigned.lock().expect("receiver lock");
        emails.into_iter().map(|e| seen.get(e).copied()).collect()
    }
}

/// Keeps the first arrival per lead: a redelivery would arrive later.
async fn assigned(State(seen): State<Arc<Seen>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let email = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["data"]["lead_email"].as_str().map(str::to_owned));
    let Some(email) = email else {
        return StatusCode::BAD_REQUEST;
    };
    seen.assigned
        .lock()
        .expect("receiver lock")
        .entry(email)
        .or_insert(at);
    StatusCode::NO_CONTENT
}

async fn fast(State(seen): State<Arc<Seen>>) -> StatusCode {
    seen.fast.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}
