//! The transition log: every stage change, by whom, why, and with the scores of that moment.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::Stage;

/// A transition to record.
#[derive(Debug, Clone)]
pub struct NewTransition<'a> {
    pub lead_id: Uuid,
    pub from: Option<Stage>,
    pub to: Stage,
    pub actor: &'a str,
    pub reason: &'a str,
    pub fit_score: i32,
    pub intent_score: f64,
    pub rules_version: &'a str,
    pub event_row_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// Appends a transition.
pub async fn record(conn: &mut PgConnection, t: &NewTransition<'_>) -> sqlx::Result<()> {
    sqlx::query(
        r#"insert into lead_transitions
             (lead_id, from_stage, to_stage, actor, reason, fit_score, intent_score, rules_version, event_row_id, occurred_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"#,
    )
    .bind(t.lead_id)
    .bind(t.from.map(Stage::as_str))
    .bind(t.to.as_str())
    .bind(t.actor)
    .bind(t.reason)
    .bind(t.fit_score)
    .bind(t.intent_score)
    .bind(t.rules_version)
    .bind(t.event_row_id)
    .bind(t.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A transition as shown in a lead's history.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct TransitionView {
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub actor: String,
    pub reason: String,
    pub fit_score: i32,
    pub intent_score: f64,
    pub rules_version: String,
    pub occurred_at: DateTime<Utc>,
}

/// A lead's transitions, oldest first.
pub async fn for_lead(conn: &mut PgConnection, lead_id: Uuid) -> sqlx::Result<Vec<TransitionView>> {
    sqlx::query_as(
        r#"select from_stage, to_stage, actor, reason, fit_score, intent_score, rules_version, occurred_at
           from lead_transitions where lead_id = $1 order by occurred_at, id"#,
    )
    .bind(lead_id)
    .fetch_all(conn)
    .await
}
