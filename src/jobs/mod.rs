//! Background jobs. Each exposes `tick` (one pass at a given `now`, what tests call) and `run`
//! (the loop the service spawns). They coordinate through the database, so every replica may
//! run them.

pub mod crm_writeback;
pub mod dispatcher;
pub mod metrics_fold;
pub mod sla_clock;
pub mod sweeper;

use std::{future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

/// Runs `tick` every `interval` until `shutdown`; a failed tick is logged as `what failed` and
/// tried again at the next interval. A tick in progress finishes before shutdown returns.
pub async fn every<F, Fut, R>(what: &str, interval: Duration, shutdown: CancellationToken, tick: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<R>>,
{
    loop {
        if let Err(error) = tick().await {
            tracing::error!(job = what, error = format!("{error:#}"), "{what} failed");
        }
        if shutdown
            .run_until_cancelled(tokio::time::sleep(interval))
            .await
            .is_none()
        {
            return;
        }
    }
}
