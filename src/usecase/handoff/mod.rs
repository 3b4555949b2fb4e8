//! The MQL → SAL handoff: assignment with its context packet, the sales actions, the queue.

pub mod actions;
pub mod assign;
pub mod qualification;
pub mod queue;
pub mod status;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    db::{assignments, leads::Lead, transitions::NewTransition},
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
