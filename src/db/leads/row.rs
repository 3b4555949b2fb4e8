//! The `leads` row: its columns, decoding into [`Lead`], and binding leads as column arrays
//! for the set-based writes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::{Lead, Review};
use crate::{
    db::{Bind, unnest},
    domain::{DisqualifyReason, Email, EventType, Profile, ProfileStamps, Stage},
    engine::{Activity, FitHit, FitScore, IntentSignal, IntentState, NurtureState, SinceRejection},
};

#[derive(sqlx::FromRow)]
pub(super) struct LeadRow {
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
    demand_state: Option<String>,
    profile_stamps: Json<ProfileStamps>,
    #[sqlx(try_from = "String")]
    lifecycle_stage: Stage,
    fit_score: i32,
    fit_breakdown: Json<Vec<FitHit>>,
    intent_at_last_activity: f64,
    last_activity_at: Option<DateTime<Utc>>,
    intent_signals: Json<BTreeMap<EventType, IntentSignal>>,
    intent_streak_from: Option<DateTime<Utc>>,
    intent_streak_whole: bool,
    last_engaged_at: Option<DateTime<Utc>>,
    opted_out_at: Option<DateTime<Utc>>,
    derived_demand_state: Option<String>,
    below_size_since: Option<DateTime<Utc>>,
    disqualified_reason: Option<String>,
    exempt_reasons: Json<Vec<DisqualifyReason>>,
    account_tier: Option<i16>,
    review_missing: Option<Json<Vec<String>>>,
    review_queued_at: Option<DateTime<Utc>>,
    nurture: Json<NurtureState>,
    rejection_reason: Option<String>,
    since_rejection: Option<Json<SinceRejection>>,
    rules_version: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

pub(super) const COLUMNS: &str = "id, email, account_id, first_name, last_name, title, company, industry, \
     employee_count, annual_revenue, country, demand_state, profile_stamps, lifecycle_stage, \
     fit_score, fit_breakdown, intent_at_last_activity, last_activity_at, intent_signals, \
     intent_streak_from, intent_streak_whole, last_engaged_at, opted_out_at, \
     derived_demand_state, below_size_since, disqualified_reason, exempt_reasons, account_tier, \
     review_missing, review_queued_at, nurture, rejection_reason, since_rejection, rules_version, \
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
                demand_state: row.demand_state,
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
                streak_from: row.intent_streak_from,
                streak_whole: row.intent_streak_whole,
            },
            activity: Activity {
                last_engaged_at: row.last_engaged_at,
                opted_out_at: row.opted_out_at,
                derived_demand_state: row.derived_demand_state,
                below_size_since: row.below_size_since,
            },
            disqualified_reason: row
                .disqualified_reason
                .map(|r| r.parse().map_err(|e| sqlx::Error::Decode(Box::new(e))))
                .transpose()?,
            exempt_reasons: row.exempt_reasons.0,
            account_tier: row.account_tier.and_then(|t| u8::try_from(t).ok()),
            review: match (row.review_missing, row.review_queued_at) {
                (Some(missing), Some(queued_at)) => Some(Review {
                    missing: missing.0,
                    queued_at,
                }),
                _ => None,
            },
            nurture: row.nurture.0,
            rejection_reason: row
                .rejection_reason
                .map(|r| r.parse().map_err(|e| sqlx::Error::Decode(Box::new(e))))
                .transpose()?,
            since_rejection: row.since_rejection.map(|s| s.0),
            rules_version: row.rules_version,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// [`COLUMNS`] qualified by a table alias, for queries that join.
pub(super) fn columns_of(alias: &str) -> String {
    COLUMNS
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn convert(rows: Vec<LeadRow>) -> sqlx::Result<Vec<Lead>> {
    rows.into_iter().map(Lead::try_from).collect()
}

/// The columns a write carries, in the order [`bind_leads`] binds them.
pub(crate) const WRITE_COLUMNS: &str = "id, email, account_id, first_name, last_name, title, \
     company, industry, employee_count, annual_revenue, country, demand_state, profile_stamps, \
     lifecycle_stage, fit_score, fit_breakdown, intent_at_last_activity, last_activity_at, \
     intent_signals, intent_streak_from, intent_streak_whole, last_engaged_at, opted_out_at, \
     derived_demand_state, below_size_since, disqualified_reason, exempt_reasons, account_tier, \
     review_missing, review_queued_at, nurture, since_rejection, rules_version, created_at, \
     updated_at";

/// What an update changes (everything but identity, account and creation). A null in one of
/// the JSON columns [`Kept`] names keeps the stored value. `rejection_reason` (written by
/// `set_rejection_reason`) is kept while the lead stays `Rejected` and cleared once it leaves.
pub(crate) const UPDATE_SET: &str = "first_name = u.first_name, last_name = u.last_name, \
     title = u.title, company = u.company, industry = u.industry, \
     employee_count = u.employee_count, annual_revenue = u.annual_revenue, country = u.country, \
     demand_state = u.demand_state, \
     profile_stamps = coalesce(u.profile_stamps, l.profile_stamps), \
     lifecycle_stage = u.lifecycle_stage, fit_score = u.fit_score, \
     fit_breakdown = coalesce(u.fit_breakdown, l.fit_breakdown), \
     intent_at_last_activity = u.intent_at_last_activity, \
     last_activity_at = u.last_activity_at, intent_signals = u.intent_signals, \
     intent_streak_from = u.intent_streak_from, intent_streak_whole = u.intent_streak_whole, \
     last_engaged_at = u.last_engaged_at, opted_out_at = u.opted_out_at, \
     derived_demand_state = u.derived_demand_state, below_size_since = u.below_size_since, \
     disqualified_reason = u.disqualified_reason, \
     exempt_reasons = coalesce(u.exempt_reasons, l.exempt_reasons), \
     account_tier = u.account_tier, review_missing = u.review_missing, \
     review_queued_at = u.review_queued_at, nurture = coalesce(u.nurture, l.nurture), \
     since_rejection = u.since_rejection, \
     rejection_reason = case when u.lifecycle_stage = 'Rejected' then l.rejection_reason end, \
     rules_version = u.rules_version, \
     updated_at = u.updated_at, \
     stage_changed_at = case when l.lifecycle_stage = u.lifecycle_stage \
                             then l.stage_changed_at else u.updated_at end";

const WRITE_TYPES: [&str; 35] = [
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
    "text",
    "jsonb",
    "text",
    "int4",
    "jsonb",
    "float8",
    "timestamptz",
    "jsonb",
    "timestamptz",
    "bool",
    "timestamptz",
    "timestamptz",
    "text",
    "timestamptz",
    "text",
    "jsonb",
    "int2",
    "jsonb",
    "timestamptz",
    "jsonb",
    "jsonb",
    "text",
    "timestamptz",
    "timestamptz",
];

/// `unnest($first::int8[], ...) as u(expected_version, account_tier_read, <WRITE_COLUMNS>)`:
/// each lead's expected version and account tier as read (bound at `$first` and after it),
/// then the rows bound by [`bind_leads`].
pub(crate) fn unnest_leads_at_versions(first: usize) -> String {
    let types: Vec<&str> = ["int8", "int2"].into_iter().chain(WRITE_TYPES).collect();
    unnest(
        "u",
        &format!("expected_version, account_tier_read, {WRITE_COLUMNS}"),
        &types,
        first,
    )
}

/// How many parameters [`bind_leads`] binds.
pub(crate) const WRITE_PARAMS: usize = WRITE_TYPES.len();

/// The JSON columns of a lead that an update may leave as stored. Most events change none of
/// them but the intent signals, and each one bound is serialized here and parsed again by
/// PostgreSQL: together they are half the bytes of a lead row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kept {
    profile_stamps: bool,
    fit_breakdown: bool,
    exempt_reasons: bool,
    nurture: bool,
}

/// Those JSON columns of a lead as read, to tell which ones a write leaves as they are.
pub struct StoredJson {
    profile_stamps: ProfileStamps,
    fit_breakdown: Vec<FitHit>,
    exempt_reasons: Vec<DisqualifyReason>,
    nurture: NurtureState,
}

impl StoredJson {
    pub fn of(lead: &Lead) -> Self {
        StoredJson {
            profile_stamps: lead.profile_stamps.clone(),
            fit_breakdown: lead.fit.breakdown.clone(),
            exempt_reasons: lead.exempt_reasons.clone(),
            nurture: lead.nurture.clone(),
        }
    }

    /// Which columns `lead` (this one, changed since) still holds as stored. Only for an update
    /// of the row at the version these were read at.
    pub fn kept_in(&self, lead: &Lead) -> Kept {
        Kept {
            profile_stamps: self.profile_stamps == lead.profile_stamps,
            fit_breakdown: self.fit_breakdown == lead.fit.breakdown,
            exempt_reasons: self.exempt_reasons == lead.exempt_reasons,
            nurture: self.nurture == lead.nurture,
        }
    }
}

/// Binds `leads` column by column, matching [`unnest_leads_at_versions`]; `kept` (empty, or one per lead)
/// names the JSON columns bound as null, for [`UPDATE_SET`] to keep.
pub(crate) fn bind_leads<'q, Q: Bind<'q>>(query: Q, leads: &[&'q Lead], kept: &[Kept]) -> Q {
    assert!(kept.is_empty() || kept.len() == leads.len());
    // Every column borrows from the leads: the rows are encoded once, into the message.
    fn col<'q, T>(leads: &[&'q Lead], f: impl Fn(&'q Lead) -> T) -> Vec<T> {
        leads.iter().map(|l| f(l)).collect()
    }
    fn json<'q, T: ?Sized>(
        leads: &[&'q Lead],
        kept: &[Kept],
        is_kept: impl Fn(&Kept) -> bool,
        f: impl Fn(&'q Lead) -> &'q T,
    ) -> Vec<Option<Json<&'q T>>> {
        let kept = |i: usize| kept.get(i).is_some_and(&is_kept);
        leads
            .iter()
            .enumerate()
            .map(|(i, l)| (!kept(i)).then(|| Json(f(l))))
            .collect()
    }
    query
        .bind(col(leads, |l| l.id))
        .bind(col(leads, |l| l.email.as_str()))
        .bind(col(leads, |l| l.account_id))
        .bind(col(leads, |l| l.profile.first_name.as_deref()))
        .bind(col(leads, |l| l.profile.last_name.as_deref()))
        .bind(col(leads, |l| l.profile.title.as_deref()))
        .bind(col(leads, |l| l.profile.company.as_deref()))
        .bind(col(leads, |l| l.profile.industry.as_deref()))
        .bind(col(leads, |l| l.profile.employee_count))
        .bind(col(leads, |l| l.profile.annual_revenue))
        .bind(col(leads, |l| l.profile.country.as_deref()))
        .bind(col(leads, |l| l.profile.demand_state.as_deref()))
        .bind(json(
            leads,
            kept,
            |k| k.profile_stamps,
            |l| &l.profile_stamps,
        ))
        .bind(col(leads, |l| l.stage.as_str()))
        .bind(col(leads, |l| l.fit.total))
        .bind(json(leads, kept, |k| k.fit_breakdown, |l| &l.fit.breakdown))
        .bind(col(leads, |l| l.intent.at_last_activity))
        .bind(col(leads, |l| l.intent.last_activity_at))
        .bind(col(leads, |l| Json(&l.intent.signals)))
        .bind(col(leads, |l| l.intent.streak_from))
        .bind(col(leads, |l| l.intent.streak_whole))
        .bind(col(leads, |l| l.activity.last_engaged_at))
        .bind(col(leads, |l| l.activity.opted_out_at))
        .bind(col(leads, |l| l.activity.derived_demand_state.as_deref()))
        .bind(col(leads, |l| l.activity.below_size_since))
        .bind(col(leads, |l| l.disqualified_reason.map(|r| r.as_str())))
        .bind(json(
            leads,
            kept,
            |k| k.exempt_reasons,
            |l| &l.exempt_reasons,
        ))
        .bind(col(leads, |l| l.account_tier.map(i16::from)))
        .bind(col(leads, |l| l.review.as_ref().map(|r| Json(&r.missing))))
        .bind(col(leads, |l| l.review.as_ref().map(|r| r.queued_at)))
        .bind(json(leads, kept, |k| k.nurture, |l| &l.nurture))
        .bind(col(leads, |l| l.since_rejection.as_ref().map(Json)))
        .bind(col(leads, |l| l.rules_version.as_str()))
        .bind(col(leads, |l| l.created_at))
        .bind(col(leads, |l| l.updated_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProfileField;

    #[test]
    fn only_the_json_columns_a_write_left_alone_are_kept() {
        let now: DateTime<Utc> = "2026-11-20T10:00:00Z".parse().unwrap();
        let read = Lead::new(Email::parse("ana@acme.io").unwrap(), None, "v1", now);
        let stored = StoredJson::of(&read);
        let mut lead = read.clone();
        lead.intent.at_last_activity = 20.0;
        let all = Kept {
            profile_stamps: true,
            fit_breakdown: true,
            exempt_reasons: true,
            nurture: true,
        };
        assert_eq!(stored.kept_in(&lead), all);

        lead.profile_stamps.insert(ProfileField::Title, now);
        lead.fit.breakdown.push(FitHit {
            rule: "title".into(),
            points: 25,
            matched: "title VP".into(),
        });
        lead.nurture.step = 1;
        assert_eq!(
            stored.kept_in(&lead),
            Kept {
                exempt_reasons: true,
                ..Kept::default()
            }
        );
    }
}
