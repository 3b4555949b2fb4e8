//! API keys: who holds which role. Only the SHA-256 of a key is stored (see the migration).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::Role;

/// A key as listed: everything but its secret (which is not stored) and its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    /// The first characters of the key (`lr_1a2b3c4d`).
    pub prefix: String,
    /// `admin`, `ops`, `manager`, `rep` or `source`.
    #[schema(value_type = String)]
    pub role: Role,
    /// The rep a `rep` or `manager` key acts as.
    pub rep_id: Option<Uuid>,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked key is refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key to store.
#[derive(Debug)]
pub struct NewApiKey<'a> {
    pub id: Uuid,
    /// SHA-256 of the key, hex.
    pub key_hash: &'a str,
    pub prefix: &'a str,
    pub role: Role,
    pub rep_id: Option<Uuid>,
    pub label: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    prefix: String,
    role: String,
    rep_id: Option<Uuid>,
    label: Option<String>,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<Row> for ApiKey {
    type Error = sqlx::Error;

    fn try_from(row: Row) -> Result<Self, Self::Error> {
        // The role check constraint makes this unreachable unless the two lists drift apart.
        let role = row.role.parse().map_err(|e| sqlx::Error::ColumnDecode {
            index: "role".to_owned(),
            source: Box::new(e),
        })?;
        Ok(ApiKey {
            id: row.id,
            prefix: row.prefix,
            role,
            rep_id: row.rep_id,
            label: row.label,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}

const COLUMNS: &str = "id, prefix, role, rep_id, label, created_at, revoked_at";

/// Stores `key`.
pub async fn insert(conn: &mut PgConnection, key: &NewApiKey<'_>) -> sqlx::Result<ApiKey> {
    let row: Row = sqlx::query_as(&format!(
        "insert into api_keys (id, key_hash, prefix, role, rep_id, label, created_at)
         values ($1, $2, $3, $4, $5, $6, $7)
         returning {COLUMNS}"
    ))
    .bind(key.id)
    .bind(key.key_hash)
    .bind(key.prefix)
    .bind(key.role.as_str())
    .bind(key.rep_id)
    .bind(key.label)
    .bind(key.created_at)
    .fetch_one(conn)
    .await?;
    row.try_into()
}

/// The unrevoked key whose hash is `key_hash`: one lookup on the unique index.
pub async fn find_active_by_hash(
    conn: &mut PgConnection,
    key_hash: &str,
) -> sqlx::Result<Option<ApiKey>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from api_keys where key_hash = $1 and revoked_at is null"
    ))
    .bind(key_hash)
    .fetch_optional(conn)
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// Revokes key `id` as of `at`, unless it already is (then its first revocation stands).
/// `None` if there is no such key.
pub async fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<ApiKey>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "update api_keys set revoked_at = coalesce(revoked_at, $2) where id = $1
         returning {COLUMNS}"
    ))
    .bind(id)
    .bind(at)
    .fetch_optional(conn)
    .await?;
    row.map(TryInto::try_into).transpose()
}

/// A page of all keys, revoked ones included, newest first, with the total across pages.
pub async fn list(
    conn: &mut PgConnection,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<ApiKey>, i64)> {
    let total = sqlx::query_scalar("select count(*) from api_keys")
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from api_keys order by created_at desc, id desc limit $1 offset $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    let keys = rows
        .into_iter()
        .map(TryInto::try_into)
        .collect::<sqlx::Result<_>>()?;
    Ok((keys, total))
}

/// How many unrevoked admin keys there are.
pub async fn count_active_admins(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("select count(*) from api_keys where role = 'admin' and revoked_at is null")
        .fetch_one(conn)
        .await
}
