//! Wiring: state, database, listener, graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    adapters::canonical::Limits,
    clients::hubspot::CrmApi,
    config::Settings,
    db,
    domain::KeyHash,
    engine::RuleSet,
    http, jobs, metrics,
    usecase::{
        self, hubspot,
        ingest::{GroupCommit, GroupCommitSettings},
        key_cache::KeyCache,
    },
};

/// Where the service reads the time. Tests inject a fixed or movable clock so nothing sleeps.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    // Microseconds, as PostgreSQL keeps them: what ingest holds in memory is what it stored.
    Arc::new(|| Utc::now().trunc_subsecs(6))
}

/// Everything a request handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Where reads that may lag go (`database.read_url`): [`db::reads`].
    pub reads: db::reads::Reads,
    pub settings: Arc<Settings>,
    pub rules: Arc<RuleSet>,
    pub clock: Clock,
    pub group_commit: GroupCommit,
    /// The hash of the bootstrap admin key (`auth.admin_key`), computed once.
    pub admin_key: Option<KeyHash>,
    /// Recently resolved API keys (`auth.key_cache_secs`).
    pub key_cache: Arc<KeyCache>,
    /// HubSpot's CRM API, when an access token is configured.
    pub hubspot_api: Option<CrmApi>,
    /// The process's Prometheus recorder, which `/metrics` renders.
    pub metrics: PrometheusHandle,
}

impl AppState {
    /// The state for `pool`, starting the ingest writers on the current runtime.
    pub fn new(pool: PgPool, settings: Settings, rules: RuleSet, clock: Clock) -> Self {
        // Before anything records: what is recorded before the recorder exists is lost.
        let metrics = metrics::install();
        let rules = Arc::new(rules);
        let group_commit = GroupCommit::start(
            db::generic_plan_pool(&pool, settings.ingest.connections),
            rules.clone(),
            GroupCommitSettings {
                writers: settings.ingest.group_writers,
                max_group: settings.ingest.max_group_events,
                lead_cache_bytes: settings.ingest.lead_cache_bytes,
            },
        );
        let admin_key = settings
            .auth
            .admin_key
            .as_ref()
            .map(|key| KeyHash::of(key.expose()));
        let key_cache = Arc::new(KeyCache::new(Duration::from_secs(
            settings.auth.key_cache_secs,
        )));
        let hubspot_api = CrmApi::from_settings(&settings.sources.hubspot);
        let reads = db::reads::Reads::from_settings(pool.clone(), &settings.database)
            .expect("config::load_settings validated database.read_url");
        Self {
            pool,
            reads,
            hubspot_api,
            settings: Arc::new(settings),
            rules,
            clock,
            group_commit,
            admin_key,
            key_cache,
            metrics,
        }
    }

    /// The current time, from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    /// The HubSpot connector's settings and API client, with `limits`.
    pub fn hubspot<'a>(&'a self, limits: &'a Limits<'a>) -> hubspot::Connector<'a> {
        hubspot::Connector {
            settings: &self.settings.sources.hubspot,
            api: self.hubspot_api.as_ref(),
            limits,
        }
    }

    /// The canonical-event limits from the settings.
    pub fn limits(&self) -> Limits<'_> {
        Limits {
            max_batch_events: self.settings.server.max_batch_events,
            max_future_skew: chrono::Duration::seconds(self.settings.server.max_future_skew_secs),
            demand_states: &self.rules.rules.segmentation.demand_states,
        }
    }
}

/// Connects to the database (creating and migrating it), then serves until SIGTERM or ctrl-c.
pub async fn run(settings: Settings, rules: RuleSet) -> anyhow::Result<()> {
    let pool = db::connect_and_migrate(&settings.database).await?;
    let addr: SocketAddr = format!("{}:{}", settings.server.host, settings.server.port)
        .parse()
        .context("server.host and server.port do not form a socket address")?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, rules.version = %rules.version, "leadrouter listening");

    warn_if_nobody_can_mint_keys(&pool, &settings).await?;

    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let state = AppState::new(pool.clone(), settings, rules, system_clock());
    let jobs = TaskTracker::new();
    let job_settings = state.settings.jobs.clone();
    jobs.spawn(jobs::sweeper::run(
        state.clone(),
        Duration::from_secs(job_settings.sweep_interval_secs),
        job_settings.sweep_batch,
        shutdown.clone(),
    ));
    jobs.spawn(jobs::sla_clock::run(
        state.clone(),
        Duration::from_secs(job_settings.sla_interval_secs),
        job_settings.sla_batch,
        shutdown.clone(),
    ));
    jobs.spawn(jobs::metrics_fold::run(
        state.clone(),
        Duration::from_secs(job_settings.metrics_fold_interval_secs),
        shutdown.clone(),
    ));
    jobs.spawn(jobs::dispatcher::run(
        state.pool.clone(),
        state.clock.clone(),
        jobs::dispatcher::Settings::from_jobs(&job_settings),
        shutdown.clone(),
    ));
    jobs.spawn(jobs::governance::run(state.clone(), shutdown.clone()));
    spawn_writeback(&jobs, &state, &shutdown).await?;
    jobs.spawn(metrics::run_upkeep(state.metrics.clone(), shutdown.clone()));
    jobs.close();
    serve(listener, state, shutdown).await?;
    // Let a sweep in progress finish its transaction, and attempts in flight their recording,
    // before the pool closes.
    jobs.wait().await;
    pool.close().await;
    tracing::info!("leadrouter stopped");
    Ok(())
}

/// Records which CRMs write-back is on for (so the triggers queue only for those), then
/// starts a loop per CRM and the daily decay check.
async fn spawn_writeback(
    jobs: &TaskTracker,
    state: &AppState,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let targets = jobs::crm_writeback::targets(&state.settings);
    jobs::crm_writeback::register_targets(&state.pool, &targets, &state.settings, state.now())
        .await?;
    if targets.is_empty() {
        return Ok(());
    }
    for target in &targets {
        tracing::info!(crm = target.client.crm().as_str(), "CRM write-back on");
        jobs.spawn(jobs::crm_writeback::run(
            state.clone(),
            target.clone(),
            shutdown.clone(),
        ));
    }
    jobs.spawn(jobs::crm_writeback::run_decay(
        state.clone(),
        targets,
        shutdown.clone(),
    ));
    Ok(())
}

/// Serves the API on `listener` until `shutdown` is cancelled, then lets in-flight requests
/// finish (bounded by the request timeout).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let limits = http::listener::Limits::from_settings(&state.settings.server);
    http::listener::serve(listener, http::router(state), limits, shutdown)
        .await
        .context("serving HTTP")
}

/// Every endpoint but the probes needs a key, and only admin keys mint keys: with neither a
/// bootstrap key nor an admin key in the database, the API is unusable until one is set.
async fn warn_if_nobody_can_mint_keys(
    pool: &sqlx::PgPool,
    settings: &Settings,
) -> anyhow::Result<()> {
    if settings.auth.admin_key.is_some() {
        tracing::info!("bootstrap admin key configured (auth.admin_key)");
        return Ok(());
    }
    let admins = usecase::api_keys::active_admin_keys(pool)
        .await
        .context("counting admin API keys")?;
    if admins == 0 {
        tracing::warn!(
            "no admin API key exists and no bootstrap key is configured: nobody can mint keys \
             or call the API; mint one with `leadrouter keys create --role admin`, or set \
             LEADROUTER_ADMIN_KEY (at least 32 characters) and restart"
        );
    }
    Ok(())
}

async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested; draining in-flight requests");
    token.cancel();
}
