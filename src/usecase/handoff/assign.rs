//! Assignment: an MQL ready for handoff (not waiting for review) gets a named rep, a context
//! packet and its SLA clock, with the rep's notification in the outbox, in the transaction that
//! made it ready (or, for an MQL that waited for a rep, the SLA clock's).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    db::{
        accounts,
        assignments::{self, NewAssignment},
        events,
        leads::Lead,
        outbox::{self, Message},
        reps::{self, Rep},
        transitions,
    },
    domain::{Stage, Topic},
    engine::{self, Choice, PacketFacts, PacketOwner, RepFacts, RoutingFacts, RuleSet, Touch},
    error::ApiError,
    usecase::evaluation,
};

/// Whether `lead` should be in a rep's hands.
pub fn ready(lead: &Lead) -> bool {
    lead.stage == Stage::Mql && lead.review.is_none()
}

/// Assigns each lead of `leads` that is [`ready`]; `triggers` holds, per lead, the event that
/// made it MQL, and for a lead it leaves out (released from review, or waiting for a rep) the
/// event recorded with its move to MQL is looked up. The caller's transaction must hold the leads' rows and know they have no open
/// assignment. Returns how many were assigned; the others wait for a rep (`unassigned_mqls`).
pub async fn assign(
    conn: &mut PgConnection,
    leads: &[&Lead],
    triggers: &HashMap<Uuid, Touch>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let leads: Vec<&Lead> = leads.iter().copied().filter(|l| ready(l)).collect();
    if leads.is_empty() {
        return Ok(0);
    }
    let reps = reps::assignable(conn).await?;
    let facts: Vec<RepFacts> = reps.iter().map(rep_facts).collect();
    let recorded = match reps.is_empty() {
        true => HashMap::new(),
        false => recorded_triggers(conn, &leads, triggers).await?,
    };
    let account_ids: Vec<Uuid> = leads.iter().filter_map(|l| l.account_id).collect();
    let owners: HashMap<Uuid, String> = accounts::owners(conn, &account_ids)
        .await?
        .into_iter()
        .collect();
    let mut assigned = 0;
    let mut messages = Vec::new();
    for lead in leads {
        let routing = RoutingFacts {
            account_tier: lead.account_tier,
            account_owner: lead
                .account_id
                .and_then(|id| owners.get(&id))
                .map(String::as_str),
            country: lead.profile.country.as_deref(),
            industry: lead.profile.industry.as_deref(),
        };
        let (rep_id, rule) = match engine::choose(routing, &facts) {
            Choice::Owner(id) => (id, "tier1_owner"),
            Choice::Pool {
                pool,
                members,
                rule,
            } => {
                let turn = assignments::next_turn(conn, &pool).await?;
                (Choice::member(&members, turn), rule)
            }
            Choice::Nobody => {
                tracing::warn!(lead.id = %lead.id, "no active rep: MQL waits unassigned");
                continue;
            }
        };
        let rep = reps
            .iter()
            .find(|r| r.id == rep_id)
            .expect("chosen from these reps");
        let trigger = triggers.get(&lead.id).or_else(|| recorded.get(&lead.id));
        let new = new_assignment(conn, lead, rep, rule, trigger, rules, now).await?;
        let id = assignments::insert(conn, &new).await?;
        messages.push(Message {
            topic: Topic::RepAssigned.as_str(),
            recipient: rep.email.clone(),
            payload: json!({
                "assignment_id": id, "lead_id": lead.id, "lead_email": lead.email.as_str(),
                "rep_id": rep.id, "packet": new.packet,
            }),
            dedupe_key: format!("rep.assigned:{id}"),
        });
        tracing::info!(lead.id = %lead.id, rep.id = %rep.id, rule, "MQL assigned");
        assigned += 1;
    }
    outbox::enqueue(conn, &messages, now).await?;
    Ok(assigned)
}

/// The event that made each of `leads` MQL, for those `triggers` does not name (a lead
/// resolved from review, or one that waited for a rep).
async fn recorded_triggers(
    conn: &mut PgConnection,
    leads: &[&Lead],
    triggers: &HashMap<Uuid, Touch>,
) -> Result<HashMap<Uuid, Touch>, ApiError> {
    let untold: Vec<Uuid> = leads
        .iter()
        .map(|l| l.id)
        .filter(|id| !triggers.contains_key(id))
        .collect();
    if untold.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(transitions::mql_triggers(conn, &untold).await?)
}

fn rep_facts(rep: &Rep) -> RepFacts {
    RepFacts {
        id: rep.id,
        email: rep.email.clone(),
        countries: rep.countries.0.clone(),
        industries: rep.industries.0.clone(),
    }
}

async fn new_assignment(
    conn: &mut PgConnection,
    lead: &Lead,
    rep: &Rep,
    rule: &str,
    trigger: Option<&Touch>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<NewAssignment, ApiError> {
    let touches: Vec<Touch> = events::recent(conn, lead.id, 3)
        .await?
        .into_iter()
        .filter_map(|e| {
            Some(Touch {
                event_type: e.event_type.parse().ok()?,
                source: e.source,
                occurred_at: e.occurred_at,
            })
        })
        .collect();
    let signals: Vec<_> = lead
        .intent
        .signals
        .iter()
        .map(|(t, s)| (*t, s.count))
        .collect();
    let facts = evaluation::facts(lead);
    let segment = engine::Segment::of(
        lead.profile.demand_state.as_deref(),
        lead.activity.derived_demand_state.as_deref(),
        lead.account_tier,
        &rules.rules.segmentation,
    );
    let sla = engine::deadlines(&rules.rules.sla, now);
    let packet = engine::packet(
        PacketFacts {
            first_name: lead.profile.first_name.as_deref(),
            company: lead.profile.company.as_deref(),
            demand_state: segment.demand_state.as_deref(),
            account_tier: segment.account_tier,
            fit_score: lead.fit.total,
            intent_score: lead.intent.score_at(now, &rules.rules.intent),
            signals: &signals,
            touches: &touches,
            trigger: trigger.cloned(),
            disqualifiers_checked: engine::passed(
                &facts.disqualify_facts(),
                &rules.rules.disqualify,
                now,
            ),
        },
        PacketOwner {
            rep_id: rep.id,
            name: rep.name.clone(),
            email: rep.email.clone(),
            rule: rule.to_owned(),
        },
        sla,
        &rules.rules.handoff,
    );
    Ok(NewAssignment {
        lead_id: lead.id,
        rep_id: rep.id,
        rule: rule.to_owned(),
        assigned_at: now,
        packet,
        sla,
    })
}
