//! `GET /api/v1/metrics/nurture`: per workflow, what nurture did in the period. Whole days
//! come from the daily sums the nurture log's trigger keeps, the partial days at the ends
//! from the log itself (the rows the lead view shows), in one snapshot.

use serde::Serialize;
use sqlx::PgPool;

use super::{MetricsQuery, Period, rate};
use crate::{
    db::metrics::{self, nurture::WorkflowCounts},
    engine::RuleSet,
};

/// The nurture report: every configured workflow, zeros included, and the total.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NurtureReport {
    pub period: Period,
    pub total: WorkflowLine,
    pub workflows: Vec<WorkflowLine>,
}

/// One workflow's numbers. Enrollments count each time a lead entered (a recycled lead
/// entered twice counts twice); a move into the workflow from another one is `moved_in`.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WorkflowLine {
    pub workflow: String,
    pub enrolled: i64,
    pub moved_in: i64,
    /// Trigger advances (each one sends the asset it lands on).
    pub advanced: i64,
    /// Triggers that fired without moving the lead, at its last asset: each that told the
    /// owner, and the others once per lead and step.
    pub triggered: i64,
    /// Assets sent: enrollments, moves and advances with a touch.
    pub touches: i64,
    pub exited: i64,
    pub exited_to_mql: i64,
    /// `exited_to_mql / exited`; `null` when nobody exited.
    pub mql_share_of_exits: Option<f64>,
}

impl WorkflowLine {
    fn of(c: WorkflowCounts) -> Self {
        WorkflowLine {
            mql_share_of_exits: rate(c.exited_to_mql, c.exited),
            workflow: c.workflow,
            enrolled: c.enrolled,
            moved_in: c.moved_in,
            advanced: c.advanced,
            triggered: c.triggered,
            touches: c.touches,
            exited: c.exited,
            exited_to_mql: c.exited_to_mql,
        }
    }
}

/// The nurture numbers of the query's period.
#[tracing::instrument(skip_all)]
pub async fn report(
    pool: &PgPool,
    rules: &RuleSet,
    query: &MetricsQuery,
) -> sqlx::Result<NurtureReport> {
    let split = query.period.split();
    let mut tx = pool.begin().await?;
    metrics::snapshot(&mut tx).await?;
    let mut parts = Vec::new();
    if let Some((first, end)) = split.days {
        parts.extend(metrics::nurture::daily_counts(&mut tx, first, end).await?);
    }
    for (start, stop) in split.edges {
        parts.extend(metrics::nurture::counts(&mut tx, start, stop).await?);
    }
    tx.commit().await?;
    let mut found: Vec<WorkflowCounts> = Vec::new();
    for part in parts {
        match found.iter_mut().find(|c| c.workflow == part.workflow) {
            Some(c) => c.add(&part),
            None => found.push(part),
        }
    }
    // The configured workflows first, in name order, then any the log holds that the rules
    // no longer have.
    let mut names: Vec<String> = rules.rules.nurture.workflows.keys().cloned().collect();
    names.extend(
        found
            .iter()
            .map(|c| c.workflow.clone())
            .filter(|w| !rules.rules.nurture.workflows.contains_key(w)),
    );
    let mut total = WorkflowCounts {
        workflow: "total".to_owned(),
        ..WorkflowCounts::default()
    };
    let workflows = names
        .into_iter()
        .map(|name| {
            let c = found
                .iter()
                .find(|c| c.workflow == name)
                .cloned()
                .unwrap_or(WorkflowCounts {
                    workflow: name,
                    ..WorkflowCounts::default()
                });
            total.add(&c);
            WorkflowLine::of(c)
        })
        .collect();
    Ok(NurtureReport {
        period: query.period,
        total: WorkflowLine::of(total),
        workflows,
    })
}
