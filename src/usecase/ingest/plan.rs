//! Planning a unit of events and writing the plan. [`plan`] takes the leads from the
//! [`LeadCache`] or reads them unlocked (one round trip, with the history a late event needs),
//! makes the missing ones with their accounts, and runs the engine; [`Plan::write`] sends the
//! one lead write ([`crate::db::lead_write`]), in a transaction with the handoff when a lead
//! enters or leaves MQL. The two are apart so that the group writer can plan one group while
//! the database writes the one before.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{
    IngestOutcome, LeadCache, apply_to_leads, evaluate_leads, fresh_events, fresh_mask, key,
    outcomes, triggers,
};
use crate::{
    db::{
        accounts,
        events::{self, NewEvent},
        lead_write::{self, Effects, LeadRow, Statement},
        leads::{self, Kept, Lead, StoredJson},
        transitions::NewTransition,
    },
    domain::LeadEvent,
    engine::{RuleSet, Touch},
    error::ApiError,
    usecase::{
        nurture,
        persist::{self, Handoff},
    },
};

/// A unit planned, before writing: the leads as the engine left them (at the versions read,
/// or new), and the encoded write (none if no event is new). It holds no events:
/// [`Plan::write`] is given the same unit it was planned from.
pub(super) struct Plan {
    now: DateTime<Utc>,
    is_fresh: Vec<bool>,
    leads: HashMap<String, Lead>,
    created: HashSet<Uuid>,
    statement: Option<Statement>,
    transitions: Vec<NewTransition>,
    triggers: HashMap<Uuid, Touch>,
}

/// How planning a unit ended.
pub(super) enum Planned {
    Ready(Box<Plan>),
    /// The unit shares a lead with the one being written; plan it once that is done.
    Later,
}

/// What writing a plan settled: an outcome per event of the unit, except for the events of
/// leads that changed since they were read (`stale`, positions in the unit), to plan again.
pub(super) struct Round {
    pub outcomes: Vec<Option<IngestOutcome>>,
    pub stale: Vec<usize>,
}

/// Plans `unit`. A unit with a lead among `in_flight` (emails of a unit being written) is
/// left for [`Planned::Later`] before anything is taken: read now, the lead would be at the
/// version before that write. With `look_up`, events stored already are found first (a unit
/// planned again after a write found some); otherwise the write finds them.
pub(super) async fn plan(
    conn: &mut PgConnection,
    rules: &RuleSet,
    cache: &LeadCache,
    now: DateTime<Utc>,
    unit: &[LeadEvent],
    in_flight: &HashSet<String>,
    look_up: bool,
) -> Result<Planned, ApiError> {
    let stored = match look_up {
        true => events::leads_of(conn, &unit.iter().map(key).collect::<Vec<_>>()).await?,
        false => Vec::new(),
    };
    let is_fresh = fresh_mask(unit, &stored);
    let fresh = fresh_events(unit, &is_fresh);
    let mut earliest: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for e in &fresh {
        let at = earliest.entry(e.email.as_str()).or_insert(e.occurred_at);
        *at = (*at).min(e.occurred_at);
    }
    if earliest.keys().any(|email| in_flight.contains(*email)) {
        return Ok(Planned::Later);
    }
    let (mut leads, histories) = read_leads(conn, cache, &earliest).await?;
    let (created, new_accounts) = make_missing(conn, &fresh, &mut leads, rules, now).await?;
    let read: HashMap<Uuid, StoredJson> = leads
        .values()
        .filter(|l| !created.contains(&l.id))
        .map(|l| (l.id, StoredJson::of(l)))
        .collect();

    let per_lead = apply_to_leads(conn, fresh.into_iter(), &mut leads, histories, rules).await?;
    let effects = evaluate_leads(&per_lead, &mut leads, &created, rules, now);
    let moves = persist::moves_handoff(&effects.transitions);
    let triggers = match moves {
        true => triggers(&per_lead, &leads),
        false => HashMap::new(),
    };
    let nurtured = nurture::rows(&effects.planned_nurture(&leads), now);
    let rows = per_lead
        .keys()
        .map(|email| {
            let lead = &leads[*email];
            let (read_at, kept) = match read.get(&lead.id) {
                Some(stored) => (Some(lead.version), stored.kept_in(lead)),
                None => (None, Kept::default()),
            };
            LeadRow {
                lead,
                read_at,
                kept,
            }
        })
        .collect();
    let new_events: Vec<NewEvent<'_>> = per_lead
        .values()
        .flatten()
        .map(|e| NewEvent {
            event: e,
            lead_id: leads[e.email.as_str()].id,
        })
        .collect();
    let statement = (!new_events.is_empty()).then(|| {
        let effects = Effects {
            accounts: new_accounts,
            leads: rows,
            events: new_events,
            transitions: effects.transitions.clone(),
            nurture: nurtured.entries,
            messages: nurtured.messages,
        };
        lead_write::encode(&effects, now)
    });
    Ok(Planned::Ready(Box::new(Plan {
        now,
        is_fresh,
        leads,
        created,
        statement,
        transitions: effects.transitions,
        triggers,
    })))
}

/// The existing leads of `earliest` (email → its earliest new event): from the cache, else
/// read, with the histories the read found a late event needs.
async fn read_leads(
    conn: &mut PgConnection,
    cache: &LeadCache,
    earliest: &BTreeMap<&str, DateTime<Utc>>,
) -> Result<(HashMap<String, Lead>, HashMap<Uuid, leads::History>), ApiError> {
    let emails: Vec<&str> = earliest.keys().copied().collect();
    let mut leads: HashMap<String, Lead> = cache
        .take_many(&emails)
        .into_iter()
        .map(|l| (l.email.to_string(), l))
        .collect();
    let (unread, stamps): (Vec<&str>, Vec<DateTime<Utc>>) = earliest
        .iter()
        .filter(|(email, _)| !leads.contains_key(**email))
        .map(|(email, at)| (*email, *at))
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
    Ok((leads, histories))
}

/// Makes a lead for each email of `fresh` that has none, with its company's account as read
/// now (its tier included: the write creates the lead only if the tier still holds), or a
/// new one for the write to create with the lead. Returns the ids of the leads made and the
/// accounts to create as (id, domain).
async fn make_missing(
    conn: &mut PgConnection,
    fresh: &[&LeadEvent],
    leads: &mut HashMap<String, Lead>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<(HashSet<Uuid>, Vec<(Uuid, String)>), ApiError> {
    let mut firsts: BTreeMap<&str, &LeadEvent> = BTreeMap::new();
    for e in fresh
        .iter()
        .filter(|e| !leads.contains_key(e.email.as_str()))
    {
        firsts.entry(e.email.as_str()).or_insert(e);
    }
    if firsts.is_empty() {
        return Ok(Default::default());
    }
    let mut domains: Vec<&str> = firsts
        .values()
        .map(|e| e.email.domain())
        .filter(|d| super::has_account(d, rules))
        .collect();
    domains.sort_unstable();
    domains.dedup();
    let mut accounts: HashMap<String, (Uuid, Option<i16>)> = HashMap::new();
    if !domains.is_empty() {
        for (domain, id, tier) in accounts::of_domains(conn, &domains).await? {
            accounts.insert(domain, (id, tier));
        }
    }
    let mut new_accounts = Vec::new();
    for domain in domains {
        if !accounts.contains_key(domain) {
            let id = Uuid::now_v7();
            accounts.insert(domain.to_owned(), (id, None));
            new_accounts.push((id, domain.to_owned()));
        }
    }
    let mut created = HashSet::new();
    for e in firsts.into_values() {
        let account = accounts.get(e.email.domain());
        let mut lead = Lead::new(e.email.clone(), account.map(|a| a.0), &rules.version, now);
        lead.account_tier = account.and_then(|a| a.1).and_then(|t| u8::try_from(t).ok());
        created.insert(lead.id);
        leads.insert(lead.email.to_string(), lead);
    }
    Ok((created, new_accounts))
}

impl Plan {
    /// Writes the planned `unit`: in autocommit, or with its handoff in one transaction.
    /// Leads that changed since they were read are left for another round ([`Round`]);
    /// the written ones go to the cache as stored, but for those handed off, whose
    /// assignment moved their version on again.
    pub(super) async fn write(
        self,
        conn: &mut PgConnection,
        rules: &RuleSet,
        cache: &LeadCache,
        unit: &[LeadEvent],
    ) -> Result<Round, ApiError> {
        let Plan {
            now,
            is_fresh,
            mut leads,
            created,
            statement,
            transitions,
            triggers,
        } = self;
        let written = match statement {
            None => Default::default(),
            Some(statement) => {
                let handoff = Handoff {
                    leads: leads.values().collect(),
                    transitions: &transitions,
                    triggers: &triggers,
                };
                send(conn, statement, handoff, rules, now).await?
            }
        };
        let versions: HashMap<Uuid, i64> = written.leads.iter().copied().collect();
        let planned: HashSet<&str> = fresh_events(unit, &is_fresh)
            .into_iter()
            .map(|e| e.email.as_str())
            .collect();
        let stale_leads: HashSet<String> = planned
            .iter()
            .filter(|email| !versions.contains_key(&leads[**email].id))
            .map(|email| (*email).to_owned())
            .collect();
        let settled: Vec<bool> = unit
            .iter()
            .map(|e| !stale_leads.contains(e.email.as_str()))
            .collect();
        leads.retain(|_, lead| match versions.get(&lead.id) {
            Some(version) => {
                lead.version = *version;
                true
            }
            None => false,
        });
        let outcomes = outcomes(
            conn, unit, &is_fresh, &settled, &leads, &created, rules, now,
        )
        .await?;
        let handed_off: HashSet<Uuid> = transitions
            .iter()
            .filter(|t| persist::moves_lead(t))
            .map(|t| t.lead_id)
            .collect();
        cache.put(
            leads
                .into_values()
                .filter(|lead| !handed_off.contains(&lead.id)),
        );
        let stale = (0..unit.len()).filter(|i| !settled[*i]).collect();
        Ok(Round { outcomes, stale })
    }
}

/// Sends the write with its handoff, in a transaction if the handoff moves. When an event
/// planned as new was stored meanwhile by another lead's write, nothing was written: every
/// lead is then planned again, its events looked up.
async fn send(
    conn: &mut PgConnection,
    statement: Statement,
    handoff: Handoff<'_>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<lead_write::Written, ApiError> {
    let sent = if handoff.moves() {
        let mut tx = conn.begin().await?;
        let written = persist::send(&mut tx, statement, handoff, rules, now).await;
        match written {
            Ok(written) => tx.commit().await.map(|()| written).map_err(ApiError::from),
            Err(error) => Err(error),
        }
    } else {
        persist::send(conn, statement, handoff, rules, now).await
    };
    match sent {
        Err(ApiError::Internal(error)) if is_conflict(&error) => Ok(Default::default()),
        sent => sent,
    }
}

/// Whether `error` is the lead write's [`lead_write::CONFLICT`].
fn is_conflict(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<sqlx::Error>())
        .filter_map(sqlx::Error::as_database_error)
        .any(|db| db.code().as_deref() == Some(lead_write::CONFLICT))
}
