//! Reps and managers: who can be handed leads, their territory and their manager.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

/// A rep or manager as stored.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Rep {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    /// `rep` (takes leads) or `manager` (takes escalations for their team).
    pub role: String,
    pub manager_id: Option<Uuid>,
    #[schema(value_type = Vec<String>)]
    pub countries: Json<Vec<String>>,
    #[schema(value_type = Vec<String>)]
    pub industries: Json<Vec<String>>,
    pub active: bool,
    /// The Slack incoming webhook of their own channel; a trigger keeps it as their Slack
    /// webhook endpoint (`webhook_endpoints.rep_id`). Shown as its origin only: the URL is
    /// all Slack asks of a sender.
    #[serde(serialize_with = "origin_only")]
    pub slack_webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `https://hooks.slack.com/…` for a stored webhook URL.
fn origin_only<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let origin = url.as_deref().map(|url| {
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let end = url[after_scheme..]
            .find(['/', ':', '?'])
            .map_or(url.len(), |i| after_scheme + i);
        format!("{}/…", &url[..end])
    });
    s.serialize_some(&origin)
}

const COLUMNS: &str = "id, name, email, role, manager_id, countries, industries, active,
    slack_webhook_url, created_at, updated_at";

/// Inserts or overwrites `rep` (by id); returns it as stored.
pub async fn save(conn: &mut PgConnection, rep: &Rep) -> sqlx::Result<Rep> {
    sqlx::query_as(&format!(
        "insert into reps ({COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         on conflict (id) do update set name = excluded.name, email = excluded.email,
             role = excluded.role, manager_id = excluded.manager_id,
             countries = excluded.countries, industries = excluded.industries,
             active = excluded.active, slack_webhook_url = excluded.slack_webhook_url,
             updated_at = excluded.updated_at
         returning {COLUMNS}"
    ))
    .bind(rep.id)
    .bind(&rep.name)
    .bind(&rep.email)
    .bind(&rep.role)
    .bind(rep.manager_id)
    .bind(&rep.countries)
    .bind(&rep.industries)
    .bind(rep.active)
    .bind(&rep.slack_webhook_url)
    .bind(rep.created_at)
    .bind(rep.updated_at)
    .fetch_one(conn)
    .await
}

/// A rep by id.
pub async fn by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Rep>> {
    sqlx::query_as(&format!("select {COLUMNS} from reps where id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Every rep, optionally only the active or inactive ones, by name.
pub async fn list(conn: &mut PgConnection, active: Option<bool>) -> sqlx::Result<Vec<Rep>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from reps where $1::bool is null or active = $1 order by name, id"
    ))
    .bind(active)
    .fetch_all(conn)
    .await
}

/// The active reps who take leads (role `rep`).
pub async fn assignable(conn: &mut PgConnection) -> sqlx::Result<Vec<Rep>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from reps where active and role = 'rep' order by id"
    ))
    .fetch_all(conn)
    .await
}
