//! Clients of the vendors' APIs the connectors call.

pub mod crm;
pub mod hubspot;
