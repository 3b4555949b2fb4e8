//! Assignments: an MQL in a rep's hands, with its context packet and SLA clock.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use crate::engine::{ContextPacket, SlaDeadlines};

/// An assignment to record.
#[derive(Debug, Clone)]
pub struct NewAssignment {
    pub lead_id: Uuid,
    pub rep_id: Uuid,
    pub rule: String,
    pub assigned_at: DateTime<Utc>,
    pub packet: ContextPacket,
    pub sla: SlaDeadlines,
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
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    /// The context packet: trigger, problem hypothesis, disqualifiers checked, last touches,
    /// recommended opener, owner, SLA clock.
    #[schema(value_type = Object)]
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
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
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
    #[schema(value_type = Object)]
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

/// An untouched assignment past its escalation time, claimed by this transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueEscalation {
    pub id: i64,
    pub lead_id: Uuid,
    pub lead_email: String,
    pub rep_id: Uuid,
    pub rep_name: String,
    pub manager_id: Option<Uuid>,
    pub manager_name: Option<String>,
    pub manager_email: Option<String>,
    pub assigned_at: DateTime<Utc>,
    pub fit_score: i32,
    pub intent_at_last_activity: f64,
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// Locks up to `limit` assignments due for escalation at `now` (neither acknowledged nor
/// disposed, not escalated yet). Rows another clock holds are skipped; a row another clock
/// escalated meanwhile no longer matches once re-checked, so each is escalated once.
pub async fn claim_escalations(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<DueEscalation>> {
    sqlx::query_as(
        "select a.id, a.lead_id, l.email as lead_email, a.rep_id, r.name as rep_name,
                r.manager_id, m.name as manager_name, m.email as manager_email, a.assigned_at,
                l.fit_score, l.intent_at_last_activity, l.last_activity_at
           from assignments a
           join leads l on l.id = a.lead_id
           join reps r on r.id = a.rep_id
           left join reps m on m.id = r.manager_id
          where a.escalate_at <= $1 and a.acknowledged_at is null and a.disposed_at is null
            and a.escalated_at is null and a.closed_at is null
          order by a.escalate_at, a.id
          limit $2
          for update of a skip locked",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Marks the assignments `ids` escalated to the managers `to` (same positions).
pub async fn mark_escalated(
    conn: &mut PgConnection,
    ids: &[i64],
    to: &[Option<Uuid>],
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update assignments a set escalated_at = $3, escalated_to = e.manager
           from unnest($1::int8[], $2::uuid[]) as e(id, manager)
          where a.id = e.id",
    )
    .bind(ids)
    .bind(to)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records, once each, the ack and disposition deadlines that passed by `now` without the
/// action; the breach time is the deadline itself. Returns (ack, disposition) counts.
pub async fn record_breaches(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> sqlx::Result<(u64, u64)> {
    let ack = sqlx::query(
        "update assignments set ack_breached_at = ack_due
          where ack_due <= $1 and acknowledged_at is null and disposed_at is null
            and ack_breached_at is null and closed_at is null",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let disposition = sqlx::query(
        "update assignments set disposition_breached_at = disposition_due
          where disposition_due <= $1 and disposed_at is null
            and disposition_breached_at is null and closed_at is null",
    )
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok((ack, disposition))
}

/// Where an MQL stands in the handoff: its open assignment, else what it waits for.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HandoffRow {
    pub lead_id: Uuid,
    pub rep_id: Option<Uuid>,
    pub rep_name: Option<String>,
    pub rule: Option<String>,
    pub ack_due: Option<DateTime<Utc>>,
    pub review_missing: Option<Json<Vec<String>>>,
}

/// [`HandoffRow`] of each of `lead_ids` that is an MQL (a concurrent write may have moved one
/// on), by primary key and the open-assignment index.
pub async fn handoff_of(
    conn: &mut PgConnection,
    lead_ids: &[Uuid],
) -> sqlx::Result<Vec<HandoffRow>> {
    sqlx::query_as(
        "select l.id as lead_id, a.rep_id, r.name as rep_name, a.rule, a.ack_due,
                l.review_missing
           from leads l
           left join assignments a on a.lead_id = l.id and a.closed_at is null
           left join reps r on r.id = a.rep_id
          where l.id = any($1) and l.lifecycle_stage = 'MQL'",
    )
    .bind(lead_ids)
    .fetch_all(conn)
    .await
}
