//! Assignments: an MQL in a rep's hands, with its context packet and SLA clock.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use crate::engine::{ContextPacket, SlaTimes};

/// An assignment to record.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    pub lead_id: Uuid,
    pub rep_id: Uuid,
    pub rule: String,
    pub assigned_at: DateTime<Utc>,
    pub packet: ContextPacket,
    pub sla: SlaTimes,
}

/// Records `assignment` and makes its rep the lead's owner; returns the assignment id.
pub async fn insert(conn: &mut PgConnection, a: &NewAssignment) -> sqlx::Result<i64> {
    let id = sqlx::query_scalar(
        "insert into assignments (lead_id, rep_id, rule, assigned_at, packet, ack_due,
                                  disposition_due, escalate_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
    )
    .bind(a.lead_id)
    .bind(a.rep_id)
    .bind(&a.rule)
    .bind(a.assigned_at)
    .bind(Json(&a.packet))
    .bind(a.sla.ack_due)
    .bind(a.sla.disposition_due)
    .bind(a.sla.escalate_at)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query("update leads set owner_rep_id = $2 where id = $1")
        .bind(a.lead_id)
        .bind(a.rep_id)
        .execute(conn)
        .await?;
    Ok(id)
}

/// The next turn of a round-robin pool. The cursor row's lock makes concurrent callers take
/// consecutive turns.
pub async fn next_turn(conn: &mut PgConnection, pool: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "insert into assignment_cursors (pool, turn) values ($1, 1)
         on conflict (pool) do update set turn = assignment_cursors.turn + 1
         returning turn - 1",
    )
    .bind(pool)
    .fetch_one(conn)
    .await
}

/// A lead's open assignment.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAssignment {
    pub id: i64,
    pub rep_id: Uuid,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// The lead's open assignment, locked.
pub async fn lock_open(
    conn: &mut PgConnection,
    lead_id: Uuid,
) -> sqlx::Result<Option<OpenAssignment>> {
    sqlx::query_as(
        "select id, rep_id, acknowledged_at from assignments
          where lead_id = $1 and closed_at is null for update",
    )
    .bind(lead_id)
    .fetch_optional(conn)
    .await
}

/// Marks the assignment acknowledged.
pub async fn acknowledge(conn: &mut PgConnection, id: i64, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("update assignments set acknowledged_at = $2 where id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records the disposition (accept or reject) and closes the assignment.
pub async fn dispose(conn: &mut PgConnection, id: i64, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "update assignments set disposed_at = $2, closed_at = $2,
                acknowledged_at = coalesce(acknowledged_at, $2)
          where id = $1",
    )
    .bind(id)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Closes the open assignments of `lead_ids` (they left the handoff some other way).
pub async fn close_for_leads(
    conn: &mut PgConnection,
    lead_ids: &[Uuid],
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update assignments set closed_at = $2 where lead_id = any($1) and closed_at is null",
    )
    .bind(lead_ids)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// One open MQL in a rep's queue.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct QueueItem {
    pub lead_id: Uuid,
    pub email: String,
    pub lifecycle_stage: String,
    pub assigned_at: DateTime<Utc>,
    pub ack_due: DateTime<Utc>,
    pub disposition_due: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    /// The next deadline: the ack until acknowledged, then the disposition.
    pub next_due: DateTime<Utc>,
    pub packet: Json<ContextPacket>,
}

/// The rep's open MQLs, the most urgent deadline first.
pub async fn queue(conn: &mut PgConnection, rep_id: Uuid) -> sqlx::Result<Vec<QueueItem>> {
    sqlx::query_as(
        "select a.lead_id, l.email, l.lifecycle_stage, a.assigned_at, a.ack_due,
                a.disposition_due, a.acknowledged_at, a.escalated_at,
                case when a.acknowledged_at is null then least(a.ack_due, a.disposition_due)
                     else a.disposition_due end as next_due,
                a.packet
           from assignments a join leads l on l.id = a.lead_id
          where a.rep_id = $1 and a.closed_at is null
          order by next_due, a.id",
    )
    .bind(rep_id)
    .fetch_all(conn)
    .await
}

/// The open assignment of a lead as its lead view shows it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct AssignmentView {
    pub rep_id: Uuid,
    pub rep_name: String,
    pub rule: String,
    pub assigned_at: DateTime<Utc>,
    pub ack_due: DateTime<Utc>,
    pub disposition_due: DateTime<Utc>,
    pub escalate_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub packet: Json<ContextPacket>,
}

/// The lead's latest assignment, open or not.
pub async fn latest_for_lead(
    conn: &mut PgConnection,
    lead_id: Uuid,
) -> sqlx::Result<Option<AssignmentView>> {
    sqlx::query_as(
        "select a.rep_id, r.name as rep_name, a.rule, a.assigned_at, a.ack_due,
                a.disposition_due, a.escalate_at, a.acknowledged_at, a.escalated_at, a.packet
           from assignments a join reps r on r.id = a.rep_id
          where a.lead_id = $1 order by a.id desc limit 1",
    )
    .bind(lead_id)
    .fetch_optional(conn)
    .await
}
