//! Deliveries: one per outbox message and subscribed endpoint, claimed by the dispatchers of
//! every replica and settled attempt by attempt.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Why an endpoint is disabled when its receiver answers 410.
pub const GONE_REASON: &str = "the receiver answered 410 Gone";

/// What the other pending deliveries of an endpoint that answered 410 are left with.
const GONE_ERROR: &str = "not sent: the endpoint was disabled when its receiver answered 410 Gone";

/// A claimed delivery: everything needed to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub delivery_id: i64,
    pub message_id: i64,
    pub topic: String,
    pub payload: Value,
    /// When the message was written: the envelope's `timestamp`.
    pub created_at: DateTime<Utc>,
    pub endpoint_id: Uuid,
    pub url: String,
    pub secret: String,
    /// `standard_webhooks` or `slack`.
    pub format: String,
    /// Attempts made before this one.
    pub attempts: i32,
    /// When the claim's lease ends and the delivery is due again.
    pub lease_end: DateTime<Utc>,
}

/// Deliveries this dispatcher already has in flight to one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub endpoint_id: Uuid,
    pub count: i32,
}

/// How many to claim, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    /// At most this many deliveries in all.
    pub limit: i64,
    /// At most this many in flight per endpoint, counting `in_flight`.
    pub per_endpoint: i32,
    /// A claimed delivery is due again this long after `now`, should its dispatcher die.
    pub lease: Duration,
}

/// Claims the deliveries due at `now` to enabled endpoints, oldest first per endpoint, and
/// moves them `claim.lease` into the future. Rows another dispatcher is claiming are skipped,
/// so concurrent claims never return the same delivery.
///
/// Endpoint by endpoint, so a receiver with a long backlog takes `per_endpoint` turns, never
/// the whole batch. Deliveries to a disabled endpoint wait, pending, until it is enabled.
/// Which endpoints go first when more are due than `claim.limit` is the planner's choice; the
/// rest are claimed as soon as room frees up.
pub async fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    claim: Claim,
    in_flight: &[InFlight],
) -> sqlx::Result<Vec<Due>> {
    sqlx::query_as(
        "with picked as (
             select d.id
               from webhook_endpoints e
               left join unnest($4::uuid[], $5::int4[]) as busy (endpoint_id, count)
                      on busy.endpoint_id = e.id
              cross join lateral (
                     select d.id from deliveries d
                      where d.endpoint_id = e.id and d.status = 'pending'
                        and d.next_attempt_at <= $1
                      order by d.next_attempt_at
                      limit greatest($3 - coalesce(busy.count, 0), 0)
                        for update of d skip locked
                    ) d
              where e.enabled
              limit $2
         )
         update deliveries d set next_attempt_at = $1 + $6
           from picked p, outbox o, webhook_endpoints e
          where d.id = p.id and o.id = d.message_id and e.id = d.endpoint_id
         returning d.id as delivery_id, d.message_id, o.topic, o.payload, o.created_at,
                   e.id as endpoint_id, e.url, e.secret, e.format, d.attempts,
                   d.next_attempt_at as lease_end",
    )
    .bind(now)
    .bind(claim.limit)
    .bind(claim.per_endpoint)
    .bind(in_flight.iter().map(|f| f.endpoint_id).collect::<Vec<_>>())
    .bind(in_flight.iter().map(|f| f.count).collect::<Vec<_>>())
    .bind(claim.lease)
    .fetch_all(conn)
    .await
}

/// Makes claimed deliveries that were never attempted due at `now` again, so they need not
/// wait for their lease to end: each `(id, lease end)` only while that claim's lease still
/// holds it (one whose lease ended may be another dispatcher's by now).
pub async fn release(
    conn: &mut PgConnection,
    claims: &[(i64, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update deliveries d set next_attempt_at = $3
           from unnest($1::int8[], $2::timestamptz[]) as claim (id, lease_end)
          where d.id = claim.id and d.next_attempt_at = claim.lease_end
            and d.status = 'pending'",
    )
    .bind(claims.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(claims.iter().map(|(_, end)| *end).collect::<Vec<_>>())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// One attempt at a delivery, as it went.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub delivery_id: i64,
    pub message_id: i64,
    pub endpoint_id: Uuid,
    pub attempted_at: DateTime<Utc>,
    /// When the answer (or the failure) came.
    pub finished_at: DateTime<Utc>,
    /// The receiver's status; `None` when it did not answer.
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    /// Why there was no answer (or why the answer was not taken).
    pub error: Option<String>,
}

/// What an attempt leaves its delivery in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; tried again at `at`.
    Retry {
        at: DateTime<Utc>,
    },
    /// Failed, and it was the last attempt of the schedule.
    Dead,
    /// The receiver answered 410 Gone: the delivery is dead, the endpoint disabled, and its
    /// other pending deliveries dead too (an operator re-enables it and replays them).
    Gone,
}

/// Records each attempt and its outcome, in the caller's transaction: a handful of set-based
/// statements for the whole batch. Also counts the attempts on their outbox messages, and marks
/// a message delivered once every one of its deliveries is.
///
/// A delivery that is no longer pending (an operator, or a 410 on a sibling, settled it while
/// this attempt was in flight) keeps its state, unless this attempt delivered it: the log then
/// tells the truth.
pub async fn record(conn: &mut PgConnection, attempts: &[(Attempt, Outcome)]) -> sqlx::Result<()> {
    if attempts.is_empty() {
        return Ok(());
    }
    // Locks in one order everywhere (messages by id, endpoints by id, deliveries): two
    // deliveries of one message finishing together then see each other when deciding the
    // message is delivered, and two dispatchers recording at once do not deadlock.
    let mut messages: Vec<i64> = attempts.iter().map(|(a, _)| a.message_id).collect();
    messages.sort_unstable();
    messages.dedup();
    sqlx::query("select 1 from outbox where id = any($1) order by id for update")
        .bind(&messages)
        .execute(&mut *conn)
        .await?;
    // Then their endpoints: shared by batches, which touch only their own deliveries; taken
    // alone by a 410, which kills every pending delivery of its endpoint.
    let mut endpoints: Vec<Uuid> = attempts.iter().map(|(a, _)| a.endpoint_id).collect();
    endpoints.sort_unstable();
    endpoints.dedup();
    let gone = attempts.iter().any(|(_, o)| *o == Outcome::Gone);
    sqlx::query(if gone {
        "select 1 from webhook_endpoints where id = any($1) order by id for no key update"
    } else {
        "select 1 from webhook_endpoints where id = any($1) order by id for share"
    })
    .bind(&endpoints)
    .execute(&mut *conn)
    .await?;
    for (attempt, _) in attempts.iter().filter(|(_, o)| *o == Outcome::Gone) {
        disable_gone(conn, attempt).await?;
    }
    let delivery_ids: Vec<i64> = attempts.iter().map(|(a, _)| a.delivery_id).collect();
    let finished: Vec<DateTime<Utc>> = attempts.iter().map(|(a, _)| a.finished_at).collect();
    sqlx::query(
        "insert into delivery_attempts (delivery_id, attempted_at, status_code, latency_ms, error)
         select * from unnest($1::int8[], $2::timestamptz[], $3::int4[], $4::int4[], $5::text[])",
    )
    .bind(&delivery_ids)
    .bind(
        attempts
            .iter()
            .map(|(a, _)| a.attempted_at)
            .collect::<Vec<_>>(),
    )
    .bind(
        attempts
            .iter()
            .map(|(a, _)| a.status_code)
            .collect::<Vec<_>>(),
    )
    .bind(
        attempts
            .iter()
            .map(|(a, _)| a.latency_ms)
            .collect::<Vec<_>>(),
    )
    .bind(
        attempts
            .iter()
            .map(|(a, _)| a.error.clone())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?;
    settle(conn, attempts, (&delivery_ids, &finished)).await?;
    sqlx::query(
        "update outbox o
            set attempts = o.attempts + c.attempts,
                delivered_at = coalesce(o.delivered_at, case when not exists (
                    select 1 from deliveries d where d.message_id = o.id and d.status <> 'delivered'
                ) then c.finished_at end)
           from (select message_id, count(*) as attempts, max(finished_at) as finished_at
                   from unnest($1::int8[], $2::timestamptz[]) as a (message_id, finished_at)
                  group by message_id) c
          where o.id = c.message_id",
    )
    .bind(
        attempts
            .iter()
            .map(|(a, _)| a.message_id)
            .collect::<Vec<_>>(),
    )
    .bind(&finished)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves each delivery to the state its outcome names: delivered whatever it was; retried
/// or dead only while still pending.
async fn settle(
    conn: &mut PgConnection,
    attempts: &[(Attempt, Outcome)],
    (delivery_ids, finished): (&[i64], &[DateTime<Utc>]),
) -> sqlx::Result<()> {
    let mut kinds = Vec::with_capacity(attempts.len());
    let mut retry_at = Vec::with_capacity(attempts.len());
    let mut last_error = Vec::with_capacity(attempts.len());
    for (attempt, outcome) in attempts {
        let (kind, at) = match outcome {
            Outcome::Delivered => ("delivered", None),
            Outcome::Retry { at } => ("retry", Some(*at)),
            Outcome::Dead | Outcome::Gone => ("dead", None),
        };
        kinds.push(kind);
        retry_at.push(at);
        last_error.push(attempt.error.clone().or_else(|| {
            attempt
                .status_code
                .map(|status| format!("the receiver answered {status}"))
        }));
    }
    sqlx::query(
        "update deliveries d
            set status = case s.kind when 'retry' then d.status else s.kind end,
                delivered_at = case s.kind when 'delivered' then s.finished_at
                                           else d.delivered_at end,
                attempts = d.attempts + 1,
                next_attempt_at = coalesce(s.retry_at, d.next_attempt_at),
                last_error = case s.kind when 'delivered' then d.last_error else s.last_error end
           from unnest($1::int8[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
                as s (id, kind, finished_at, retry_at, last_error)
          where d.id = s.id
            and case s.kind when 'delivered' then d.status <> 'delivered'
                            else d.status = 'pending' end",
    )
    .bind(delivery_ids)
    .bind(&kinds)
    .bind(finished)
    .bind(&retry_at)
    .bind(&last_error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Disables the endpoint that answered 410 and gives up its other pending deliveries.
async fn disable_gone(conn: &mut PgConnection, attempt: &Attempt) -> sqlx::Result<()> {
    sqlx::query(
        "update webhook_endpoints set enabled = false, disabled_reason = $2, updated_at = $3
          where id = $1 and enabled",
    )
    .bind(attempt.endpoint_id)
    .bind(GONE_REASON)
    .bind(attempt.finished_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update deliveries set status = 'dead', last_error = $3
          where endpoint_id = $1 and status = 'pending' and id <> $2",
    )
    .bind(attempt.endpoint_id)
    .bind(attempt.delivery_id)
    .bind(GONE_ERROR)
    .execute(conn)
    .await?;
    Ok(())
}
