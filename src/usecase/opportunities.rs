//! Recording opportunity events: each opportunity's new events are stored and its row is
//! folded again from all of its events, in one transaction, so a redelivery changes nothing
//! and late or out-of-order events end in the same state as events in order.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    db::opportunities,
    domain::{OpportunityEvent, fold_opportunity},
    error::ApiError,
};

const ACCEPTED: &str = "accepted";
const DUPLICATE: &str = "duplicate";

/// What was done with one opportunity event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OpportunityOutcome {
    pub event_id: String,
    pub opportunity_id: Uuid,
    /// `accepted`, or `duplicate` for an event stored before (nothing changed).
    pub status: &'static str,
}

/// Stores `events` and folds the opportunities they are about; the outcomes in the events'
/// order. An event stored before, or repeated among these, is a duplicate and changes
/// nothing. Opportunities are locked in key order, so two batches never deadlock.
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn record(
    pool: &PgPool,
    events: &[OpportunityEvent],
    now: DateTime<Utc>,
) -> Result<Vec<OpportunityOutcome>, ApiError> {
    let mut tx = pool.begin().await?;
    let mut done: HashMap<(&str, &str), (Uuid, &'static str)> =
        opportunities::stored_events(&mut tx, events)
            .await?
            .into_iter()
            .filter_map(|(source, event_id, id)| {
                let event = events
                    .iter()
                    .find(|e| e.source == source && e.event_id == event_id)?;
                Some((
                    (event.source.as_str(), event.event_id.as_str()),
                    (id, DUPLICATE),
                ))
            })
            .collect();
    let mut by_opportunity: BTreeMap<(&str, &str), Vec<&OpportunityEvent>> = BTreeMap::new();
    let mut seen = HashSet::new();
    for event in events {
        let key = (event.source.as_str(), event.event_id.as_str());
        if !done.contains_key(&key) && seen.insert(key) {
            let opportunity = (event.source.as_str(), event.opportunity.id.as_str());
            by_opportunity.entry(opportunity).or_default().push(event);
        }
    }
    for ((source, external_id), batch) in by_opportunity {
        let first = batch.iter().map(|e| e.occurred_at).min().unwrap_or(now);
        let id = opportunities::lock_or_create(&mut tx, source, external_id, first, now).await?;
        let new = opportunities::insert_events(&mut tx, id, &batch, now).await?;
        for event in &batch {
            let status = if new.contains(&event.event_id) {
                ACCEPTED
            } else {
                DUPLICATE
            };
            done.insert((source, event.event_id.as_str()), (id, status));
        }
        if new.is_empty() {
            // A concurrent batch stored these first: an opportunity made for them alone
            // would have no events.
            opportunities::delete_if_eventless(&mut tx, id).await?;
            continue;
        }
        let history = opportunities::events(&mut tx, id).await?;
        let state = fold_opportunity(&history).expect("the new events are in the history");
        let contacts: Vec<_> = history
            .iter()
            .flat_map(|e| &e.opportunity.contacts)
            .collect();
        opportunities::write(&mut tx, id, &state, &contacts, now).await?;
    }
    tx.commit().await?;
    let mut reported = HashSet::new();
    Ok(events
        .iter()
        .map(|e| {
            let key = (e.source.as_str(), e.event_id.as_str());
            let (opportunity_id, status) = done[&key];
            OpportunityOutcome {
                event_id: e.event_id.clone(),
                opportunity_id,
                status: if reported.insert(key) {
                    status
                } else {
                    DUPLICATE
                },
            }
        })
        .collect())
}
