//! The SLA clock: escalates untouched MQLs to the rep's manager (exactly once, whatever the
//! number of replicas and restarts), records breached ack and disposition deadlines, and
//! hands waiting MQLs to reps who became available.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    app::AppState,
    db::{
        assignments::{self, DueEscalation},
        outbox::{self, Message},
        transitions::{self, NewTransition},
    },
    domain::{Stage, Topic},
    engine::{IntentState, RuleSet},
    usecase::reps,
};

/// Where escalations of reps without a manager go.
const NO_MANAGER: &str = "ops";

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClockReport {
    pub escalated: usize,
    pub ack_breaches: u64,
    pub disposition_breaches: u64,
    pub assigned: usize,
}

/// One tick at `now`: escalations in batches of `batch` (one transaction each), then
/// breaches, then waiting MQLs.
#[tracing::instrument(skip_all)]
pub async fn tick(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    batch: i64,
) -> anyhow::Result<ClockReport> {
    let mut report = ClockReport::default();
    loop {
        let mut tx = pool.begin().await?;
        let due = assignments::claim_escalations(&mut tx, now, batch).await?;
        if due.is_empty() {
            break;
        }
        escalate(&mut tx, &due, rules, now).await?;
        tx.commit().await?;
        // Counted as each batch commits, so a tick failing later still reports these.
        crate::metrics::sla_escalated(due.len());
        report.escalated += due.len();
        if due.len() < usize::try_from(batch).unwrap_or(usize::MAX) {
            break;
        }
    }
    let mut conn = pool.acquire().await?;
    (report.ack_breaches, report.disposition_breaches) =
        assignments::record_breaches(&mut conn, now).await?;
    crate::metrics::sla_breached(report.ack_breaches, report.disposition_breaches);
    drop(conn);
    let mut tx = pool.begin().await?;
    report.assigned = reps::assign_waiting(&mut tx, rules, now).await?;
    tx.commit().await?;
    if report != ClockReport::default() {
        tracing::info!(
            mqls.escalated = report.escalated,
            sla.ack_breaches = report.ack_breaches,
            sla.disposition_breaches = report.disposition_breaches,
            mqls.assigned = report.assigned,
            "SLA clock tick"
        );
    }
    Ok(report)
}

/// Records the escalations of `due`: flags, transitions and manager notifications, set-based.
async fn escalate(
    conn: &mut sqlx::PgConnection,
    due: &[DueEscalation],
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let ids: Vec<i64> = due.iter().map(|d| d.id).collect();
    let managers: Vec<_> = due.iter().map(|d| d.manager_id).collect();
    assignments::mark_escalated(conn, &ids, &managers, now).await?;
    let hours = rules.rules.sla.escalate_after_hours;
    let mut new_transitions = Vec::with_capacity(due.len());
    let mut messages = Vec::with_capacity(due.len());
    for d in due {
        let intent = IntentState {
            at_last_activity: d.intent_at_last_activity,
            last_activity_at: d.last_activity_at,
            ..IntentState::default()
        }
        .score_at(now, &rules.rules.intent);
        let manager = d
            .manager_name
            .as_deref()
            .unwrap_or("ops (the rep has no manager)");
        new_transitions.push(NewTransition {
            lead_id: d.lead_id,
            from: Some(Stage::Mql),
            to: Stage::Mql,
            actor: "system".to_owned(),
            reason: format!(
                "escalated to {manager}: untouched {hours} h after assignment to {}",
                d.rep_name
            ),
            source: None,
            reason_code: None,
            fit_score: d.fit_score,
            intent_score: intent,
            rules_version: rules.version.clone(),
            event_row_id: None,
            at: now,
        });
        messages.push(Message {
            topic: Topic::ManagerEscalation.as_str(),
            recipient: d
                .manager_email
                .clone()
                .unwrap_or_else(|| NO_MANAGER.to_owned()),
            payload: json!({
                "assignment_id": d.id, "lead_id": d.lead_id, "lead_email": d.lead_email,
                "rep_id": d.rep_id, "rep_name": d.rep_name, "assigned_at": d.assigned_at,
                "manager_id": d.manager_id, "escalated_at": now,
            }),
            dedupe_key: format!("manager.escalation:{}", d.id),
        });
    }
    transitions::record_many(conn, &new_transitions).await?;
    outbox::enqueue(conn, &messages, now).await?;
    Ok(())
}

/// Ticks every `interval` until `shutdown`.
pub async fn run(state: AppState, interval: Duration, batch: i64, shutdown: CancellationToken) {
    super::every("sla_clock", "SLA clock tick", interval, shutdown, || {
        tick(&state.pool, &state.rules, state.now(), batch)
    })
    .await;
}
