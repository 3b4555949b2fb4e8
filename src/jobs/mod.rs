//! Background jobs. Each exposes `tick` (one pass at a given `now`, what tests call) and `run`
//! (the loop the service spawns). They coordinate through the database, so every replica may
//! run them.

pub mod crm_writeback;
pub mod dispatcher;
pub mod governance;
pub mod metrics_fold;
pub mod sla_clock;
pub mod sweeper;

use std::{future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::metrics::JobRun;

/// Runs `tick` every `interval` until `shutdown`; a failed tick is logged as `what failed` and
/// tried again at the next interval. A tick in progress finishes before shutdown returns.
/// Each tick is counted and timed as a run of `job` (`leadrouter_job_runs_total`).
pub async fn every<F, Fut, R>(
    job: &'static str,
    what: &str,
    interval: Duration,
    shutdown: CancellationToken,
    tick: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<R>>,
{
    loop {
        let run = JobRun::start(job);
        let result = tick().await;
        run.finish(result.is_ok());
        if let Err(error) = result {
            tracing::error!(job, error = format!("{error:#}"), "{what} failed");
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
