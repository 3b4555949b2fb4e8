//! The fast path for one event: read the lead, apply the engine, write everything in one
//! statement that succeeds only if the lead has not changed since the read.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{EventStatus, IngestOutcome, apply_events, evaluate, has_account, outcome, refold};
use crate::{
    db::{
        events::{self, NewEvent},
        ingest::{self, Written},
        leads::{self, Lead},
    },
    domain::LeadEvent,
    engine::RuleSet,
    error::ApiError,
};

/// One optimistic attempt; `None` when another writer got to the lead first.
pub(super) async fn try_ingest(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    event: &LeadEvent,
) -> Result<Option<IngestOutcome>, ApiError> {
    let mut conn = pool.acquire().await?;
    let existing = leads::by_email(&mut conn, &event.email).await?;
    let created = existing.is_none();
    let mut lead =
        existing.unwrap_or_else(|| Lead::new(event.email.clone(), None, &rules.version, now));
    if !apply_events(&mut lead, &[event], rules) {
        let mut history: Vec<_> = events::intent_histories(&mut conn, &[lead.id])
            .await?
            .into_iter()
            .map(|(_, t, at)| (t, at))
            .collect();
        history.push((event.event_type, event.occurred_at));
        refold(&mut lead, history, rules);
    }
    let transitions = evaluate(
        &mut lead,
        created.then_some(event.source.as_str()),
        rules,
        now,
    );

    let new_event = NewEvent {
        event,
        lead_id: lead.id,
    };
    let written = if created {
        let domain = Some(event.email.domain()).filter(|d| has_account(d, rules));
        ingest::write_for_new(&mut conn, new_event, &lead, domain, &transitions, now).await?
    } else {
        ingest::write_for_existing(&mut conn, new_event, &lead, &transitions, now).await?
    };
    match written {
        Written::Stored(_) => Ok(Some(outcome(
            event,
            EventStatus::Accepted,
            &lead,
            created,
            rules,
            now,
        ))),
        Written::Stale => Ok(None),
        Written::Duplicate => {
            let owner = events::leads_of(&mut conn, &[(&event.source, &event.event_id)]).await?;
            let lead_id = owner
                .first()
                .map(|(_, _, id)| *id)
                .ok_or_else(|| anyhow::anyhow!("duplicate event has no stored row"))?;
            let lead = leads::by_id(&mut conn, lead_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("stored event points at a missing lead"))?;
            Ok(Some(outcome(
                event,
                EventStatus::Duplicate,
                &lead,
                false,
                rules,
                now,
            )))
        }
    }
}
