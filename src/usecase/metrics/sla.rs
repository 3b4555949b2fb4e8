//! `GET /api/v1/metrics/sla`: how the assignments made in the period kept their SLA
//! (acknowledge within the business hours, disposition within the business days), and how
//! many were escalated, by rep or tier.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::{
    MetricsQuery, Period,
    groups::{self, Group},
    rate,
};
use crate::{
    db::metrics::{
        self, Grouping,
        sla::{self, SlaRow},
    },
    engine::SlaRules,
};

/// The groupings the SLA view takes (`by=`).
pub const GROUPINGS: &[Grouping] = &[Grouping::Rep, Grouping::Tier];

/// One deadline's record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Deadline {
    /// Done by the due time stored with the assignment.
    pub on_time: i64,
    /// Done after it, or not done when it passed.
    pub late: i64,
    /// Open and not yet due.
    pub pending: i64,
    /// `on_time / (on_time + late)`; `null` when no deadline has been decided yet.
    pub on_time_share: Option<f64>,
}

impl Deadline {
    fn new(on_time: i64, late: i64, pending: i64) -> Self {
        Deadline {
            on_time,
            late,
            pending,
            on_time_share: rate(on_time, on_time + late),
        }
    }
}

/// One group's SLA record (or the total's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlaNumbers {
    /// Assignments made in the period.
    pub assignments: i64,
    pub ack: Deadline,
    pub disposition: Deadline,
    /// Of those assignments, how many were escalated to a manager.
    pub escalations: i64,
}

impl From<&SlaRow> for SlaNumbers {
    fn from(row: &SlaRow) -> Self {
        SlaNumbers {
            assignments: row.assignments,
            ack: Deadline::new(row.ack_on_time, row.ack_late, row.ack_pending),
            disposition: Deadline::new(
                row.disposition_on_time,
                row.disposition_late,
                row.disposition_pending,
            ),
            escalations: row.escalations,
        }
    }
}

/// The SLA terms in force now, for labels (each assignment keeps the due times it got).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlaTerms {
    pub ack_business_hours: u32,
    pub disposition_business_days: u32,
    pub escalate_after_hours: u32,
}

/// The SLA report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SlaReport {
    pub period: Period,
    pub by: Option<&'static str>,
    /// The moment pending and missed deadlines were told apart.
    pub as_of: DateTime<Utc>,
    pub terms: SlaTerms,
    pub total: SlaNumbers,
    pub groups: Vec<Group<SlaNumbers>>,
}

/// The SLA record of the assignments made in the query's period, as of `now`.
#[tracing::instrument(skip_all, fields(metrics.by = ?query.by))]
pub async fn report(
    pool: &PgPool,
    query: &MetricsQuery,
    rules: &SlaRules,
    now: DateTime<Utc>,
) -> sqlx::Result<SlaReport> {
    let Period { from, to } = query.period;
    let mut tx = pool.begin().await?;
    metrics::snapshot(&mut tx).await?;
    let rows = sla::sla(&mut tx, from, to, now, query.by).await?;
    let total = rows
        .iter()
        .find(|r| r.total)
        .map(SlaNumbers::from)
        .unwrap_or_default();
    let groups = if query.by == Grouping::Total {
        Vec::new()
    } else {
        let by_key: HashMap<Option<String>, SlaNumbers> = rows
            .iter()
            .filter(|r| !r.total)
            .map(|r| (r.key.clone(), SlaNumbers::from(r)))
            .collect();
        groups::label(&mut tx, query.by, &query.period, by_key).await?
    };
    tx.commit().await?;
    Ok(SlaReport {
        period: query.period,
        by: query.by.name(),
        as_of: now,
        terms: SlaTerms {
            ack_business_hours: rules.ack_business_hours,
            disposition_business_days: rules.disposition_business_days,
            escalate_after_hours: rules.escalate_after_hours,
        },
        total,
        groups,
    })
}
