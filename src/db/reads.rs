//! Where reads that may lag go: a streaming replica while it is fresh enough, else the
//! primary.
//!
//! Freshness is judged by WAL position, not by the replica's last replayed commit time (which
//! stands still whenever the primary is idle): every [`SAMPLE_EVERY`] the primary's WAL
//! position is noted, and the replica is fresh while it has replayed past the position the
//! primary had `max_lag` ago. Everything committed before then is on the replica, so a read
//! from it misses at most the last `max_lag` of writes. A replica that cannot be asked, or
//! falls further behind, serves nothing until it catches up; reads go to the primary.

use std::{
    collections::VecDeque,
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{config::DatabaseSettings, error::ApiError};

/// How often the primary's and the replica's WAL positions are compared.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// How long one comparison may take; past it the replica counts as not fresh.
const SAMPLE_TIMEOUT: Duration = Duration::from_millis(250);

/// The pool for reads that may lag by a bounded time. Cheap to clone.
#[derive(Clone)]
pub struct Reads {
    primary: PgPool,
    replica: Option<Replica>,
}

#[derive(Clone)]
struct Replica {
    pool: PgPool,
    fresh: Arc<AtomicBool>,
    /// Stops the freshness watch once the last clone is gone.
    _watch: Arc<DropGuard>,
}

impl Reads {
    /// Reads from `primary` only.
    fn primary(primary: PgPool) -> Self {
        Self {
            primary,
            replica: None,
        }
    }

    /// Reads from the replica at `settings.read_url`, if one is set, while it lags the
    /// primary by less than `settings.read_max_lag_ms`; starts watching it on the current
    /// runtime. The replica is connected to lazily: one that is down at start is only not
    /// fresh.
    pub fn from_settings(primary: PgPool, settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let Some(url) = &settings.read_url else {
            return Ok(Self::primary(primary));
        };
        let options = PgConnectOptions::from_str(url.expose())
            .map_err(|_| anyhow::anyhow!("database.read_url is not a PostgreSQL URL"))?
            .application_name("leadrouter-reads");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
            .connect_lazy_with(options);
        let fresh = Arc::new(AtomicBool::new(false));
        let stop = CancellationToken::new();
        tokio::spawn(watch(
            primary.clone(),
            pool.clone(),
            fresh.clone(),
            Duration::from_millis(settings.read_max_lag_ms),
            stop.clone(),
        ));
        Ok(Self {
            primary,
            replica: Some(Replica {
                pool,
                fresh,
                _watch: Arc::new(stop.drop_guard()),
            }),
        })
    }

    /// Runs `read` on the replica while it is fresh, else on the primary. A read the replica
    /// fails for want of itself (gone, or a query cancelled by its replay) is run again on the
    /// primary, and the replica serves nothing more until its next sample finds it fresh. So
    /// is one it answers "not found": a lead created within the bound (whose id the webhook's
    /// answer just gave) is found on the primary.
    pub async fn read<T, E, F>(&self, read: impl Fn(PgPool) -> F) -> Result<T, ApiError>
    where
        F: Future<Output = Result<T, E>>,
        E: Into<ApiError>,
    {
        if let Some(replica) = &self.replica
            && replica.fresh.load(Ordering::Relaxed)
        {
            match read(replica.pool.clone()).await.map_err(Into::into) {
                Err(error @ (ApiError::DatabaseUnreachable(_) | ApiError::Unavailable(_))) => {
                    replica.fresh.store(false, Ordering::Relaxed);
                    tracing::warn!(%error, "read replica failed a read; reading from the primary");
                }
                Err(ApiError::NotFound(_)) => {}
                answered => return answered,
            }
        }
        read(self.primary.clone()).await.map_err(Into::into)
    }
}

/// Keeps `fresh` telling whether `replica` has replayed what `primary` had written `max_lag`
/// ago, until `stop`.
async fn watch(
    primary: PgPool,
    replica: PgPool,
    fresh: Arc<AtomicBool>,
    max_lag: Duration,
    stop: CancellationToken,
) {
    let mut positions = PrimaryPositions::default();
    let mut was_fresh = false;
    loop {
        // Stamped before the primary is asked: its answer describes it no earlier than this.
        let at = Instant::now();
        let sampled = tokio::time::timeout(SAMPLE_TIMEOUT, sample(&primary, &replica))
            .await
            .unwrap_or_else(|_| Err(sqlx::Error::PoolTimedOut));
        let now_fresh = match sampled {
            Ok((written, replayed)) => {
                positions.push(at, written);
                // The flag holds until the next sample is in, so the window is shorter by
                // the longest that can take.
                let window = max_lag.saturating_sub(SAMPLE_EVERY + SAMPLE_TIMEOUT);
                replayed >= positions.oldest_within(Instant::now(), window)
            }
            Err(error) => {
                if was_fresh {
                    tracing::warn!(%error, "read replica unreachable; reading from the primary");
                }
                false
            }
        };
        fresh.store(now_fresh, Ordering::Relaxed);
        if now_fresh != was_fresh {
            tracing::info!(fresh = now_fresh, "read replica freshness changed");
            was_fresh = now_fresh;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SAMPLE_EVERY) => {}
        }
    }
}

/// The primary's WAL insert position (past every commit made before, asynchronous ones too)
/// and the replica's replay position, in bytes.
async fn sample(primary: &PgPool, replica: &PgPool) -> sqlx::Result<(i64, i64)> {
    let written: i64 = sqlx::query_scalar("select (pg_current_wal_insert_lsn() - '0/0')::int8")
        .fetch_one(primary)
        .await?;
    let replayed: Option<i64> =
        sqlx::query_scalar("select (pg_last_wal_replay_lsn() - '0/0')::int8")
            .fetch_one(replica)
            .await?;
    // Not a standby (no replay position): never fresh, so never read from.
    Ok((written, replayed.unwrap_or(i64::MIN)))
}

/// The primary's WAL positions noted lately, oldest first.
#[derive(Debug, Default)]
struct PrimaryPositions(VecDeque<(Instant, i64)>);

impl PrimaryPositions {
    fn push(&mut self, at: Instant, position: i64) {
        self.0.push_back((at, position));
    }

    /// The oldest position noted within `window` before `now` (forgetting older ones): every
    /// commit made before `now - window` lies below it. At least the newest position is kept.
    fn oldest_within(&mut self, now: Instant, window: Duration) -> i64 {
        while self.0.len() > 1 && self.0[0].0 + window < now {
            self.0.pop_front();
        }
        self.0.front().map_or(i64::MAX, |(_, position)| *position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_to_reach_is_the_oldest_within_the_window() {
        let t = Instant::now();
        let mut positions = PrimaryPositions::default();
        for (ms, position) in [(0, 100), (200, 150), (400, 300), (600, 320)] {
            positions.push(t + Duration::from_millis(ms), position);
        }
        let window = Duration::from_millis(300);
        // At 600 ms, commits before 300 ms are below what was written at 400 ms.
        assert_eq!(
            positions.oldest_within(t + Duration::from_millis(600), window),
            300
        );
        // Much later, only the newest position is left to reach.
        assert_eq!(
            positions.oldest_within(t + Duration::from_secs(10), window),
            320
        );
        assert_eq!(
            PrimaryPositions::default().oldest_within(t, window),
            i64::MAX
        );
    }
}
