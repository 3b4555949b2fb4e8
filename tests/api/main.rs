//! The integration tests: one binary, the real service over HTTP, a real PostgreSQL database
//! per test (`test_db::TestDb`).

mod accounts;
mod auth;
mod backtest;
mod calibration;
mod concurrency;
mod crm_writeback;
mod crm_writeback_salesforce;
mod dashboard;
mod dispatch;
mod disqualification;
mod faults;
mod funnel_seed;
mod fuzz;
mod handoff;
mod health;
mod helpers;
mod hubspot;
mod ingest;
mod leads;
mod marketo;
mod metrics;
mod metrics_requests;
mod notifications;
mod nurture;
mod rescore;
mod salesforce;
mod salesforce_writeback;
mod segment;
mod sla;
mod slow_clients;
mod startup;
mod suppression;
mod test_db;
mod validation;
mod webhook_endpoints;
