//! The one way a writer stores what it decided about leads: the lead write
//! ([`crate::db::lead_write`]) and then, on the same connection, the handoff that follows
//! from the stage changes it wrote. Ingest, the sweeper, rescoring, reinstatement, review,
//! account tiers and the sales actions all come through here, so a new effect of a stage
//! change is added once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{handoff, nurture};
use crate::{
    db::{
        events::NewEvent,
        lead_write::{self, Effects, LeadRow, Statement, Written},
        leads::{Kept, Lead},
        transitions::NewTransition,
    },
    domain::Stage,
    engine::{NurtureRecord, RuleSet, Touch},
    error::ApiError,
};

/// What a handoff needs to follow the write: the leads as written, their stage changes, and
/// per lead the event that moved it (for the packet).
pub struct Handoff<'a> {
    pub leads: Vec<&'a Lead>,
    pub transitions: &'a [NewTransition],
    pub triggers: &'a HashMap<Uuid, Touch>,
}

impl Handoff<'_> {
    /// Whether a lead enters or leaves MQL: then an assignment opens or closes, and the write
    /// and it belong in one transaction.
    pub fn moves(&self) -> bool {
        moves_handoff(self.transitions)
    }
}

/// Whether `transitions` take a lead into or out of MQL.
pub fn moves_handoff(transitions: &[NewTransition]) -> bool {
    transitions.iter().any(moves_lead)
}

/// Whether `transition` takes its lead into or out of MQL.
pub fn moves_lead(transition: &NewTransition) -> bool {
    (transition.to == Stage::Mql) != (transition.from == Some(Stage::Mql))
}

/// Sends `statement`, then follows its handoff for the leads it wrote. A caller whose
/// handoff [`Handoff::moves`] sends it inside a transaction.
pub async fn send(
    conn: &mut PgConnection,
    statement: Statement,
    handoff: Handoff<'_>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<Written, ApiError> {
    let written = lead_write::send(conn, statement).await?;
    nurture::warn_unowned(&written.unowned);
    if handoff.moves() {
        let leads: Vec<&Lead> = handoff
            .leads
            .into_iter()
            .filter(|l| written.holds(l.id))
            .collect();
        let transitions: Vec<NewTransition> = handoff
            .transitions
            .iter()
            .filter(|t| written.holds(t.lead_id))
            .cloned()
            .collect();
        handoff::follow(conn, &leads, &transitions, handoff.triggers, rules, now).await?;
    }
    Ok(written)
}

/// What a writer that holds its leads' locks decided for them: each lead as changed, its
/// transitions and what nurture did; no events.
pub struct Decided<'a> {
    pub leads: Vec<&'a Lead>,
    pub transitions: &'a [NewTransition],
    pub nurture: Vec<(&'a Lead, Vec<NurtureRecord>)>,
}

/// Writes `decided` in the caller's transaction, which holds the leads' rows (each read at
/// its current version), and follows its handoff.
pub async fn locked(
    conn: &mut PgConnection,
    decided: Decided<'_>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let mut leads = decided.leads;
    leads.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
    let nurtured = nurture::rows(&decided.nurture, now);
    let effects = Effects {
        leads: leads
            .iter()
            .map(|lead| LeadRow {
                lead,
                read_at: Some(lead.version),
                kept: Kept::default(),
                account_tier_read: None,
            })
            .collect(),
        accounts: Vec::new(),
        events: Vec::<NewEvent<'_>>::new(),
        transitions: decided.transitions,
        nurture: nurtured.entries,
        messages: nurtured.messages,
    };
    let statement = lead_write::encode(&effects, now);
    let triggers = HashMap::new();
    let handoff = Handoff {
        leads: leads.clone(),
        transitions: decided.transitions,
        triggers: &triggers,
    };
    let written = send(conn, statement, handoff, rules, now).await?;
    if written.leads.len() < leads.len() {
        return Err(anyhow::anyhow!(
            "{} of {} locked leads were not at the version read",
            leads.len() - written.leads.len(),
            leads.len()
        )
        .into());
    }
    Ok(())
}
