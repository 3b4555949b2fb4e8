//! The transition log: every stage change, by whom, why, and with the scores of that moment.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Bind, bind::column, unnest};
use crate::{domain::Stage, engine::Touch};

/// A transition to record.
#[derive(Debug, Clone)]
pub struct NewTransition {
    pub lead_id: Uuid,
    pub from: Option<Stage>,
    pub to: Stage,
    pub actor: String,
    pub reason: String,
    /// On a lead's creation, the source of the event that created it.
    pub source: Option<String>,
    /// Into `Rejected` or `Disqualified`, the standardized reason (`Rejected_NoBudget`).
    pub reason_code: Option<&'static str>,
    pub fit_score: i32,
    pub intent_score: f64,
    pub rules_version: String,
    /// The event that caused it, if any.
    pub event_row_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// Columns of a transition row, in the order [`bind_transitions`] binds them.
pub(crate) const WRITE_COLUMNS: &str = "lead_id, from_stage, to_stage, actor, reason, source, \
     reason_code, fit_score, intent_score, rules_version, event_row_id, occurred_at";

const WRITE_TYPES: [&str; 12] = [
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int4",
    "float8",
    "text",
    "int8",
    "timestamptz",
];
pub(crate) const WRITE_PARAMS: usize = WRITE_TYPES.len();

/// `unnest($first::uuid[], ...) as t(<WRITE_COLUMNS>)`: the rows bound by [`bind_transitions`].
pub(crate) fn unnest_transitions(first: usize) -> String {
    unnest("t", WRITE_COLUMNS, &WRITE_TYPES, first)
}

/// Binds `transitions` column by column, matching [`unnest_transitions`].
pub(crate) fn bind_transitions<'q, Q: Bind<'q>>(query: Q, transitions: &[NewTransition]) -> Q {
    query
        .bind(column(transitions, |t| t.lead_id))
        .bind(column(transitions, |t| {
            t.from.map(|s| s.as_str().to_owned())
        }))
        .bind(column(transitions, |t| t.to.as_str().to_owned()))
        .bind(column(transitions, |t| t.actor.clone()))
        .bind(column(transitions, |t| t.reason.clone()))
        .bind(column(transitions, |t| t.source.clone()))
        .bind(column(transitions, |t| t.reason_code))
        .bind(column(transitions, |t| t.fit_score))
        .bind(column(transitions, |t| t.intent_score))
        .bind(column(transitions, |t| t.rules_version.clone()))
        .bind(column(transitions, |t| t.event_row_id))
        .bind(column(transitions, |t| t.at))
}

/// Appends transitions.
pub async fn record_many(
    conn: &mut PgConnection,
    transitions: &[NewTransition],
) -> sqlx::Result<()> {
    if transitions.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "insert into lead_transitions ({WRITE_COLUMNS}) select {WRITE_COLUMNS} from {}",
        unnest_transitions(1)
    );
    bind_transitions(sqlx::query(&sql), transitions)
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

/// Per lead of `lead_ids`, the event recorded with its latest move to MQL: the trigger a
/// handoff's packet names. A lead whose latest move had no event is left out.
pub async fn mql_triggers(
    conn: &mut PgConnection,
    lead_ids: &[Uuid],
) -> sqlx::Result<HashMap<Uuid, Touch>> {
    let rows: Vec<(Uuid, String, String, DateTime<Utc>)> = sqlx::query_as(
        r#"select t.lead_id, e.event_type, e.source, e.occurred_at
             from (select distinct on (lead_id) lead_id, event_row_id
                     from lead_transitions
                    where lead_id = any($1) and to_stage = 'MQL'
                    order by lead_id, occurred_at desc, id desc) t
             join lead_events e on e.id = t.event_row_id"#,
    )
    .bind(lead_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(lead_id, event_type, source, occurred_at)| {
            let touch = Touch {
                event_type: event_type.parse().ok()?,
                source,
                occurred_at,
            };
            Some((lead_id, touch))
        })
        .collect())
}
