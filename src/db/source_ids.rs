//! Leads' ids in other systems (`lead_source_ids`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::bind::column;
use crate::domain::{Email, IdSystem, SourceId};

/// Ties each id to its email's lead, in one statement; an id tied to another lead before is
/// moved (the system's record now has that email). Ids whose lead does not exist are skipped;
/// where one payload ties an id twice, the last wins.
pub async fn record(
    conn: &mut PgConnection,
    ids: &[SourceId],
    at: DateTime<Utc>,
) -> sqlx::Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "insert into lead_source_ids (system, external_id, email, recorded_at)
         select distinct on (s.system, s.external_id) s.system, s.external_id, l.email, $4
           from unnest($1::text[], $2::text[], $3::text[]) with ordinality
                  as s(system, external_id, email, n)
           join leads l on l.email = s.email
          order by s.system, s.external_id, s.n desc
         on conflict (system, external_id) do update
            set email = excluded.email, recorded_at = excluded.recorded_at
          where lead_source_ids.email <> excluded.email",
    )
    .bind(column(ids, |s| s.system.as_str()))
    .bind(column(ids, |s| s.id.as_str()))
    .bind(column(ids, |s| s.email.as_str()))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The emails of the leads that `system`'s `ids` name, for those known.
pub async fn emails(
    conn: &mut PgConnection,
    system: IdSystem,
    ids: &[&str],
) -> sqlx::Result<BTreeMap<String, Email>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select external_id, email from lead_source_ids
          where system = $1 and external_id = any($2)",
    )
    .bind(system.as_str())
    .bind(ids)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|(id, email)| {
            let email = Email::parse(&email).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((id, email))
        })
        .collect()
}

/// The email of the lead `system`'s `id` names, if any.
pub async fn lead_of(
    conn: &mut PgConnection,
    system: IdSystem,
    id: &str,
) -> sqlx::Result<Option<Email>> {
    Ok(emails(conn, system, &[id]).await?.into_values().next())
}

/// Every id the lead of `email` has, by system, each system's ids in order.
pub async fn of_lead(
    conn: &mut PgConnection,
    email: &Email,
) -> sqlx::Result<BTreeMap<String, Vec<String>>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "select system, external_id from lead_source_ids
          where email = $1 order by system, external_id",
    )
    .bind(email.as_str())
    .fetch_all(conn)
    .await?;
    let mut ids = BTreeMap::<String, Vec<String>>::new();
    for (system, id) in rows {
        ids.entry(system).or_default().push(id);
    }
    Ok(ids)
}

/// Moves `system`'s `merged` ids to the lead that its `primary` id names (the system merged
/// those records into that one). Nothing moves if `primary` names no lead yet.
pub async fn merge(
    conn: &mut PgConnection,
    system: IdSystem,
    primary: &str,
    merged: &[&str],
    at: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update lead_source_ids s set email = p.email, recorded_at = $4
           from lead_source_ids p
          where p.system = $1 and p.external_id = $2
            and s.system = $1 and s.external_id = any($3) and s.email <> p.email",
    )
    .bind(system.as_str())
    .bind(primary)
    .bind(merged)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
