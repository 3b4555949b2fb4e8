//! Nurture's part of a unit of work: move each lead on ([`plan`], pure) and what that writes
//! ([`rows`]): the nurture log, touches for the MAP and tasks and notices for the owner rep,
//! all through the outbox, in the lead write (`usecase::persist`).

pub mod simulate;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::evaluation;
use crate::{
    db::{
        leads::Lead,
        nurture::{self, NewEntry},
    },
    domain::{LeadEvent, Topic},
    engine::{self, Channel, NurtureEvent, NurtureFacts, NurtureRecord, RuleSet},
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

/// What nurture writes for some leads.
#[derive(Default)]
pub struct Rows {
    pub entries: Vec<NewEntry>,
    /// Touches for the MAP, tasks and notices for the owners.
    pub messages: Vec<nurture::Message>,
}

/// What `planned` writes: log rows, and messages: each email or retargeting touch for the
/// MAP, each sales touch as a task for the owner rep, and a notice to the owner where the tier
/// asks for one. A touch is keyed by lead, enrollment and step, so it can never be sent twice.
pub fn rows(planned: &[(&Lead, Vec<NurtureRecord>)], now: DateTime<Utc>) -> Rows {
    let mut rows = Rows::default();
    for (lead, records) in planned {
        for r in records {
            // Built per message: most records (triggers at a workflow's last asset) send none.
            let message = |recipient, topic, dedupe_key| nurture::Message {
                lead_id: lead.id,
                recipient,
                topic,
                payload: json!({
                    "lead_id": lead.id,
                    "email": lead.email.as_str(),
                    "workflow": r.workflow,
                    "kind": r.kind,
                    "step": r.step,
                    "asset": r.touch,
                    "reason": r.reason,
                }),
                dedupe_key,
            };
            let touch_key = || format!("nurture-touch:{}:{}:{}", lead.id, r.enrollment, r.step);
            match &r.touch {
                Some(asset) if asset.channel == Channel::SalesTouch => {
                    rows.messages
                        .push(message(None, Topic::RepTask.as_str(), touch_key()));
                }
                Some(_) => rows.messages.push(message(
                    Some(lead.email.as_str().to_owned()),
                    Topic::NurtureTouch.as_str(),
                    touch_key(),
                )),
                None => {}
            }
            if r.notify_owner {
                let key = format!(
                    "nurture-notice:{}:{}:{}:{}:{}",
                    lead.id,
                    r.enrollment,
                    r.kind.as_str(),
                    r.step,
                    now.timestamp_micros()
                );
                rows.messages
                    .push(message(None, Topic::RepNurtureSignal.as_str(), key));
            }
            rows.entries.push(NewEntry {
                lead_id: lead.id,
                kind: r.kind.as_str(),
                workflow: r.workflow.clone(),
                enrollment: i32::try_from(r.enrollment).unwrap_or(i32::MAX),
                step: i16::try_from(r.step).unwrap_or(i16::MAX),
                asset_id: r.touch.as_ref().map(|a| a.id.clone()),
                channel: r.touch.as_ref().map(|a| a.channel.as_str()),
                reason: r.reason.clone(),
                tells_owner: wants_owner(r),
            });
        }
    }
    rows
}

/// Logs the leads nurture had an owner to tell about but found none for.
pub fn warn_unowned(leads: &[Uuid]) {
    for id in leads {
        tracing::warn!(lead.id = %id, "nurture: no owner to tell");
    }
}

fn wants_owner(record: &NurtureRecord) -> bool {
    record.notify_owner
        || record
            .touch
            .as_ref()
            .is_some_and(|a| a.channel == Channel::SalesTouch)
}
