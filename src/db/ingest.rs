//! The one-statement write of a single event's unit of work: event row, lead row and
//! transitions in one SQL statement, so that in autocommit it is one durable transaction and
//! one round trip. The lead is updated only if it is still at the version it was read at
//! (optimistic concurrency); otherwise nothing is written and the caller re-reads.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::{
    Bind,
    events::{self, NewEvent},
    leads::{self, Lead},
    transitions::{self, NewTransition},
};

/// How a one-statement write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Everything was stored; the event's row id.
    Stored(i64),
    /// The event was stored before: nothing changed.
    Duplicate,
    /// Someone changed (or created) the lead since it was read: nothing changed; re-read.
    Stale,
}

// Both statements take two parameters of their own ($1, $2), then the event, the lead and the
// transitions as column arrays, bound by `bind_unit`.
const EVENT_AT: usize = 3;
const LEAD_AT: usize = EVENT_AT + events::WRITE_PARAMS;
const TRANSITIONS_AT: usize = LEAD_AT + leads::WRITE_PARAMS;

const TRANSITION_SELECT: &str = "t.lead_id, t.from_stage, t.to_stage, t.actor, t.reason, \
     t.fit_score, t.intent_score, t.rules_version, ev.id, t.occurred_at";

static EXISTING_LEAD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"with locked as (select id from leads where id = $1 and version = $2 for update),
           ev as (insert into lead_events ({ev_cols}) select {ev_cols} from {ev_rows}
                  where exists (select 1 from locked)
                  on conflict on constraint lead_events_source_event_id_key do nothing returning id),
           upd as (update leads l set {set} from {ld_rows} where l.id = u.id and exists (select 1 from ev)),
           tr as (insert into lead_transitions ({tr_cols}) select {TRANSITION_SELECT} from {tr_rows}, ev)
           select (select count(*) from locked), (select id from ev)"#,
        ev_cols = events::WRITE_COLUMNS,
        ev_rows = events::unnest_events(EVENT_AT),
        set = leads::UPDATE_SET,
        ld_rows = leads::unnest_leads(LEAD_AT),
        tr_cols = transitions::WRITE_COLUMNS,
        tr_rows = transitions::unnest_transitions(TRANSITIONS_AT),
    )
});

// The event goes in first so that a duplicate stops everything else; if the email was taken
// meanwhile, the lead insert does nothing and the event's foreign key fails the whole
// statement, which the caller reads as Stale.
static NEW_LEAD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"with ev as (insert into lead_events ({ev_cols}) select {ev_cols} from {ev_rows}
                  on conflict on constraint lead_events_source_event_id_key do nothing returning id),
           acc as (insert into accounts (id, domain) select $1, $2::text from ev where $2::text is not null
                   on conflict on constraint accounts_domain_key do update set domain = excluded.domain
                   returning id),
           ld as (insert into leads ({ld_cols}) select {ld_select} from {ld_rows}
                  where exists (select 1 from ev)
                  on conflict on constraint leads_email_key do nothing returning id),
           tr as (insert into lead_transitions ({tr_cols}) select {TRANSITION_SELECT} from {tr_rows}, ev)
           select (select id from ev)"#,
        ev_cols = events::WRITE_COLUMNS,
        ev_rows = events::unnest_events(EVENT_AT),
        ld_cols = leads::WRITE_COLUMNS,
        ld_select = leads::WRITE_COLUMNS.replacen("account_id", "(select id from acc)", 1),
        ld_rows = leads::unnest_leads(LEAD_AT),
        tr_cols = transitions::WRITE_COLUMNS,
        tr_rows = transitions::unnest_transitions(TRANSITIONS_AT),
    )
});

fn bind_unit<'q, Q: Bind<'q>>(
    query: Q,
    event: NewEvent<'_>,
    lead: &Lead,
    transitions: &[NewTransition],
    received_at: DateTime<Utc>,
) -> Q {
    let query = events::bind_events(query, &[event], received_at);
    let query = leads::bind_leads(query, &[lead]);
    transitions::bind_transitions(query, transitions)
}

/// Stores `event` and the new state of the existing `lead` (read at `lead.version`).
pub async fn write_for_existing(
    conn: &mut PgConnection,
    event: NewEvent<'_>,
    lead: &Lead,
    transitions: &[NewTransition],
    received_at: DateTime<Utc>,
) -> sqlx::Result<Written> {
    let query = sqlx::query_as::<_, (i64, Option<i64>)>(&EXISTING_LEAD_SQL)
        .bind(lead.id)
        .bind(lead.version);
    let (locked, event_row) = bind_unit(query, event, lead, transitions, received_at)
        .fetch_one(conn)
        .await?;
    Ok(match (locked, event_row) {
        (0, _) => Written::Stale,
        (_, Some(id)) => Written::Stored(id),
        (_, None) => Written::Duplicate,
    })
}

/// Stores `event` and the brand-new `lead` with its account link (by `domain`, if any).
pub async fn write_for_new(
    conn: &mut PgConnection,
    event: NewEvent<'_>,
    lead: &Lead,
    domain: Option<&str>,
    transitions: &[NewTransition],
    received_at: DateTime<Utc>,
) -> sqlx::Result<Written> {
    let query = sqlx::query_scalar::<_, Option<i64>>(&NEW_LEAD_SQL)
        .bind(uuid::Uuid::now_v7())
        .bind(domain);
    match bind_unit(query, event, lead, transitions, received_at)
        .fetch_one(conn)
        .await
    {
        Ok(Some(id)) => Ok(Written::Stored(id)),
        Ok(None) => Ok(Written::Duplicate),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23503") => Ok(Written::Stale),
        Err(e) => Err(e),
    }
}
