//! `TestApp`: the real router on a random port against the test's own database.
//!
//! Every request helper sends an API key: the bootstrap admin key by default, and for
//! `/webhooks/...` a `source` key minted at spawn. `app.with_key(..)`, `app.as_role(..)` and
//! `app.without_key()` choose otherwise.

use std::{
    path::Path,
    sync::{Arc, Mutex, Once},
};

use chrono::{DateTime, Duration, TimeZone, Utc};
use leadrouter::{
    app::{self, AppState, Clock},
    config,
    domain::{Role, Secret},
    engine::{RuleSet, Rules},
    usecase::ingest::GroupCommit,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The bootstrap admin key every `TestApp` runs with.
pub const ADMIN_KEY: &str = "lr_test-bootstrap-admin-key-0123456789";

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
    /// A `source` key minted at spawn, sent to `/webhooks/...` by default.
    pub source_key: String,
    /// The service's group commit, to read what its writers did.
    pub group_commit: GroupCommit,
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
        Self::spawn_with_rules(pool, |_| {}).await
    }

    /// Serves the shipped `config/`, its rules changed by `tune`, against `pool` with the
    /// clock at [`t0`].
    pub async fn spawn_with_rules(pool: PgPool, tune: impl FnOnce(&mut Rules)) -> Self {
        Self::spawn_with(pool, |_| {}, tune).await
    }

    /// Serves the shipped `config/`, its settings changed by `settings_tune`, against `pool`
    /// with the clock at [`t0`].
    pub async fn spawn_with_settings(
        pool: PgPool,
        settings_tune: impl FnOnce(&mut config::Settings),
    ) -> Self {
        Self::spawn_with(pool, settings_tune, |_| {}).await
    }

    async fn spawn_with(
        pool: PgPool,
        settings_tune: impl FnOnce(&mut config::Settings),
        tune: impl FnOnce(&mut Rules),
    ) -> Self {
        init_tracing();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut settings = config::load_settings(&dir).expect("shipped settings load");
        settings.auth.admin_key = Some(Secret::new(ADMIN_KEY.to_owned()));
        settings_tune(&mut settings);
        let mut rules = config::load_rules(&dir).expect("shipped rules load");
        tune(&mut rules);
        let rules = RuleSet::new(rules).expect("tuned rules are valid");
        let now = Arc::new(Mutex::new(t0()));
        let clock: Clock = {
            let now = now.clone();
            Arc::new(move || *now.lock().unwrap())
        };
        let state = AppState::new(pool.clone(), settings, rules.clone(), clock);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let group_commit = state.group_commit.clone();
        tokio::spawn(app::serve(listener, state, shutdown.clone()));
        let mut app = TestApp {
            base,
            client: reqwest::Client::new(),
            pool,
            rules,
            source_key: String::new(),
            group_commit,
            now,
            shutdown,
        };
        app.source_key = app.mint_key(Role::Source, None).await;
        app
    }

    /// Mints a key of `role` with the admin key and returns it (`rep_id` is required for
    /// rep and manager keys).
    pub async fn mint_key(&self, role: Role, rep_id: Option<Uuid>) -> String {
        let (status, minted) = self
            .with_key(ADMIN_KEY)
            .post_json(
                "/api/v1/api-keys",
                &json!({"role": role, "rep_id": rep_id, "label": format!("test {role}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{minted:#}");
        minted["key"].as_str().unwrap().to_owned()
    }

    /// Requests sent with `key`.
    pub fn with_key(&self, key: &str) -> Client<'_> {
        Client {
            app: self,
            key: Some(key.to_owned()),
        }
    }

    /// Requests sent without any key.
    pub fn without_key(&self) -> Client<'_> {
        Client {
            app: self,
            key: None,
        }
    }

    /// Creates an inactive rep (a `manager` for [`Role::Manager`], else a `rep`) with the
    /// admin key, so it takes no leads, and returns its id.
    pub async fn new_rep(&self, role: Role) -> Uuid {
        let id = Uuid::new_v4();
        let kind = if role == Role::Manager {
            "manager"
        } else {
            "rep"
        };
        let body = json!({"name": format!("Test {kind}"), "email": format!("{id}@reps.example"),
                          "role": kind, "active": false});
        let (status, rep) = self
            .with_key(ADMIN_KEY)
            .post_json("/api/v1/reps", &body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{rep:#}");
        rep["id"].as_str().unwrap().parse().unwrap()
    }

    /// Mints a key of `role`, bound to a new (inactive) rep for rep and manager keys.
    pub async fn mint_role_key(&self, role: Role) -> String {
        let rep_id = match role.is_rep_bound() {
            true => Some(self.new_rep(role).await),
            false => None,
        };
        self.mint_key(role, rep_id).await
    }

    /// Requests sent with a newly minted key of `role` (bound to a new inactive rep for rep
    /// and manager keys).
    pub async fn as_role(&self, role: Role) -> Client<'_> {
        let key = self.mint_role_key(role).await;
        Client {
            app: self,
            key: Some(key),
        }
    }

    /// Requests with the default key for `path`: the source key for webhooks, else admin.
    fn default_client(&self, path: &str) -> Client<'_> {
        if path.starts_with("/webhooks/") {
            self.with_key(&self.source_key)
        } else {
            self.with_key(ADMIN_KEY)
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
        self.default_client(path).post_json(path, body).await
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
        self.default_client(path).post_raw(path, body).await
    }

    /// POSTs `body` with the given `Content-Type` (none when `None`).
    pub async fn post_typed(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        self.default_client(path)
            .post_typed(path, content_type, body)
            .await
    }

    /// POSTs events and asserts a 200.
    pub async fn ingest(&self, body: &Value) -> Value {
        let (status, body) = self.post_events(body).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        body
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.default_client(path).get(path).await
    }

    /// GETs a lead by email and asserts it exists.
    pub async fn lead(&self, email: &str) -> Value {
        let (status, body) = self.get(&format!("/api/v1/leads?email={email}")).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        body
    }

    /// Replays dead letter `path` (`/api/v1/inbound/dead-letters/{id}/replay`) and asserts
    /// that its event is accepted and that a second replay is a 409: exactly once. Returns
    /// the first answer.
    pub async fn replay_once(&self, path: &str) -> Value {
        let (status, replayed) = self.post_json(path, &Value::Null).await;
        assert_eq!(status, StatusCode::OK, "{replayed:#}");
        assert_eq!(replayed["results"][0]["status"], "accepted", "{replayed:#}");
        assert!(replayed["dead_letter"]["replayed_at"].is_string());
        let (status, again) = self.post_json(path, &Value::Null).await;
        assert_eq!(status, StatusCode::CONFLICT, "a second replay: {again:#}");
        replayed
    }

    /// Row count of a table.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// Requests to a [`TestApp`] made with one key (or none).
pub struct Client<'a> {
    app: &'a TestApp,
    key: Option<String>,
}

impl Client<'_> {
    /// Sends `method path`, with `body` as JSON when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.base));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        read(request.send().await.expect("request sent")).await
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    /// POSTs a JSON body to `path`.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }

    /// POSTs raw bytes as JSON.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        self.post_typed(path, Some("application/json"), body).await
    }

    /// POSTs `body` with the given `Content-Type` (none when `None`).
    pub async fn post_typed(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .post(format!("{}{path}", self.app.base))
            .body(body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        read(request.send().await.expect("request sent")).await
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

/// The newest transition of a lead view's history.
pub fn last_transition(lead: &Value) -> Value {
    let transitions = lead["history"]["transitions"].as_array();
    transitions.and_then(|t| t.last()).cloned().unwrap()
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

/// The service in-process on a database that refuses TCP connections outright (nothing
/// listens on the port), with `acquire` as the pool's acquire timeout: the driver retries
/// the connection until then. Only the bootstrap admin key works, as it needs no database.
pub async fn spawn_without_database(
    acquire: std::time::Duration,
    tune: impl FnOnce(&mut config::Settings),
) -> (String, CancellationToken) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut settings = config::load_settings(&dir).unwrap();
    settings.auth.admin_key = Some(Secret::new(ADMIN_KEY.to_owned()));
    tune(&mut settings);
    let rules = RuleSet::new(config::load_rules(&dir).unwrap()).unwrap();
    let nowhere: sqlx::postgres::PgConnectOptions = "postgres://postgres@127.0.0.1:1/leadrouter"
        .parse()
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(acquire)
        .connect_lazy_with(nowhere);
    let state = AppState::new(pool, settings, rules, app::system_clock());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(app::serve(listener, state, shutdown.clone()));
    (base, shutdown)
}
