//! CRM write-back: the coalescing outbox (`crm_writes`), what each CRM was last sent
//! (`crm_synced`) and the records a CRM refused for good (`crm_write_failures`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

/// A claimed row: the lead, and its change count at the claim.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Claimed {
    pub lead_id: Uuid,
    pub changes: i64,
    pub attempts: i32,
}

/// A claimed lead as it is now, with the CRM's id of it and what the CRM was last sent.
#[derive(Debug, Clone, FromRow)]
pub struct StateRow {
    pub lead_id: Uuid,
    pub external_id: Option<String>,
    pub fit_score: i32,
    pub intent_at_last_activity: f64,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub lifecycle_stage: String,
    pub demand_state: Option<String>,
    pub account_tier: Option<i16>,
    pub disqualified_reason: Option<String>,
    pub rejection_reason: Option<String>,
    pub owner_email: Option<String>,
    pub synced: Option<Value>,
}

/// One record the CRM took, or refused for good.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub lead_id: Uuid,
    pub changes: i64,
    pub external_id: String,
    pub fields: Value,
    /// `(code, message)` of a refusal for good; `None` when written.
    pub refused: Option<(String, String)>,
}

/// Makes `enabled` (CRM, coalesce window) the targets the triggers queue writes for; any
/// other CRM's queueing stops.
pub async fn set_targets(
    conn: &mut PgConnection,
    enabled: &[(&str, chrono::Duration)],
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let crms: Vec<&str> = enabled.iter().map(|(c, _)| *c).collect();
    let windows: Vec<f64> = enabled
        .iter()
        .map(|(_, w)| w.num_milliseconds() as f64 / 1000.0)
        .collect();
    sqlx::query("delete from crm_writeback_targets where crm <> all ($1)")
        .bind(&crms)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "insert into crm_writeback_targets (crm, coalesce_window, updated_at)
         select crm, make_interval(secs => w), $3 from unnest($1::text[], $2::float8[]) as t(crm, w)
         on conflict (crm) do update
            set coalesce_window = excluded.coalesce_window, updated_at = excluded.updated_at
          where crm_writeback_targets.coalesce_window <> excluded.coalesce_window",
    )
    .bind(&crms)
    .bind(&windows)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims up to `limit` due rows of `crm` for `lease` (skipping rows another replica holds).
pub async fn claim_due(
    conn: &mut PgConnection,
    crm: &str,
    now: DateTime<Utc>,
    limit: i64,
    lease: chrono::Duration,
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as(
        "with due as (
             select lead_id from crm_writes
              where crm = $1 and next_attempt_at <= $2
              order by next_attempt_at
              limit $3
                for update skip locked)
         update crm_writes w set next_attempt_at = $2 + $4
           from due where w.crm = $1 and w.lead_id = due.lead_id
         returning w.lead_id, w.changes, w.attempts",
    )
    .bind(crm)
    .bind(now)
    .bind(limit)
    .bind(lease)
    .fetch_all(conn)
    .await
}

/// The leads `ids` as they are now, for `crm`: its id of each (Lead ids only for Salesforce;
/// `None` when the lead has none any more) and what it was last sent.
pub async fn states(
    conn: &mut PgConnection,
    crm: &str,
    ids: &[Uuid],
) -> sqlx::Result<Vec<StateRow>> {
    sqlx::query_as(
        "select l.id as lead_id, s.external_id, l.fit_score, l.intent_at_last_activity,
                l.last_activity_at, l.lifecycle_stage,
                coalesce(l.demand_state, l.derived_demand_state) as demand_state,
                l.account_tier, l.disqualified_reason, l.rejection_reason,
                r.email as owner_email, y.fields as synced
           from unnest($2::uuid[]) as c(id)
           join leads l on l.id = c.id
           left join reps r on r.id = l.owner_rep_id
           left join lateral (
                select external_id from lead_source_ids s
                 where s.email = l.email and s.system = $1
                   and ($1 <> 'salesforce' or s.external_id like '00Q%')
                 order by s.recorded_at desc limit 1) s on true
           -- What the CRM holds counts only for the record it was written to.
           left join crm_synced y
                  on y.crm = $1 and y.lead_id = l.id and y.external_id = s.external_id",
    )
    .bind(crm)
    .bind(ids)
    .fetch_all(conn)
    .await
}

/// The rows `$2` of CRM `$1`, locked in lead order, as the queueing triggers lock them: a
/// statement of the job and an ingest transaction never wait for each other in a cycle.
const LOCKED: &str = "with locked as (select lead_id from crm_writes
                                    where crm = $1 and lead_id = any($2::uuid[])
                                    order by lead_id for update)";

/// Deletes the rows of `done` (lead, change count at the claim) that did not change since.
/// Rows that did are due again at `now`.
pub async fn finish(
    conn: &mut PgConnection,
    crm: &str,
    done: &[(Uuid, i64)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = done.iter().map(|d| d.0).collect();
    let changes: Vec<i64> = done.iter().map(|d| d.1).collect();
    sqlx::query(&format!(
        "{LOCKED},
              d as (
             delete from crm_writes w using unnest($2::uuid[], $3::int8[]) as c(id, changes)
              where w.crm = $1 and w.lead_id = c.id and w.changes = c.changes
                and w.lead_id in (select lead_id from locked)
             returning w.lead_id)
         update crm_writes w set next_attempt_at = $4, attempts = 0, last_error = null
           from unnest($2::uuid[]) as c(id)
          where w.crm = $1 and w.lead_id = c.id and w.lead_id in (select lead_id from locked)
            and w.lead_id not in (select lead_id from d)"
    ))
    .bind(crm)
    .bind(&ids)
    .bind(&changes)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records what the CRM took (`crm_synced`) and what it refused for good
/// (`crm_write_failures`), and finishes their rows.
pub async fn record(
    conn: &mut PgConnection,
    crm: &str,
    outcomes: &[Outcome],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let (written, refused): (Vec<&Outcome>, Vec<&Outcome>) =
        outcomes.iter().partition(|o| o.refused.is_none());
    let col = |rows: &[&Outcome], f: fn(&Outcome) -> String| -> Vec<String> {
        rows.iter().map(|o| f(o)).collect()
    };
    let ids = |rows: &[&Outcome]| -> Vec<Uuid> { rows.iter().map(|o| o.lead_id).collect() };
    let fields =
        |rows: &[&Outcome]| -> Vec<Value> { rows.iter().map(|o| o.fields.clone()).collect() };
    sqlx::query(
        "insert into crm_synced (crm, lead_id, external_id, fields, written_at)
         select $1, id, external_id, fields, $5
           from unnest($2::uuid[], $3::text[], $4::jsonb[]) as c(id, external_id, fields)
         on conflict (crm, lead_id) do update
            set external_id = excluded.external_id, fields = excluded.fields,
                written_at = excluded.written_at",
    )
    .bind(crm)
    .bind(ids(&written))
    .bind(col(&written, |o| o.external_id.clone()))
    .bind(fields(&written))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into crm_write_failures
             (crm, lead_id, external_id, code, message, fields, failed_at)
         select $1, id, external_id, code, message, fields, $7
           from unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[])
                  as c(id, external_id, code, message, fields)",
    )
    .bind(crm)
    .bind(ids(&refused))
    .bind(col(&refused, |o| o.external_id.clone()))
    .bind(col(&refused, |o| o.refused.clone().unwrap_or_default().0))
    .bind(col(&refused, |o| o.refused.clone().unwrap_or_default().1))
    .bind(fields(&refused))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let done: Vec<(Uuid, i64)> = outcomes.iter().map(|o| (o.lead_id, o.changes)).collect();
    finish(conn, crm, &done, now).await
}

/// Puts the rows `ids` back, due at `at` (a rate limit, a pause), without counting an attempt.
pub async fn release(
    conn: &mut PgConnection,
    crm: &str,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(&format!(
        "{LOCKED} update crm_writes set next_attempt_at = $3
          where crm = $1 and lead_id in (select lead_id from locked)"
    ))
    .bind(crm)
    .bind(ids)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts a failed attempt on each of `failed` (lead, error), due again after a backoff of
/// `base · 2^attempts` (capped at 64 · base), or at `not_before` if later.
pub async fn retry(
    conn: &mut PgConnection,
    crm: &str,
    failed: &[(Uuid, String)],
    now: DateTime<Utc>,
    base: chrono::Duration,
    not_before: DateTime<Utc>,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = failed.iter().map(|f| f.0).collect();
    let errors: Vec<&str> = failed.iter().map(|f| f.1.as_str()).collect();
    sqlx::query(&format!(
        "{LOCKED} update crm_writes w
                set attempts = w.attempts + 1, last_error = c.error,
                    next_attempt_at = greatest($5, $3 + $4 * power(2, least(w.attempts, 6)))
               from unnest($2::uuid[], $6::text[]) as c(id, error)
              where w.crm = $1 and w.lead_id = c.id
                and w.lead_id in (select lead_id from locked)"
    ))
    .bind(crm)
    .bind(&ids)
    .bind(now)
    .bind(base)
    .bind(not_before)
    .bind(&errors)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues, for `crm`, every lead it was sent before whose intent as of `now` (rounded as
/// written) differs from what it was sent: intent decays without events, so no trigger sees it.
pub async fn enqueue_decayed(
    conn: &mut PgConnection,
    crm: &str,
    intent_field: &str,
    decay: &crate::engine::Decay,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let continuous = matches!(decay.mode, crate::engine::DecayMode::Continuous);
    let done = sqlx::query(
        "insert into crm_writes (crm, lead_id, first_changed_at, changed_at, due_at, next_attempt_at)
         select $1, y.lead_id, $2, $2, $2, $2
           from crm_synced y join leads l on l.id = y.lead_id
          where y.crm = $1
            and crm_intent_score(l.intent_at_last_activity, l.last_activity_at, $2, $4, $5)
                is distinct from (y.fields ->> $3)::numeric
         on conflict (crm, lead_id) do update set changes = crm_writes.changes + 1",
    )
    .bind(crm)
    .bind(now)
    .bind(intent_field)
    .bind(i32::try_from(decay.half_life_days).unwrap_or(i32::MAX))
    .bind(continuous)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// One CRM's write-back as it stands.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct CrmTotals {
    pub crm: String,
    /// Leads waiting to be written.
    pub pending: i64,
    /// Of those, the ones whose last attempt failed.
    pub retrying: i64,
    /// Records the CRM refused for good, not replayed.
    pub failed: i64,
    /// Seconds since the oldest pending change.
    pub oldest_pending_age_secs: Option<f64>,
}

/// Every CRM's totals (those with anything to count, and the `targets`).
pub async fn totals(conn: &mut PgConnection, now: DateTime<Utc>) -> sqlx::Result<Vec<CrmTotals>> {
    sqlx::query_as(
        "with crms as (
             select crm from crm_writeback_targets
             union select crm from crm_writes
             union select crm from crm_write_failures where replayed_at is null)
         select c.crm,
                (select count(*) from crm_writes w where w.crm = c.crm) as pending,
                (select count(*) from crm_writes w where w.crm = c.crm and w.attempts > 0)
                    as retrying,
                (select count(*) from crm_write_failures f
                  where f.crm = c.crm and f.replayed_at is null) as failed,
                (select extract(epoch from $1 - min(w.first_changed_at))::float8
                   from crm_writes w where w.crm = c.crm) as oldest_pending_age_secs
           from crms c order by c.crm",
    )
    .bind(now)
    .fetch_all(conn)
    .await
}

/// Puts every record `crm` refused for good back into its outbox, due now; returns how many.
pub async fn replay_failures(
    conn: &mut PgConnection,
    crm: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "with f as (
             update crm_write_failures set replayed_at = $2
              where crm = $1 and replayed_at is null
             returning lead_id)
         insert into crm_writes (crm, lead_id, first_changed_at, changed_at, due_at, next_attempt_at)
         select distinct $1, lead_id, $2::timestamptz, $2::timestamptz, $2::timestamptz,
                $2::timestamptz
           from f
         on conflict (crm, lead_id) do update
            set changes = crm_writes.changes + 1, next_attempt_at = $2, attempts = 0",
    )
    .bind(crm)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
