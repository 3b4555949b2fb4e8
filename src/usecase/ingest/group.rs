//! Group commit for single-event requests.
//!
//! Webhook sources mostly post one event per request, and a durable commit per event spends
//! the database's CPU on per-transaction work (a round trip per statement, a WAL flush) rather
//! than on the events. So single events are queued and the writer tasks (one by default) each
//! take whatever is waiting (up to `max_group` events) and ingest it as one unit of work.
//! Each request is still answered only after the transaction holding its event committed, and
//! a request that arrives while the writers are idle is written at once: under light load a
//! group is one event and nothing waits.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, pool::PoolConnection};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{IngestOutcome, LeadCache, Owed, Writer, write_and_hand_off, write_events};
use crate::{domain::LeadEvent, engine::RuleSet, error::ApiError};

/// How many writer tasks run groups, and how large a group may grow.
#[derive(Clone, Copy, Debug)]
pub struct GroupCommitSettings {
    pub writers: usize,
    pub max_group: usize,
    /// How many leads the writers keep in memory ([`LeadCache`]).
    pub lead_cache: usize,
}

/// A handle on the writer tasks; cheap to clone. The writers stop once every handle is dropped
/// and the queue is empty, so nothing queued is abandoned. Batches are written through the
/// same pool, outside the queue.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
    writer: Writer,
    totals: Arc<Counters>,
}

/// What the writers have done since start: how many groups, of how many events, and the wall
/// time spent writing them (from taking a group to answering it). The load generator reads
/// it to show how large groups are and what one costs at a given concurrency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupTotals {
    pub groups: u64,
    pub events: u64,
    pub write_micros: u64,
}

impl std::ops::Sub for GroupTotals {
    type Output = GroupTotals;

    fn sub(self, earlier: GroupTotals) -> GroupTotals {
        GroupTotals {
            groups: self.groups - earlier.groups,
            events: self.events - earlier.events,
            write_micros: self.write_micros - earlier.write_micros,
        }
    }
}

#[derive(Default)]
struct Counters {
    groups: AtomicU64,
    events: AtomicU64,
    write_micros: AtomicU64,
}

impl Counters {
    fn add(&self, events: usize, took: Duration) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.write_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

struct Pending {
    event: LeadEvent,
    now: DateTime<Utc>,
    reply: Reply,
}

type Reply = oneshot::Sender<Result<IngestOutcome, ApiError>>;

impl GroupCommit {
    /// Starts the writers on the current runtime; they write through `pool` (see
    /// [`crate::db::generic_plan_pool`] for why ingest wants its own).
    pub fn start(pool: PgPool, rules: Arc<RuleSet>, settings: GroupCommitSettings) -> Self {
        let max_group = settings.max_group.max(1);
        let (queue, receiver) = mpsc::channel(max_group * settings.writers.max(1) * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        let writer = Writer {
            pool,
            rules,
            cache: Arc::new(LeadCache::new(settings.lead_cache)),
        };
        let totals = Arc::new(Counters::default());
        for _ in 0..settings.writers.max(1) {
            tokio::spawn(write_groups(
                writer.clone(),
                receiver.clone(),
                max_group,
                totals.clone(),
            ));
        }
        Self {
            queue,
            writer,
            totals,
        }
    }

    /// The writers' totals so far.
    pub fn totals(&self) -> GroupTotals {
        GroupTotals {
            groups: self.totals.groups.load(Ordering::Relaxed),
            events: self.totals.events.load(Ordering::Relaxed),
            write_micros: self.totals.write_micros.load(Ordering::Relaxed),
        }
    }

    /// Ingests a batch as one unit of its own.
    pub async fn ingest_batch(
        &self,
        events: &[LeadEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>, ApiError> {
        write_and_hand_off(&self.writer, now, events).await
    }

    /// Ingests one event; returns once the transaction holding it has committed.
    pub async fn ingest(
        &self,
        event: LeadEvent,
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ApiError::Unavailable("the event writers are shutting down".to_owned());
        self.queue
            .send(Pending { event, now, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// One writer: takes what is queued, writes it as one group, answers, repeats.
async fn write_groups(
    writer: Writer,
    receiver: Arc<Mutex<mpsc::Receiver<Pending>>>,
    max_group: usize,
    totals: Arc<Counters>,
) {
    let mut group = Vec::with_capacity(max_group);
    let mut held = HeldConnection::default();
    loop {
        // Holding the lock only while taking keeps the other writers free to commit.
        if receiver.lock().await.recv_many(&mut group, max_group).await == 0 {
            return;
        }
        let (events, started) = (group.len(), Instant::now());
        write_group(&writer, &mut held, std::mem::take(&mut group)).await;
        totals.add(events, started.elapsed());
    }
}

/// How long a writer keeps a connection it has not used.
const KEEP_IDLE: Duration = Duration::from_secs(1);

/// The connection a writer keeps from one group to the next. The pool tests a connection with a
/// round trip when it hands one out and again when it takes it back: taking one per group cost
/// two round trips besides the group's one. A connection in steady use proves itself with each
/// write; one idle past [`KEEP_IDLE`], or on which a group failed, goes back to the pool.
#[derive(Default)]
struct HeldConnection {
    conn: Option<(PoolConnection<Postgres>, Instant)>,
}

impl HeldConnection {
    /// [`write_events`] on the kept connection. If that fails on a connection kept from an
    /// earlier group, it is tried once more on one the pool has just tested: the kept one may
    /// have died since (a database restart, a dropped socket), which the pool's test would
    /// have caught. An attempt is one transaction, so a retry cannot write anything twice.
    async fn write(
        &mut self,
        writer: &Writer,
        now: DateTime<Utc>,
        events: &[LeadEvent],
    ) -> Result<(Vec<IngestOutcome>, Owed), ApiError> {
        if self
            .conn
            .as_ref()
            .is_some_and(|(_, used)| used.elapsed() > KEEP_IDLE)
        {
            self.conn = None;
        }
        let kept = self.conn.is_some();
        let mut written = self.write_once(writer, now, events).await;
        if written.is_err() && kept {
            self.conn = None;
            written = self.write_once(writer, now, events).await;
        }
        if written.is_err() {
            self.conn = None;
        }
        written
    }

    async fn write_once(
        &mut self,
        writer: &Writer,
        now: DateTime<Utc>,
        events: &[LeadEvent],
    ) -> Result<(Vec<IngestOutcome>, Owed), ApiError> {
        if self.conn.is_none() {
            self.conn = Some((writer.pool.acquire().await?, Instant::now()));
        }
        let (conn, used) = self.conn.as_mut().expect("a connection was just taken");
        *used = Instant::now();
        write_events(writer, conn, now, events).await
    }
}

/// Writes one group and answers its requests; a request whose lead the group made MQL is
/// answered once that lead is assigned, by a task of its own so the writer moves on.
async fn write_group(writer: &Writer, held: &mut HeldConnection, group: Vec<Pending>) {
    let now = group
        .iter()
        .map(|p| p.now)
        .max()
        .expect("a group is never empty");
    // Moved, not cloned: a clone copied each event's profile and properties on the writer,
    // whose work between statements holds up every queued request.
    let (events, answers): (Vec<LeadEvent>, Vec<Answer>) = group
        .into_iter()
        .map(|p| (p.event, (p.now, p.reply)))
        .unzip();
    match held.write(writer, now, &events).await {
        Ok((outcomes, owed)) => {
            let mut creation_reported = std::collections::HashSet::new();
            let mut waiting = Vec::new();
            for ((_, reply), mut outcome) in answers.into_iter().zip(outcomes) {
                // The lead was created by this group: credit the first request that touched it.
                outcome.lead_created &= creation_reported.insert(outcome.lead_id);
                if owed.holds(outcome.lead_id) {
                    waiting.push((reply, outcome));
                } else {
                    let _ = reply.send(Ok(outcome));
                }
            }
            if !waiting.is_empty() {
                let writer = writer.clone();
                tokio::spawn(async move {
                    owed.settle(&writer.pool, &writer.rules, now).await;
                    for (reply, outcome) in waiting {
                        let _ = reply.send(Ok(outcome));
                    }
                });
            }
        }
        // Write alone whatever a failed group held, so one event's failure stays its own.
        Err(error) if events.len() > 1 => {
            tracing::warn!(events = events.len(), error = %error, "group failed; writing its events one by one");
            for (event, (now, reply)) in events.into_iter().zip(answers) {
                let result = write_and_hand_off(writer, now, &[event])
                    .await
                    .map(|mut outcomes| outcomes.remove(0));
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            let (_, reply) = answers.into_iter().next().expect("a group is never empty");
            let _ = reply.send(Err(error));
        }
    }
}

/// When a queued request was received, and where its outcome goes.
type Answer = (DateTime<Utc>, Reply);
