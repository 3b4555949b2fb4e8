//! The MQL → SAL handoff: assignment with its context packet, the sales actions, the queue.

pub mod actions;
pub mod assign;
pub mod queue;
pub mod status;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    db::{
        assignments,
        leads::{self, Lead},
        transitions::NewTransition,
    },
    domain::Stage,
    engine::{RuleSet, Touch},
    error::ApiError,
};

/// Keeps the handoff in step with the stage changes `transitions` that the caller's
/// transaction made to `leads`: a lead that left MQL leaves its rep's queue, and a lead that
/// became MQL (and needs no review) is assigned. `triggers` holds, per lead, the event that
/// moved it.
pub async fn follow(
    conn: &mut PgConnection,
    leads: &[&Lead],
    transitions: &[NewTransition],
    triggers: &HashMap<Uuid, Touch>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let moved = |pred: fn(&NewTransition) -> bool| -> Vec<Uuid> {
        transitions
            .iter()
            .filter(|t| pred(t))
            .map(|t| t.lead_id)
            .collect()
    };
    let left = moved(|t| t.from == Some(Stage::Mql) && t.to != Stage::Mql);
    if !left.is_empty() {
        assignments::close_for_leads(conn, &left, now).await?;
    }
    let became = moved(|t| t.to == Stage::Mql && t.from != Some(Stage::Mql));
    let ready: Vec<&Lead> = leads
        .iter()
        .copied()
        .filter(|l| became.contains(&l.id))
        .collect();
    assign::assign(conn, &ready, triggers, rules, now).await?;
    Ok(())
}

/// Whether `transitions` take a lead out of MQL, so that the write must close its assignment
/// under the lead's lock (the locking path).
pub fn leaves_handoff(transitions: &[NewTransition]) -> bool {
    transitions
        .iter()
        .any(|t| t.from == Some(Stage::Mql) && t.to != Stage::Mql)
}

/// MQLs that a committed write made ready for handoff without assigning them (the optimistic
/// ingest path holds no locks to assign under), with the events that moved them.
#[derive(Debug, Default)]
pub struct Owed {
    lead_ids: Vec<Uuid>,
    triggers: HashMap<Uuid, Touch>,
}

impl Owed {
    /// The leads of `leads` that `transitions` made MQL and that are [`assign::ready`], with
    /// their `triggers` (built only when some are owed: most groups owe nothing).
    pub fn of(
        leads: &[&Lead],
        transitions: &[NewTransition],
        triggers: impl FnOnce() -> HashMap<Uuid, Touch>,
    ) -> Self {
        let lead_ids: Vec<Uuid> = transitions
            .iter()
            .filter(|t| t.to == Stage::Mql && t.from != Some(Stage::Mql))
            .map(|t| t.lead_id)
            .filter(|id| leads.iter().any(|l| l.id == *id && assign::ready(l)))
            .collect();
        if lead_ids.is_empty() {
            return Self::default();
        }
        Self {
            lead_ids,
            triggers: triggers(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lead_ids.is_empty()
    }

    /// Whether the handoff of `lead_id` is owed.
    pub fn holds(&self, lead_id: Uuid) -> bool {
        self.lead_ids.contains(&lead_id)
    }

    /// Assigns the owed leads in a transaction of their own, each only if it is still ready
    /// and unassigned: the SLA clock's pass over waiting MQLs may have got there first, and it
    /// is also what assigns them if this fails. So a failure is logged, not returned: the write
    /// that made the leads MQL has committed, and nothing of it is lost.
    pub async fn settle(self, pool: &PgPool, rules: &RuleSet, now: DateTime<Utc>) {
        if self.is_empty() {
            return;
        }
        let result = async {
            let mut tx = pool.begin().await?;
            let leads = leads::lock_unassigned(&mut tx, &self.lead_ids).await?;
            let leads: Vec<&Lead> = leads.iter().collect();
            assign::assign(&mut tx, &leads, &self.triggers, rules, now).await?;
            tx.commit().await?;
            Ok::<_, ApiError>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(
                leads = self.lead_ids.len(),
                %error,
                "handoff after ingest failed; the SLA clock assigns these MQLs on its next tick"
            );
        }
    }
}
