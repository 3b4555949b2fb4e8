//! What every database command starts from: the settings and rules `serve` would load from
//! the same `--config` folder and environment, and the same database, created and migrated
//! if need be, so the commands work in any order on a fresh machine.

use std::path::Path;

use sqlx::PgPool;

use super::Failure;
use crate::{
    config::{self, Settings},
    db::{self, Migrated},
    engine::RuleSet,
};

/// The settings and rules of `dir`, validated as `serve` validates them.
pub fn load(dir: &Path) -> Result<(Settings, RuleSet), Failure> {
    let settings = config::load_settings(dir)?;
    let rules = config::load_rules(dir)?;
    let rules = RuleSet::new(rules).map_err(|e| Failure::Usage(e.to_string()))?;
    Ok((settings, rules))
}

/// The service's database, created if missing and migrated, and what that took.
pub async fn connect(settings: &Settings) -> Result<(PgPool, Migrated), Failure> {
    db::connect_and_migrate_reporting(&settings.database)
        .await
        .map_err(Failure::runtime)
}
