//! Settings and rules: loaded from `config/` (TOML), overridden from the environment, and
//! validated before anything starts, with errors that name the file and the key.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use serde::Deserialize;

mod hubspot;
mod segment;

pub use hubspot::{HubSpotSettings, PropertySignal};
pub use segment::{MIN_SEGMENT_SECRET_CHARS, SegmentSettings};

use crate::{
    adapters::salesforce::OrgId,
    domain::{EventType, LeadField, Secret},
    engine::Rules,
};

mod marketo;
mod revenue;
mod salesforce_api;
mod writeback;

pub use marketo::{MIN_MARKETO_SECRET_CHARS, MarketoSettings};
pub use revenue::RevenueSettings;
pub use salesforce_api::SalesforceApiSettings;
pub use writeback::{CrmWriteSettings, FieldNames, WritebackSettings};

/// Service settings (`config/default.toml`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub ingest: IngestSettings,
    pub jobs: JobSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    // Optional as a whole: every key in it is.
    #[serde(default)]
    pub auth: AuthSettings,
    /// The native inbound connectors; each is off unless enabled.
    #[serde(default)]
    pub sources: SourcesSettings,
    /// CRM write-back; each CRM is off unless enabled.
    #[serde(default)]
    pub writeback: WritebackSettings,
    /// The forecast's stage weights and the weekly reports.
    #[serde(default)]
    pub revenue: RevenueSettings,
}

/// The native inbound connectors (`[sources.*]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesSettings {
    #[serde(default)]
    pub hubspot: HubSpotSettings,
    #[serde(default)]
    pub salesforce: SalesforceSettings,
    #[serde(default)]
    pub segment: SegmentSettings,
    pub marketo: MarketoSettings,
}

/// Salesforce Outbound Messages (`POST /webhooks/salesforce/{token}`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSettings {
    /// Off by default: the route answers 404.
    #[serde(default)]
    pub enabled: bool,
    /// The organizations whose messages are accepted (15 or 18 characters).
    #[serde(default)]
    pub organization_ids: Vec<OrgId>,
    /// The secret path segment of the endpoint URL; from the environment only
    /// (`LEADROUTER_SOURCES__SALESFORCE__TOKEN`).
    pub token: Option<Secret>,
    /// Salesforce field API name (matched case-insensitively) to the lead field it fills.
    #[serde(default)]
    pub fields: BTreeMap<String, LeadField>,
    /// A field whose value picks the event type (through `event_types`); a record change is a
    /// `profile_update` otherwise.
    pub event_type_field: Option<String>,
    /// Values of `event_type_field` (matched case-insensitively) and the event type each means.
    #[serde(default)]
    pub event_types: BTreeMap<String, EventType>,
    /// The Opportunity field holding its account's domain (a formula field over
    /// `Account.Website`, since an Outbound Message sends only the record's own fields).
    pub opportunity_domain_field: Option<String>,
    /// The currency of Opportunity amounts when a message sends no `CurrencyIsoCode` (an org
    /// without multiple currencies); `USD` if unset.
    pub currency: Option<String>,
}

/// Fewest characters the Salesforce endpoint's token may have: it is the only secret.
const MIN_SALESFORCE_TOKEN_CHARS: usize = 32;

impl SalesforceSettings {
    /// The first problem of an enabled connector's settings, as (key, problem).
    fn problem(&self) -> Option<(&'static str, String)> {
        let api_name = |name: &str| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if let Some(name) = self.fields.keys().find(|name| !api_name(name.as_str())) {
            return Some((
                "sources.salesforce.fields",
                format!("{name:?} is not a Salesforce field API name (letters, digits, _)"),
            ));
        }
        if !self.enabled {
            return None;
        }
        let url_safe = |b: u8| b.is_ascii_alphanumeric() || b"-_.~".contains(&b);
        let token_ok = self.token.as_ref().is_some_and(|token| {
            let token = token.expose();
            token.len() >= MIN_SALESFORCE_TOKEN_CHARS && token.bytes().all(url_safe)
        });
        if !token_ok {
            return Some((
                "sources.salesforce.token",
                format!(
                    "must be set, from the environment (LEADROUTER_SOURCES__SALESFORCE__TOKEN), to at \
                     least {MIN_SALESFORCE_TOKEN_CHARS} URL-safe characters (letters, digits, - _ . ~; \
                     e.g. `openssl rand -hex 32`), since it is the last segment of the endpoint URL"
                ),
            ));
        }
        if self.organization_ids.is_empty() {
            return Some((
                "sources.salesforce.organization_ids",
                "must list at least one organization id when the connector is enabled".to_owned(),
            ));
        }
        if !self.fields.values().any(|f| *f == LeadField::Email) {
            return Some((
                "sources.salesforce.fields",
                "no field maps to email, so no record could name its lead".to_owned(),
            ));
        }
        if !self.event_types.is_empty() && self.event_type_field.is_none() {
            return Some((
                "sources.salesforce.event_type_field",
                "must name the field whose values sources.salesforce.event_types maps".to_owned(),
            ));
        }
        None
    }
}

/// API key authentication.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The bootstrap admin key, accepted without a database row so the first keys can be
    /// minted (`LEADROUTER_ADMIN_KEY`). Unset by default.
    pub admin_key: Option<Secret>,
    /// How long a resolved API key is remembered (seconds; 0: look up every request).
    pub key_cache_secs: u64,
}

/// Fewest characters the bootstrap admin key may have: it guards everything.
const MIN_ADMIN_KEY_CHARS: usize = 32;

/// HTTP listener and request limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub max_batch_events: usize,
    pub max_future_skew_secs: i64,
    /// Seconds a client has to send a whole request head once it has begun one.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection may sit with no request before it is closed.
    pub idle_timeout_secs: u64,
    /// Connections served at once; past it, new ones wait in the listen backlog.
    pub max_connections: usize,
}

/// How single-event requests share commits (see `usecase::ingest::group`).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    pub group_writers: usize,
    pub max_group_events: usize,
    /// Connections of ingest's own pool (two per writer, and batch requests), besides
    /// `database.max_connections`.
    pub connections: u32,
    /// Bytes of leads kept in memory as ingest last wrote them (0: none).
    pub lead_cache_bytes: usize,
}

/// Background jobs.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSettings {
    /// Seconds between sweeps for the time-based disqualification rules.
    pub sweep_interval_secs: u64,
    /// Leads per sweep transaction.
    pub sweep_batch: i64,
    /// Seconds between SLA clock ticks.
    pub sla_interval_secs: u64,
    /// Escalations per SLA clock transaction.
    pub sla_batch: i64,
    /// Seconds between folds of the daily metrics' deltas.
    pub metrics_fold_interval_secs: u64,
    /// Seconds between the dispatcher's looks for due deliveries when no notification wakes
    /// it (retries falling due, missed notifications).
    pub dispatcher_poll_interval_secs: u64,
    /// Deliveries one dispatcher has in flight at most.
    pub dispatcher_batch: i64,
    /// Seconds an attempt may take (connecting, sending, the answer's status) before it
    /// counts as failed.
    pub dispatcher_attempt_timeout_secs: u64,
    /// Deliveries to one endpoint one dispatcher has in flight at most.
    pub dispatcher_endpoint_concurrency: i32,
    /// The link to a lead in messages people read (Slack), `{id}` standing for its id.
    pub dispatcher_lead_url: String,
}

/// PostgreSQL connection.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: DatabaseUrl,
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before it is answered 503 with
    /// `Retry-After`: during a database outage, about the longest any request waits.
    pub acquire_timeout_secs: u64,
    /// A streaming replica of `url` for the reads that may lag (metrics, the dashboard, lead
    /// views), or none.
    #[serde(default)]
    pub read_url: Option<DatabaseUrl>,
    /// How far behind the primary the replica may be, in milliseconds, for reads to go to
    /// it; past that they go to the primary until it catches up.
    pub read_max_lag_ms: u64,
}

/// A connection URL whose password never reaches a log line or `Debug` output.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`, for messages.
    pub fn redacted(&self) -> String {
        match (self.0.find("://"), self.0.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let userinfo = &self.0[scheme_end + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        format!("{}{user}:***{}", &self.0[..scheme_end + 3], &self.0[at..])
                    }
                    None => self.0.clone(),
                }
            }
            _ => self.0.clone(),
        }
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Log output.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// Human-readable lines or one JSON object per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration problem, already phrased for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

/// The folder to read: `--config DIR`, else `LEADROUTER_CONFIG_DIR`, else `./config`.
pub fn config_dir(args: impl IntoIterator<Item = String>) -> PathBuf {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            if let Some(dir) = args.next() {
                return dir.into();
            }
        } else if let Some(dir) = arg.strip_prefix("--config=") {
            return dir.into();
        }
    }
    std::env::var_os("LEADROUTER_CONFIG_DIR").map_or_else(|| "config".into(), PathBuf::from)
}

/// Loads `default.toml` with environment overrides. `LEADROUTER_ADMIN_KEY` is a short
/// alias of `LEADROUTER_AUTH__ADMIN_KEY` (which wins when both are set).
pub fn load_settings(dir: &Path) -> Result<Settings, ConfigError> {
    let file = existing(dir, "default.toml")?;
    let settings: Settings = Figment::from(Toml::file(&file))
        .merge(
            Env::raw()
                .only(&["LEADROUTER_ADMIN_KEY"])
                .map(|_| "auth.admin_key".into()),
        )
        .merge(
            Env::prefixed("LEADROUTER_")
                .split("__")
                .ignore(&["config_dir", "admin_key"]),
        )
        .merge(Env::raw().only(&["PORT"]).map(|_| "server.port".into()))
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database.url".into()),
        )
        .extract()
        .map_err(|e| ConfigError(format!("{}: {}", file.display(), flatten(e))))?;
    let bad =
        |key: &str, problem: &str| ConfigError(format!("{}: {key}: {problem}", file.display()));
    if settings.server.max_batch_events == 0 {
        return Err(bad("server.max_batch_events", "must be at least 1"));
    }
    if settings.ingest.group_writers == 0 {
        return Err(bad("ingest.group_writers", "must be at least 1"));
    }
    if settings.ingest.max_group_events == 0 {
        return Err(bad("ingest.max_group_events", "must be at least 1"));
    }
    // Each writer keeps one connection to write on and one to plan its next group on.
    if (settings.ingest.connections as usize) <= 2 * settings.ingest.group_writers {
        return Err(bad(
            "ingest.connections",
            "must exceed twice ingest.group_writers (a writer keeps two), so batches can be written while every writer is busy",
        ));
    }
    if let Some((key, problem)) = settings.revenue.problem() {
        return Err(bad(key, &problem));
    }
    if settings.jobs.sweep_interval_secs == 0 {
        return Err(bad("jobs.sweep_interval_secs", "must be at least 1"));
    }
    if settings.jobs.sweep_batch < 1 {
        return Err(bad("jobs.sweep_batch", "must be at least 1"));
    }
    if settings.jobs.metrics_fold_interval_secs == 0 {
        return Err(bad("jobs.metrics_fold_interval_secs", "must be at least 1"));
    }
    if settings.jobs.sla_interval_secs == 0 {
        return Err(bad("jobs.sla_interval_secs", "must be at least 1"));
    }
    if settings.jobs.sla_batch < 1 {
        return Err(bad("jobs.sla_batch", "must be at least 1"));
    }
    if settings.jobs.dispatcher_poll_interval_secs == 0 {
        return Err(bad(
            "jobs.dispatcher_poll_interval_secs",
            "must be at least 1",
        ));
    }
    if settings.jobs.dispatcher_batch < 1 {
        return Err(bad("jobs.dispatcher_batch", "must be at least 1"));
    }
    if settings.jobs.dispatcher_attempt_timeout_secs == 0 {
        return Err(bad(
            "jobs.dispatcher_attempt_timeout_secs",
            "must be at least 1",
        ));
    }
    if settings.jobs.dispatcher_endpoint_concurrency < 1 {
        return Err(bad(
            "jobs.dispatcher_endpoint_concurrency",
            "must be at least 1",
        ));
    }
    if settings.database.max_connections == 0 {
        return Err(bad("database.max_connections", "must be at least 1"));
    }
    if settings.server.request_timeout_secs == 0 {
        return Err(bad("server.request_timeout_secs", "must be at least 1"));
    }
    if settings.server.header_read_timeout_secs == 0 {
        return Err(bad("server.header_read_timeout_secs", "must be at least 1"));
    }
    if settings.server.idle_timeout_secs == 0 {
        return Err(bad("server.idle_timeout_secs", "must be at least 1"));
    }
    if settings.server.max_connections == 0 {
        return Err(bad("server.max_connections", "must be at least 1"));
    }
    // Past the request timeout, a database outage would be a 408 instead of a 503.
    let acquire = settings.database.acquire_timeout_secs;
    if acquire == 0 || acquire >= settings.server.request_timeout_secs {
        return Err(bad(
            "database.acquire_timeout_secs",
            "must be at least 1 and below server.request_timeout_secs",
        ));
    }
    if let Some(url) = &settings.database.read_url
        && url
            .expose()
            .parse::<sqlx::postgres::PgConnectOptions>()
            .is_err()
    {
        return Err(bad("database.read_url", "must be a postgres:// URL"));
    }
    // Below two samples of the replica's position, it would hardly ever count as fresh.
    if settings.database.read_max_lag_ms < 500 {
        return Err(bad("database.read_max_lag_ms", "must be at least 500"));
    }
    let sources = &settings.sources;
    if let Some((key, problem)) = sources
        .hubspot
        .problem()
        .or_else(|| sources.salesforce.problem())
    {
        return Err(bad(key, &problem));
    }
    if let Some((key, problem)) = settings.sources.segment.problem() {
        return Err(bad(key, &problem));
    }
    if let Some((key, problem)) = settings.sources.marketo.problem() {
        return Err(bad(key, &problem));
    }
    if let Some((key, problem)) = settings.writeback.problem(&settings.sources.hubspot) {
        return Err(bad(&key, &problem));
    }
    if let Some(key) = &settings.auth.admin_key {
        if key.expose().chars().count() < MIN_ADMIN_KEY_CHARS {
            return Err(bad(
                "auth.admin_key",
                &format!(
                    "must be at least {MIN_ADMIN_KEY_CHARS} characters (e.g. `openssl rand -hex 32`)"
                ),
            ));
        }
    }
    Ok(settings)
}

/// Loads and validates `rules.toml` with the nurture workflows of `nurture.toml` beside it.
/// A problem is reported against the file its key lives in.
pub fn load_rules(dir: &Path) -> Result<Rules, ConfigError> {
    load_rules_file(
        &existing(dir, "rules.toml")?,
        &existing(dir, "nurture.toml")?,
    )
}

/// Loads and validates the rules of `file` with the nurture workflows of `nurture` (the
/// `backtest` command's candidate rules take the config folder's workflows). A problem is
/// reported against the file its key lives in.
pub fn load_rules_file(file: &Path, nurture: &Path) -> Result<Rules, ConfigError> {
    for f in [file, nurture] {
        if !f.is_file() {
            return Err(ConfigError(format!("{}: not found", f.display())));
        }
    }
    let file_of = |key: &str| {
        if key.starts_with("nurture") {
            nurture.display()
        } else {
            file.display()
        }
    };
    let rules: Rules = Figment::from(Toml::file(file))
        .merge(Toml::file(nurture))
        .extract()
        .map_err(|e| {
            let key = e.path.join(".");
            ConfigError(format!("{}: {}", file_of(&key), flatten(e)))
        })?;
    rules
        .validate()
        .map_err(|e| ConfigError(format!("{}: {e}", file_of(&e.key))))?;
    Ok(rules)
}

fn existing(dir: &Path, name: &str) -> Result<PathBuf, ConfigError> {
    let file = dir.join(name);
    if file.is_file() {
        Ok(file)
    } else {
        Err(ConfigError(format!(
            "{}: not found (set --config DIR or LEADROUTER_CONFIG_DIR to the folder holding default.toml, rules.toml and nurture.toml)",
            file.display()
        )))
    }
}

/// Figment reports each problem with its key; join them on one line.
fn flatten(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED_NURTURE: &str = include_str!("../config/nurture.toml");

    /// A config folder holding the shipped nurture workflows; each test writes its rules.
    fn scratch_config(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("nurture.toml"), SHIPPED_NURTURE).unwrap();
    }

    #[test]
    fn a_bad_nurture_workflow_names_the_file_and_key() {
        let dir = std::env::temp_dir().join(format!("leadrouter-nurture-{}", std::process::id()));
        scratch_config(&dir);
        std::fs::write(dir.join("rules.toml"), include_str!("../config/rules.toml")).unwrap();
        let cases = [
            (
                SHIPPED_NURTURE.replace("Nurture_late_3 = ", "Nurture_late_4 = "),
                "nurture.toml: nurture.workflows.Nurture_late_3: missing",
            ),
            (
                SHIPPED_NURTURE.replace(
                    r#"["comparison-guide", "pricing-retargeting", "roi-calculator", "demo-offer"]"#,
                    r#"["comparison-guide", "pricing-retargeting", "roi-calculator"]"#,
                ),
                "nurture.toml: nurture.workflows.Nurture_late_3: needs 4 to 7 assets, found 3",
            ),
            (
                SHIPPED_NURTURE.replace(
                    r#"asset = "comparison-guide" }"#,
                    r#"asset = "comparison-guides" }"#,
                ),
                "nurture.toml: nurture.triggers[1].when_all[0].asset: unknown asset \"comparison-guides\"",
            ),
            (
                SHIPPED_NURTURE.replace(r#"events = ["pricing_page_visit"] }"#, r#"events = ["pricing_page"] }"#),
                "nurture.toml",
            ),
            (
                SHIPPED_NURTURE.replace(r#"Nurture_late_3 = ["comparison-guide""#, r#"Nurture_late_3 = ["exec-briefing""#),
                "nurture.workflows.Nurture_late_3: sales touch \"exec-briefing\" in a tier that is not sales_assisted",
            ),
        ];
        for (nurture, expected) in cases {
            assert_ne!(nurture, SHIPPED_NURTURE, "the edit for {expected} applied");
            std::fs::write(dir.join("nurture.toml"), nurture).unwrap();
            let error = load_rules(&dir).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected} not in {error}");
        }
        // The unknown event type is named with its key.
        std::fs::write(
            dir.join("nurture.toml"),
            SHIPPED_NURTURE.replace(
                r#"events = ["pricing_page_visit"] }"#,
                r#"events = ["pricing_page"] }"#,
            ),
        )
        .unwrap();
        let error = load_rules(&dir).unwrap_err().to_string();
        assert!(
            error.contains("pricing_page") && error.contains("when_all"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_shipped_config_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let settings = load_settings(&dir).unwrap();
        assert_eq!(settings.server.max_batch_events, 1_000);
        load_rules(&dir).unwrap();
        // The file's write-back defaults are the code's.
        let (file, code) = (&settings.writeback, WritebackSettings::default());
        assert!(!file.hubspot.enabled && !file.salesforce.enabled);
        assert_eq!(file.hubspot.fields, code.hubspot.fields);
        assert_eq!(file.hubspot.stages, code.hubspot.stages);
        assert_eq!(file.salesforce.fields, code.salesforce.fields);
        assert_eq!(file.salesforce.stages, code.salesforce.stages);
        assert_eq!(file.hubspot.requests_per_10s, code.hubspot.requests_per_10s);
        assert_eq!(file.coalesce_window_secs, code.coalesce_window_secs);
    }

    /// `shipped` with the connector of `section` (and no other) enabled.
    fn enable(shipped: &str, section: &str) -> String {
        let at = shipped.find(&format!("[{section}]")).unwrap();
        let (before, after) = shipped.split_at(at);
        format!(
            "{before}{}",
            after.replacen("enabled = false", "enabled = true", 1)
        )
    }

    #[test]
    fn the_hubspot_connector_is_off_by_default_and_checked_when_on() {
        let dir = std::env::temp_dir().join(format!("leadrouter-hs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../config/default.toml");
        std::fs::write(dir.join("default.toml"), shipped).unwrap();
        let hubspot = load_settings(&dir).unwrap().sources.hubspot;
        assert!(!hubspot.enabled);
        assert_eq!(hubspot.properties["email"], LeadField::Email);
        assert_eq!(hubspot.signals.len(), 8);
        assert!(hubspot.read_properties().contains(&"lifecyclestage"));

        let on = enable(shipped, "sources.hubspot");
        let secret = "client_secret = \"yyyyyyyy-yyyy\"";
        let base = "public_base_url = \"https://lr.example.com\"";
        let with_secret = on.replacen("# client_secret = \"\"", secret, 1);
        let cases = [
            (
                on.clone(),
                "default.toml: sources.hubspot.client_secret: must be set",
            ),
            (
                with_secret.clone(),
                "sources.hubspot.public_base_url: must be set",
            ),
            (
                with_secret.replace(
                    "# public_base_url = \"https://leadrouter.example.com\"",
                    "public_base_url = \"lr.example.com\"",
                ),
                "\"lr.example.com\" is not an http(s) URL",
            ),
            (
                with_secret
                    .replace(
                        "# public_base_url = \"https://leadrouter.example.com\"",
                        base,
                    )
                    .replace("api_timeout_ms = 1500", "api_timeout_ms = 9000"),
                "sources.hubspot.api_timeout_ms: must be 1 to 4000",
            ),
            (
                with_secret
                    .replace(
                        "# public_base_url = \"https://leadrouter.example.com\"",
                        base,
                    )
                    .replace("email = \"email\"", "email = \"title\""),
                "sources.hubspot.properties: no property maps to email",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(dir.join("default.toml"), text).unwrap();
            let error = load_settings(&dir).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected} not in {error}");
        }
        let good = with_secret.replace(
            "# public_base_url = \"https://leadrouter.example.com\"",
            base,
        );
        std::fs::write(dir.join("default.toml"), good).unwrap();
        let hubspot = load_settings(&dir).unwrap().sources.hubspot;
        assert!(hubspot.enabled);
        assert_eq!(format!("{:?}", hubspot.client_secret), "Some(***)");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_salesforce_connector_is_off_by_default_and_checked_when_on() {
        let dir = std::env::temp_dir().join(format!("leadrouter-sf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../config/default.toml");
        std::fs::write(dir.join("default.toml"), shipped).unwrap();
        let salesforce = load_settings(&dir).unwrap().sources.salesforce;
        assert!(!salesforce.enabled);
        assert_eq!(salesforce.fields["Email"], LeadField::Email);
        assert_eq!(salesforce.fields.len(), 10);

        let on = enable(shipped, "sources.salesforce");
        let token = format!("token = \"{}\"", "t".repeat(32));
        let cases = [
            (
                on.clone(),
                "default.toml: sources.salesforce.token: must be set",
            ),
            (
                on.replace("# token = \"\"", &token),
                "sources.salesforce.organization_ids: must list at least one",
            ),
            (
                on.replace("# token = \"\"", &token).replace(
                    "organization_ids = []",
                    "organization_ids = [\"00D5e000000abcdAAA\"]",
                ),
                "checksum",
            ),
            (
                on.replace("# token = \"\"", &token)
                    .replace(
                        "organization_ids = []",
                        "organization_ids = [\"00D5e000000abcd\"]",
                    )
                    .replace("Email = \"email\"", "Email = \"e_mail\""),
                "\"e_mail\" is not a lead field",
            ),
            (
                on.replace("# token = \"\"", &token)
                    .replace(
                        "organization_ids = []",
                        "organization_ids = [\"00D5e000000abcd\"]",
                    )
                    .replace("Email = \"email\"", "Email = \"title\""),
                "sources.salesforce.fields: no field maps to email",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(dir.join("default.toml"), text).unwrap();
            let error = load_settings(&dir).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected} not in {error}");
        }
        let good = on.replace("# token = \"\"", &token).replace(
            "organization_ids = []",
            "organization_ids = [\"00D5e000000abcdEAA\"]",
        );
        std::fs::write(dir.join("default.toml"), good).unwrap();
        let salesforce = load_settings(&dir).unwrap().sources.salesforce;
        assert!(salesforce.organization_ids[0].matches("00D5e000000abcdEAA"));
        assert_eq!(format!("{:?}", salesforce.token), "Some(***)");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_marketo_connector_is_off_by_default_and_checked_when_on() {
        let dir = std::env::temp_dir().join(format!("leadrouter-mkto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../config/default.toml");
        std::fs::write(dir.join("default.toml"), shipped).unwrap();
        let marketo = load_settings(&dir).unwrap().sources.marketo;
        assert!(!marketo.enabled);
        assert_eq!(marketo.header, "X-Leadrouter-Secret");
        assert_eq!(marketo.fields["Email"], LeadField::Email);
        assert_eq!(
            marketo.event_type("demo request"),
            Some(EventType::DemoRequest)
        );
        assert_eq!(marketo.events.len(), 9);

        let (head, tail) = shipped.split_at(shipped.find("[sources.marketo]").unwrap());
        let on = format!(
            "{head}{}",
            tail.replacen("enabled = false", "enabled = true", 1)
        );
        let secret = format!("secret = \"{}\"", "m".repeat(32));
        let zone = "time_zone = \"America/Chicago\"";
        let cases = [
            (
                on.clone(),
                "default.toml: sources.marketo.secret: must be set",
            ),
            (
                on.replace("# secret = \"\"", "secret = \"too short\""),
                "sources.marketo.secret: must be set",
            ),
            (
                on.replace("# secret = \"\"", &secret),
                "sources.marketo.time_zone: must name",
            ),
            (
                on.replace("# secret = \"\"", &secret).replace(
                    "# time_zone = \"America/Chicago\"",
                    "time_zone = \"Central\"",
                ),
                "unknown time zone \"Central\"",
            ),
            (
                on.replace("# secret = \"\"", &secret)
                    .replace("# time_zone = \"America/Chicago\"", zone)
                    .replace("header = \"X-Leadrouter-Secret\"", "header = \"X Secret\""),
                "sources.marketo.header: \"X Secret\" is not an HTTP header name",
            ),
            (
                on.replace("# secret = \"\"", &secret)
                    .replace("# time_zone = \"America/Chicago\"", zone)
                    .replace(
                        "Email = \"email\"\nFirstName",
                        "Email = \"title\"\nFirstName",
                    ),
                "sources.marketo.fields: no member maps to email",
            ),
            (
                on.replace(
                    "\"Demo Request\" = \"demo_request\"",
                    "\"Demo Request\" = \"demo\"",
                ),
                "demo",
            ),
        ];
        for (text, expected) in cases {
            std::fs::write(dir.join("default.toml"), text).unwrap();
            let error = load_settings(&dir).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected} not in {error}");
        }
        let good = on
            .replace("# secret = \"\"", &secret)
            .replace("# time_zone = \"America/Chicago\"", zone);
        std::fs::write(dir.join("default.toml"), good).unwrap();
        let marketo = load_settings(&dir).unwrap().sources.marketo;
        assert!(marketo.enabled);
        assert_eq!(format!("{:?}", marketo.secret), "Some(***)");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ingest_needs_a_connection_beyond_its_writers() {
        let dir = std::env::temp_dir().join(format!("leadrouter-ingest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../config/default.toml");
        assert!(shipped.contains("connections = 6") && shipped.contains("group_writers = 1"));
        std::fs::write(
            dir.join("default.toml"),
            shipped
                .replace("connections = 6", "connections = 4")
                .replace("group_writers = 1", "group_writers = 2"),
        )
        .unwrap();
        let error = load_settings(&dir).unwrap_err().to_string();
        assert!(
            error.contains(
                "default.toml: ingest.connections: must exceed twice ingest.group_writers"
            ),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_acquire_timeout_is_positive_and_below_the_request_timeout() {
        let dir = std::env::temp_dir().join(format!("leadrouter-acquire-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../config/default.toml");
        assert!(shipped.contains("acquire_timeout_secs = 5"));
        for bad in ["0", "30"] {
            std::fs::write(
                dir.join("default.toml"),
                shipped.replace(
                    "acquire_timeout_secs = 5",
                    &format!("acquire_timeout_secs = {bad}"),
                ),
            )
            .unwrap();
            let error = load_settings(&dir).unwrap_err().to_string();
            assert!(
                error.contains("default.toml: database.acquire_timeout_secs: must be at least 1"),
                "{bad}: {error}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_admin_key_never_shows_in_debug_output() {
        let auth = AuthSettings {
            admin_key: Some(Secret::new(
                "lr_bootstrap-secret-0123456789abcdef".to_owned(),
            )),
            key_cache_secs: 5,
        };
        let debug = format!("{auth:?}");
        assert_eq!(
            debug,
            "AuthSettings { admin_key: Some(***), key_cache_secs: 5 }"
        );
    }

    #[test]
    fn a_typo_in_rules_names_the_file_and_key() {
        let dir = std::env::temp_dir().join(format!("leadrouter-config-{}", std::process::id()));
        scratch_config(&dir);
        let shipped = include_str!("../config/rules.toml");
        std::fs::write(
            dir.join("rules.toml"),
            shipped.replace("[fit.revenue_band]", "[fit.revenue_bands]"),
        )
        .unwrap();
        let error = load_rules(&dir).unwrap_err().to_string();
        assert!(error.contains("rules.toml"), "{error}");
        assert!(error.contains("revenue_band"), "{error}");

        std::fs::write(
            dir.join("rules.toml"),
            shipped.replace("half_life_days = 30", "half_life_days = 0"),
        )
        .unwrap();
        let error = load_rules(&dir).unwrap_err().to_string();
        assert!(
            error.contains("rules.toml: intent.decay.half_life_days: must be at least 1"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_disqualification_rule_names_the_file_and_key() {
        let dir = std::env::temp_dir().join(format!("leadrouter-dq-{}", std::process::id()));
        scratch_config(&dir);
        let shipped = include_str!("../config/rules.toml");
        let cases = [
            (
                shipped.replace("\"Disqualified_Partner\"", "\"Disqualified_Bored\""),
                "disqualify.4.reason",
            ),
            (
                shipped.replace("inactive = { days = 180 }", "idle = { days = 180 }"),
                "disqualify.6.when",
            ),
            (
                shipped.replace("months = 6", "months = 0"),
                "disqualify[5].when: below_size needs",
            ),
            (
                shipped.replace("state = \"early\"", "state = \"warm\""),
                "segmentation.behaviour[1].state",
            ),
        ];
        for (rules, key) in cases {
            std::fs::write(dir.join("rules.toml"), rules).unwrap();
            let error = load_rules(&dir).unwrap_err().to_string();
            assert!(error.contains("rules.toml"), "{error}");
            assert!(error.contains(key), "{key} not in {error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_sla_value_names_the_file_and_key() {
        let dir = std::env::temp_dir().join(format!("leadrouter-sla-{}", std::process::id()));
        scratch_config(&dir);
        let shipped = include_str!("../config/rules.toml");
        let cases = [
            (
                shipped.replace("time_zone = \"UTC\"", "time_zone = \"Europe/Berln\""),
                "sla.time_zone",
            ),
            (
                shipped.replace(
                    "holidays = []",
                    "holidays = [\"2026-12-25\", \"2026-13-01\"]",
                ),
                "sla.holidays[1]: \"2026-13-01\" is not a calendar date",
            ),
            (
                shipped.replace("day_end = \"17:00\"", "day_end = \"08:00\""),
                "rules.toml: sla.day_end: must be after sla.day_start (09:00), got 08:00",
            ),
        ];
        for (rules, key) in cases {
            std::fs::write(dir.join("rules.toml"), rules).unwrap();
            let error = load_rules(&dir).unwrap_err().to_string();
            assert!(error.contains("rules.toml"), "{error}");
            assert!(error.contains(key), "{key} not in {error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_back_needs_the_hubspot_token_and_every_stage() {
        let dir = std::env::temp_dir().join(format!("leadrouter-wb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shipped = include_str!("../config/default.toml");
        let on = enable(shipped, "writeback.hubspot");
        let cases = [
            (
                on.clone(),
                "writeback.hubspot.enabled: needs sources.hubspot.access_token",
            ),
            (
                shipped.replace("Rejected = \"other\"\n", ""),
                "writeback.hubspot.stages: no value for stage Rejected",
            ),
            (
                shipped.replace("owner = \"leadrouter_owner\"", "owner = \"fit_score\""),
                "writeback.hubspot.fields: \"fit_score\" names two fields",
            ),
            (
                shipped.replace("requests_per_10s = 50", "requests_per_10s = 0"),
                "writeback.salesforce.requests_per_10s: must be at least 1",
            ),
        ];
        for (text, expected) in cases {
            assert_ne!(text, shipped);
            std::fs::write(dir.join("default.toml"), text).unwrap();
            let error = load_settings(&dir).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected} not in {error}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passwords_are_redacted() {
        let url = DatabaseUrl::from("postgres://app:s3cret@db:5432/leadrouter".to_owned());
        assert_eq!(url.redacted(), "postgres://app:***@db:5432/leadrouter");
        assert_eq!(format!("{url:?}"), "postgres://app:***@db:5432/leadrouter");
        let url = DatabaseUrl::from("postgres://postgres@localhost:5432/leadrouter".to_owned());
        assert_eq!(
            url.redacted(),
            "postgres://postgres@localhost:5432/leadrouter"
        );
    }

    #[test]
    fn config_dir_comes_from_the_flag_first() {
        let args = ["leadrouter", "--config", "/etc/leadrouter"].map(String::from);
        assert_eq!(config_dir(args), PathBuf::from("/etc/leadrouter"));
        let args = ["leadrouter", "--config=/srv/cfg"].map(String::from);
        assert_eq!(config_dir(args), PathBuf::from("/srv/cfg"));
    }
}
