//! `GET /api/v1/metrics/demand-states`: leads tracked by the states they move through rather
//! than by funnel velocity. The moves between states in the period, by what moved them, and
//! for each configured state the leads that entered it in the period and what they did after
//! entering: became MQL, had an opportunity opened, won one.

use serde::Serialize;
use sqlx::PgPool;

use super::{MetricsQuery, Period, rate};
use crate::db::metrics::{self, demand_states};

/// How many moves from one state to another by one kind of signal.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StateMoves {
    /// `null`: no state before.
    pub from: Option<String>,
    /// `null`: no state since.
    pub to: Option<String>,
    /// `map`, `behaviour` or `history`.
    pub signal: String,
    pub count: i64,
}

/// What the leads that entered one state did after.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StateConversion {
    pub state: String,
    /// Leads that entered the state in the period.
    pub entered: i64,
    /// Of them, those that first became MQL after entering it.
    pub mql_after: i64,
    /// Those with an opportunity opened after entering it.
    pub opportunity_after: i64,
    /// Those with such an opportunity won.
    pub won_after: i64,
    pub mql_rate: Option<f64>,
    pub opportunity_rate: Option<f64>,
    pub won_rate: Option<f64>,
}

/// The demand-state report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DemandStateReport {
    pub period: Period,
    pub moves: Vec<StateMoves>,
    /// Every configured state, in configuration order, then any other state leads entered.
    pub states: Vec<StateConversion>,
}

/// The report over the query's period, in one snapshot; `configured` are the demand states
/// of the rules.
#[tracing::instrument(skip_all)]
pub async fn report(
    pool: &PgPool,
    query: &MetricsQuery,
    configured: &[String],
) -> sqlx::Result<DemandStateReport> {
    let Period { from, to } = query.period;
    let mut tx = pool.begin().await?;
    metrics::snapshot(&mut tx).await?;
    let moves = demand_states::moves(&mut tx, from, to).await?;
    let mut entered = demand_states::entered(&mut tx, from, to).await?;
    tx.commit().await?;
    let mut states: Vec<StateConversion> = configured
        .iter()
        .map(|state| {
            let found = entered
                .iter()
                .position(|e| e.state == *state)
                .map(|i| entered.remove(i));
            conversion(found.unwrap_or(demand_states::Entered {
                state: state.clone(),
                ..Default::default()
            }))
        })
        .collect();
    entered.sort_by(|a, b| a.state.cmp(&b.state));
    states.extend(entered.into_iter().map(conversion));
    Ok(DemandStateReport {
        period: query.period,
        moves: moves
            .into_iter()
            .map(|m| StateMoves {
                from: m.from_state,
                to: m.to_state,
                signal: m.signal,
                count: m.count,
            })
            .collect(),
        states,
    })
}

fn conversion(e: demand_states::Entered) -> StateConversion {
    StateConversion {
        mql_rate: rate(e.mql_after, e.entered),
        opportunity_rate: rate(e.opportunity_after, e.entered),
        won_rate: rate(e.won_after, e.entered),
        state: e.state,
        entered: e.entered,
        mql_after: e.mql_after,
        opportunity_after: e.opportunity_after,
        won_after: e.won_after,
    }
}
