//! `leadrouter migrate`: create the database if it is missing and apply the migrations, as
//! `serve` does at start, without serving.

use std::path::Path;

use super::{Failure, setup};
use crate::db::Migrated;

/// Migrates the configured database; the one line saying what was done.
pub async fn run(config: &Path) -> Result<String, Failure> {
    let (settings, _) = setup::load(config)?;
    let (pool, migrated) = setup::connect(&settings).await?;
    pool.close().await;
    Ok(describe(&migrated))
}

/// `created database leadrouter; applied 23 migrations (23 in all)`.
fn describe(m: &Migrated) -> String {
    let database = match m.created {
        true => format!("created database {}", m.database),
        false => format!("database {} exists", m.database),
    };
    let migrations = match m.applied {
        0 => format!("schema up to date ({} migrations)", m.total),
        1 => format!("applied 1 migration ({} in all)", m.total),
        n => format!("applied {n} migrations ({} in all)", m.total),
    };
    format!("{database}; {migrations}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_what_was_done() {
        let fresh = Migrated {
            database: "leadrouter".to_owned(),
            created: true,
            applied: 23,
            total: 23,
        };
        assert_eq!(
            describe(&fresh),
            "created database leadrouter; applied 23 migrations (23 in all)"
        );
        let current = Migrated {
            created: false,
            applied: 0,
            ..fresh
        };
        assert_eq!(
            describe(&current),
            "database leadrouter exists; schema up to date (23 migrations)"
        );
    }
}
