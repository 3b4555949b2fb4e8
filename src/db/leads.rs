//! Leads: one row per person (email), with its profile, stage and scores.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};
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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, email, account_id, first_name, last_name, title, company, industry, \
     employee_count, annual_revenue, country, profile_stamps, lifecycle_stage, fit_score, \
     fit_breakdown, intent_at_last_activity, last_activity_at, intent_signals, rules_version, \
     created_at, updated_at";

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
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn convert(row: Option<LeadRow>) -> sqlx::Result<Option<Lead>> {
    row.map(Lead::try_from).transpose()
}

/// The lead with this email, locked until the transaction ends, so concurrent events for one
/// lead apply one after the other and none is lost.
pub async fn lock_by_email(conn: &mut PgConnection, email: &Email) -> sqlx::Result<Option<Lead>> {
    let sql = format!("select {COLUMNS} from leads where email = $1 for update");
    convert(
        sqlx::query_as(&sql)
            .bind(email.as_str())
            .fetch_optional(conn)
            .await?,
    )
}

/// Inserts a new, empty lead unless one with this email exists (a concurrent insert wins).
/// Returns the new lead, locked, or `None` when the email was taken.
pub async fn insert_new(
    conn: &mut PgConnection,
    email: &Email,
    account_id: Option<Uuid>,
    rules_version: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Lead>> {
    let sql = format!(
        r#"insert into leads (id, email, account_id, rules_version, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $5)
           on conflict on constraint leads_email_key do nothing
           returning {COLUMNS}"#
    );
    let row = sqlx::query_as(&sql)
        .bind(Uuid::now_v7())
        .bind(email.as_str())
        .bind(account_id)
        .bind(rules_version)
        .bind(now)
        .fetch_optional(conn)
        .await?;
    convert(row)
}

/// Writes back what an event changed: profile, stage, scores.
pub async fn save(conn: &mut PgConnection, lead: &Lead) -> sqlx::Result<()> {
    let p = &lead.profile;
    sqlx::query(
        r#"update leads set
             first_name = $2, last_name = $3, title = $4, company = $5, industry = $6,
             employee_count = $7, annual_revenue = $8, country = $9, profile_stamps = $10,
             lifecycle_stage = $11, fit_score = $12, fit_breakdown = $13,
             intent_at_last_activity = $14, last_activity_at = $15, intent_signals = $16,
             rules_version = $17, updated_at = $18
           where id = $1"#,
    )
    .bind(lead.id)
    .bind(&p.first_name)
    .bind(&p.last_name)
    .bind(&p.title)
    .bind(&p.company)
    .bind(&p.industry)
    .bind(p.employee_count)
    .bind(p.annual_revenue)
    .bind(&p.country)
    .bind(Json(&lead.profile_stamps))
    .bind(lead.stage.as_str())
    .bind(lead.fit.total)
    .bind(Json(&lead.fit.breakdown))
    .bind(lead.intent.at_last_activity)
    .bind(lead.intent.last_activity_at)
    .bind(Json(&lead.intent.signals))
    .bind(&lead.rules_version)
    .bind(lead.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A lead by id.
pub async fn by_id(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Lead>> {
    let sql = format!("select {COLUMNS} from leads where id = $1");
    convert(sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?)
}

/// A lead by (normalised) email.
pub async fn by_email(conn: &mut PgConnection, email: &Email) -> sqlx::Result<Option<Lead>> {
    let sql = format!("select {COLUMNS} from leads where email = $1");
    convert(
        sqlx::query_as(&sql)
            .bind(email.as_str())
            .fetch_optional(conn)
            .await?,
    )
}
