//! Group commit for single-event requests.
//!
//! Webhook sources mostly post one event per request, and a durable commit per event spends
//! the database's CPU on per-transaction work (a round trip per statement, a WAL flush) rather
//! than on the events. So single events are queued and the writer tasks (one by default) each
//! take whatever is waiting (up to `max_group` events) and ingest it as one unit of work.
//! Each request is still answered only after the transaction holding its event committed, and
//! a request that arrives while the writers are idle is written at once: under light load a
//! group is one event and nothing waits.
//!
//! A writer plans its next group while the database writes the current one: once as many
//! events wait as the current group holds, it takes them, runs the engine on them (reading
//! what the cache lacks on a second connection) and encodes their statement, so that the
//! statement goes out as soon as the current one is answered; only then does it answer the
//! current group's requests. Otherwise that work sat between every two statements with the
//! database idle: measured at c=16, 110 to 210 µs of a 1 ms group, of which encoding was 45
//! (at c=64, 140 to 330 µs of 30 events' encoding alone). A group sharing a lead with the one
//! being written is planned only after it: read now, that lead would be at the version
//! before, and the write would fail its version check.
//!
//! When the database is out of reach, a request is answered 503 within about the pool's
//! acquire timeout from when it was queued: a writer waits for a connection no longer than
//! its group's oldest request allows, and a group that failed for want of the database is
//! answered 503 at once rather than replayed event by event against it.

use std::{
    collections::HashSet,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::Poll,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, pool::PoolConnection};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use super::{IngestOutcome, LeadCache, Planned, Writer, plan, write_events, write_unit};
use crate::{domain::LeadEvent, engine::RuleSet, error::ApiError};

/// How many writer tasks run groups, and how large a group may grow.
#[derive(Clone, Copy, Debug)]
pub struct GroupCommitSettings {
    pub writers: usize,
    pub max_group: usize,
    /// The bytes of leads the writers keep in memory ([`LeadCache`]).
    pub lead_cache_bytes: usize,
}

/// A handle on the writer tasks; cheap to clone. The writers stop once every handle is dropped
/// and the queue is empty, so nothing queued is abandoned. Batches are written through the
/// same pool, outside the queue.
#[derive(Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Pending>,
    writer: Writer,
    totals: Arc<Counters>,
    ahead: Arc<Ahead>,
}

/// What the writers have done since start: how many groups, of how many events, and the wall
/// time spent writing them (from taking a group to its statement's answer); and how many groups were
/// planned, ready to write, while the group before them was written. The load generator
/// reads it to show how large groups are and what one costs at a given concurrency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupTotals {
    pub groups: u64,
    pub events: u64,
    pub write_micros: u64,
    pub planned_ahead: u64,
}

impl std::ops::Sub for GroupTotals {
    type Output = GroupTotals;

    fn sub(self, earlier: GroupTotals) -> GroupTotals {
        GroupTotals {
            groups: self.groups - earlier.groups,
            events: self.events - earlier.events,
            write_micros: self.write_micros - earlier.write_micros,
            planned_ahead: self.planned_ahead - earlier.planned_ahead,
        }
    }
}

#[derive(Default)]
struct Counters {
    groups: AtomicU64,
    events: AtomicU64,
    write_micros: AtomicU64,
    planned_ahead: AtomicU64,
}

impl Counters {
    /// A group of `events` written in `took`; `planned_ahead` if the next one was planned
    /// meanwhile.
    fn add(&self, events: usize, took: Duration, planned_ahead: bool) {
        self.groups.fetch_add(1, Ordering::Relaxed);
        self.planned_ahead
            .fetch_add(u64::from(planned_ahead), Ordering::Relaxed);
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.write_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

struct Pending {
    event: LeadEvent,
    now: DateTime<Utc>,
    /// When the request was queued: it waits for a connection at most the acquire timeout
    /// from then.
    queued: Instant,
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
            cache: Arc::new(LeadCache::new(settings.lead_cache_bytes)),
        };
        let totals = Arc::new(Counters::default());
        let ahead = Arc::new(Ahead::default());
        for _ in 0..settings.writers.max(1) {
            tokio::spawn(write_groups(
                writer.clone(),
                receiver.clone(),
                max_group,
                totals.clone(),
                ahead.clone(),
            ));
        }
        Self {
            queue,
            writer,
            totals,
            ahead,
        }
    }

    /// The pool the writers (and batches) write through.
    pub fn pool(&self) -> &PgPool {
        &self.writer.pool
    }

    /// The writers' totals so far.
    pub fn totals(&self) -> GroupTotals {
        GroupTotals {
            groups: self.totals.groups.load(Ordering::Relaxed),
            events: self.totals.events.load(Ordering::Relaxed),
            write_micros: self.totals.write_micros.load(Ordering::Relaxed),
            planned_ahead: self.totals.planned_ahead.load(Ordering::Relaxed),
        }
    }

    /// Ingests a batch as one unit of its own.
    pub async fn ingest_batch(
        &self,
        events: &[LeadEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>, ApiError> {
        write_unit(&self.writer, now, events).await
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
            .send(Pending {
                event,
                now,
                queued: Instant::now(),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        self.ahead
            .queued(self.queue.max_capacity() - self.queue.capacity());
        answer.await.map_err(|_| stopped())?
    }
}

/// One writer: takes what is queued, writes it as one group, answers, repeats; meanwhile it
/// takes and plans the next group once enough events wait.
async fn write_groups(
    writer: Writer,
    receiver: Arc<Mutex<mpsc::Receiver<Pending>>>,
    max_group: usize,
    totals: Arc<Counters>,
    ahead: Arc<Ahead>,
) {
    let (mut held, mut reader) = (HeldConnection::default(), HeldConnection::default());
    let mut next: Option<Group> = None;
    let mut unanswered: Option<Answers> = None;
    loop {
        let group = match next.take() {
            Some(group) => group,
            None => {
                // The requests waiting for answers may be the events this would wait for.
                if let Some(answers) = unanswered.take() {
                    answers.send();
                }
                let mut taken = Vec::with_capacity(max_group);
                // Holding the lock only while taking keeps the other writers free to commit.
                if receiver.lock().await.recv_many(&mut taken, max_group).await == 0 {
                    return;
                }
                Group::of(taken)
            }
        };
        let (events, started) = (group.events.len(), Instant::now());
        let in_flight = group.emails();
        let write = write_group(&writer, &mut held, group);
        tokio::pin!(write);
        // The statement goes out before the group before it is answered: those requests'
        // next events could only join the group after this one, and meanwhile the database
        // would wait for the answering.
        let mut written = poll_once(&mut write).await;
        if let Some(answers) = unanswered.take() {
            answers.send();
        }
        if written.is_none() {
            tokio::select! {
                biased;
                answers = &mut write => written = Some(answers),
                taken = ahead.take(&receiver, events, max_group) => {
                    let planning = plan_ahead(&writer, &mut reader, taken, &in_flight);
                    let (answers, planned) = tokio::join!(&mut write, planning);
                    (written, next) = (Some(answers), planned);
                }
            }
        }
        unanswered = written.flatten();
        ahead.disarm();
        let ready = |g: &Group| matches!(g.planned, Some(Planned::Ready(_)));
        totals.add(events, started.elapsed(), next.as_ref().is_some_and(ready));
        crate::metrics::group_written(events);
    }
}

/// Polls `future` once: it does what it can without waiting (a write sends its statement).
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut *future).poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Wakes a writer when as many events wait as the group it is writing holds, so that it
/// takes and plans the next group while the database writes the current one. Taking the
/// next group at its first event instead would make it small, and every group costs its
/// statement's fixed work.
#[derive(Default)]
struct Ahead {
    /// How many waiting events wake the writer; 0 while it is not writing.
    wanted: AtomicUsize,
    wake: Notify,
}

impl Ahead {
    fn arm(&self, wanted: usize) {
        self.wanted.store(wanted.max(1), Ordering::Release);
    }

    fn disarm(&self) {
        self.wanted.store(0, Ordering::Release);
    }

    /// A request queued its event; `waiting` events are queued now.
    fn queued(&self, waiting: usize) {
        let wanted = self.wanted.load(Ordering::Acquire);
        if wanted != 0
            && waiting >= wanted
            && self
                .wanted
                .compare_exchange(wanted, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.wake.notify_one();
        }
    }

    /// Waits until `wanted` events are queued, then takes what is queued (up to `max`); empty
    /// once the queue is closed. Cancelled before it takes, it has taken nothing.
    async fn take(
        &self,
        receiver: &Mutex<mpsc::Receiver<Pending>>,
        wanted: usize,
        max: usize,
    ) -> Vec<Pending> {
        loop {
            // Armed before looking, so that an event queued after the look wakes the writer.
            self.arm(wanted);
            // They may be queued already: they came while the group before was answered.
            let mut receiver = receiver.lock().await;
            if receiver.len() >= wanted || receiver.is_closed() {
                let mut taken = Vec::with_capacity(max);
                receiver.recv_many(&mut taken, max).await;
                return taken;
            }
            drop(receiver);
            // A wake-up left over from an earlier group only sends this round again.
            self.wake.notified().await;
        }
    }
}

/// Plans the events `taken` while the group of `in_flight` is written; `None` if there are
/// none. A plan that fails is made again when the group's turn comes.
async fn plan_ahead(
    writer: &Writer,
    reader: &mut HeldConnection,
    taken: Vec<Pending>,
    in_flight: &HashSet<String>,
) -> Option<Group> {
    if taken.is_empty() {
        return None;
    }
    let mut group = Group::of(taken);
    let planned = async {
        let conn = reader.get(&writer.pool, group.queued).await?;
        plan::plan(
            conn,
            &writer.rules,
            &writer.cache,
            group.now,
            &group.events,
            in_flight,
            false,
        )
        .await
    };
    match planned.await {
        Ok(Planned::Later) => {}
        Ok(planned) => group.planned = Some(planned),
        Err(error) => {
            reader.conn = None;
            tracing::debug!(%error, "planning a group ahead failed; it is planned in its turn");
        }
    }
    Some(group)
}

/// A group taken from the queue: its events, when each request was received and where its
/// outcome goes, and its plan if it was planned ahead.
struct Group {
    events: Vec<LeadEvent>,
    answers: Vec<Answer>,
    /// The latest request's time: the group is written as of then.
    now: DateTime<Utc>,
    /// The oldest request's time queued: the group waits for a connection no longer than the
    /// acquire timeout from then.
    queued: Instant,
    planned: Option<Planned>,
}

impl Group {
    fn of(taken: Vec<Pending>) -> Self {
        let now = taken
            .iter()
            .map(|p| p.now)
            .max()
            .expect("a group is never empty");
        let queued = taken
            .iter()
            .map(|p| p.queued)
            .min()
            .expect("a group is never empty");
        // Moved, not cloned: a clone copied each event's profile and properties on the
        // writer, whose work between statements holds up every queued request.
        let (events, answers) = taken
            .into_iter()
            .map(|p| (p.event, (p.now, p.reply)))
            .unzip();
        Self {
            events,
            answers,
            now,
            queued,
            planned: None,
        }
    }

    fn emails(&self) -> HashSet<String> {
        self.events.iter().map(|e| e.email.to_string()).collect()
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
    /// The kept connection, or a tested one from the pool if none is kept or it idled past
    /// [`KEEP_IDLE`], waited for no longer than [`acquire_by`] allows for a group queued
    /// since `queued`.
    async fn get(
        &mut self,
        pool: &PgPool,
        queued: Instant,
    ) -> Result<&mut PoolConnection<Postgres>, ApiError> {
        self.expire();
        if self.conn.is_none() {
            self.conn = Some((acquire_by(pool, queued).await?, Instant::now()));
        }
        let (conn, used) = self.conn.as_mut().expect("a connection was just taken");
        *used = Instant::now();
        Ok(conn)
    }

    fn expire(&mut self) {
        if self
            .conn
            .as_ref()
            .is_some_and(|(_, used)| used.elapsed() > KEEP_IDLE)
        {
            self.conn = None;
        }
    }

    /// [`write_events`] for `group` on the kept connection. If that fails on a connection
    /// kept from an earlier group, it is tried once more, planned afresh, on one the pool has
    /// just tested: the kept one may have died since (a database restart, a dropped socket),
    /// which the pool's test would have caught. An attempt is one transaction, so a retry
    /// cannot write anything twice.
    async fn write(
        &mut self,
        writer: &Writer,
        group: &mut Group,
    ) -> Result<Vec<IngestOutcome>, ApiError> {
        self.expire();
        let kept = self.conn.is_some();
        let planned = group.planned.take();
        let mut written = self.write_once(writer, group, planned).await;
        if written.is_err() && kept {
            self.conn = None;
            written = self.write_once(writer, group, None).await;
        }
        if written.is_err() {
            self.conn = None;
        }
        written
    }

    async fn write_once(
        &mut self,
        writer: &Writer,
        group: &Group,
        planned: Option<Planned>,
    ) -> Result<Vec<IngestOutcome>, ApiError> {
        let conn = self.get(&writer.pool, group.queued).await?;
        write_events(writer, conn, group.now, &group.events, planned).await
    }
}

/// A connection from `pool` for a group whose oldest request was queued at `queued`, waited
/// for until the pool's acquire timeout from then. A group taken after one that waited in
/// vain for the database would otherwise wait as long again, and its requests twice that.
async fn acquire_by(pool: &PgPool, queued: Instant) -> Result<PoolConnection<Postgres>, ApiError> {
    let deadline = queued + pool.options().get_acquire_timeout();
    match tokio::time::timeout_at(deadline.into(), pool.acquire()).await {
        Ok(acquired) => Ok(acquired?),
        Err(_) => Err(ApiError::DatabaseUnreachable(
            "no database connection within the acquire timeout".to_owned(),
        )),
    }
}

/// Writes one group; returns its requests' outcomes, to answer. A group that failed for want
/// of the database is answered 503 at once: replayed event by event it would only fail each
/// in turn, as slowly. Any other failure is the group's events written one by one, so that one
/// event's failure stays its own, by a task of their own so that the writer moves on.
async fn write_group(
    writer: &Writer,
    held: &mut HeldConnection,
    mut group: Group,
) -> Option<Answers> {
    match held.write(writer, &mut group).await {
        Ok(outcomes) => Some(Answers {
            answers: group.answers,
            outcomes,
        }),
        Err(error @ (ApiError::DatabaseUnreachable(_) | ApiError::Unavailable(_))) => {
            tracing::warn!(events = group.events.len(), %error, "group failed: answering 503");
            for (_, reply) in group.answers {
                let again = match &error {
                    ApiError::DatabaseUnreachable(why) => {
                        ApiError::DatabaseUnreachable(why.clone())
                    }
                    other => ApiError::Unavailable(other.to_string()),
                };
                let _ = reply.send(Err(again));
            }
            None
        }
        Err(error) if group.events.len() > 1 => {
            tracing::warn!(events = group.events.len(), %error, "group failed; writing its events one by one");
            let writer = writer.clone();
            tokio::spawn(async move {
                for (event, (now, reply)) in group.events.into_iter().zip(group.answers) {
                    let result = write_unit(&writer, now, &[event])
                        .await
                        .map(|mut outcomes| outcomes.remove(0));
                    let _ = reply.send(result);
                }
            });
            None
        }
        Err(error) => {
            let (_, reply) = group
                .answers
                .into_iter()
                .next()
                .expect("a group is never empty");
            let _ = reply.send(Err(error));
            None
        }
    }
}

/// A written group's requests with their outcomes.
struct Answers {
    answers: Vec<Answer>,
    outcomes: Vec<IngestOutcome>,
}

impl Answers {
    /// Answers each request; a lead the group created is credited to the first request that
    /// touched it.
    fn send(self) {
        let mut creation_reported = HashSet::new();
        for ((_, reply), mut outcome) in self.answers.into_iter().zip(self.outcomes) {
            outcome.lead_created &= creation_reported.insert(outcome.lead_id);
            let _ = reply.send(Ok(outcome));
        }
    }
}

/// When a queued request was received, and where its outcome goes.
type Answer = (DateTime<Utc>, Reply);
