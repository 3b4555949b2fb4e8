//! Inbound formats mapped to the canonical [`LeadEvent`](crate::domain::LeadEvent).

pub mod canonical;
pub mod json;
