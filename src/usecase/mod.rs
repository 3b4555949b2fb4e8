//! Units of work: each runs in one transaction, calling the pure engine and the db modules.

pub mod accounts;
pub mod api_keys;
pub mod backtest;
pub mod crm_writes;
pub mod deliveries_admin;
pub mod evaluation;
pub mod governance;
pub mod handoff;
pub mod hubspot;
pub mod inbound;
pub mod ingest;
pub mod key_cache;
pub mod lead_view;
pub mod metrics;
pub mod model;
pub mod nurture;
pub mod opportunities;
pub mod persist;
pub mod preview;
pub mod prometheus;
pub mod reps;
pub mod rescore;
pub mod review;
pub mod segment;
pub mod spend;
pub mod suppression;
pub mod webhook_endpoints;

/// One page of a list, with the total across pages.
#[derive(Debug, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}
