//! Accounts: companies, keyed by email domain.

use sqlx::PgConnection;
use uuid::Uuid;

/// The account id and tier for each of `domains`, creating the missing accounts. Existing rows
/// are read, not locked, so concurrent ingests of one company do not queue on its account.
pub async fn link_domains(
    conn: &mut PgConnection,
    domains: &[&str],
) -> sqlx::Result<Vec<(String, Uuid, Option<i16>)>> {
    let ids: Vec<Uuid> = domains.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        r#"insert into accounts (id, domain) select * from unnest($1::uuid[], $2::text[]) order by 2
           on conflict on constraint accounts_domain_key do nothing"#,
    )
    .bind(ids)
    .bind(domains)
    .execute(&mut *conn)
    .await?;
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
