//! Nurture's part of a unit of work: move each lead on ([`plan`], pure) and write what that
//! did ([`record`]): the nurture log, touches for the MAP and tasks and notices for the owner
//! rep, all through the outbox in the caller's transaction.

pub mod simulate;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::evaluation;
use crate::{
    db::{
        leads::Lead,
        nurture::{self, NewEntry},
        outbox::{self, Message},
    },
    domain::LeadEvent,
    engine::{self, Channel, NurtureEvent, NurtureFacts, NurtureRecord, RuleSet},
    error::ApiError,
};

/// The event as nurture sees it: a MAP names the asset an open or click was about in
/// `properties.asset_id`.
pub fn nurture_event(event: &LeadEvent) -> NurtureEvent<'_> {
    NurtureEvent {
        event_type: event.event_type,
        asset: event
            .properties
            .get("asset_id")
            .and_then(serde_json::Value::as_str),
        at: event.occurred_at,
    }
}

/// Moves `lead` on in nurture after its evaluation, given its new `events`; returns what
/// happened, to [`record`] once the lead is written.
pub fn plan(
    lead: &mut Lead,
    events: &[NurtureEvent<'_>],
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Vec<NurtureRecord> {
    let segment = evaluation::segment(lead, rules);
    let facts = NurtureFacts {
        stage: lead.stage,
        rejection: lead.rejection_reason,
        segment: &segment,
    };
    let (state, records) =
        engine::nurture_step(&lead.nurture, facts, events, &rules.rules.nurture, now);
    lead.nurture = state;
    records
}

/// Writes `planned` (per lead, what [`plan`] returned): see [`rows`].
pub async fn record(
    conn: &mut PgConnection,
    planned: &[(&Lead, Vec<NurtureRecord>)],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let owners = owners(conn, planned).await?;
    let (entries, messages) = rows(planned, &owners, now);
    nurture::record(conn, &entries, now).await?;
    outbox::enqueue(conn, &messages, now).await?;
    Ok(())
}

/// Who owns the leads of `planned` that need an owner to tell (read only when one does).
pub async fn owners(
    conn: &mut PgConnection,
    planned: &[(&Lead, Vec<NurtureRecord>)],
) -> Result<HashMap<Uuid, String>, ApiError> {
    let needs_owner: Vec<Uuid> = planned
        .iter()
        .filter(|(_, records)| records.iter().any(wants_owner))
        .map(|(lead, _)| lead.id)
        .collect();
    if needs_owner.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(nurture::owners(conn, &needs_owner).await?)
}

/// What `planned` writes, given the leads' `owners`: log rows, and outbox messages: each
/// email or retargeting touch for the MAP, each sales touch as a task for the owner rep, and a
/// notice to the owner where the tier asks for one. A touch is keyed by lead, enrollment and
/// step, so it can never be sent twice.
pub fn rows(
    planned: &[(&Lead, Vec<NurtureRecord>)],
    owners: &HashMap<Uuid, String>,
    now: DateTime<Utc>,
) -> (Vec<NewEntry>, Vec<Message>) {
    let mut entries = Vec::new();
    let mut messages = Vec::new();
    for (lead, records) in planned {
        let owner = owners.get(&lead.id);
        for r in records {
            let payload = json!({
                "lead_id": lead.id,
                "email": lead.email.as_str(),
                "workflow": r.workflow,
                "kind": r.kind,
                "step": r.step,
                "asset": r.touch,
                "reason": r.reason,
            });
            let touch_key = format!("nurture-touch:{}:{}:{}", lead.id, r.enrollment, r.step);
            let mut notified = None;
            if let Some(asset) = &r.touch {
                if asset.channel == Channel::SalesTouch {
                    if let Some(owner) = owner {
                        messages.push(message("rep.task", owner, &payload, touch_key));
                        notified = Some(owner.clone());
                    }
                } else {
                    messages.push(message(
                        "nurture.touch",
                        lead.email.as_str(),
                        &payload,
                        touch_key,
                    ));
                }
            }
            if r.notify_owner {
                if let Some(owner) = owner {
                    let key = format!(
                        "nurture-notice:{}:{}:{}:{}:{}",
                        lead.id,
                        r.enrollment,
                        r.kind.as_str(),
                        r.step,
                        now.timestamp_micros()
                    );
                    messages.push(message("rep.nurture_signal", owner, &payload, key));
                    notified = Some(owner.clone());
                }
            }
            if wants_owner(r) && owner.is_none() {
                tracing::warn!(lead.id = %lead.id, workflow = %r.workflow, "nurture: no owner to tell");
            }
            entries.push(NewEntry {
                lead_id: lead.id,
                kind: r.kind.as_str(),
                workflow: r.workflow.clone(),
                enrollment: i32::try_from(r.enrollment).unwrap_or(i32::MAX),
                step: i16::try_from(r.step).unwrap_or(i16::MAX),
                asset_id: r.touch.as_ref().map(|a| a.id.clone()),
                channel: r.touch.as_ref().map(|a| a.channel.as_str()),
                reason: r.reason.clone(),
                notified,
            });
        }
    }
    (entries, messages)
}

fn wants_owner(record: &NurtureRecord) -> bool {
    record.notify_owner
        || record
            .touch
            .as_ref()
            .is_some_and(|a| a.channel == Channel::SalesTouch)
}

fn message(topic: &'static str, to: &str, payload: &serde_json::Value, key: String) -> Message {
    Message {
        topic,
        recipient: to.to_owned(),
        payload: payload.clone(),
        dedupe_key: key,
    }
}
