//! Inbound formats mapped to canonical types: lead events
//! ([`LeadEvent`](crate::domain::LeadEvent)), rows of the tiered account list, and the
//! calibration requests (records to preview or backtest, candidate rules, rescoring), opportunity
//! events, and the
//! native payloads of other systems (HubSpot webhooks, Marketo webhooks, Salesforce Outbound
//! Messages, Segment calls); and the signing of outbound webhooks (Standard Webhooks).

pub mod account_list;
pub mod backtest_csv;
pub mod calibration;
pub mod candidate_rules;
pub mod canonical;
mod country;
pub mod crm_fields;
pub mod hubspot;
pub mod json;
pub mod marketo;
pub mod opportunity;
pub mod rescore_request;
pub mod salesforce;
pub mod segment;
pub mod slack;
pub mod standard_webhooks;
#[cfg(test)]
mod testing;
mod vendor_fields;
