//! MEDDIC field values as reps record them (`lead_meddic`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// A field's current value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MeddicValue {
    pub field: String,
    pub value: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// Records `values` (field, value) for lead `lead_id`.
pub async fn record(
    conn: &mut PgConnection,
    lead_id: Uuid,
    values: &[(&str, &str)],
    actor: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into lead_meddic (lead_id, field, value, recorded_by, recorded_at)
         select $1, f, v, $4, $5 from unnest($2::text[], $3::text[]) as x(f, v)",
    )
    .bind(lead_id)
    .bind(values.iter().map(|(f, _)| *f).collect::<Vec<_>>())
    .bind(values.iter().map(|(_, v)| *v).collect::<Vec<_>>())
    .bind(actor)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Lead `lead_id`'s current value of each recorded field, in field order of the framework.
pub async fn current(conn: &mut PgConnection, lead_id: Uuid) -> sqlx::Result<Vec<MeddicValue>> {
    sqlx::query_as(
        "select distinct on (field) field, value, recorded_by, recorded_at
           from lead_meddic where lead_id = $1
          order by field, recorded_at desc, id desc",
    )
    .bind(lead_id)
    .fetch_all(conn)
    .await
}
