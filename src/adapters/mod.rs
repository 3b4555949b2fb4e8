//! Inbound formats mapped to canonical types: lead events
//! ([`LeadEvent`](crate::domain::LeadEvent)) and rows of the tiered account list.

pub mod account_list;
pub mod backtest_csv;
pub mod calibration;
pub mod candidate_rules;
pub mod canonical;
pub mod json;
