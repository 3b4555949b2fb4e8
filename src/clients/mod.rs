//! Clients of the vendors' APIs the connectors call.

pub mod hubspot;
pub mod crm;
