//! `TestApp`: the real router on a random port against the test's own database.

use std::{
    path::Path,
    sync::{Arc, Mutex, Once},
};

use chrono::{DateTime, Duration, TimeZone, Utc};
use leadrouter::{
    app::{self, AppState, Clock},
    config,
    engine::RuleSet,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The moment every test starts at, unless it moves the clock.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
}

/// A running service plus a client.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    /// The rules the service runs with (the shipped `config/`).
    pub rules: RuleSet,
    now: Arc<Mutex<DateTime<Utc>>>,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .init();
        }
    });
}

impl TestApp {
    /// Serves the shipped `config/` against `pool` with the clock at [`t0`].
    pub async fn spawn(pool: PgPool) -> Self {
        init_tracing();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = config::load_settings(&dir).expect("shipped settings load");
        let rules = RuleSet::new(config::load_rules(&dir).expect("shipped rules load")).unwrap();
        let now = Arc::new(Mutex::new(t0()));
        let clock: Clock = {
            let now = now.clone();
            Arc::new(move || *now.lock().unwrap())
        };
        let state = AppState::new(pool.clone(), settings, rules.clone(), clock);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(app::serve(listener, state, shutdown.clone()));
        TestApp {
            base,
            client: reqwest::Client::new(),
            pool,
            rules,
            now,
            shutdown,
        }
    }

    /// Sets the service's clock.
    pub fn set_now(&self, at: DateTime<Utc>) {
        *self.now.lock().unwrap() = at;
    }

    /// The service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    /// Runs one sweep of the time-based rules at the service's clock.
    pub async fn sweep(&self) -> leadrouter::jobs::sweeper::SweepReport {
        leadrouter::jobs::sweeper::tick(&self.pool, &self.rules, self.now(), 1_000)
            .await
            .expect("sweep runs")
    }

    /// POSTs a JSON body to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, body.to_string()).await
    }

    /// Moves the service's clock forward.
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap() += by;
    }

    /// POSTs a JSON body to `/webhooks/events`.
    pub async fn post_events(&self, body: &Value) -> (StatusCode, Value) {
        self.post_raw("/webhooks/events", body.to_string()).await
    }

    /// POSTs raw bytes as JSON.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// POSTs `body` with the given `Content-Type` (none when `None`).
    pub async fn post_typed(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        read(request.send().await.expect("request sent")).await
    }

    /// POSTs events and asserts a 200.
    pub async fn ingest(&self, body: &Value) -> Value {
        let (status, body) = self.post_events(body).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        body
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent");
        read(response).await
    }

    /// GETs a lead by email and asserts it exists.
    pub async fn lead(&self, email: &str) -> Value {
        let (status, body) = self.get(&format!("/api/v1/leads?email={email}")).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        body
    }

    /// Row count of a table.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let problem = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if status.is_client_error() || status.is_server_error() {
        assert!(problem, "error responses are problem+json: {status} {body}");
    }
    (status, body)
}

/// A canonical event for `email` at `t0() + offset`.
pub fn event(id: &str, email: &str, kind: &str, offset: Duration) -> Value {
    json!({
        "event_id": id,
        "source": "hubspot",
        "type": kind,
        "occurred_at": (t0() + offset).to_rfc3339(),
        "lead": { "email": email },
    })
}

/// The profile of the design's example: a VP at a 250-person US software company with 50M
/// revenue (fit 70).
pub fn vp_profile(email: &str) -> Value {
    json!({
        "email": email, "first_name": "Jane", "last_name": "Doe", "title": "VP Marketing",
        "company": "Acme", "industry": "software", "employee_count": 250,
        "annual_revenue": 50_000_000, "country": "US",
    })
}

/// `event(...)` carrying the VP profile.
pub fn vp_event(id: &str, email: &str, kind: &str, offset: Duration) -> Value {
    let mut e = event(id, email, kind, offset);
    e["lead"] = vp_profile(email);
    e
}

/// The field names of a problem's `errors`.
pub fn problem_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
