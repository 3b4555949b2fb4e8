//! Leads: one row per person (email), with its profile, stage and scores.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};

use super::{Bind, unnest};
use uuid::Uuid;

use crate::{
    domain::{Email, EventType, Profile, ProfileStamps, Stage},
    engine::{FitHit, FitScore, IntentSignal, IntentState},
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
            rules_version: rules_version.to_owned(),
            version: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(sqlx::FromRow)]
struct LeadRow {
    id: Uuid,
    email: String,
    account_id: Option<Uuid>,
    first_name: Option<String>,
    last_name: Option<String>,
    title: Option<String>,
    company: Option<String>,
    industry: Option<String>,
    employee_count: Option<i64>,
    annual_revenue: Option<i64>,
    country: Option<String>,
    profile_stamps: Json<ProfileStamps>,
    #[sqlx(try_from = "String")]
    lifecycle_stage: Stage,
    fit_score: i32,
    fit_breakdown: Json<Vec<FitHit>>,
    intent_at_last_activity: f64,
    last_activity_at: Option<DateTime<Utc>>,
    intent_signals: Json<BTreeMap<EventType, IntentSignal>>,
    rules_version: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, email, account_id, first_name, last_name, title, company, industry, \
     employee_count, annual_revenue, country, profile_stamps, lifecycle_stage, fit_score, \
     fit_breakdown, intent_at_last_activity, last_activity_at, intent_signals, rules_version, \
     version, created_at, updated_at";

impl TryFrom<LeadRow> for Lead {
    type Error = sqlx::Error;

    fn try_from(row: LeadRow) -> Result<Self, Self::Error> {
        Ok(Lead {
            id: row.id,
            email: Email::parse(&row.email).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            account_id: row.account_id,
            profile: Profile {
                first_name: row.first_name,
                last_name: row.last_name,
                title: row.title,
                company: row.company,
                industry: row.industry,
                employee_count: row.employee_count,
                annual_revenue: row.annual_revenue,
                country: row.country,
            },
            profile_stamps: row.profile_stamps.0,
            stage: row.lifecycle_stage,
            fit: FitScore {
                total: row.fit_score,
                breakdown: row.fit_breakdown.0,
            },
            intent: IntentState {
                at_last_activity: row.intent_at_last_activity,
                last_activity_at: row.last_activity_at,
                signals: row.intent_signals.0,
            },
            rules_version: row.rules_version,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn convert(rows: Vec<LeadRow>) -> sqlx::Result<Vec<Lead>> {
    rows.into_iter().map(Lead::try_from).collect()
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

/// A lead's event history as (type, occurred_at): the input of an intent refold.
pub type History = Vec<(EventType, DateTime<Utc>)>;

/// The existing leads among `emails`, unlocked, each with its event history when an event
/// stamped `earliest` (same position as its email) predates its last activity, i.e. when
/// taking that event will need a refold. Saves a round trip for late events.
pub async fn by_emails_with_history(
    conn: &mut PgConnection,
    emails: &[&str],
    earliest: &[DateTime<Utc>],
) -> sqlx::Result<Vec<(Lead, Option<History>)>> {
    let columns: Vec<String> = COLUMNS
        .split(',')
        .map(|c| format!("l.{}", c.trim()))
        .collect();
    let sql = format!(
        "select {},
                case when x.earliest < l.last_activity_at then array(
                    select event_type from lead_events e where e.lead_id = l.id order by e.id) end
                  as history_types,
                case when x.earliest < l.last_activity_at then array(
                    select occurred_at from lead_events e where e.lead_id = l.id order by e.id) end
                  as history_at
           from leads l join unnest($1::text[], $2::timestamptz[]) as x(email, earliest)
             on l.email = x.email",
        columns.join(", ")
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

/// The existing leads among `emails`, locked until the transaction ends. Rows are locked in
/// email order, the same in every transaction, so lockers queue instead of deadlocking.
pub async fn lock_by_emails(conn: &mut PgConnection, emails: &[&str]) -> sqlx::Result<Vec<Lead>> {
    let sql =
        format!("select {COLUMNS} from leads where email = any($1) order by email for update");
    convert(sqlx::query_as(&sql).bind(emails).fetch_all(conn).await?)
}

/// Inserts `leads` as they are, with their account's tier, skipping emails that exist (a
/// concurrent insert won). Returns the ids inserted.
pub async fn insert_many(conn: &mut PgConnection, leads: &[&Lead]) -> sqlx::Result<Vec<Uuid>> {
    // `for share` makes an account-list write of the same account wait for this transaction,
    // so its lead update (`mirror_account_tiers`) sees the new lead; or, if that write came
    // first, makes this insert wait and read the tier it committed.
    let sql = format!(
        "insert into leads ({WRITE_COLUMNS}, account_tier) \
         select {WRITE_COLUMNS}, \
                (select a.tier from accounts a where a.id = u.account_id for share) \
           from {} \
         on conflict on constraint leads_email_key do nothing returning id",
        unnest_leads(1)
    );
    bind_leads(sqlx::query_scalar(&sql), leads)
        .fetch_all(conn)
        .await
}

/// Writes back profile, stage and scores of `leads`, bumping their version.
pub async fn update_many(conn: &mut PgConnection, leads: &[&Lead]) -> sqlx::Result<()> {
    let sql = format!(
        "update leads l set {UPDATE_SET} from {} where l.id = u.id",
        unnest_leads(1)
    );
    bind_leads(sqlx::query(&sql), leads).execute(conn).await?;
    Ok(())
}

/// Copies each account's tier to its leads (`leads.account_tier` mirrors it so routing needs
/// no join), for the accounts `account_ids`; bumps the version of every lead it changes.
/// Returns how many leads changed.
pub async fn mirror_account_tiers(
    conn: &mut PgConnection,
    account_ids: &[Uuid],
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    // Locked in email order, like ingest locks leads, so the two cannot deadlock on leads.
    let done = sqlx::query(
        r#"with stale as (select l.id, a.tier from leads l join accounts a on a.id = l.account_id
                           where l.account_id = any($1)
                             and l.account_tier is distinct from a.tier
                           order by l.email for update of l)
           update leads l set account_tier = s.tier, version = l.version + 1, updated_at = $2
             from stale s
            where l.id = s.id"#,
    )
    .bind(account_ids)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The columns a write carries, in the order [`bind_leads`] binds them.
pub(crate) const WRITE_COLUMNS: &str = "id, email, account_id, first_name, last_name, title, \
     company, industry, employee_count, annual_revenue, country, profile_stamps, \
     lifecycle_stage, fit_score, fit_breakdown, intent_at_last_activity, last_activity_at, \
     intent_signals, rules_version, created_at, updated_at";

/// What an update changes (everything but identity and creation).
pub(crate) const UPDATE_SET: &str = "first_name = u.first_name, last_name = u.last_name, \
     title = u.title, company = u.company, industry = u.industry, \
     employee_count = u.employee_count, annual_revenue = u.annual_revenue, country = u.country, \
     profile_stamps = u.profile_stamps, lifecycle_stage = u.lifecycle_stage, \
     fit_score = u.fit_score, fit_breakdown = u.fit_breakdown, \
     intent_at_last_activity = u.intent_at_last_activity, last_activity_at = u.last_activity_at, \
     intent_signals = u.intent_signals, rules_version = u.rules_version, \
     updated_at = u.updated_at, version = l.version + 1";

const WRITE_TYPES: [&str; 21] = [
    "uuid",
    "text",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "text",
    "int8",
    "int8",
    "text",
    "jsonb",
    "text",
    "int4",
    "jsonb",
    "float8",
    "timestamptz",
    "jsonb",
    "text",
    "timestamptz",
    "timestamptz",
];

/// `unnest($first::uuid[], ...) as u(<WRITE_COLUMNS>)`: the rows bound by [`bind_leads`].
pub(crate) fn unnest_leads(first: usize) -> String {
    unnest("u", WRITE_COLUMNS, &WRITE_TYPES, first)
}

/// How many parameters [`bind_leads`] binds.
pub(crate) const WRITE_PARAMS: usize = WRITE_TYPES.len();

/// Binds `leads` column by column, matching [`unnest_leads`].
pub(crate) fn bind_leads<'q, Q: Bind<'q>>(query: Q, leads: &[&Lead]) -> Q {
    fn col<T>(leads: &[&Lead], f: impl Fn(&Lead) -> T) -> Vec<T> {
        leads.iter().map(|l| f(l)).collect()
    }
    query
        .bind(col(leads, |l| l.id))
        .bind(col(leads, |l| l.email.as_str().to_owned()))
        .bind(col(leads, |l| l.account_id))
        .bind(col(leads, |l| l.profile.first_name.clone()))
        .bind(col(leads, |l| l.profile.last_name.clone()))
        .bind(col(leads, |l| l.profile.title.clone()))
        .bind(col(leads, |l| l.profile.company.clone()))
        .bind(col(leads, |l| l.profile.industry.clone()))
        .bind(col(leads, |l| l.profile.employee_count))
        .bind(col(leads, |l| l.profile.annual_revenue))
        .bind(col(leads, |l| l.profile.country.clone()))
        .bind(col(leads, |l| Json(l.profile_stamps.clone())))
        .bind(col(leads, |l| l.stage.as_str().to_owned()))
        .bind(col(leads, |l| l.fit.total))
        .bind(col(leads, |l| Json(l.fit.breakdown.clone())))
        .bind(col(leads, |l| l.intent.at_last_activity))
        .bind(col(leads, |l| l.intent.last_activity_at))
        .bind(col(leads, |l| Json(l.intent.signals.clone())))
        .bind(col(leads, |l| l.rules_version.clone()))
        .bind(col(leads, |l| l.created_at))
        .bind(col(leads, |l| l.updated_at))
}

/// Deletes leads created in the current transaction that ended up with no event.
pub async fn delete_many(conn: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("delete from leads where id = any($1)")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}
