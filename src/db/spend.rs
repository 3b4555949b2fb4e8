//! Marketing spend as the ops team records it (`marketing_spend`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::Money;

/// A recorded spend.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Spend {
    pub id: Uuid,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// `total`, `tier`, `source` or `demand_state`.
    pub segment_by: String,
    /// The tier, source or demand state; `null` for the total.
    pub segment: Option<String>,
    pub amount: f64,
    pub currency: String,
    pub note: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// What a new spend record holds.
pub struct NewSpend<'a> {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub segment_by: &'a str,
    pub segment: Option<&'a str>,
    pub money: &'a Money,
    pub note: Option<&'a str>,
}

const COLUMNS: &str = "id, first_day, last_day, segment_by, segment, amount::float8 as amount, \
                       currency, note, recorded_at";

pub async fn insert(
    conn: &mut PgConnection,
    spend: &NewSpend<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<Spend> {
    sqlx::query_as(&format!(
        "insert into marketing_spend
                (id, first_day, last_day, segment_by, segment, amount, currency, note, recorded_at)
         values ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9)
         returning {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(spend.first_day)
    .bind(spend.last_day)
    .bind(spend.segment_by)
    .bind(spend.segment)
    .bind(&spend.money.amount)
    .bind(&spend.money.currency)
    .bind(spend.note)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// A page of spend records, latest days first, and the total count.
pub async fn list(
    conn: &mut PgConnection,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<Spend>, i64)> {
    let items = sqlx::query_as(&format!(
        "select {COLUMNS} from marketing_spend
          order by last_day desc, first_day desc, id limit $1 offset $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let total = sqlx::query_scalar("select count(*) from marketing_spend")
        .fetch_one(conn)
        .await?;
    Ok((items, total))
}
