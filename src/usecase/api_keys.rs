//! API keys: minting (the only time a key is shown), listing, revoking, and resolving the
//! key a request presents to its caller.

use chrono::{DateTime, Utc};
use rand::{RngCore, rngs::OsRng};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::Page;
use super::key_cache::KeyCache;
use crate::{
    db::api_keys::{self, ApiKey, NewApiKey},
    domain::{
        Caller, KEY_PREFIX, KEY_RANDOM_BYTES, KeyHash, Role, Secret, format_key, shown_prefix, text,
    },
    error::{ApiError, FieldError},
};

/// Longest label, in characters.
const MAX_LABEL_CHARS: usize = 200;

/// A request to mint a key.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintInput {
    // Optional here so that a missing role is a 422 naming `role`, like a wrong one.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// Required for `rep` and `manager` keys, refused for the others.
    pub rep_id: Option<Uuid>,
    /// Free text saying who or what holds the key.
    pub label: Option<String>,
}

/// A freshly minted key: the only answer that carries the key itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Minted {
    pub id: Uuid,
    #[serde(serialize_with = "Secret::serialize_exposed")]
    #[schema(value_type = String)]
    pub key: Secret,
    pub prefix: String,
    #[schema(value_type = String)]
    pub role: Role,
    pub rep_id: Option<Uuid>,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Mints a key of the requested role. The key is random (256 bits from the operating
/// system), returned once, and stored only as its hash.
#[tracing::instrument(skip_all, fields(api_key.role = tracing::field::Empty))]
pub async fn mint(pool: &PgPool, input: MintInput, now: DateTime<Utc>) -> Result<Minted, ApiError> {
    let (role, rep_id, label) = validate(input)?;
    tracing::Span::current().record("api_key.role", role.as_str());
    let mut random = [0u8; KEY_RANDOM_BYTES];
    OsRng.fill_bytes(&mut random);
    let key = format_key(random);
    let prefix = shown_prefix(key.expose());
    let mut conn = pool.acquire().await?;
    let stored = api_keys::insert(
        &mut conn,
        &NewApiKey {
            id: Uuid::now_v7(),
            key_hash: &KeyHash::of(key.expose()).to_hex(),
            prefix: &prefix,
            role,
            rep_id,
            label: label.as_deref(),
            created_at: now,
        },
    )
    .await
    .map_err(|e| unknown_rep(e, rep_id))?;
    tracing::info!(api_key.id = %stored.id, api_key.prefix = %stored.prefix, "minted an API key");
    Ok(Minted {
        id: stored.id,
        key,
        prefix: stored.prefix,
        role: stored.role,
        rep_id: stored.rep_id,
        label: stored.label,
        created_at: stored.created_at,
    })
}

/// A key bound to a rep id that names no rep is the caller's mistake, named as `rep_id`.
fn unknown_rep(error: sqlx::Error, rep_id: Option<Uuid>) -> ApiError {
    match (&error, rep_id) {
        (sqlx::Error::Database(db), Some(rep_id))
            if db.constraint() == Some("api_keys_rep_id_fkey") =>
        {
            ApiError::field(
                "rep_id",
                format!("{rep_id} names no rep: create the rep first"),
            )
        }
        _ => error.into(),
    }
}

/// Checks a mint request, naming every field that is wrong.
fn validate(input: MintInput) -> Result<(Role, Option<Uuid>, Option<String>), ApiError> {
    let mut errors = Vec::new();
    let label = input
        .label
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty());
    if let Some(problem) = label
        .as_deref()
        .and_then(|l| text::too_long(l, MAX_LABEL_CHARS))
    {
        errors.push(FieldError::new("label", problem));
    }
    match input.role {
        None => errors.push(FieldError::new(
            "role",
            "is required: one of admin, ops, manager, rep, source",
        )),
        Some(role) if role.is_rep_bound() && input.rep_id.is_none() => errors.push(
            FieldError::new("rep_id", format!("is required for a {role} key")),
        ),
        Some(role) if !role.is_rep_bound() && input.rep_id.is_some() => {
            errors.push(FieldError::new(
                "rep_id",
                format!("is only for rep and manager keys, not for a {role} key"),
            ));
        }
        Some(_) => {}
    }
    match input.role {
        Some(role) if errors.is_empty() => Ok((role, input.rep_id, label)),
        _ => Err(ApiError::Validation(errors)),
    }
}

/// A page of all keys (revoked ones included), newest first, without secrets.
pub async fn list(pool: &PgPool, limit: i64, offset: i64) -> Result<Page<ApiKey>, ApiError> {
    let mut conn = pool.acquire().await?;
    let (items, total) = api_keys::list(&mut conn, limit, offset).await?;
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}

/// Revokes key `id`: from now on it is refused. Revoking a revoked key changes nothing.
#[tracing::instrument(skip_all, fields(api_key.id = %id))]
pub async fn revoke(
    pool: &PgPool,
    cache: &KeyCache,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<ApiKey, ApiError> {
    let mut conn = pool.acquire().await?;
    let key = api_keys::revoke(&mut conn, id, now)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("API key {id}")))?;
    cache.clear();
    tracing::info!(api_key.prefix = %key.prefix, "revoked an API key");
    Ok(key)
}

/// The caller that `presented` (a key as sent by a client) stands for, or `None` when it is
/// unknown or revoked. The bootstrap key (`bootstrap`, its hash) needs no database.
pub async fn authenticate(
    pool: &PgPool,
    cache: &KeyCache,
    bootstrap: Option<&KeyHash>,
    presented: &str,
) -> Result<Option<Caller>, ApiError> {
    let hash = KeyHash::of(presented);
    if bootstrap.is_some_and(|b| b.matches(&hash)) {
        return Ok(Some(Caller::bootstrap_admin()));
    }
    // Only minted keys are in the table; anything else is refused without a query, so
    // garbage credentials cost no database work.
    if !is_minted_format(presented) {
        return Ok(None);
    }
    let hex = hash.to_hex();
    if let Some(caller) = cache.get(&hex) {
        return Ok(Some(caller));
    }
    let mut conn = pool.acquire().await?;
    let key = api_keys::find_active_by_hash(&mut conn, &hex).await?;
    let caller = key.map(|key| Caller {
        key_id: Some(key.id),
        role: key.role,
        rep_id: key.rep_id,
        key_prefix: key.prefix,
    });
    if let Some(caller) = &caller {
        cache.put(hex, caller.clone());
    }
    Ok(caller)
}

/// How many unrevoked admin keys the database holds (for the start-up check that someone
/// can mint keys).
pub async fn active_admin_keys(pool: &PgPool) -> sqlx::Result<i64> {
    let mut conn = pool.acquire().await?;
    api_keys::count_active_admins(&mut conn).await
}

fn is_minted_format(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == 2 * KEY_RANDOM_BYTES
            && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(role: Option<Role>, rep_id: Option<Uuid>, label: Option<&str>) -> MintInput {
        MintInput {
            role,
            rep_id,
            label: label.map(str::to_owned),
        }
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn rep_bound_roles_need_a_rep_and_the_others_refuse_one() {
        let rep = Some(Uuid::nil());
        assert!(validate(input(Some(Role::Rep), rep, None)).is_ok());
        assert!(validate(input(Some(Role::Manager), rep, None)).is_ok());
        assert!(validate(input(Some(Role::Ops), None, None)).is_ok());
        assert_eq!(
            fields(validate(input(Some(Role::Rep), None, None)).unwrap_err()),
            ["rep_id"]
        );
        assert_eq!(
            fields(validate(input(Some(Role::Source), rep, None)).unwrap_err()),
            ["rep_id"]
        );
        assert_eq!(
            fields(validate(input(None, None, None)).unwrap_err()),
            ["role"]
        );
    }

    #[test]
    fn labels_are_trimmed_blank_is_none_and_long_is_refused() {
        let (_, _, label) = validate(input(Some(Role::Ops), None, Some("  ci  "))).unwrap();
        assert_eq!(label.as_deref(), Some("ci"));
        let (_, _, label) = validate(input(Some(Role::Ops), None, Some("   "))).unwrap();
        assert_eq!(label, None);
        let long = "x".repeat(201);
        assert_eq!(
            fields(validate(input(None, None, Some(&long))).unwrap_err()),
            ["label", "role"]
        );
    }

    #[test]
    fn only_the_minted_format_reaches_the_database() {
        assert!(is_minted_format(format_key([9; KEY_RANDOM_BYTES]).expose()));
        assert!(!is_minted_format("lr_abc"));
        assert!(!is_minted_format(&format!("lr_{}", "G".repeat(64))));
        assert!(!is_minted_format(&"a".repeat(67)));
    }
}
