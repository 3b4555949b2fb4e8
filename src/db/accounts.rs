//! Accounts: companies, keyed by email domain.

use sqlx::PgConnection;
use uuid::Uuid;

/// The id of the account for `domain`, created if it does not exist yet.
pub async fn link_by_domain(conn: &mut PgConnection, domain: &str) -> sqlx::Result<Uuid> {
    // `do update` (a no-op) rather than `do nothing` so the existing row's id is returned in
    // the same statement, also when a concurrent transaction has just inserted it.
    sqlx::query_scalar(
        r#"insert into accounts (id, domain) values ($1, $2)
           on conflict on constraint accounts_domain_key do update set domain = excluded.domain
           returning id"#,
    )
    .bind(Uuid::now_v7())
    .bind(domain)
    .fetch_one(conn)
    .await
}

/// The domain of an account.
pub async fn domain_of(conn: &mut PgConnection, account_id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("select domain from accounts where id = $1")
        .bind(account_id)
        .fetch_optional(conn)
        .await
}
