//! What the native connectors receive: the events their payloads map to go through the same
//! ingest as canonical events; the records that cannot be mapped become dead letters, listed
//! and replayable, so that the vendor can be told "received" without anything being dropped.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    Page,
    ingest::{self, EventStatus, GroupCommit, IngestOutcome},
    opportunities::{self, OpportunityOutcome},
};
use crate::{
    db::{
        dead_letters::{self, DeadLetter},
        source_ids,
    },
    domain::Mapped,
    error::ApiError,
};

/// What a connector's route answers once a payload is stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// Events stored for the first time.
    pub accepted: usize,
    /// Events stored before (a redelivery): nothing changed.
    pub duplicates: usize,
    /// Records kept as dead letters (new or kept before), each with why.
    pub dead_letters: Vec<DeadLettered>,
    /// What ingest did with each event.
    pub results: Vec<IngestOutcome>,
    /// What was done with each opportunity record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub opportunities: Vec<OpportunityOutcome>,
}

/// A record kept as a dead letter.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeadLettered {
    /// The vendor's id for it (HubSpot: the idempotency key; Segment: the `messageId`).
    pub event_id: String,
    pub reason: String,
}

impl Receipt {
    fn new(
        results: Vec<IngestOutcome>,
        dead_letters: Vec<DeadLettered>,
        opportunities: Vec<OpportunityOutcome>,
    ) -> Self {
        let duplicates = results
            .iter()
            .filter(|r| r.status == EventStatus::Duplicate)
            .count();
        Self {
            accepted: results.len() - duplicates,
            duplicates,
            dead_letters,
            results,
            opportunities,
        }
    }
}

/// Stores a payload's unmappable records as dead letters of `source`, ingests its events,
/// then ties the vendor's ids to the leads; returns ingest's outcomes once all three are
/// committed. They are separate commits, in that order, since ingest is a unit of work of its
/// own (group commit) and an id can only be tied to a lead that exists: if a step fails, the
/// vendor's redelivery finds what was kept already (dead letters and events are unique per
/// source and event id, ids per system) and does the rest. Answers with the [`Receipt`].
#[tracing::instrument(
    skip_all,
    fields(
        source = source,
        events = mapped.events.len(),
        unmappable = mapped.unmappable.len(),
    )
)]
pub async fn receive(
    pool: &PgPool,
    group_commit: &GroupCommit,
    now: DateTime<Utc>,
    source: &str,
    mapped: Mapped,
) -> Result<Receipt, ApiError> {
    let Mapped {
        events,
        unmappable,
        source_ids,
        opportunities,
    } = mapped;
    if !unmappable.is_empty() {
        let mut conn = pool.acquire().await?;
        let new = dead_letters::insert_new(&mut conn, source, &unmappable, now).await?;
        tracing::warn!(
            dead_letters.new = new,
            dead_letters.received = unmappable.len(),
            "inbound records kept as dead letters"
        );
    }
    let outcomes = if events.is_empty() {
        Vec::new()
    } else {
        ingest::ingest(group_commit, now, events).await?
    };
    let opportunities = if opportunities.is_empty() {
        Vec::new()
    } else {
        opportunities::record(pool, &opportunities, now).await?
    };
    if !source_ids.is_empty() {
        let mut conn = pool.acquire().await?;
        source_ids::record(&mut conn, &source_ids, now).await?;
    }
    let dead_letters = unmappable
        .into_iter()
        .map(|u| DeadLettered {
            event_id: u.event_id,
            reason: u.reason,
        })
        .collect();
    Ok(Receipt::new(outcomes, dead_letters, opportunities))
}

/// A page of dead letters, newest first, optionally of one source.
pub async fn list(
    pool: &PgPool,
    source: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Page<DeadLetter>, ApiError> {
    let mut conn = pool.acquire().await?;
    let (items, total) = dead_letters::list(&mut conn, source, limit, offset).await?;
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}

/// A replayed dead letter and what its events did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ReplayedDeadLetter)]
pub struct Replayed {
    /// The dead letter, now marked replayed.
    pub dead_letter: DeadLetter,
    /// What ingest did with each of its events.
    pub results: Vec<IngestOutcome>,
    /// What was done with its opportunity records.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub opportunities: Vec<OpportunityOutcome>,
}

/// Replays dead letter `id`: maps its payload again with `map(conn, source, payload)` (the
/// connector's current mapping, which may read ids stored by now on `conn`, the replay's
/// transaction), ingests the events, ties the ids and marks it replayed, exactly once: the
/// dead letter stays locked while it is replayed, and a replayed one is a 409. Should the mark
/// fail to commit after ingest did, a second replay ingests the same events again, which ingest
/// recognises as duplicates.
pub async fn replay(
    pool: &PgPool,
    group_commit: &GroupCommit,
    now: DateTime<Utc>,
    id: Uuid,
    map: impl AsyncFnOnce(&mut PgConnection, &str, &str) -> Result<Mapped, ApiError>,
) -> Result<Replayed, ApiError> {
    let mut tx = pool.begin().await?;
    let letter = dead_letters::lock(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("dead letter {id}")))?;
    if let Some(at) = letter.replayed_at {
        return Err(ApiError::Conflict(format!(
            "dead letter {id} was replayed already, at {}",
            at.to_rfc3339()
        )));
    }
    let mapped = map(&mut tx, &letter.source, &letter.payload).await?;
    let results = if mapped.events.is_empty() {
        Vec::new()
    } else {
        ingest::ingest(group_commit, now, mapped.events).await?
    };
    let opportunities = if mapped.opportunities.is_empty() {
        Vec::new()
    } else {
        opportunities::record(pool, &mapped.opportunities, now).await?
    };
    source_ids::record(&mut tx, &mapped.source_ids, now).await?;
    let dead_letter = dead_letters::mark_replayed(&mut tx, id, now).await?;
    tx.commit().await?;
    tracing::info!(dead_letter.id = %id, source = %dead_letter.source, events = results.len(), "dead letter replayed");
    Ok(Replayed {
        dead_letter,
        results,
        opportunities,
    })
}
