//! Background jobs. Each exposes `tick` (one pass at a given `now`, what tests call) and `run`
//! (the loop the service spawns). They coordinate through the database, so every replica may
//! run them.

pub mod sla_clock;
pub mod sweeper;
