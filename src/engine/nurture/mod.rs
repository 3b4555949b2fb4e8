//! Behaviour-triggered nurture (DESIGN §2): a segmented lead that sales does not have is
//! enrolled in the workflow of its demand state and tier, gets the next asset when its
//! engagement fires a trigger, and leaves on MQL, disqualification or acceptance. Time alone
//! never moves it: only events and stage changes call [`step`].

mod rules;
mod triggers;

pub use rules::{Asset, Channel, NurtureRules, TierBehaviour, workflow_name};
pub use triggers::{NurtureEvent, Signal};

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Segment;
use crate::domain::{RejectReason, Stage};

/// Where a lead is in nurture, stored with the lead.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NurtureState {
    /// The workflow the lead is enrolled in; none when it is not in nurture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The position of the last asset sent.
    #[serde(default)]
    pub step: usize,
    /// Counts enrollments and moves: a touch is sent once per (enrollment, step).
    #[serde(default)]
    pub enrollment: u32,
    /// Recent engagement the triggers may still use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<Signal>,
    /// Per trigger, the newest signal it fired on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fired: BTreeMap<String, DateTime<Utc>>,
    /// Triggers already recorded as firing in vain at this (enrollment, step): see [`step`].
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub noted: BTreeSet<String>,
}

/// What nurture needs to know about a lead besides its events.
#[derive(Clone, Copy, Debug)]
pub struct NurtureFacts<'a> {
    pub stage: Stage,
    pub rejection: Option<RejectReason>,
    pub segment: &'a Segment,
}

/// One thing nurture did to a lead, as recorded in the nurture log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NurtureRecord {
    pub kind: RecordKind,
    pub workflow: String,
    pub enrollment: u32,
    /// The lead's position after this record.
    pub step: usize,
    /// The asset sent with it, if any: a touch.
    pub touch: Option<Asset>,
    /// Why: how it was enrolled, the workflow it came from, the triggers, or what it exited to.
    pub reason: String,
    /// Tell the owner rep.
    pub notify_owner: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Enrolled,
    Moved,
    Advanced,
    /// A trigger fired but the lead could not move (already at the last asset, or a trigger
    /// that only notifies).
    Triggered,
    Exited,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Enrolled => "enrolled",
            RecordKind::Moved => "moved",
            RecordKind::Advanced => "advanced",
            RecordKind::Triggered => "triggered",
            RecordKind::Exited => "exited",
        }
    }
}

/// Takes `events` (new to the lead) and its current stage and segment; returns the next
/// state and what happened, in order.
///
/// A trigger that fires in vain (the lead is at its last asset, and nobody is to be told) is
/// recorded the first time it does so at a step, not again until the lead moves: an engaged
/// lead at the end of its workflow would otherwise add a log row that says the same thing for
/// every click, and what ops reads from it (which triggers outrun which workflows) is said by
/// the first.
pub fn step(
    state: &NurtureState,
    facts: NurtureFacts<'_>,
    events: &[NurtureEvent<'_>],
    rules: &NurtureRules,
    now: DateTime<Utc>,
) -> (NurtureState, Vec<NurtureRecord>) {
    let mut next = state.clone();
    let mut records = Vec::new();
    if !rules.enabled {
        return (next, records);
    }
    let (workflow, tier, how) = match target(facts, rules) {
        Ok(target) => target,
        Err(exit) => {
            if let Some(workflow) = next.workflow.take() {
                records.push(NurtureRecord {
                    kind: RecordKind::Exited,
                    workflow,
                    enrollment: next.enrollment,
                    step: next.step,
                    touch: None,
                    reason: exit,
                    notify_owner: false,
                });
            }
            next.signals.clear();
            next.fired.clear();
            next.noted.clear();
            return (next, records);
        }
    };
    let assets = &rules.workflows[&workflow];
    let asset = |step: usize| rules.asset(&assets[step]).cloned();

    match next.workflow.clone() {
        None => {
            next.noted.clear();
            next.enrollment += 1;
            next.step = 0;
            next.workflow = Some(workflow.clone());
            records.push(NurtureRecord {
                kind: RecordKind::Enrolled,
                workflow: workflow.clone(),
                enrollment: next.enrollment,
                step: 0,
                touch: asset(0),
                reason: how,
                notify_owner: tier.sales_assisted,
            });
        }
        Some(from) if from != workflow => {
            // The lead keeps its progress: a late-stage lead does not restart at the top.
            next.noted.clear();
            next.enrollment += 1;
            next.step = next.step.min(assets.len() - 1);
            next.workflow = Some(workflow.clone());
            records.push(NurtureRecord {
                kind: RecordKind::Moved,
                workflow: workflow.clone(),
                enrollment: next.enrollment,
                step: next.step,
                touch: asset(next.step),
                reason: format!("moved from {from}"),
                notify_owner: false,
            });
        }
        Some(_) => {}
    }

    let mut events = events.to_vec();
    events.sort_by_key(|e| e.at);
    for event in &events {
        if !triggers::is_signal(event, rules) {
            continue;
        }
        next.signals.push(Signal {
            event: event.event_type,
            asset: event.asset.map(str::to_owned),
            at: event.at,
        });
        let fired = triggers::fire(event, &next.signals, &mut next.fired, rules, now);
        if fired.is_empty() {
            continue;
        }
        let jump = fired.iter().map(|t| t.advance).max().unwrap_or(0);
        let to = (next.step + jump).min(assets.len() - 1);
        let moved = to > next.step;
        let notify_owner = fired.iter().any(|t| tier.notify.notifies(t));
        if moved {
            next.noted.clear();
        } else if !notify_owner {
            if fired.iter().all(|t| next.noted.contains(&t.name)) {
                continue;
            }
            next.noted.extend(fired.iter().map(|t| t.name.clone()));
        }
        next.step = to;
        records.push(NurtureRecord {
            kind: if moved {
                RecordKind::Advanced
            } else {
                RecordKind::Triggered
            },
            workflow: workflow.clone(),
            enrollment: next.enrollment,
            step: to,
            touch: if moved { asset(to) } else { None },
            reason: fired
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            notify_owner,
        });
    }
    triggers::forget_old(&mut next.signals, &mut next.fired, rules, now);
    (next, records)
}

/// The workflow a lead belongs in, its tier's behaviour and why it is there; or why it is
/// not in nurture.
fn target<'r>(
    facts: NurtureFacts<'_>,
    rules: &'r NurtureRules,
) -> Result<(String, &'r TierBehaviour, String), String> {
    let how = match facts.stage {
        Stage::Lead => "segmented".to_owned(),
        Stage::Rejected => match facts.rejection {
            Some(reason) if rules.recycle_on.contains(&reason) => format!("recycled: {reason}"),
            Some(reason) => return Err(reason.to_string()),
            None => return Err(Stage::Rejected.to_string()),
        },
        Stage::Sal | Stage::Sql => return Err(format!("accepted ({})", facts.stage)),
        other => return Err(other.to_string()),
    };
    let (Some(state), Some(tier)) = (&facts.segment.demand_state, facts.segment.account_tier)
    else {
        return Err(format!(
            "segment incomplete: {}",
            facts.segment.missing().join(", ")
        ));
    };
    let workflow = workflow_name(state, tier);
    match (rules.workflows.contains_key(&workflow), rules.tier(tier)) {
        (true, Some(behaviour)) => Ok((workflow, behaviour, how)),
        // Validation ties workflows to the configured states and tiers; a state the MAP sent
        // that is not configured has no workflow.
        _ => Err(format!("no workflow {workflow}")),
    }
}

#[cfg(test)]
mod tests;
