//! The one write of an evaluation's effects: new and changed lead rows, their events,
//! transitions, nurture log rows and outbox messages, in one fixed statement that every writer
//! sends (ingest, the sweeper, rescoring, the sales actions). In autocommit it is one durable
//! transaction and one round trip.
//!
//! Races and duplicates come back as data. A lead is written only if it is still at the
//! version it was read at (a new one: only if nobody created it meanwhile, and its account
//! still has the tier it was planned with), and only if none of its events is stored already;
//! every other effect of the lead is written only with it. The statement returns the leads it
//! wrote, with their new versions: the caller plans the others again.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    bind::{Bind, Encoded, column},
    events::{self, NewEvent},
    leads::{self, Kept, Lead},
    nurture,
    transitions::{self, NewTransition},
};

/// A lead to write, with the version it was read at (`None`: a lead to create) and the JSON
/// columns it left as stored.
pub struct LeadRow<'a> {
    pub lead: &'a Lead,
    pub read_at: Option<i64>,
    pub kept: Kept,
    /// For a lead to create: its account's tier as the engine was given it. The lead is
    /// created only if the account still has it (the engine may have given the lead a
    /// default tier of its own).
    pub account_tier_read: Option<i16>,
}

/// Everything one write stores.
#[derive(Default)]
pub struct Effects<'a> {
    /// Accounts to create with the leads of their domain, as (id, domain).
    pub accounts: Vec<(Uuid, String)>,
    /// In email order: the order every writer locks leads in.
    pub leads: Vec<LeadRow<'a>>,
    pub events: Vec<NewEvent<'a>>,
    /// Stage changes; a lead's system transitions point at its latest stored event.
    pub transitions: &'a [NewTransition],
    pub nurture: Vec<nurture::NewEntry>,
    pub messages: Vec<nurture::Message>,
}

/// What the write stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// The leads written, each with the version it is now stored at.
    pub leads: Vec<(Uuid, i64)>,
    /// Written leads with messages for an owner but none: nobody was told.
    pub unowned: Vec<Uuid>,
}

impl Written {
    pub fn holds(&self, lead_id: Uuid) -> bool {
        self.leads.iter().any(|(id, _)| *id == lead_id)
    }
}

/// The statement's arguments start here for each kind of row.
const EVENTS_AT: usize = 1;
const LEADS_AT: usize = EVENTS_AT + events::WRITE_PARAMS;
const TRANSITIONS_AT: usize = LEADS_AT + 2 + leads::WRITE_PARAMS;
const ENTRIES_AT: usize = TRANSITIONS_AT + transitions::WRITE_PARAMS;
const MESSAGES_AT: usize = ENTRIES_AT + nurture::WRITE_PARAMS;
const ACCOUNTS_AT: usize = MESSAGES_AT + nurture::MESSAGE_PARAMS;

/// The SQLSTATE of [`lead_write_conflict`](../../migrations): an event planned as new was
/// stored by a concurrent write of another lead; nothing was written.
pub const CONFLICT: &str = "LR001";

/// The statement, assembled once from the column lists the rows are bound by.
static SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"with e as (select * from {events}),
           u as (select * from {leads}),
           dup as (select e.lead_id from e join lead_events s
                     on s.source = e.source and s.event_id = e.event_id),
           -- A new company's account, unless its leads' events are stored already.
           acc as (insert into accounts (id, domain, created_at)
                   select n.id, n.domain, ${accounts_at}::timestamptz
                     from unnest(${accounts}::uuid[], ${domains}::text[]) as n(id, domain)
                    where exists (select from u where u.account_id = n.id
                                     and u.id not in (select lead_id from dup))
                    order by n.domain
                   on conflict on constraint accounts_domain_key do nothing
                   returning id),
           ins as (insert into leads ({lead_columns}, stage_changed_at)
                   select {lead_columns}, u.updated_at from u
                    where u.expected_version is null
                      and u.id not in (select lead_id from dup)
                      and (u.account_id is null
                           or u.account_id in (select id from acc)
                           or exists (select from accounts a
                                       where a.id = u.account_id
                                         and a.tier is not distinct from u.account_tier_read
                                         for share))
                   on conflict on constraint leads_email_key do nothing
                   returning id, version),
           upd as (update leads l set {update_set} from u
                    where l.id = u.id and l.version = u.expected_version
                      and u.id not in (select lead_id from dup)
                   returning l.id, l.version),
           done as (select id, version from ins union all select id, version from upd),
           ev as (insert into lead_events ({event_columns})
                  select {event_columns} from e where e.lead_id in (select id from done)
                  on conflict on constraint lead_events_source_event_id_key do nothing
                  returning id, lead_id),
           tr as (insert into lead_transitions ({transition_columns})
                  select t.lead_id, t.from_stage, t.to_stage, t.actor, t.reason, t.source,
                         t.reason_code, t.fit_score, t.intent_score, t.rules_version,
                         coalesce(t.event_row_id, last.id), t.occurred_at
                    from {transitions}
                    left join (select lead_id, max(id) as id from ev group by lead_id) last
                      on last.lead_id = t.lead_id
                   where t.lead_id in (select id from done)),
           -- Who hears about a lead's nurture: its account's owner, else its last rep.
           ow as (select u.id,
                         coalesce(a.owner_email,
                                  (select r.email from assignments s join reps r on r.id = s.rep_id
                                    where s.lead_id = u.id
                                    order by s.assigned_at desc, s.id desc limit 1)) as email
                    from u left join accounts a on a.id = u.account_id
                   where u.id = any(${owners}::uuid[])),
           nl as (insert into nurture_log ({entry_columns})
                  select {entries} where n.lead_id in (select id from done)
                  {entries_on_conflict}),
           ob as (insert into outbox ({message_columns})
                  {messages} and m.lead_id in (select id from done)
                  {messages_on_conflict}),
           -- Events of written leads that another lead's write stored meanwhile: LR001.
           counted as (select (select count(*) from e
                                where e.lead_id in (select id from done)) as planned,
                              (select count(*) from ev) as stored)
           select coalesce((select array_agg(id order by id) from done), '{{}}'),
                  coalesce((select array_agg(version order by id) from done), '{{}}'),
                  {unowned},
                  case when c.stored < c.planned then lead_write_conflict(c.planned, c.stored) end
             from counted c"#,
        events = events::unnest_events(EVENTS_AT),
        leads = leads::unnest_leads_at_versions(LEADS_AT),
        lead_columns = leads::WRITE_COLUMNS,
        update_set = leads::UPDATE_SET,
        event_columns = events::WRITE_COLUMNS,
        transition_columns = transitions::WRITE_COLUMNS,
        transitions = transitions::unnest_transitions(TRANSITIONS_AT),
        owners = MESSAGES_AT,
        entry_columns = nurture::WRITE_COLUMNS,
        entries = nurture::entries_select(ENTRIES_AT),
        entries_on_conflict = nurture::ON_CONFLICT,
        messages = nurture::messages_select(MESSAGES_AT),
        message_columns = super::outbox::WRITE_COLUMNS,
        messages_on_conflict = super::outbox::ON_CONFLICT,
        unowned = nurture::UNOWNED,
        accounts_at = ACCOUNTS_AT,
        accounts = ACCOUNTS_AT + 1,
        domains = ACCOUNTS_AT + 2,
    )
});

/// The write with its arguments encoded, ready to send ([`encode`], [`send`]).
pub struct Statement {
    args: Encoded,
}

/// Encodes `effects`, received at `at`. Encoding copies every value, so nothing stays
/// borrowed: the group writer encodes one group while the database writes the one before.
pub fn encode(effects: &Effects<'_>, at: DateTime<Utc>) -> Statement {
    let leads: Vec<&Lead> = effects.leads.iter().map(|row| row.lead).collect();
    let kept: Vec<Kept> = effects.leads.iter().map(|row| row.kept).collect();
    let mut args = events::bind_events(Encoded::default(), &effects.events, at);
    args = args
        .bind(column(&effects.leads, |row| row.read_at))
        .bind(column(&effects.leads, |row| row.account_tier_read));
    args = leads::bind_leads(args, &leads, &kept);
    args = transitions::bind_transitions(args, effects.transitions);
    args = nurture::bind_entries(args, &effects.nurture, at);
    args = nurture::bind_messages(args, &effects.messages, at);
    args = args
        .bind(at)
        .bind(column(&effects.accounts, |a| a.0))
        .bind(column(&effects.accounts, |a| a.1.as_str()));
    Statement { args }
}

/// Sends the write. Fails with [`CONFLICT`] (nothing written) in the one race it does not
/// report as data.
pub async fn send(conn: &mut PgConnection, statement: Statement) -> sqlx::Result<Written> {
    let args = statement.args.into_result().map_err(sqlx::Error::Encode)?;
    let (ids, versions, unowned, _): (Vec<Uuid>, Vec<i64>, Vec<Uuid>, Option<i32>) =
        sqlx::query_as_with(&SQL, args).fetch_one(conn).await?;
    Ok(Written {
        leads: ids.into_iter().zip(versions).collect(),
        unowned,
    })
}

/// [`encode`] and [`send`] at once, for a writer with nothing to do in between.
pub async fn write(
    conn: &mut PgConnection,
    effects: &Effects<'_>,
    at: DateTime<Utc>,
) -> sqlx::Result<Written> {
    send(conn, encode(effects, at)).await
}
