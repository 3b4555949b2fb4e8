//! Units of work: each runs in one transaction, calling the pure engine and the db modules.

pub mod accounts;
pub mod ingest;
pub mod lead_view;
