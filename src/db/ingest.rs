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
    bind::{Bind, Encoded},
    events::{self, NewEvent},
    leads::{self, Kept, Lead},
    nurture::{self, DailyCounts},
    transitions::{self, NewTransition},
};

/// How a group write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Every event and lead was written; nurture found no owner to tell for the leads
    /// `unowned`.
    Stored { unowned: Vec<Uuid> },
    /// A lead changed since it was read, or an event was stored meanwhile: nothing changed.
    Stale,
}

// The statement takes the events as column arrays, then the leads' expected versions and the
// leads, then, when there are any, the transitions, the nurture log entries and the outbox
// messages.
const EVENT_AT: usize = 1;
const LEAD_AT: usize = EVENT_AT + events::WRITE_PARAMS;
const REST_AT: usize = LEAD_AT + 1 + leads::WRITE_PARAMS;

/// Which optional parts a group's statement has: each is a CTE only when it has rows, since
/// an insert into lead_transitions fires its metrics triggers even for none, and every part
/// costs the statement its start-up.
#[derive(Clone, Copy)]
struct Shape {
    transitions: bool,
    entries: bool,
    messages: bool,
    /// Messages to an owner, found by the statement.
    owners: bool,
}

impl Shape {
    fn index(self) -> usize {
        usize::from(self.transitions)
            | usize::from(self.entries) << 1
            | usize::from(self.messages) << 2
            | usize::from(self.owners) << 3
    }

    /// The shape of each index; none where it names owners without messages, which never
    /// happens ([`nurture::to_owners`] looks among the messages).
    fn all() -> impl Iterator<Item = Option<Shape>> {
        (0..16).map(|i| {
            let shape = Shape {
                transitions: i & 1 != 0,
                entries: i & 2 != 0,
                messages: i & 4 != 0,
                owners: i & 8 != 0,
            };
            (shape.messages || !shape.owners).then_some(shape)
        })
    }
}

/// What the group statement fails with when a lead changed since it was read.
const STALE: &str = "stale: a lead changed since ingest read it; the locking path retries";

/// The statement of each [`Shape`], by [`Shape::index`].
static GROUP_SQL: LazyLock<Vec<Option<String>>> =
    LazyLock::new(|| Shape::all().map(|shape| shape.map(group_sql)).collect());

// The update takes each lead only at the version it was read at, row-locking it as it goes
// (in email order, as the leads are bound, the order every locking writer takes); unless it
// took them all, the final select casts [`STALE`] to an integer, which fails the statement
// (invalid_text_representation, with that text in the server's log) and undoes every write
// of it, the other CTEs' included. The inserts have no ON CONFLICT either: an event
// stored meanwhile (a retried webhook, a racing request), or a touch or message already sent,
// fails the statement with a unique violation. Either way the locking path, which does look,
// sorts it out. In the group, at the version read, neither happens but for such races; and
// locking the leads first, or an arbiter index, cost every row a probe (and a lock its WAL
// record) of its own before the write probes again.
fn group_sql(shape: Shape) -> String {
    // Where each optional part's parameters start.
    let mut next = REST_AT;
    let mut take = |present: bool, params: usize| {
        let at = next;
        if present {
            next += params;
        }
        at
    };
    let transitions_at = take(shape.transitions, transitions::WRITE_PARAMS);
    let entries_at = take(shape.entries, nurture::WRITE_PARAMS);
    let counts_at = take(shape.entries, DailyCounts::PARAMS);
    let messages_at = take(shape.messages, nurture::MESSAGE_PARAMS);

    let mut optional = String::new();
    if shape.owners {
        // Read before the lead update, like every CTE: a lead's account and assignments are
        // not what ingest writes.
        optional += &format!(",\n           {}", nurture::owners_cte(messages_at));
    }
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
            rows = transitions::unnest_transitions(transitions_at),
        );
    }
    if shape.entries {
        optional += &format!(
            ",\n           nl as (insert into nurture_log ({}) select {})",
            nurture::WRITE_COLUMNS,
            nurture::entries_select(entries_at, shape.owners),
        );
        // Every row goes in or the statement fails, so the counts are taken beforehand.
        optional += &format!(",\n           nm as ({})", DailyCounts::insert(counts_at));
    }
    if shape.messages {
        optional += &format!(
            ",\n           ob as ({})",
            nurture::insert_messages(messages_at, shape.owners)
        );
    }
    format!(
        r#"with upd as (update leads l set {set} from {ld_rows}
                        where l.id = u.id and l.version = u.expected_version
                        returning 1),
           ev as (insert into lead_events ({ev_cols}) select {ev_cols} from {ev_rows}
                  returning id, lead_id){optional}
           select (case when (select count(*) from upd) = cardinality(${LEAD_AT}::int8[])
                        then '1' else '{STALE}' end)::int4,
                  {unowned}"#,
        unowned = nurture::unowned(shape.owners),
        ev_cols = events::WRITE_COLUMNS,
        ev_rows = events::unnest_events(EVENT_AT),
        set = leads::UPDATE_SET,
        ld_rows = leads::unnest_leads_at_versions(LEAD_AT),
    )
}

/// What a group writes besides its events and leads.
#[derive(Default)]
pub struct Extras<'a> {
    /// Stage changes, each pointing at its lead's latest stored event.
    pub transitions: &'a [NewTransition],
    /// Nurture's log rows and messages.
    pub nurture: &'a [nurture::NewEntry],
    pub messages: &'a [nurture::Message],
}

/// A group's statement with its arguments encoded, ready to send ([`encode_group`],
/// [`send_group`]).
pub struct GroupStatement {
    sql: &'static str,
    args: Encoded,
}

/// The statement that stores `events` and the new state of `leads` (each read at
/// `lead.version`, none new; `kept` says, for each, which JSON columns it left as read), with
/// `extras`. Encoding copies every value, so nothing stays borrowed: the group writer encodes
/// one group while the database writes the one before.
pub fn encode_group(
    events: &[NewEvent<'_>],
    leads: &[&Lead],
    kept: &[Kept],
    extras: Extras<'_>,
    received_at: DateTime<Utc>,
) -> GroupStatement {
    let shape = Shape {
        transitions: !extras.transitions.is_empty(),
        entries: !extras.nurture.is_empty(),
        messages: !extras.messages.is_empty(),
        owners: nurture::to_owners(extras.messages),
    };
    let sql = GROUP_SQL[shape.index()]
        .as_deref()
        .expect("messages to owners are messages");
    let mut args = events::bind_events(Encoded::default(), events, received_at);
    args = args.bind(leads.iter().map(|l| l.version).collect::<Vec<i64>>());
    args = leads::bind_leads(args, leads, kept);
    if shape.transitions {
        args = transitions::bind_transitions(args, extras.transitions);
    }
    if shape.entries {
        args = nurture::bind_entries(args, extras.nurture, received_at);
        args = DailyCounts::of(extras.nurture, received_at).bind(args);
    }
    if shape.messages {
        args = nurture::bind_messages(args, extras.messages, received_at);
    }
    GroupStatement { sql, args }
}

/// Sends a group's statement: in autocommit, one durable transaction.
pub async fn send_group(
    conn: &mut PgConnection,
    statement: GroupStatement,
) -> sqlx::Result<Written> {
    let args = statement.args.into_result().map_err(sqlx::Error::Encode)?;
    let row = sqlx::query_as_with::<_, (i32, Vec<Uuid>), _>(statement.sql, args)
        .fetch_one(conn)
        .await;
    match row {
        Ok((_, unowned)) => Ok(Written::Stored { unowned }),
        // invalid_text_representation: a lead was not at its version ([`STALE`]); unique_violation:
        // an event, touch or message was stored already; deadlock_detected: a locking writer
        // holds one of the leads. Either way the locking path sorts it out.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("22P02" | "23505" | "40P01")) =>
        {
            Ok(Written::Stale)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_that_can_occur_has_its_statement_at_its_index() {
        let shapes: Vec<Option<Shape>> = Shape::all().collect();
        assert_eq!(
            shapes.iter().flatten().count(),
            12,
            "owners only with messages"
        );
        for (i, shape) in shapes.iter().enumerate() {
            if let Some(shape) = shape {
                assert_eq!(shape.index(), i);
                assert!(GROUP_SQL[i].is_some());
            } else {
                assert!(GROUP_SQL[i].is_none());
            }
        }
    }
}
