//! The dispatcher: sends outbox messages to the webhook endpoints subscribed to their topic,
//! signed per Standard Webhooks, retrying on the Standard Webhooks schedule (docs/outbound.md).
//!
//! Deliveries are claimed in the database (`for update skip locked`, leased past the attempt
//! timeout), so any number of replicas may run it: a delivery goes out once per attempt, and a
//! replica that dies mid-attempt leaves it due again when the lease ends. Delivery is at least
//! once; receivers dedupe on `webhook-id`.

pub mod schedule;
mod send;

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::Rng;
use sqlx::{
    PgPool,
    postgres::{PgListener, PgPoolOptions},
};
use tokio::{
    sync::{Notify, mpsc},
    task::{self, JoinSet},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use send::client;

use crate::{
    app::Clock,
    config::JobSettings,
    db::deliveries::{self, Attempt, Claim, Due, InFlight, Outcome},
};

/// The channel the outbox trigger notifies when it adds deliveries.
pub const CHANNEL: &str = "outbox_deliveries";

/// How far past the attempt timeout a claim reaches, for the recording of the outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Ended attempts recorded in one transaction at most.
const RECORD_BATCH: usize = 500;

/// Ended attempts waiting to be recorded at most; past it, attempts keep their slots.
const RECORD_QUEUE: usize = 2 * RECORD_BATCH;

/// How long the recorder waits for more ended attempts before recording a batch that is not
/// full: a handful of statements per batch, so fewer, larger batches cost the database less.
/// Delays only the record, not the delivery.
const RECORD_LINGER: Duration = Duration::from_millis(20);

/// The dispatcher's connections: claims, the recorder, and the listener.
const DISPATCHER_CONNECTIONS: u32 = 3;

/// After a failed claim or a lost listener, the wait before trying again.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// The dispatcher's settings (`jobs.dispatcher_*`).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub poll_interval: Duration,
    /// Deliveries in flight at most.
    pub batch: i64,
    pub attempt_timeout: Duration,
    /// Deliveries in flight per endpoint at most.
    pub per_endpoint: i32,
    /// The link to a lead in Slack messages, `{id}` standing for its id.
    pub lead_url: &'static str,
}

impl Settings {
    /// The `jobs.dispatcher_*` settings.
    pub fn from_jobs(jobs: &JobSettings) -> Self {
        Self {
            poll_interval: Duration::from_secs(jobs.dispatcher_poll_interval_secs),
            batch: jobs.dispatcher_batch,
            attempt_timeout: Duration::from_secs(jobs.dispatcher_attempt_timeout_secs),
            per_endpoint: jobs.dispatcher_endpoint_concurrency,
            // Made once per process, for the life of the process.
            lead_url: Box::leak(jobs.dispatcher_lead_url.clone().into_boxed_str()),
        }
    }

    fn claim(&self, limit: i64) -> Claim {
        Claim {
            limit,
            per_endpoint: self.per_endpoint,
            lease: lease(self.attempt_timeout + LEASE_MARGIN),
        }
    }

    /// A claim that also takes one round of each endpoint's slots ahead: those wait at most
    /// one attempt's timeout for a slot, so their lease is one timeout longer.
    fn claim_ahead(&self, limit: i64) -> Claim {
        Claim {
            limit,
            per_endpoint: 2 * self.per_endpoint,
            lease: lease(2 * self.attempt_timeout + LEASE_MARGIN),
        }
    }
}

fn lease(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DispatchReport {
    pub delivered: usize,
    pub retried: usize,
    /// Given up: the schedule ran out.
    pub dead: usize,
    /// Given up: the receiver answered 410 and its endpoint is disabled.
    pub gone: usize,
}

impl DispatchReport {
    fn add(&mut self, outcome: Outcome) {
        attempted(outcome);
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Retry { .. } => self.retried += 1,
            Outcome::Dead => self.dead += 1,
            Outcome::Gone => self.gone += 1,
        }
    }
}

/// Counts one attempt by its outcome (`leadrouter_outbox_attempts_total`).
fn attempted(outcome: Outcome) {
    crate::metrics::delivery_attempt(match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Dead => "dead",
        Outcome::Gone => "gone",
    });
}

/// One pass at `now`: claims what is due (up to the batch, a few per endpoint), sends it all
/// at once and records each attempt as it ends, so a slow receiver delays only itself.
#[tracing::instrument(skip_all)]
pub async fn tick(
    pool: &PgPool,
    client: &reqwest::Client,
    now: DateTime<Utc>,
    settings: Settings,
) -> anyhow::Result<DispatchReport> {
    let mut conn = pool.acquire().await?;
    let due = deliveries::claim_due(&mut conn, now, settings.claim(settings.batch), &[])
        .await
        .context("claiming due deliveries")?;
    drop(conn);
    let mut sending = JoinSet::new();
    for due in due {
        let (pool, client) = (pool.clone(), client.clone());
        sending.spawn(async move { deliver(&pool, (&client, settings), &due, now).await });
    }
    let mut report = DispatchReport::default();
    let mut failed = None;
    while let Some(done) = sending.join_next().await {
        match done.context("a delivery task panicked").and_then(|r| r) {
            Ok(outcome) => report.add(outcome),
            Err(error) => failed = Some(error),
        }
    }
    if let Some(error) = failed {
        return Err(error);
    }
    Ok(report)
}

/// Sends `due` at `now` and records the attempt on its own; returns its outcome.
async fn deliver(
    pool: &PgPool,
    (client, settings): (&reqwest::Client, Settings),
    due: &Due,
    now: DateTime<Utc>,
) -> anyhow::Result<Outcome> {
    let finished = attempt(client, settings, due.clone(), now).await;
    let mut tx = pool.begin().await?;
    deliveries::record(&mut tx, &[(finished.attempt.clone(), finished.outcome)])
        .await
        .context("recording a delivery attempt")?;
    tx.commit().await?;
    finished.log();
    Ok(finished.outcome)
}

/// An attempt that has ended, judged, to be recorded.
struct Finished {
    due: Due,
    attempt: Attempt,
    outcome: Outcome,
}

/// Sends `due` at `now` and judges the answer.
async fn attempt(
    client: &reqwest::Client,
    settings: Settings,
    due: Due,
    now: DateTime<Utc>,
) -> Finished {
    let sent = send::attempt(client, settings, &due, now.timestamp()).await;
    let latency = chrono::Duration::from_std(sent.latency).unwrap_or(chrono::Duration::MAX);
    let finished_at = now + latency;
    let jitter = rand::thread_rng().gen_range(-1.0..=1.0);
    let outcome = schedule::outcome(&sent.answer, due.attempts, finished_at, jitter);
    let attempt = Attempt {
        delivery_id: due.delivery_id,
        message_id: due.message_id,
        endpoint_id: due.endpoint_id,
        attempted_at: now,
        finished_at,
        status_code: sent.answer.status.map(i32::from),
        latency_ms: i32::try_from(sent.latency.as_millis()).unwrap_or(i32::MAX),
        error: sent.error,
    };
    Finished {
        due,
        attempt,
        outcome,
    }
}

impl Finished {
    fn log(&self) {
        log(&self.due, &self.attempt, self.outcome);
    }
}

fn log(due: &Due, attempt: &Attempt, outcome: Outcome) {
    let (id, endpoint, topic) = (due.message_id, due.endpoint_id, due.topic.as_str());
    let (status, latency, error) = (
        attempt.status_code,
        attempt.latency_ms,
        attempt.error.as_deref(),
    );
    let number = due.attempts + 1;
    match outcome {
        Outcome::Delivered => tracing::debug!(
            outbox.id = id, endpoint.id = %endpoint, topic, attempt = number,
            http.status = status, duration_ms = latency, "delivered"
        ),
        Outcome::Retry { at } => tracing::info!(
            outbox.id = id, endpoint.id = %endpoint, topic, attempt = number,
            http.status = status, duration_ms = latency, error, retry_at = %at,
            "delivery failed; retrying"
        ),
        Outcome::Dead => tracing::warn!(
            outbox.id = id, endpoint.id = %endpoint, topic, attempt = number,
            http.status = status, duration_ms = latency, error,
            "delivery failed for the last time; dead"
        ),
        Outcome::Gone => tracing::warn!(
            outbox.id = id, endpoint.id = %endpoint, topic, attempt = number,
            "the receiver answered 410 Gone; endpoint disabled, its pending deliveries dead"
        ),
    }
}

/// Dispatches until `shutdown`, then lets attempts in flight finish (each within the attempt
/// timeout) and records them. Woken by the outbox trigger's notifications, by attempts ending
/// (room for more), and every poll interval (retries falling due, notifications missed while
/// the listener reconnected).
///
/// An attempt's slot frees as soon as its answer is in, and the next one claimed for that
/// endpoint starts at once: each endpoint's claim reaches one round of slots ahead, so a
/// receiver that keeps up costs one claim per round of attempts, not one per attempt. The
/// outcomes are recorded by one task, many per transaction, so the rate is not one commit
/// per delivery. Until recorded, a claimed delivery stays leased, so no dispatcher sends it
/// again meanwhile.
pub async fn run(pool: PgPool, clock: Clock, settings: Settings, shutdown: CancellationToken) {
    let pool = unsynced(&pool);
    let wake = Arc::new(Notify::new());
    let listening = tokio::spawn(listen(pool.clone(), wake.clone(), shutdown.clone()));
    let (finished, to_record) = mpsc::channel(RECORD_QUEUE);
    let recording = tokio::spawn(record_batches(pool.clone(), to_record));
    let mut running = Running {
        client: client(settings.attempt_timeout),
        pool,
        clock,
        settings,
        sending: JoinSet::new(),
        endpoints: HashMap::new(),
        endpoints_busy: HashMap::new(),
        ahead: HashMap::new(),
        held: HashSet::new(),
        claim_wanted: true,
        finished,
    };
    // A claim is due a poll interval after the last one however often attempts end
    // meanwhile, and none is made within the pause after a failed one.
    let (mut next_poll, mut resume_at) = (Instant::now(), Instant::now());
    loop {
        let now = Instant::now();
        if now >= resume_at && (std::mem::take(&mut running.claim_wanted) || now >= next_poll) {
            let run = crate::metrics::JobRun::start("dispatcher");
            let claimed = running.claim_and_send().await;
            run.finish(claimed.is_ok());
            let pause = match claimed {
                Ok(()) => settings.poll_interval,
                Err(error) => {
                    tracing::error!(error = %error, "claiming due deliveries failed");
                    resume_at = Instant::now() + ERROR_PAUSE;
                    ERROR_PAUSE
                }
            };
            next_poll = Instant::now() + pause;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = wake.notified() => running.claim_wanted = true,
            Some(done) = running.sending.join_next_with_id(), if !running.sending.is_empty() => {
                running.ended(done);
                while let Some(done) = running.sending.try_join_next_with_id() {
                    running.ended(done);
                }
                running.start_ahead();
            }
            () = tokio::time::sleep_until(next_poll) => {}
        }
    }
    running.release_ahead().await;
    while running.sending.join_next().await.is_some() {}
    drop(running);
    let _ = recording.await;
    listening.abort();
}

/// The dispatcher's own connections to `pool`'s database, committing without waiting for the
/// WAL flush: a claim or a recorded attempt lost to a database crash only makes a delivery due
/// again, which at-least-once delivery (one message id) allows, and a commit per batch no
/// longer waits on the disk.
fn unsynced(pool: &PgPool) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .options([("synchronous_commit", "off")]);
    PgPoolOptions::new()
        .max_connections(DISPATCHER_CONNECTIONS)
        .acquire_timeout(pool.options().get_acquire_timeout())
        .connect_lazy_with(options)
}

/// Records what `to_record` receives until every sender is gone: what is waiting, and what
/// arrives within [`RECORD_LINGER`] after, in one transaction. A batch that cannot be
/// recorded is tried once more; then its deliveries stay leased and are sent again when the
/// lease ends (at least once).
async fn record_batches(pool: PgPool, mut to_record: mpsc::Receiver<Finished>) {
    let mut batch = Vec::new();
    while to_record.recv_many(&mut batch, RECORD_BATCH).await > 0 {
        if batch.len() < RECORD_BATCH {
            tokio::time::sleep(RECORD_LINGER).await;
            while batch.len() < RECORD_BATCH {
                let Ok(finished) = to_record.try_recv() else {
                    break;
                };
                batch.push(finished);
            }
        }
        // A 410 disables its endpoint and kills the endpoint's other pending deliveries: each
        // is recorded alone, after the rest, as it would be one by one.
        let (gone, rest): (Vec<Finished>, Vec<Finished>) =
            batch.drain(..).partition(|f| f.outcome == Outcome::Gone);
        record_logged(&pool, &rest).await;
        for finished in gone {
            record_logged(&pool, std::slice::from_ref(&finished)).await;
        }
    }
}

/// Records `batch` in one transaction (tried twice) and logs each attempt once recorded.
async fn record_logged(pool: &PgPool, batch: &[Finished]) {
    if batch.is_empty() {
        return;
    }
    let attempts: Vec<(Attempt, Outcome)> = batch
        .iter()
        .map(|f| (f.attempt.clone(), f.outcome))
        .collect();
    let mut result = record_in_one(pool, &attempts).await;
    if result.is_err() {
        tokio::time::sleep(ERROR_PAUSE).await;
        result = record_in_one(pool, &attempts).await;
    }
    match result {
        Ok(()) => batch.iter().for_each(Finished::log),
        Err(error) => tracing::error!(
            attempts = batch.len(),
            error = format!("{error:#}"),
            "recording delivery attempts failed; they are sent again when their lease ends"
        ),
    }
}

async fn record_in_one(pool: &PgPool, attempts: &[(Attempt, Outcome)]) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    deliveries::record(&mut tx, attempts)
        .await
        .context("recording delivery attempts")?;
    tx.commit().await?;
    Ok(())
}

/// The running job's claimed deliveries: in flight, and claimed ahead of a free slot.
struct Running {
    pool: PgPool,
    client: reqwest::Client,
    clock: Clock,
    settings: Settings,
    sending: JoinSet<Outcome>,
    /// The endpoint and delivery each task in `sending` sends.
    endpoints: HashMap<task::Id, (Uuid, i64)>,
    /// Deliveries in flight per endpoint (those with none are absent).
    endpoints_busy: HashMap<Uuid, i32>,
    /// Claimed for each endpoint, waiting for one of its slots, oldest first.
    ahead: HashMap<Uuid, VecDeque<Due>>,
    /// The deliveries in `ahead` and in flight: a claim that returns one again (its lease
    /// ended while it waited) does not make it held twice.
    held: HashSet<i64>,
    /// Whether to claim before waiting again: woken, or an endpoint ran out of claimed work.
    claim_wanted: bool,
    /// Where ended attempts go to be recorded.
    finished: mpsc::Sender<Finished>,
}

impl Running {
    /// Frees the slot of an attempt that has ended. An endpoint with nothing claimed ahead may
    /// have more due; after a 410 its claimed deliveries are not sent (the recorder kills them).
    fn ended(&mut self, done: Result<(task::Id, Outcome), task::JoinError>) {
        let (id, outcome) = match done {
            Ok((id, outcome)) => (id, Some(outcome)),
            Err(panicked) => (panicked.id(), None),
        };
        if let Some(outcome) = outcome {
            attempted(outcome);
        }
        let Some((endpoint, delivery)) = self.endpoints.remove(&id) else {
            return;
        };
        self.held.remove(&delivery);
        if let Some(busy) = self.endpoints_busy.get_mut(&endpoint) {
            *busy -= 1;
            if *busy <= 0 {
                self.endpoints_busy.remove(&endpoint);
            }
        }
        if outcome == Some(Outcome::Gone) {
            // Not claimed for again: until its 410 is recorded the endpoint is still enabled.
            for due in self.ahead.remove(&endpoint).unwrap_or_default() {
                self.held.remove(&due.delivery_id);
            }
        } else if self.ahead.get(&endpoint).is_none_or(VecDeque::is_empty) {
            self.claim_wanted = true;
        }
    }

    /// Claims what is due now for each endpoint, up to its free slots and one round of slots
    /// ahead, and starts what fits.
    async fn claim_and_send(&mut self) -> sqlx::Result<()> {
        let claimed = self.sending.len() + self.ahead.values().map(VecDeque::len).sum::<usize>();
        let room = 2 * self.settings.batch - i64::try_from(claimed).unwrap_or(i64::MAX);
        if room > 0 {
            let mut counts = self.endpoints_busy.clone();
            for (endpoint, ahead) in &self.ahead {
                *counts.entry(*endpoint).or_default() += i32::try_from(ahead.len()).unwrap_or(0);
            }
            let claimed: Vec<InFlight> = counts
                .into_iter()
                .map(|(endpoint_id, count)| InFlight { endpoint_id, count })
                .collect();
            let mut conn = self.pool.acquire().await?;
            let due = deliveries::claim_due(
                &mut conn,
                (self.clock)(),
                self.settings.claim_ahead(room),
                &claimed,
            )
            .await?;
            drop(conn);
            for due in due {
                if self.held.insert(due.delivery_id) {
                    self.ahead
                        .entry(due.endpoint_id)
                        .or_default()
                        .push_back(due);
                }
            }
        }
        self.start_ahead();
        Ok(())
    }

    /// Starts the deliveries claimed ahead that have a free slot, within the batch, one per
    /// endpoint in turn so that no endpoint's backlog takes every free slot. One whose lease
    /// has too little left for an attempt is let go: it is due again when the lease ends.
    fn start_ahead(&mut self) {
        let batch = usize::try_from(self.settings.batch).unwrap_or(usize::MAX);
        let enough = lease(self.settings.attempt_timeout + LEASE_MARGIN);
        let mut started = true;
        while started && self.sending.len() < batch {
            started = false;
            let now = (self.clock)();
            let endpoints: Vec<Uuid> = self.ahead.keys().copied().collect();
            for endpoint in endpoints {
                if self.sending.len() >= batch {
                    break;
                }
                let busy = self.endpoints_busy.get(&endpoint).copied().unwrap_or(0);
                if busy >= self.settings.per_endpoint {
                    continue;
                }
                let Some(due) = self.next_ahead(endpoint, now + enough) else {
                    continue;
                };
                self.start(due, now);
                started = true;
            }
        }
        self.ahead.retain(|_, ahead| !ahead.is_empty());
    }

    /// The next delivery claimed for `endpoint` whose lease lasts past `until`, letting go
    /// of those whose lease does not.
    fn next_ahead(&mut self, endpoint: Uuid, until: DateTime<Utc>) -> Option<Due> {
        let ahead = self.ahead.get_mut(&endpoint)?;
        while let Some(due) = ahead.pop_front() {
            if due.lease_end >= until {
                return Some(due);
            }
            self.held.remove(&due.delivery_id);
            self.claim_wanted = true;
        }
        None
    }

    /// Sends `due` in a task of its own.
    fn start(&mut self, due: Due, now: DateTime<Utc>) {
        let (client, settings) = (self.client.clone(), self.settings);
        let (endpoint, delivery) = (due.endpoint_id, due.delivery_id);
        let finished = self.finished.clone();
        let handle = self.sending.spawn(async move {
            let ended = attempt(&client, settings, due, now).await;
            let outcome = ended.outcome;
            // Waits while the recorder is behind, so the slot stays taken: attempts never run
            // further ahead of their records than the queue, well within the lease. The
            // recorder outlives every sender.
            let _ = finished.send(ended).await;
            outcome
        });
        self.endpoints.insert(handle.id(), (endpoint, delivery));
        *self.endpoints_busy.entry(endpoint).or_default() += 1;
    }

    /// Makes the deliveries claimed ahead due again at once, for another dispatcher (or this
    /// one's next start) rather than when their lease ends.
    async fn release_ahead(&mut self) {
        let claims: Vec<(i64, DateTime<Utc>)> = self
            .ahead
            .drain()
            .flat_map(|(_, ahead)| {
                ahead
                    .into_iter()
                    .map(|due| (due.delivery_id, due.lease_end))
            })
            .collect();
        if claims.is_empty() {
            return;
        }
        let released = async {
            let mut conn = self.pool.acquire().await?;
            deliveries::release(&mut conn, &claims, (self.clock)()).await
        };
        if let Err(error) = released.await {
            tracing::warn!(
                deliveries = claims.len(),
                error = %error,
                "releasing claimed deliveries failed; they are due again when their lease ends"
            );
        }
    }
}

/// Wakes the dispatcher on every notification of [`CHANNEL`], and after a reconnect (some may
/// have been missed). Reconnects after a pause when the connection fails.
async fn listen(pool: PgPool, wake: Arc<Notify>, shutdown: CancellationToken) {
    loop {
        let mut listener = match subscribe(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "dispatcher cannot LISTEN; polling"
                );
                if shutdown
                    .run_until_cancelled(tokio::time::sleep(ERROR_PAUSE))
                    .await
                    .is_none()
                {
                    return;
                }
                continue;
            }
        };
        // A notification missed while not listening is picked up here.
        wake.notify_one();
        loop {
            match shutdown.run_until_cancelled(listener.try_recv()).await {
                None => return,
                Some(Ok(_)) => wake.notify_one(),
                Some(Err(error)) => {
                    tracing::warn!(error = %error, "dispatcher lost its LISTEN connection");
                    break;
                }
            }
        }
    }
}

async fn subscribe(pool: &PgPool) -> anyhow::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool)
        .await
        .context("connecting the listener")?;
    listener
        .listen(CHANNEL)
        .await
        .with_context(|| format!("LISTEN {CHANNEL}"))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(delivery_id: i64, endpoint_id: Uuid, lease_end: DateTime<Utc>) -> Due {
        Due {
            delivery_id,
            message_id: delivery_id,
            topic: "rep.assigned".to_owned(),
            payload: serde_json::json!({}),
            created_at: lease_end,
            endpoint_id,
            url: "http://127.0.0.1:1/".to_owned(),
            secret: String::new(),
            format: "standard_webhooks".to_owned(),
            attempts: 0,
            lease_end,
        }
    }

    #[tokio::test]
    async fn a_delivery_whose_lease_ran_short_while_it_waited_is_let_go_not_sent() {
        let now = Utc::now();
        let settings = Settings {
            poll_interval: Duration::from_secs(1),
            batch: 10,
            attempt_timeout: Duration::from_secs(10),
            per_endpoint: 2,
            lead_url: "",
        };
        let (finished, _to_record) = mpsc::channel(1);
        let mut running = Running {
            pool: PgPoolOptions::new()
                .connect_lazy("postgres://127.0.0.1:1/none")
                .unwrap(),
            client: client(settings.attempt_timeout),
            clock: Arc::new(move || now),
            settings,
            sending: JoinSet::new(),
            endpoints: HashMap::new(),
            endpoints_busy: HashMap::new(),
            ahead: HashMap::new(),
            held: HashSet::from([1, 2]),
            claim_wanted: false,
            finished,
        };
        let endpoint = Uuid::now_v7();
        let short = now + chrono::Duration::seconds(20);
        let long = now + chrono::Duration::seconds(50);
        running.ahead.insert(
            endpoint,
            VecDeque::from([due(1, endpoint, short), due(2, endpoint, long)]),
        );
        let enough = now + lease(settings.attempt_timeout + LEASE_MARGIN);
        let next = running
            .next_ahead(endpoint, enough)
            .expect("the one with time left");
        assert_eq!(next.delivery_id, 2);
        assert_eq!(running.held, HashSet::from([2]));
        assert!(
            running.claim_wanted,
            "what was let go is claimed again once due"
        );
    }
}
