//! The one-statement write of a group of events for leads that already exist: event rows,
//! lead rows, transitions, nurture log rows and outbox messages in one SQL statement, so that in autocommit it is one durable
//! transaction and one round trip. The leads are updated only if each is still at the version
//! it was read at (optimistic concurrency); otherwise nothing is written and the caller takes
//! the locking path.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    events::{self, NewEvent},
    leads::{self, Lead},
    nurture::{self, DailyCounts},
    outbox::{self, Message},
    transitions::{self, NewTransition},
};

/// How a group write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Every event and lead was written.
    Stored,
    /// A lead changed since it was read, or an event was stored meanwhile: nothing changed.
    Stale,
}

// The statement takes the expected (id, version) pairs as $1 and $2, then the events and the
// leads as column arrays, then, when there are any, the transitions, the nurture log entries
// and the outbox messages.
const EVENT_AT: usize = 3;
const LEAD_AT: usize = EVENT_AT + events::WRITE_PARAMS;
const REST_AT: usize = LEAD_AT + leads::WRITE_PARAMS;

/// Which optional parts a group's statement has: each is a CTE only when it has rows, since
/// an insert into lead_transitions fires its metrics triggers even for none.
#[derive(Clone, Copy)]
struct Shape {
    transitions: bool,
    entries: bool,
    messages: bool,
}

impl Shape {
    fn index(self) -> usize {
        usize::from(self.transitions)
            | usize::from(self.entries) << 1
            | usize::from(self.messages) << 2
    }

    fn all() -> impl Iterator<Item = Shape> {
        (0..8).map(|i| Shape {
            transitions: i & 1 != 0,
            entries: i & 2 != 0,
            messages: i & 4 != 0,
        })
    }
}

/// The statement of each [`Shape`], by [`Shape::index`].
static GROUP_SQL: LazyLock<Vec<String>> = LazyLock::new(|| Shape::all().map(group_sql).collect());

// Every CTE runs whatever the others return, so each write is gated on `fresh` (all leads
// still at their version, locked in email order as the locking path does). The inserts have
// no ON CONFLICT: an event stored meanwhile (a retried webhook, a racing request), or a touch
// or message already sent, fails the statement with a unique violation, which undoes its
// writes, and the locking path, which does look for them, sorts it out. In the group, at the
// version read, neither happens but for such races; and an arbiter index costs every row a
// probe of its own before the insert probes it again.
fn group_sql(shape: Shape) -> String {
    let mut next = REST_AT;
    let mut optional = String::new();
    if shape.transitions {
        optional += &format!(
            r#",
           tr as (insert into lead_transitions ({cols})
                  select t.lead_id, t.from_stage, t.to_stage, t.actor, t.reason, t.fit_score,
                         t.intent_score, t.rules_version, e.id, t.occurred_at
                    from {rows}
                    join (select lead_id, max(id) as id from ev group by lead_id) e
                      on e.lead_id = t.lead_id)"#,
            cols = transitions::WRITE_COLUMNS,
            rows = transitions::unnest_transitions(next),
        );
        next += transitions::WRITE_PARAMS;
    }
    // Appended rows whose write depends on nothing but `fresh`.
    let append = |name: &str, table: &str, cols: &str, rows: String| {
        format!(
            ",\n           {name} as (insert into {table} ({cols}) select {cols} from {rows}\n                  where exists (select 1 from fresh))"
        )
    };
    if shape.entries {
        optional += &append(
            "nl",
            "nurture_log",
            nurture::WRITE_COLUMNS,
            nurture::unnest_entries(next),
        );
        next += nurture::WRITE_PARAMS;
        // Every row goes in or the statement fails, so the counts are taken beforehand.
        optional += &format!(
            ",\n           nm as ({} where exists (select 1 from fresh))",
            DailyCounts::insert(next)
        );
        next += DailyCounts::PARAMS;
    }
    if shape.messages {
        optional += &append(
            "ob",
            "outbox",
            outbox::WRITE_COLUMNS,
            outbox::unnest_messages(next),
        );
    }
    format!(
        r#"with locked as (select l.id from leads l
                             join unnest($1::uuid[], $2::int8[]) as x(id, version)
                               on l.id = x.id and l.version = x.version
                            order by l.email for update of l),
           fresh as (select 1 where (select count(*) from locked) = cardinality($1::uuid[])),
           ev as (insert into lead_events ({ev_cols}) select {ev_cols} from {ev_rows}
                  where exists (select 1 from fresh)
                  returning id, lead_id),
           upd as (update leads l set {set} from {ld_rows}
                   where l.id = u.id and exists (select 1 from fresh)){optional}
           select count(*) from fresh"#,
        ev_cols = events::WRITE_COLUMNS,
        ev_rows = events::unnest_events(EVENT_AT),
        set = leads::UPDATE_SET,
        ld_rows = leads::unnest_leads(LEAD_AT),
    )
}

/// What a group writes besides its events and leads.
#[derive(Default)]
pub struct Extras<'a> {
    /// Stage changes, each pointing at its lead's latest stored event.
    pub transitions: &'a [NewTransition],
    /// Nurture's log rows and outbox messages.
    pub nurture: &'a [nurture::NewEntry],
    pub messages: &'a [Message],
}

/// Stores `events` and the new state of `leads` (each read at `lead.version`, none new), with
/// `extras`.
pub async fn write_group(
    conn: &mut PgConnection,
    events: &[NewEvent<'_>],
    leads: &[&Lead],
    extras: Extras<'_>,
    received_at: DateTime<Utc>,
) -> sqlx::Result<Written> {
    let shape = Shape {
        transitions: !extras.transitions.is_empty(),
        entries: !extras.nurture.is_empty(),
        messages: !extras.messages.is_empty(),
    };
    let mut query = sqlx::query_as::<_, (i64,)>(&GROUP_SQL[shape.index()])
        .bind(leads.iter().map(|l| l.id).collect::<Vec<Uuid>>())
        .bind(leads.iter().map(|l| l.version).collect::<Vec<i64>>());
    query = events::bind_events(query, events, received_at);
    query = leads::bind_leads(query, leads);
    if shape.transitions {
        query = transitions::bind_transitions(query, extras.transitions);
    }
    if shape.entries {
        query = nurture::bind_entries(query, extras.nurture, received_at);
        query = DailyCounts::of(extras.nurture, received_at).bind(query);
    }
    if shape.messages {
        query = outbox::bind_messages(query, extras.messages, received_at);
    }
    match query.fetch_one(conn).await {
        Ok((1,)) => Ok(Written::Stored),
        Ok(_) => Ok(Written::Stale),
        // unique_violation: an event, touch or message was stored already (see `group_sql`);
        // deadlock_detected: a locking writer holds one of the leads. Either way the locking
        // path sorts it out.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("23505" | "40P01")) => {
            Ok(Written::Stale)
        }
        Err(e) => Err(e),
    }
}
