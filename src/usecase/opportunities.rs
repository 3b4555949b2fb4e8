//! Recording opportunity events: each opportunity's new events are stored and its row is
//! folded again from all of its events, in one transaction, so a redelivery changes nothing
//! and late or out-of-order events end in the same state as events in order.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    db::opportunities,
    domain::{OpportunityEvent, fold_opportunity},
    error::ApiError,
};

/// What was done with one opportunity event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OpportunityOutcome {
    pub event_id: String,
    pub opportunity_id: Uuid,
    /// `accepted`, or `duplicate` for an event stored before (nothing changed).
    pub status: &'static str,
}

/// Stores `events` and folds the opportunities they are about; the outcomes in the events'
/// order. Opportunities are locked in key order, so two batches never deadlock.
#[tracing::instrument(skip_all, fields(events = events.len()))]
pub async fn record(
    pool: &PgPool,
    events: &[OpportunityEvent],
    now: DateTime<Utc>,
) -> Result<Vec<OpportunityOutcome>, ApiError> {
    let mut by_opportunity: BTreeMap<(&str, &str), Vec<&OpportunityEvent>> = BTreeMap::new();
    for event in events {
        let key = (event.source.as_str(), event.opportunity.id.as_str());
        by_opportunity.entry(key).or_default().push(event);
    }
    let mut tx = pool.begin().await?;
    let mut done: BTreeMap<(&str, &str), (Uuid, &'static str)> = BTreeMap::new();
    for ((source, external_id), batch) in by_opportunity {
        let first = batch.iter().map(|e| e.occurred_at).min().unwrap_or(now);
        let id = opportunities::lock_or_create(&mut tx, source, external_id, first, now).await?;
        let new = opportunities::insert_events(&mut tx, id, &batch, now).await?;
        for event in &batch {
            let status = if new.contains(&event.event_id) {
                "accepted"
            } else {
                "duplicate"
            };
            done.insert((source, event.event_id.as_str()), (id, status));
        }
        if new.is_empty() {
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
    Ok(events
        .iter()
        .map(|e| {
            let (opportunity_id, status) = done[&(e.source.as_str(), e.event_id.as_str())];
            OpportunityOutcome {
                event_id: e.event_id.clone(),
                opportunity_id,
                status,
            }
        })
        .collect())
}
