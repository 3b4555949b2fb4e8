//! The optimistic path for a group whose leads all exist: take them from the [`LeadCache`] or
//! read them unlocked and apply the engine ([`plan`]), then write everything in one statement
//! that succeeds only if no lead changed since (`db::ingest`, [`Plan::write`]). One or two
//! round trips and one durable commit; a new lead, a lead leaving MQL, or a lost race sends
//! the group to the locking path. The two halves are apart so that the group writer can plan
//! one group while the database writes the one before. A lead that became MQL is assigned
//! afterwards, under its lock, by [`Owed::settle`]: assignment takes a dozen round trips,
//! and a group waiting on them in the locking path held its writer for as long.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    super::{handoff::Owed, nurture},
    IngestOutcome, LeadCache, apply_to_leads, evaluate_leads, fresh_events, fresh_mask, outcomes,
    triggers,
};
use crate::{
    db::{
        events::NewEvent,
        ingest::{self, Extras, GroupStatement, Written},
        leads::{self, Kept, Lead, StoredJson},
    },
    domain::LeadEvent,
    engine::RuleSet,
    error::ApiError,
};

/// What the optimistic path decided for a unit of events, before writing it: the leads as
/// the engine left them (at the versions read), and the statement that stores them, the
/// events and what else they caused, ready to send (none if no event is new). It holds no
/// events: [`Plan::write`] is given the same unit it was planned from.
pub(super) struct Plan {
    now: DateTime<Utc>,
    is_fresh: Vec<bool>,
    leads: HashMap<String, Lead>,
    statement: Option<GroupStatement>,
    owed: Owed,
}

/// How planning a unit ended.
pub(super) enum Planned {
    Ready(Box<Plan>),
    /// The unit needs the locking path: a new lead, or a lead leaving MQL.
    Locking,
    /// The unit shares a lead with the one being written; plan it once that is done.
    Later,
}

/// Plans `batch` optimistically: its leads from the cache, else read unlocked on `conn`, then
/// the engine. A unit with a lead among `in_flight` (emails of a unit being written) is left
/// for [`Planned::Later`] before anything is taken: read now, the lead would be at the
/// version before that write, and this unit's write would fail its version check.
pub(super) async fn plan(
    conn: &mut PgConnection,
    rules: &RuleSet,
    cache: &LeadCache,
    now: DateTime<Utc>,
    batch: &[LeadEvent],
    in_flight: &HashSet<String>,
) -> Result<Planned, ApiError> {
    // No look-up of stored keys: a duplicate makes the write fail as stale, and the locking
    // path, which does look, reports it. Webhook retries are rare next to new events.
    let is_fresh = fresh_mask(batch, &[]);
    let fresh = fresh_events(batch, &is_fresh);
    let mut earliest: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for e in &fresh {
        let at = earliest.entry(e.email.as_str()).or_insert(e.occurred_at);
        *at = (*at).min(e.occurred_at);
    }
    if earliest.keys().any(|email| in_flight.contains(*email)) {
        return Ok(Planned::Later);
    }
    let emails: Vec<&str> = earliest.keys().copied().collect();
    let mut leads: HashMap<String, Lead> = cache
        .take_many(&emails)
        .into_iter()
        .map(|l| (l.email.to_string(), l))
        .collect();
    // A cached lead's history, when a late event needs it, is read by `apply_to_leads`.
    let (unread, stamps): (Vec<&str>, Vec<DateTime<Utc>>) = earliest
        .into_iter()
        .filter(|(email, _)| !leads.contains_key(*email))
        .unzip();
    let mut histories = HashMap::new();
    if !unread.is_empty() {
        for (lead, history) in leads::by_emails_with_history(conn, &unread, &stamps).await? {
            if let Some(history) = history {
                histories.insert(lead.id, history);
            }
            leads.insert(lead.email.to_string(), lead);
        }
    }
    if leads.len() < emails.len() {
        return Ok(Planned::Locking);
    }
    let stored: HashMap<Uuid, StoredJson> =
        leads.values().map(|l| (l.id, StoredJson::of(l))).collect();

    let fresh = fresh.into_iter();
    let per_lead = apply_to_leads(conn, fresh, &mut leads, histories, rules, false).await?;
    let effects = evaluate_leads(&per_lead, &mut leads, &HashSet::new(), rules, now);
    if effects.needs_locks() {
        return Ok(Planned::Locking);
    }
    let nurtured = nurture::rows(&effects.planned_nurture(&leads), now);
    let touched: Vec<&Lead> = per_lead.keys().map(|email| &leads[*email]).collect();
    let kept: Vec<Kept> = touched.iter().map(|l| stored[&l.id].kept_in(l)).collect();
    let owed = Owed::of(&touched, &effects.transitions, || {
        triggers(&per_lead, &leads)
    });
    let new_events: Vec<NewEvent<'_>> = per_lead
        .values()
        .flatten()
        .map(|e| NewEvent {
            event: e,
            lead_id: leads[e.email.as_str()].id,
        })
        .collect();
    let statement = (!new_events.is_empty()).then(|| {
        let extras = Extras {
            transitions: &effects.transitions,
            nurture: &nurtured.entries,
            messages: &nurtured.messages,
        };
        ingest::encode_group(&new_events, &touched, &kept, extras, now)
    });
    Ok(Planned::Ready(Box::new(Plan {
        now,
        is_fresh,
        leads,
        statement,
        owed,
    })))
}

impl Plan {
    /// Writes the planned unit `batch` in one statement that succeeds only if no lead changed
    /// since it was read. `None` when one did (or an event was stored meanwhile): nothing was
    /// written, and the unit takes the locking path.
    pub(super) async fn write(
        self,
        conn: &mut PgConnection,
        rules: &RuleSet,
        cache: &LeadCache,
        batch: &[LeadEvent],
    ) -> Result<Option<(Vec<IngestOutcome>, Owed)>, ApiError> {
        let Plan {
            now,
            is_fresh,
            leads,
            statement,
            owed,
        } = self;
        if let Some(statement) = statement {
            match ingest::send_group(conn, statement).await? {
                Written::Stored { unowned } => nurture::warn_unowned(&unowned),
                Written::Stale => return Ok(None),
            }
        }
        let outcomes =
            outcomes(conn, batch, &is_fresh, &leads, &HashSet::new(), rules, now).await?;
        // As stored: the write bumped each version by one. Every lead here got events.
        cache.put(leads.into_values().map(|lead| Lead {
            version: lead.version + 1,
            ..lead
        }));
        Ok(Some((outcomes, owed)))
    }
}
