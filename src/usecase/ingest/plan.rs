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

impl Planned {
    /// The plan of a unit planned with nothing in flight.
    pub(super) fn ready(self) -> Box<Plan> {
        match self {
            Planned::Ready(plan) => plan,
            Planned::Later => unreachable!("a unit waits only for one in flight"),
        }
    }
}

/// What writing a plan settled: an outcome per event of the unit, except for the events of
/// leads that changed since they were read (`stale`, positions in the unit), to plan again.
pub(super) struct Round {
    pub outcomes: Vec<Option<IngestOutcome>>,
    pub stale: Vec<usize>,
    /// The leads written, as stored, for the cache once the write has committed.
    pub written: Vec<Lead>,
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
    let earliest = earliest_by_lead(&fresh);
    if earliest.keys().any(|email| in_flight.contains(*email)) {
        return Ok(Planned::Later);
    }
    let (mut leads, histories) = read_leads(conn, cache, &earliest).await?;
    let made = make_missing(conn, &fresh, &mut leads, rules, now).await?;
    let created: HashSet<Uuid> = made.tiers_read.keys().copied().collect();
    let read: HashMap<Uuid, StoredJson> = leads
        .values()
        .filter(|l| !created.contains(&l.id))
        .map(|l| (l.id, StoredJson::of(l)))
        .collect();

    let per_lead = apply_to_leads(conn, fresh.into_iter(), &mut leads, histories, rules).await?;
    let effects = evaluate_leads(&per_lead, &mut leads, &created, rules, now);
    let triggers = match persist::moves_handoff(&effects.transitions) {
        true => triggers(&per_lead, &leads),
        false => HashMap::new(),
    };
    let written = Written {
        per_lead: &per_lead,
        leads: &leads,
        read: &read,
        tiers_read: &made.tiers_read,
        effects: &effects,
    };
    let statement = written.encode(made.accounts, now);
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

/// Per lead (by email), the earliest of its `fresh` events.
fn earliest_by_lead<'e>(fresh: &[&'e LeadEvent]) -> BTreeMap<&'e str, DateTime<Utc>> {
    let mut earliest: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for e in fresh {
        let at = earliest.entry(e.email.as_str()).or_insert(e.occurred_at);
        *at = (*at).min(e.occurred_at);
    }
    earliest
}

/// What a plan writes: the leads that got events (`per_lead`) as the engine left them, which
/// of them were read (with the JSON columns as read) and what their evaluation decided.
struct Written<'p, 'e> {
    per_lead: &'p BTreeMap<&'e str, Vec<&'e LeadEvent>>,
    leads: &'p HashMap<String, Lead>,
    read: &'p HashMap<Uuid, StoredJson>,
    /// Per new lead, its account's tier as read.
    tiers_read: &'p HashMap<Uuid, Option<i16>>,
    effects: &'p super::Effects,
}

impl Written<'_, '_> {
    /// The lead write of it, with the accounts to create; none if no event is new.
    fn encode(&self, accounts: Vec<(Uuid, String)>, now: DateTime<Utc>) -> Option<Statement> {
        let events: Vec<NewEvent<'_>> = self
            .per_lead
            .values()
            .flatten()
            .map(|e| NewEvent {
                event: e,
                lead_id: self.leads[e.email.as_str()].id,
            })
            .collect();
        if events.is_empty() {
            return None;
        }
        let leads = self
            .per_lead
            .keys()
            .map(|email| {
                let lead = &self.leads[*email];
                let (read_at, kept) = match self.read.get(&lead.id) {
                    Some(stored) => (Some(lead.version), stored.kept_in(lead)),
                    None => (None, Kept::default()),
                };
                LeadRow {
                    lead,
                    read_at,
                    kept,
                    account_tier_read: self.tiers_read.get(&lead.id).copied().flatten(),
                }
            })
            .collect();
        let nurtured = nurture::rows(&self.effects.planned_nurture(self.leads), now);
        let effects = Effects {
            accounts,
            leads,
            events,
            transitions: &self.effects.transitions,
            nurture: nurtured.entries,
            messages: nurtured.messages,
        };
        Some(lead_write::encode(&effects, now))
    }
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

/// The leads [`make_missing`] made: each one's account tier as read (the write creates the
/// lead only if it still holds), and the accounts to create with them, as (id, domain).
#[derive(Default)]
struct Missing {
    tiers_read: HashMap<Uuid, Option<i16>>,
    accounts: Vec<(Uuid, String)>,
}

/// Makes a lead for each email of `fresh` that has none, with its company's account as read
/// now, or a new one for the write to create with the lead.
async fn make_missing(
    conn: &mut PgConnection,
    fresh: &[&LeadEvent],
    leads: &mut HashMap<String, Lead>,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<Missing, ApiError> {
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
    let mut tiers_read = HashMap::new();
    for e in firsts.into_values() {
        let account = accounts.get(e.email.domain());
        let mut lead = Lead::new(e.email.clone(), account.map(|a| a.0), &rules.version, now);
        let tier = account.and_then(|a| a.1);
        lead.account_tier = tier.and_then(|t| u8::try_from(t).ok());
        tiers_read.insert(lead.id, tier);
        leads.insert(lead.email.to_string(), lead);
    }
    Ok(Missing {
        tiers_read,
        accounts: new_accounts,
    })
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
        unit: &[LeadEvent],
        nested: bool,
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
                send(conn, statement, handoff, rules, now, nested).await?
            }
        };
        let versions: HashMap<Uuid, i64> = written.leads.iter().copied().collect();
        let settled = settled(unit, &is_fresh, |email| {
            versions.contains_key(&leads[email].id)
        });
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
        let stale = (0..unit.len()).filter(|at| !settled[*at]).collect();
        Ok(Round {
            outcomes,
            stale,
            written: cacheable(leads, &transitions),
        })
    }
}

/// Per event of `unit`, whether this round settled it: not if its lead had new events that
/// the write skipped (`written` says which leads it wrote), nor if it repeats an event of
/// such a lead, which is not stored either. Those go to another round.
fn settled(unit: &[LeadEvent], fresh: &[bool], written: impl Fn(&str) -> bool) -> Vec<bool> {
    let skipped: Vec<&LeadEvent> = fresh_events(unit, fresh)
        .into_iter()
        .filter(|e| !written(e.email.as_str()))
        .collect();
    let emails: HashSet<&str> = skipped.iter().map(|e| e.email.as_str()).collect();
    let keys: HashSet<_> = skipped.iter().map(|e| key(e)).collect();
    unit.iter()
        .zip(fresh)
        .map(|(e, fresh)| !emails.contains(e.email.as_str()) && (*fresh || !keys.contains(&key(e))))
        .collect()
}

/// The leads written that the cache may keep: not those handed off, whose assignment moved
/// their version on again.
fn cacheable(written: HashMap<String, Lead>, transitions: &[NewTransition]) -> Vec<Lead> {
    let handed_off: HashSet<Uuid> = transitions
        .iter()
        .filter(|t| persist::moves_lead(t))
        .map(|t| t.lead_id)
        .collect();
    written
        .into_values()
        .filter(|lead| !handed_off.contains(&lead.id))
        .collect()
}

/// Sends the write with its handoff, in a transaction if the handoff moves (a savepoint when
/// `nested` in the caller's transaction, so that a conflict leaves it usable). When an event
/// planned as new was stored meanwhile by another lead's write, nothing was written: every
/// lead is then planned again, its events looked up.
async fn send(
    conn: &mut PgConnection,
    statement: Statement,
    handoff: Handoff<'_>,
    rules: &RuleSet,
    now: DateTime<Utc>,
    nested: bool,
) -> Result<lead_write::Written, ApiError> {
    let sent = if handoff.moves() || nested {
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
