//! PostgreSQL: connecting, creating the database, migrating; one module per aggregate.
//!
//! Functions take `&mut PgConnection` so the caller (a `usecase`) owns the transaction.

pub mod accounts;
pub mod api_keys;
pub mod assignments;
mod bind;
pub mod crm_writes;
pub mod dead_letters;
pub mod deliveries;
pub mod delivery_log;
pub mod demand_states;
pub mod events;
pub mod governance;
pub mod lead_write;
pub mod leads;
pub mod meddic;
pub mod metrics;
pub mod model;
pub mod nurture;
pub mod opportunities;
pub mod outbox;
pub mod outbox_totals;
pub mod reads;
pub mod reps;
pub mod reviews;
pub mod scrape_gauges;
pub mod source_ids;
pub mod spend;
pub mod transitions;
pub mod webhook_endpoints;

pub(crate) use bind::{Bind, unnest};

use std::time::Duration;

use anyhow::Context;
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::DatabaseSettings;

/// PostgreSQL did not answer at all: the operator has to start it or fix the URL.
#[derive(Debug, thiserror::Error)]
#[error(
    "PostgreSQL is not reachable at {url} ({cause}); start one (e.g. `scripts/pg-local start`, \
     or `pg_ctlcluster <version> main start`) or set DATABASE_URL"
)]
pub struct Unreachable {
    pub url: String,
    pub cause: String,
}

/// What [`connect_and_migrate_reporting`] did, for `leadrouter migrate` to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The database's name.
    pub database: String,
    /// Whether this call created it.
    pub created: bool,
    /// How many migrations were applied during this call (by it, or by a replica migrating
    /// at the same moment: sqlx's lock lets only one of them apply each).
    pub applied: usize,
    /// How many migrations the binary holds.
    pub total: usize,
}

/// Connects, creating the database if it does not exist, and runs the migrations.
pub async fn connect_and_migrate(settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    Ok(connect_and_migrate_reporting(settings).await?.0)
}

/// [`connect_and_migrate`], telling what it did.
pub async fn connect_and_migrate_reporting(
    settings: &DatabaseSettings,
) -> anyhow::Result<(PgPool, Migrated)> {
    let options: PgConnectOptions = settings.url.expose().parse().with_context(|| {
        format!(
            "DATABASE_URL {} is not a PostgreSQL URL",
            settings.url.redacted()
        )
    })?;
    let database = options.get_database().unwrap_or("leadrouter").to_owned();
    let created = create_database_if_missing(&options)
        .await
        .map_err(|cause| match cause.downcast::<sqlx::Error>() {
            Ok(sqlx::Error::Io(io)) => Unreachable {
                url: settings.url.redacted(),
                cause: io.to_string(),
            }
            .into(),
            Ok(other) => {
                anyhow::Error::from(other).context("while checking that the database exists")
            }
            Err(other) => other,
        })?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .connect_with(options)
        .await
        .context("connecting to the database")?;
    let before = applied_migrations(&pool).await?;
    migrate(&pool).await?;
    let after = applied_migrations(&pool).await?;
    let migrated = Migrated {
        database,
        created,
        applied: after.saturating_sub(before),
        total: MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .count(),
    };
    Ok((pool, migrated))
}

/// How many migrations the database has recorded (none before the first run made the table).
async fn applied_migrations(pool: &PgPool) -> anyhow::Result<usize> {
    // A query naming a missing table fails as it is planned, whatever guards it: two queries.
    let recorded: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(pool)
        .await
        .context("looking for the migrations table")?;
    if !recorded {
        return Ok(0);
    }
    let count: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(pool)
        .await
        .context("reading which migrations have run")?;
    Ok(usize::try_from(count).unwrap_or(0))
}

/// A second pool on `pool`'s database, of `size` connections, whose sessions always reuse the
/// generic plan of a prepared statement. Ingest runs the same few statements over column
/// arrays thousands of times a second; PostgreSQL would otherwise plan each execution afresh,
/// as a custom plan for arrays looks no dearer than the generic one, and planning the group
/// write costs more than running it. Other statements keep custom plans, which matter where a
/// parameter's value decides the plan (date ranges in metrics).
pub fn generic_plan_pool(pool: &PgPool, size: u32) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .options([("plan_cache_mode", "force_generic_plan")]);
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with(options)
}

/// The migrations in `migrations/`, built into the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Runs the migrations in `migrations/`.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("running migrations")
}

/// Creates the database `options` names unless it exists; whether this call created it.
async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<bool> {
    let name = options.get_database().unwrap_or("leadrouter").to_owned();
    let maintenance = options
        .clone()
        .database("postgres")
        .log_statements(tracing::log::LevelFilter::Debug);
    let mut conn = PgConnection::connect_with(&maintenance).await?;
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    let mut created = false;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&format!("create database {quoted}"))
            .execute(&mut conn)
            .await
        {
            Ok(_) => {
                tracing::info!(db.name = %name, "created database");
                created = true;
            }
            // Another replica created it between our check and our create.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context(format!("creating database {name}")),
        }
    }
    conn.close().await?;
    Ok(created)
}
