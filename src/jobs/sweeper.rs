//! The sweeper: disqualifies leads that time alone has made due (the inactivity and size
//! rules), for leads that send no event to be evaluated on. Set-based: each batch is one
//! claim, one update and one insert, in one transaction; safe with several replicas sweeping
//! at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    app::AppState,
    db::leads::{self, DueRule, DueRules, Lead},
    domain::Stage,
    engine::{Condition, NurtureRecord, RuleSet, inactive_cutoff, size_cutoff},
    usecase::{evaluation, nurture, persist},
};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Leads claimed as candidates.
    pub claimed: usize,
    /// Leads disqualified.
    pub disqualified: usize,
}

/// Sweeps every due lead as of `now`, `batch` leads per transaction.
#[tracing::instrument(skip_all)]
pub async fn tick(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    batch: i64,
) -> anyhow::Result<SweepReport> {
    let (inactive, size) = due_rules(rules, now);
    if inactive.is_none() && size.is_none() {
        return Ok(SweepReport::default());
    }
    let recycled: Vec<&str> = rules
        .rules
        .nurture
        .recycle_on
        .iter()
        .map(|r| r.as_str())
        .collect();
    let due = DueRules {
        inactive,
        size,
        recycled: &recycled,
    };
    let mut report = SweepReport::default();
    // Leads claimed that the engine did not disqualify: not claimed again in this sweep.
    let mut kept: Vec<Uuid> = Vec::new();
    loop {
        let mut tx = pool.begin().await?;
        let claimed = leads::claim_due(&mut tx, &due, &kept, batch).await?;
        if claimed.is_empty() {
            break;
        }
        let count = claimed.len();
        let mut moved: Vec<(Lead, Vec<NurtureRecord>)> = Vec::new();
        let mut new_transitions = Vec::new();
        for mut lead in claimed {
            let transitions = evaluation::apply(&mut lead, None, rules, now);
            // The engine has the last word: a claimed lead it does not disqualify is left as is.
            if lead.stage == Stage::Disqualified {
                new_transitions.extend(transitions);
                let exits = nurture::plan(&mut lead, &[], rules, now);
                moved.push((lead, exits));
            } else {
                kept.push(lead.id);
            }
        }
        let decided = persist::Decided {
            leads: moved.iter().map(|(l, _)| l).collect(),
            transitions: &new_transitions,
            nurture: moved.iter().map(|(l, r)| (l, r.clone())).collect(),
        };
        persist::locked(&mut tx, decided, rules, now).await?;
        tx.commit().await?;
        report.claimed += count;
        report.disqualified += moved.len();
        if count < usize::try_from(batch).unwrap_or(usize::MAX) {
            break;
        }
    }
    if report.disqualified > 0 {
        tracing::info!(
            leads.claimed = report.claimed,
            leads.disqualified = report.disqualified,
            "sweep disqualified leads"
        );
    }
    Ok(report)
}

/// The first inactivity rule and the first size rule, as cutoffs for `now`.
fn due_rules(rules: &RuleSet, now: DateTime<Utc>) -> (Option<DueRule>, Option<DueRule>) {
    let mut inactive = None;
    let mut size = None;
    for rule in &rules.rules.disqualify {
        match rule.when {
            Condition::Inactive { days } if inactive.is_none() => {
                inactive = Some(DueRule {
                    cutoff: inactive_cutoff(now, days),
                    reason: rule.reason,
                });
            }
            Condition::BelowSize { months, .. } if size.is_none() => {
                size = Some(DueRule {
                    cutoff: size_cutoff(now, months),
                    reason: rule.reason,
                });
            }
            _ => {}
        }
    }
    (inactive, size)
}

/// Sweeps every `interval` until `shutdown`.
pub async fn run(state: AppState, interval: Duration, batch: i64, shutdown: CancellationToken) {
    super::every("sweeper", "sweep", interval, shutdown, || {
        tick(&state.pool, &state.rules, state.now(), batch)
    })
    .await;
}
