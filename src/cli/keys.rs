//! `leadrouter keys create | list | revoke`: API keys straight in the database, through the
//! use case behind `/api/v1/api-keys`, so a first admin key needs no running service and no
//! bootstrap key.

use std::{path::Path, time::Duration};

use chrono::{DateTime, SubsecRound, Utc};
use clap::{
    Args, Subcommand,
    builder::{PossibleValuesParser, TypedValueParser},
};
use sqlx::PgPool;
use uuid::Uuid;

use super::{Failure, say, setup};
use crate::{
    db::api_keys::ApiKey,
    domain::Role,
    usecase::{
        api_keys::{self, MintInput},
        key_cache::KeyCache,
    },
};

/// How many keys `list` reads per query.
const LIST_PAGE: i64 = 500;

/// What to do with keys.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint a key and print it (alone, on stdout); it is shown this once.
    Create(CreateArgs),
    /// List every key (revoked ones included), newest first, without secrets.
    List,
    /// Revoke a key: it is refused from then on, and kept for the record.
    Revoke {
        /// The key's id, or its prefix as `keys list` shows it (`lr_1a2b3c4d`).
        #[arg(value_name = "PREFIX_OR_ID")]
        key: String,
    },
}

/// `keys create`'s flags.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// What the key may do.
    #[arg(long, value_parser = role_parser())]
    pub role: Role,
    /// The rep a `rep` or `manager` key acts as (required for those, refused for the others).
    #[arg(long, value_name = "UUID")]
    pub rep_id: Option<Uuid>,
    /// Who or what holds the key, shown by `keys list`.
    #[arg(long, value_name = "LABEL")]
    pub name: Option<String>,
}

/// The role names, listed by `--help` and checked by clap.
fn role_parser() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::ALL.map(Role::as_str))
        .map(|name| name.parse().expect("a possible value is a role name"))
}

/// Runs `command`; what to print on stdout.
pub async fn run(config: &Path, command: KeysCommand) -> Result<String, Failure> {
    let (settings, _) = setup::load(config)?;
    let (pool, _) = setup::connect(&settings).await?;
    let result = match command {
        KeysCommand::Create(args) => create(&pool, args).await,
        KeysCommand::List => list(&pool).await,
        KeysCommand::Revoke { key } => revoke(&pool, &key).await,
    };
    pool.close().await;
    result
}

/// The use case names the fields of the HTTP body; these are the flags that carry them.
fn flag(field: &str) -> String {
    match field {
        "label" => "--name".to_owned(),
        other => format!("--{}", other.replace('_', "-")),
    }
}

/// What the database stores: microseconds, so a time read back compares equal.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

async fn create(pool: &PgPool, args: CreateArgs) -> Result<String, Failure> {
    let input = MintInput {
        role: Some(args.role),
        rep_id: args.rep_id,
        label: args.name,
    };
    let minted = api_keys::mint(pool, input, now())
        .await
        .map_err(|e| Failure::from_api(e, flag))?;
    say(&format!(
        "leadrouter keys create: minted {} key {} (id {}). It is shown this once: store it now, \
         and send it as `Authorization: Bearer <key>`.",
        minted.role, minted.prefix, minted.id
    ));
    Ok(minted.key.expose().to_owned())
}

async fn list(pool: &PgPool) -> Result<String, Failure> {
    let keys = all_keys(pool).await?;
    let mut lines = vec![format!(
        "{:<12} {:<8} {:<36} {:<20} {:<20} {:<36} label",
        "prefix", "role", "rep", "created", "revoked", "id"
    )];
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    for key in &keys {
        lines.push(format!(
            "{:<12} {:<8} {:<36} {:<20} {:<20} {:<36} {}",
            key.prefix,
            // Role's Display writes the bare name and so ignores the width.
            key.role.as_str(),
            key.rep_id.map_or("-".to_owned(), |id| id.to_string()),
            time(key.created_at),
            key.revoked_at.map_or("-".to_owned(), time),
            key.id,
            key.label.as_deref().unwrap_or("-"),
        ));
    }
    Ok(lines.join("\n"))
}

/// Every key, page by page.
async fn all_keys(pool: &PgPool) -> Result<Vec<ApiKey>, Failure> {
    let mut keys = Vec::new();
    loop {
        let page = api_keys::list(pool, LIST_PAGE, keys.len() as i64)
            .await
            .map_err(|e| Failure::from_api(e, flag))?;
        let done = page.items.len() < LIST_PAGE as usize;
        keys.extend(page.items);
        if done || keys.len() as i64 >= page.total {
            return Ok(keys);
        }
    }
}

async fn revoke(pool: &PgPool, key: &str) -> Result<String, Failure> {
    let id = match key.parse::<Uuid>() {
        Ok(id) => id,
        Err(_) => id_of_prefix(&all_keys(pool).await?, key)?,
    };
    let now = now();
    // This process has no cache to clear; a running service forgets the key within
    // `auth.key_cache_secs`.
    let cache = KeyCache::new(Duration::ZERO);
    let revoked = api_keys::revoke(pool, &cache, id, now)
        .await
        .map_err(|e| Failure::from_api(e, |_| "PREFIX_OR_ID".to_owned()))?;
    Ok(match revoked.revoked_at {
        Some(at) if at < now => format!(
            "{} key {} (id {}) was already revoked at {}",
            revoked.role,
            revoked.prefix,
            revoked.id,
            at.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        _ => format!(
            "revoked {} key {} (id {})",
            revoked.role, revoked.prefix, revoked.id
        ),
    })
}

/// The id of the one key shown as `prefix`.
fn id_of_prefix(keys: &[ApiKey], prefix: &str) -> Result<Uuid, Failure> {
    let matching: Vec<&ApiKey> = keys.iter().filter(|k| k.prefix == prefix).collect();
    match matching.as_slice() {
        [one] => Ok(one.id),
        [] => Err(Failure::Usage(format!(
            "no API key has the id or prefix {prefix:?}; `leadrouter keys list` shows them"
        ))),
        many => Err(Failure::Usage(format!(
            "{} keys share the prefix {prefix}; revoke one by its id: {}",
            many.len(),
            many.iter()
                .map(|k| k.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(prefix: &str) -> ApiKey {
        ApiKey {
            id: Uuid::new_v4(),
            prefix: prefix.to_owned(),
            role: Role::Ops,
            rep_id: None,
            label: None,
            created_at: Utc::now(),
            revoked_at: None,
        }
    }

    #[test]
    fn fields_are_named_as_the_flags_that_carry_them() {
        assert_eq!(flag("rep_id"), "--rep-id");
        assert_eq!(flag("label"), "--name");
        assert_eq!(flag("role"), "--role");
    }

    #[test]
    fn a_prefix_names_one_key_or_is_refused() {
        let keys = [key("lr_aaaa1111"), key("lr_bbbb2222"), key("lr_bbbb2222")];
        assert_eq!(id_of_prefix(&keys, "lr_aaaa1111"), Ok(keys[0].id));
        let Err(Failure::Usage(none)) = id_of_prefix(&keys, "lr_cccc") else {
            panic!("an unknown prefix is refused");
        };
        assert!(none.contains("keys list"), "{none}");
        let Err(Failure::Usage(two)) = id_of_prefix(&keys, "lr_bbbb2222") else {
            panic!("a shared prefix is refused");
        };
        assert!(two.starts_with("2 keys share"), "{two}");
    }
}
