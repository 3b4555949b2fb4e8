//! The demand-state view read from the transitions: how leads moved between states in a
//! period, and what the leads that entered each state did after.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// How many moves from one state to another, by what.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Moves {
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub signal: String,
    pub count: i64,
}

/// The moves of `[from, to)`; the state a lead had when the history began is no move.
pub async fn moves(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<Moves>> {
    sqlx::query_as(
        "select from_state, to_state, signal, count(*)::int8 as count
           from lead_demand_state_transitions
          where occurred_at >= $1 and occurred_at < $2 and signal <> 'history'
          group by 1, 2, 3
          order by 1 nulls first, 2 nulls first, 3",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// The leads that entered a state in a period, and how many of them then became MQL, had an
/// opportunity opened, and won one.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Entered {
    pub state: String,
    pub entered: i64,
    pub mql_after: i64,
    pub opportunity_after: i64,
    pub won_after: i64,
}

/// Each state's leads that entered it in `[from, to)` (each lead once per state, at its first
/// entry in the period; the state a lead had when the history began is no entry) and what
/// they did after entering, whenever. Each entry carries its lead's previous entry into the
/// same state and the lead's funnel dates (kept by the schema), so this is one range read.
pub async fn entered(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<Entered>> {
    sqlx::query_as(
        "select to_state as state, count(*)::int8 as entered,
                count(*) filter (where mql_at >= occurred_at)::int8 as mql_after,
                count(*) filter (where last_opportunity_opened_at >= occurred_at)::int8
                  as opportunity_after,
                count(*) filter (where last_won_opportunity_opened_at >= occurred_at)::int8
                  as won_after
           from lead_demand_state_transitions
          where occurred_at >= $1 and occurred_at < $2 and to_state is not null
            and signal <> 'history'
            and (previous_entry_at is null or previous_entry_at < $1)
          group by to_state",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
