//! What the benchmark binaries (`src/bin/*bench*.rs`, `loadgen`) share: their flags, the
//! scratch database they start from, the shipped config, and medians; and a stand-in of
//! HubSpot's CRM API that the benchmark and the tests share ([`hubspot_api`]), and one of
//! Salesforce's token endpoint and sObject Collections ([`salesforce_api`]). Not used by the
//! service.

pub mod hubspot_api;
pub mod salesforce_api;
pub mod webhook_receiver;

use std::collections::HashMap;

use anyhow::Context;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::{
    config::{self, Settings},
    db,
    domain::{Role, Secret},
    engine::RuleSet,
    usecase::api_keys::{self, MintInput},
};

/// `--flag value` pairs from the command line; any flag not in `allowed` is an error naming
/// the allowed ones.
pub fn flags(allowed: &[&str]) -> anyhow::Result<HashMap<String, String>> {
    let mut flags = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let name = flag.trim_start_matches("--");
        anyhow::ensure!(
            flag.starts_with("--") && allowed.contains(&name),
            "unknown flag {flag}; use {}",
            allowed
                .iter()
                .map(|a| format!("--{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        flags.insert(name.to_owned(), value);
    }
    Ok(flags)
}

/// The flag `name` parsed, or `default`.
pub fn flag<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
    default: T,
) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    flags
        .get(name)
        .map(|v| v.parse().with_context(|| format!("--{name} {v}")))
        .transpose()
        .map(|v| v.unwrap_or(default))
}

/// The shipped settings (pointed at `database_url`) and rules.
pub fn shipped_config(database_url: &str) -> anyhow::Result<(Settings, RuleSet)> {
    let dir = config::config_dir(std::iter::empty());
    let mut settings = config::load_settings(&dir)?;
    settings.database.url = database_url.to_owned().into();
    let rules = RuleSet::new(config::load_rules(&dir)?)?;
    Ok((settings, rules))
}

/// Drops and recreates the database of `settings` (which must be named like a `bench`
/// database, so nothing else is ever dropped) and migrates it, so runs compare.
pub async fn scratch_database(settings: &Settings) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = settings.database.url.expose().parse()?;
    let name = options.get_database().unwrap_or_default().to_owned();
    anyhow::ensure!(
        name.contains("bench"),
        "refusing to drop {name:?}: not a *bench* database"
    );
    let maintenance = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.database("postgres"))
        .await?;
    sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
        .execute(&maintenance)
        .await?;
    maintenance.close().await;
    db::connect_and_migrate(&settings.database).await
}

/// The median of `xs` (the upper one of an even count).
/// A new API key of `role` labelled `label` in the scratch database, as an operator mints one.
pub async fn mint_key(pool: &PgPool, role: Role, label: &str) -> anyhow::Result<Secret> {
    let input = MintInput {
        role: Some(role),
        rep_id: None,
        label: Some(label.to_owned()),
    };
    let minted = api_keys::mint(pool, input, chrono::Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("minting the {label} key: {e}"))?;
    Ok(minted.key)
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The flags of the scale benchmarks: `--leads`, `--due`, `--rounds`, `--database-url`.
pub struct ScaleArgs {
    pub leads: i64,
    pub due: i64,
    pub rounds: usize,
    pub database_url: String,
}

impl ScaleArgs {
    /// Reads the flags; defaults: 1,000,000 leads, 10,000 due, 5 rounds, `database`.
    pub fn parse(database: &str) -> anyhow::Result<Self> {
        let flags = flags(&["leads", "due", "rounds", "database-url"])?;
        let args = ScaleArgs {
            leads: flag(&flags, "leads", 1_000_000)?,
            due: flag(&flags, "due", 10_000)?,
            rounds: flag(&flags, "rounds", 5)?,
            database_url: flag(
                &flags,
                "database-url",
                format!("postgres://postgres@localhost:5432/{database}"),
            )?,
        };
        anyhow::ensure!(args.rounds >= 1, "need --rounds >= 1");
        Ok(args)
    }
}

/// This process's peak resident memory so far (`VmHWM` of `/proc/self/status`), in MB.
pub fn peak_rss_mb() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmHWM in /proc/self/status"))?;
    Ok(kb / 1024.0)
}
