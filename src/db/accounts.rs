//! Accounts: companies, keyed by email domain, with their place on the tiered account list.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// The accounts of `domains` that exist, as (domain, id, tier), unlocked, so concurrent
/// ingests of one company do not queue on its account.
pub async fn of_domains(
    conn: &mut PgConnection,
    domains: &[&str],
) -> sqlx::Result<Vec<(String, Uuid, Option<i16>)>> {
    sqlx::query_as("select domain, id, tier from accounts where domain = any($1)")
        .bind(domains)
        .fetch_all(conn)
        .await
}

/// The domain of an account.
pub async fn domain_of(conn: &mut PgConnection, account_id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select domain from accounts where id = $1")
        .bind(account_id)
        .fetch_optional(conn)
        .await
}

/// An account as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub domain: String,
    pub name: Option<String>,
    /// 1, 2 or 3; `None`: not on the tiered account list.
    pub tier: Option<i16>,
    pub owner_email: Option<String>,
    pub created_at: DateTime<Utc>,
    /// `None` for an account that ingest created and nobody has written since.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A validated write of one account, keyed by its (normalised) domain. For each attribute,
/// `None` leaves an existing account's value as it is (a new account gets null) and
/// `Some(value)` sets it, `Some(None)` clearing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountWrite {
    pub domain: String,
    pub name: Option<Option<String>>,
    pub tier: Option<Option<i16>>,
    pub owner_email: Option<Option<String>>,
}

/// What [`upsert_many`] did.
#[derive(Debug, Default)]
pub struct Upserted {
    /// The accounts inserted.
    pub created: Vec<Uuid>,
    /// The accounts that existed and were updated.
    pub updated: Vec<Uuid>,
}

const ACCOUNT_COLUMNS: &str = "id, domain, name, tier, owner_email, created_at, updated_at";

/// The account of `domain` (normalised), unlocked.
pub async fn by_domain(conn: &mut PgConnection, domain: &str) -> sqlx::Result<Option<Account>> {
    sqlx::query_as(&format!(
        "select {ACCOUNT_COLUMNS} from accounts where domain = $1"
    ))
    .bind(domain)
    .fetch_optional(conn)
    .await
}

/// Creates the accounts of `rows` whose domain is new and updates the others, all stamped
/// `now`. Domains must be distinct. A fixed three statements whatever the number of rows.
pub async fn upsert_many(
    conn: &mut PgConnection,
    rows: &[AccountWrite],
    now: DateTime<Utc>,
) -> sqlx::Result<Upserted> {
    // Insert first: `do nothing` waits for a concurrent insert of the same domain, so after
    // it every domain exists and the update below (a new snapshot) finds it. Rows are taken
    // in domain order, as the lead write does, so concurrent writers lock in one order.
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let created: Vec<Uuid> = sqlx::query_scalar(
        r#"insert into accounts (id, domain, name, tier, owner_email, created_at, updated_at)
           select id, domain, name, tier, owner_email, $6, $6
             from unnest($1::uuid[], $2::text[], $3::text[], $4::int2[], $5::text[])
                  as u(id, domain, name, tier, owner_email)
            order by domain
           on conflict on constraint accounts_domain_key do nothing
           returning id"#,
    )
    .bind(&ids)
    .bind(column(rows, |r| r.domain.clone()))
    .bind(column(rows, |r| r.name.clone().flatten()))
    .bind(column(rows, |r| r.tier.flatten()))
    .bind(column(rows, |r| r.owner_email.clone().flatten()))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;

    let inserted: HashSet<Uuid> = created.iter().copied().collect();
    let existing: Vec<&AccountWrite> = rows
        .iter()
        .zip(&ids)
        .filter(|(_, id)| !inserted.contains(id))
        .map(|(row, _)| row)
        .collect();
    if existing.is_empty() {
        return Ok(Upserted {
            created,
            updated: Vec::new(),
        });
    }
    let domains = column(&existing, |r| r.domain.clone());
    sqlx::query("select 1 from accounts where domain = any($1) order by domain for update")
        .bind(&domains)
        .execute(&mut *conn)
        .await?;
    let updated: Vec<Uuid> = sqlx::query_scalar(
        r#"update accounts a
              set name = case when u.set_name then u.name else a.name end,
                  tier = case when u.set_tier then u.tier else a.tier end,
                  owner_email = case when u.set_owner then u.owner_email else a.owner_email end,
                  updated_at = $8
             from unnest($1::text[], $2::bool[], $3::text[], $4::bool[], $5::int2[],
                         $6::bool[], $7::text[])
                  as u(domain, set_name, name, set_tier, tier, set_owner, owner_email)
            where a.domain = u.domain
           returning a.id"#,
    )
    .bind(domains)
    .bind(column(&existing, |r| r.name.is_some()))
    .bind(column(&existing, |r| r.name.clone().flatten()))
    .bind(column(&existing, |r| r.tier.is_some()))
    .bind(column(&existing, |r| r.tier.flatten()))
    .bind(column(&existing, |r| r.owner_email.is_some()))
    .bind(column(&existing, |r| r.owner_email.clone().flatten()))
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(Upserted { created, updated })
}

fn column<R: std::borrow::Borrow<AccountWrite>, T>(
    rows: &[R],
    f: impl Fn(&AccountWrite) -> T,
) -> Vec<T> {
    rows.iter().map(|r| f(r.borrow())).collect()
}

/// The owner emails of the accounts `ids` that have one.
pub async fn owners(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as(
        "select id, owner_email from accounts where id = any($1) and owner_email is not null",
    )
    .bind(ids)
    .fetch_all(conn)
    .await
}
