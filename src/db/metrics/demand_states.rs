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
/// they did after entering, whenever.
pub async fn entered(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<Entered>> {
    sqlx::query_as(
        "with entered as (
             select distinct on (lead_id, to_state) lead_id, to_state as state, occurred_at
               from lead_demand_state_transitions
              where occurred_at >= $1 and occurred_at < $2 and to_state is not null
                and signal <> 'history'
              order by lead_id, to_state, occurred_at
         ), outcomes as (
             select e.state, f.mql_at >= e.occurred_at as mql_after,
                    coalesce(f.last_opportunity_opened_at >= e.occurred_at, false)
                      as opportunity_after,
                    coalesce(f.last_won_opportunity_opened_at >= e.occurred_at, false)
                      as won_after
               from entered e
               left join lead_funnel f on f.lead_id = e.lead_id
         )
         select state, count(*)::int8 as entered,
                count(*) filter (where mql_after)::int8 as mql_after,
                count(*) filter (where opportunity_after)::int8 as opportunity_after,
                count(*) filter (where won_after)::int8 as won_after
           from outcomes
          group by state",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}
