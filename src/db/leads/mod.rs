//! Leads: one row per person (email), with its profile, stage and scores.

mod lists;
mod row;
mod scan;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

pub use lists::{ReviewItem, SuppressedLead, review_queue, suppressed};
use row::{COLUMNS, LeadRow, columns_of, convert};
pub use row::{Kept, StoredJson};
pub(crate) use row::{
    UPDATE_SET, WRITE_COLUMNS, WRITE_PARAMS, bind_leads, unnest_leads_at_versions,
};
pub use scan::{ids_after, lock_ids};

use crate::{
    domain::{DisqualifyReason, Email, EventType, Profile, ProfileStamps, RejectReason, Stage},
    engine::{Activity, FitScore, IntentState, NurtureState, Parts, SinceRejection},
};

/// A lead as stored.
#[derive(Debug, Clone)]
pub struct Lead {
    pub id: Uuid,
    pub email: Email,
    pub account_id: Option<Uuid>,
    pub profile: Profile,
    pub profile_stamps: ProfileStamps,
    pub stage: Stage,
    pub fit: FitScore,
    pub intent: IntentState,
    pub activity: Activity,
    /// Set while the lead is Disqualified.
    pub disqualified_reason: Option<DisqualifyReason>,
    /// Reasons an ops user overruled by reinstating the lead.
    pub exempt_reasons: Vec<DisqualifyReason>,
    pub account_tier: Option<u8>,
    /// Set while the lead waits in the manual review queue.
    pub review: Option<Review>,
    /// Where the lead is in nurture.
    pub nurture: NurtureState,
    /// Why a rep rejected it, while it is `Rejected`; written by [`set_rejection_reason`],
    /// cleared by any write once the lead leaves `Rejected` ([`UPDATE_SET`]).
    pub rejection_reason: Option<RejectReason>,
    /// While the lead is `Rejected`: what it has done since.
    pub since_rejection: Option<SinceRejection>,
    pub rules_version: String,
    /// The row version this copy was read at (optimistic concurrency).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Lead {
    /// A lead not stored yet, with nothing known but its email.
    pub fn new(
        email: Email,
        account_id: Option<Uuid>,
        rules_version: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Lead {
            id: Uuid::now_v7(),
            email,
            account_id,
            profile: Profile::default(),
            profile_stamps: ProfileStamps::new(),
            stage: Stage::Lead,
            fit: FitScore::default(),
            intent: IntentState::default(),
            activity: Activity::default(),
            disqualified_reason: None,
            exempt_reasons: Vec::new(),
            account_tier: None,
            review: None,
            nurture: NurtureState::default(),
            rejection_reason: None,
            since_rejection: None,
            rules_version: rules_version.to_owned(),
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

impl Lead {
    /// The parts of the lead its events build, for the engine to fold events into.
    pub fn parts(&mut self) -> Parts<'_> {
        Parts {
            profile: &mut self.profile,
            stamps: &mut self.profile_stamps,
            activity: &mut self.activity,
            intent: &mut self.intent,
        }
    }
}

/// Why a lead waits in the manual review queue.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Review {
    /// The routing keys it lacks (`demand_state`, `account_tier`).
    pub missing: Vec<String>,
    pub queued_at: DateTime<Utc>,
}

/// A lead by id.
pub async fn by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Lead>> {
    Ok(by_ids(conn, &[id]).await?.pop())
}

/// Leads by id.
pub async fn by_ids(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<Vec<Lead>> {
    let sql = format!("select {COLUMNS} from leads where id = any($1)");
    convert(sqlx::query_as(&sql).bind(ids).fetch_all(conn).await?)
}

#[derive(sqlx::FromRow)]
struct LeadWithHistoryRow {
    #[sqlx(flatten)]
    lead: LeadRow,
    history_types: Option<Vec<String>>,
    history_at: Option<Vec<DateTime<Utc>>>,
}

/// Whether a late event stamped `x.earliest` may change how the lead's intent decayed
/// (`IntentState::absorb`): it predates the intent streak (or, with none stored, the last
/// activity), and the streak carries decayed intent. A signal before a whole streak needs the
/// history only if it is old enough to decay, which the rules tell: then ingest reads it after.
const NEEDS_HISTORY: &str = "x.earliest < coalesce(l.intent_streak_from, l.last_activity_at) \
     and not l.intent_streak_whole";

/// A lead's event history as (type, occurred_at): the input of an intent refold.
pub type History = Vec<(EventType, DateTime<Utc>)>;

/// The existing leads among `emails`, unlocked, each with its event history when an event
/// stamped `earliest` (same position as its email) predates its intent streak (or, with none
/// stored, its last activity), i.e. when taking that event may need a refold. Saves a round
/// trip for late events.
pub async fn by_emails_with_history(
    conn: &mut PgConnection,
    emails: &[&str],
    earliest: &[DateTime<Utc>],
) -> sqlx::Result<Vec<(Lead, Option<History>)>> {
    let sql = format!(
        "select {},
                case when {NEEDS_HISTORY} then array(
                    select event_type from lead_events e where e.lead_id = l.id order by e.id) end
                  as history_types,
                case when {NEEDS_HISTORY} then array(
                    select occurred_at from lead_events e where e.lead_id = l.id order by e.id) end
                  as history_at
           from leads l join unnest($1::text[], $2::timestamptz[]) as x(email, earliest)
             on l.email = x.email",
        columns_of("l")
    );
    let rows: Vec<LeadWithHistoryRow> = sqlx::query_as(&sql)
        .bind(emails)
        .bind(earliest)
        .fetch_all(conn)
        .await?;
    rows.into_iter()
        .map(|row| {
            let history = match (row.history_types, row.history_at) {
                (Some(types), Some(at)) => Some(
                    types
                        .iter()
                        .map(|t| t.parse().map_err(|e| sqlx::Error::Decode(Box::new(e))))
                        .zip(at)
                        .map(|(t, at)| t.map(|t| (t, at)))
                        .collect::<sqlx::Result<History>>()?,
                ),
                _ => None,
            };
            Ok((Lead::try_from(row.lead)?, history))
        })
        .collect()
}

/// A lead by (normalised) email, unlocked.
pub async fn by_email(conn: &mut PgConnection, email: &Email) -> sqlx::Result<Option<Lead>> {
    let sql = format!("select {COLUMNS} from leads where email = $1");
    let row: Option<LeadRow> = sqlx::query_as(&sql)
        .bind(email.as_str())
        .fetch_optional(conn)
        .await?;
    row.map(Lead::try_from).transpose()
}

/// Locks the existing leads among `emails` until the transaction ends, in email order, the
/// order every writer of several leads takes them in.
pub async fn lock_emails(conn: &mut PgConnection, emails: &[&str]) -> sqlx::Result<()> {
    sqlx::query("select 1 from leads where email = any($1) order by email for update")
        .bind(emails)
        .execute(conn)
        .await?;
    Ok(())
}

/// A lead by id, locked until the transaction ends (a sales action, review, reinstatement).
/// `for no key update`, what an update of it takes: it excludes other writers of the lead but
/// not a foreign-key check from another table, so an opportunity writer linking the lead,
/// which holds the links lock this writer may then wait for, never waits on the lead row.
pub async fn lock_by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Lead>> {
    let sql = format!("select {COLUMNS} from leads where id = $1 for no key update");
    let row: Option<LeadRow> = sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?;
    row.map(Lead::try_from).transpose()
}

/// Copies each account's tier to its leads (`leads.account_tier` mirrors it so routing needs
/// no join), for the accounts `account_ids`.
/// Returns the leads that changed, still locked by the caller's transaction.
pub async fn mirror_account_tiers(
    conn: &mut PgConnection,
    account_ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Uuid>> {
    // Locked in email order, like ingest locks leads, so the two cannot deadlock on leads.
    let done = sqlx::query_scalar(
        r#"with stale as (select l.id, a.tier from leads l join accounts a on a.id = l.account_id
                           where l.account_id = any($1)
                             and l.account_tier is distinct from a.tier
                           order by l.email for update of l)
           update leads l set account_tier = s.tier, updated_at = $2
             from stale s
            where l.id = s.id
           returning l.id"#,
    )
    .bind(account_ids)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(done)
}

/// A time-based rule as the sweeper asks for it: leads whose clock reads `cutoff` or earlier,
/// unless exempt from `reason`.
#[derive(Clone, Copy, Debug)]
pub struct DueRule {
    pub cutoff: DateTime<Utc>,
    pub reason: DisqualifyReason,
}

/// What the sweeper looks for: the first inactivity and size rules, if any, and the rejection
/// reasons that recycle a lead into nurture (such a lead answers to both rules as a lead does).
#[derive(Clone, Copy, Debug)]
pub struct DueRules<'a> {
    pub inactive: Option<DueRule>,
    pub size: Option<DueRule>,
    pub recycled: &'a [&'a str],
}

/// Locks and returns up to `limit` leads at Lead or MQL, or recycled, other than `skip`, due
/// under the inactivity or the size rule. Rows another transaction holds are skipped, and a
/// row that changed meanwhile is re-checked by PostgreSQL before it is locked, so concurrent
/// sweepers never claim one lead twice. No `order by`: ordering made the planner walk the primary key
/// through the whole table instead of reading the two partial indexes (478 ms against 16 ms
/// per batch of 5,000 among 1,000,000 leads).
pub async fn claim_due(
    conn: &mut PgConnection,
    due: &DueRules<'_>,
    skip: &[Uuid],
    limit: i64,
) -> sqlx::Result<Vec<Lead>> {
    // The stage list is the partial indexes' predicate, so the planner can read them; the
    // line after it keeps, of the rejected leads, the recycled ones.
    let sql = format!(
        "select {COLUMNS} from leads
          where lifecycle_stage in ('Lead', 'MQL', 'Rejected')
            and (lifecycle_stage <> 'Rejected' or rejection_reason = any($7))
            and not (id = any($1))
            and ((engagement_hour <= date_trunc('hour', $2 at time zone 'UTC')
                  and engagement_clock <= $2 and not exempt_reasons ? $3)
                 or (below_size_since <= $4 and not exempt_reasons ? $5))
          limit $6
          for update skip locked"
    );
    let parts = |rule: Option<DueRule>| {
        (
            rule.map(|r| r.cutoff),
            rule.map_or("", |r| r.reason.as_str()),
        )
    };
    let (inactive_cutoff, inactive_reason) = parts(due.inactive);
    let (size_cutoff, size_reason) = parts(due.size);
    convert(
        sqlx::query_as(&sql)
            .bind(skip)
            .bind(inactive_cutoff)
            .bind(inactive_reason)
            .bind(size_cutoff)
            .bind(size_reason)
            .bind(limit)
            .bind(due.recycled)
            .fetch_all(conn)
            .await?,
    )
}

/// Records why a rep rejected the lead (cleared with `None`).
pub async fn set_rejection_reason(
    conn: &mut PgConnection,
    id: Uuid,
    reason: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("update leads set rejection_reason = $2 where id = $1")
        .bind(id)
        .bind(reason)
        .execute(conn)
        .await?;
    Ok(())
}

/// The rep who owns the lead, if any.
pub async fn owner_of(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar::<_, Option<Uuid>>("select owner_rep_id from leads where id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

/// Those of `locked` (leads this transaction holds) that no open assignment holds. Every
/// assigner keeps the lead's row lock until it commits, so none can appear after the lock;
/// one committed while the lock was awaited is seen by this statement's newer snapshot.
async fn without_open_assignment(
    conn: &mut PgConnection,
    mut locked: Vec<Lead>,
) -> sqlx::Result<Vec<Lead>> {
    if locked.is_empty() {
        return Ok(locked);
    }
    let held: Vec<Uuid> = sqlx::query_scalar(
        "select lead_id from assignments where lead_id = any($1) and closed_at is null",
    )
    .bind(locked.iter().map(|l| l.id).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    locked.retain(|l| !held.contains(&l.id));
    Ok(locked)
}

/// Locks up to `limit` MQLs that are ready for handoff but held by no rep, skipping rows
/// another transaction holds.
pub async fn claim_unassigned(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Lead>> {
    // Ids first, from index-only scans (leads_waiting_idx and the open-assignment index), then
    // the rows: fetching whole rows before the anti-join read the page of every open MQL.
    let sql = format!(
        "select {COLUMNS} from leads
          where id in (select m.id from leads m
                        where m.lifecycle_stage = 'MQL' and m.review_missing is null
                          and not exists (select 1 from assignments a
                                           where a.lead_id = m.id and a.closed_at is null)
                        order by m.stage_changed_at, m.id
                        limit $1)
            and lifecycle_stage = 'MQL' and review_missing is null
          for update skip locked"
    );
    // Whether a clock assigned one of them meanwhile is asked of the assignments once they are
    // locked. The owner column cannot tell: a lead that comes back to MQL keeps its earlier
    // owner, and skipping those left them waiting for ever, first in line.
    let locked = convert(
        sqlx::query_as(&sql)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?,
    )?;
    without_open_assignment(conn, locked).await
}
