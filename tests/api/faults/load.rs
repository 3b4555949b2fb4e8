//! The load the fault tests run: clients posting single events and reading leads, and what
//! they saw.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{ADMIN_KEY, TestApp, event, t0, vp_profile};

const KINDS: [&str; 4] = [
    "pricing_page_visit",
    "demo_request",
    "content_download",
    "comparison_page_visit",
];

/// What a client saw: status codes by request kind, 503s without `Retry-After`, the slowest
/// answer, and the events acknowledged (answered 2xx).
#[derive(Debug, Default)]
pub(super) struct Tally {
    pub(super) posts: BTreeMap<u16, usize>,
    pub(super) reads: BTreeMap<u16, usize>,
    pub(super) unavailable_without_retry_after: usize,
    /// Requests that got no HTTP answer at all (only when the process dies).
    pub(super) unanswered: usize,
    pub(super) slowest: Duration,
    pub(super) acked: Vec<String>,
}

impl Tally {
    pub(super) fn merge(&mut self, other: Tally) {
        for (status, n) in other.posts {
            *self.posts.entry(status).or_default() += n;
        }
        for (status, n) in other.reads {
            *self.reads.entry(status).or_default() += n;
        }
        self.unavailable_without_retry_after += other.unavailable_without_retry_after;
        self.unanswered += other.unanswered;
        self.slowest = self.slowest.max(other.slowest);
        self.acked.extend(other.acked);
    }

    pub(super) fn note(&mut self, read: bool, answer: &Answer) {
        let statuses = if read {
            &mut self.reads
        } else {
            &mut self.posts
        };
        *statuses.entry(answer.status).or_default() += 1;
        if answer.status == 503 && !answer.retry_after {
            self.unavailable_without_retry_after += 1;
        }
        self.slowest = self.slowest.max(answer.took);
    }

    /// Every status seen, posts and reads together.
    pub(super) fn statuses(&self) -> BTreeMap<u16, usize> {
        let mut all = self.posts.clone();
        for (status, n) in &self.reads {
            *all.entry(*status).or_default() += n;
        }
        all
    }

    pub(super) fn assert_no_5xx_but_503(&self) {
        let bad: Vec<u16> = self
            .statuses()
            .into_keys()
            .filter(|s| *s >= 500 && *s != 503)
            .collect();
        assert!(bad.is_empty(), "5xx other than 503: {bad:?} in {self:?}");
        assert_eq!(
            self.unavailable_without_retry_after, 0,
            "every 503 has Retry-After: {self:?}"
        );
    }
}

/// One HTTP answer.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) retry_after: bool,
    pub(super) took: Duration,
}

/// Where the service listens and with which keys.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) base: String,
    pub(super) source_key: String,
    pub(super) client: reqwest::Client,
}

impl Target {
    pub(super) fn of(app: &TestApp) -> Self {
        Target {
            base: app.base.clone(),
            source_key: app.source_key.clone(),
            client: reqwest::Client::new(),
        }
    }

    pub(super) async fn send(&self, request: reqwest::RequestBuilder) -> Option<Answer> {
        let started = Instant::now();
        let response = request.send().await.ok()?;
        Some(Answer {
            status: response.status().as_u16(),
            retry_after: response.headers().contains_key("retry-after"),
            took: started.elapsed(),
        })
    }

    pub(super) async fn post(&self, event: &Value) -> Option<Answer> {
        let request = self
            .client
            .post(format!("{}/webhooks/events", self.base))
            .bearer_auth(&self.source_key)
            .json(event);
        self.send(request).await
    }

    pub(super) async fn read(&self, email: &str) -> Option<Answer> {
        let request = self
            .client
            .get(format!("{}/api/v1/leads?email={email}", self.base))
            .bearer_auth(ADMIN_KEY);
        self.send(request).await
    }
}

/// The `n`th event of a load: a few hundred leads, so that each gets several events, of
/// varied types, arriving out of `occurred_at` order; a third of the leads carry the VP
/// profile (fit 70), so their intent makes them MQLs and ingest hands them off.
pub(super) fn nth_event(tag: &str, client: usize, n: usize) -> (String, String, Value) {
    let id = format!("{tag}-{client}-{n}");
    let seq = client * 7919 + n;
    let lead = seq % 300;
    let email = format!("lead{lead}@company{}.io", lead % 37);
    let offset = chrono::Duration::minutes(-((seq * 37 % 1_440) as i64));
    let mut event = event(&id, &email, KINDS[seq % KINDS.len()], offset);
    if lead % 3 == 0 {
        event["lead"] = vp_profile(&email);
    }
    (id, email, event)
}

/// Posts single events (and reads a lead every third one) until `stop`; requests that get no
/// answer are counted, not retried.
async fn client_load(
    target: Target,
    tag: &'static str,
    client: usize,
    stop: Arc<AtomicBool>,
    stamp: fn(Value) -> Value,
) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let (id, email, event) = nth_event(tag, client, n);
        n += 1;
        match target.post(&stamp(event)).await {
            Some(answer) => {
                if (200..300).contains(&answer.status) {
                    tally.acked.push(id);
                }
                tally.note(false, &answer);
            }
            None => tally.unanswered += 1,
        }
        if n % 3 == 0 {
            match target.read(&email).await {
                Some(answer) => tally.note(true, &answer),
                None => tally.unanswered += 1,
            }
        }
    }
    tally
}

/// Runs `clients` concurrent [`client_load`]s until `stop`, and adds up what they saw.
pub(super) fn run_load(
    target: &Target,
    tag: &'static str,
    clients: usize,
    stop: &Arc<AtomicBool>,
    stamp: fn(Value) -> Value,
) -> tokio::task::JoinHandle<Tally> {
    let tasks: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(client_load(target.clone(), tag, c, stop.clone(), stamp)))
        .collect();
    tokio::spawn(async move {
        let mut total = Tally::default();
        for task in tasks {
            total.merge(task.await.unwrap());
        }
        total
    })
}

/// Events as the in-process app's clock (fixed at `t0`) wants them.
pub(super) fn as_is(event: Value) -> Value {
    event
}

/// Posts fresh events until one is acknowledged: the service came back by itself.
pub(super) async fn wait_for_recovery(target: &Target, tag: &str) -> Duration {
    let started = Instant::now();
    for n in 0.. {
        let (_, _, event) = nth_event(tag, 0, n);
        let answer = target.post(&event).await.expect("the service answers");
        if answer.status == 200 {
            break;
        }
        assert!(
            answer.status == 503 && answer.retry_after,
            "while recovering: {}",
            answer.status
        );
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no recovery within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}

/// How many times each of `ids` is stored (by `(source, event_id)`).
async fn stored_counts(pool: &PgPool, ids: &[String]) -> HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "select event_id, count(*) from lead_events \
         where source = 'hubspot' and event_id = any($1) group by event_id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// Asserts each of `acked` is stored exactly once; returns how many are missing.
pub(super) async fn assert_stored_once(pool: &PgPool, acked: &[String]) -> usize {
    let counts = stored_counts(pool, acked).await;
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let lost: Vec<_> = acked
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    lost.len()
}

/// Events stamped near the real clock, as the real binary reads it.
pub(super) fn now_stamped(mut event: Value) -> Value {
    let offset = chrono::DateTime::parse_from_rfc3339(event["occurred_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
        - t0();
    event["occurred_at"] = json!((Utc::now() + offset).to_rfc3339());
    event
}
