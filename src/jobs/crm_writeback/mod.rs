//! CRM write-back: each lead's state (Fit, Intent, lifecycle stage, demand state, tier,
//! reasons, owner) written back to the CRMs that know the lead (docs/integrations/).
//!
//! Triggers queue a row in `crm_writes` in the transaction of every change (the transactional
//! outbox), one row per CRM and lead whatever the number of changes: a row falls due a
//! coalescing window after the first change, and the write sends the lead's state as it is
//! then. Per CRM, one loop claims due rows (`for update skip locked`, leased, so replicas
//! share the work), skips leads whose state equals what the CRM was last sent (`crm_synced`),
//! and calls the CRM's batch update in batches of its maximum, no faster than its limiter
//! allows. A record the CRM refuses for good goes to `crm_write_failures`, to be replayed; one
//! that may succeed later is retried alone, after a backoff. A rate limit or an outage puts
//! the rows back and pauses that CRM's loop.

mod decay;
mod limiter;

pub use decay::{run as run_decay, tick as decay_tick};
pub use limiter::Limiter;

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    adapters::crm_fields::{LeadState, record_update},
    app::AppState,
    clients::{
        crm::{BatchAnswer, RecordFailure, RecordUpdate},
        hubspot::{ContactsApi, MAX_BATCH_UPDATE},
        salesforce,
    },
    config::{CrmWriteSettings, Settings},
    db::crm_writes::{self, Claimed, Outcome, StateRow},
    domain::Stage,
    engine::{IntentState, RuleSet},
};

/// Batches of its client's maximum one tick claims at most.
const CLAIM_BATCHES: usize = 10;
/// How long a claim holds its rows: past it, another replica may take them.
const LEASE: Duration = Duration::from_secs(300);
/// The first retry's wait after a record failed; doubled per attempt, up to 64 times it.
const BACKOFF: Duration = Duration::from_secs(30);
/// The pause after the CRM refused a whole call (credentials, a missing field).
const REFUSED_PAUSE: Duration = Duration::from_secs(60);
/// The pause after an outage that gave no `Retry-After`.
const UNAVAILABLE_PAUSE: Duration = Duration::from_secs(10);
/// The pause after a tick failed (the database).
const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// A claim that leaves its last batch part-full tops it up with rows due this much later:
/// in a burst, rows fall due over a few seconds, and a full batch is one call where the
/// stragglers would be another.
const TOP_UP: Duration = Duration::from_secs(5);
/// The CRMs' rate limit windows.
const WINDOW: Duration = Duration::from_secs(10);

/// A CRM written back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crm {
    HubSpot,
    Salesforce,
}

impl Crm {
    /// The name in `crm_writes.crm` and in the admin API's paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Crm::HubSpot => "hubspot",
            Crm::Salesforce => "salesforce",
        }
    }
}

/// A CRM's batch update client. Adding a CRM: a variant here, its arms in the three methods,
/// and its construction in [`targets`].
#[derive(Clone, Debug)]
pub enum CrmClient {
    /// HubSpot contacts (`POST /crm/v3/objects/contacts/batch/update`).
    HubSpot(ContactsApi),
    /// Salesforce Leads (`PATCH …/composite/sobjects`).
    Salesforce(salesforce::LeadsApi),
}

impl CrmClient {
    /// The CRM it writes to.
    pub fn crm(&self) -> Crm {
        match self {
            CrmClient::HubSpot(_) => Crm::HubSpot,
            CrmClient::Salesforce(_) => Crm::Salesforce,
        }
    }

    /// Most records one call takes.
    pub fn max_batch(&self) -> usize {
        match self {
            CrmClient::HubSpot(_) => MAX_BATCH_UPDATE,
            CrmClient::Salesforce(_) => salesforce::MAX_BATCH,
        }
    }

    /// Updates `records` (at most [`CrmClient::max_batch`]) in one call.
    pub async fn update(&self, records: &[RecordUpdate]) -> BatchAnswer {
        match self {
            CrmClient::HubSpot(api) => api.update(records).await,
            CrmClient::Salesforce(api) => api.update(records).await,
        }
    }
}

/// One CRM's write-back: its client, its settings, and the limiter all its calls pass.
#[derive(Clone, Debug)]
pub struct Target {
    pub client: CrmClient,
    pub settings: CrmWriteSettings,
    pub limiter: Arc<Limiter>,
}

impl Target {
    /// `client` with `settings`, limited to `settings.requests_per_10s`.
    pub fn new(client: CrmClient, settings: CrmWriteSettings) -> Self {
        let limiter = Arc::new(Limiter::new(settings.requests_per_10s, WINDOW));
        Self {
            client,
            settings,
            limiter,
        }
    }

    /// This target with `limiter` instead (a benchmark's or a test's window).
    pub fn with_limiter(mut self, limiter: Limiter) -> Self {
        self.limiter = Arc::new(limiter);
        self
    }

    fn crm(&self) -> &'static str {
        self.client.crm().as_str()
    }

    fn claim_limit(&self) -> usize {
        CLAIM_BATCHES * self.client.max_batch()
    }
}

/// The CRMs `settings` enable write-back for, each with its client.
pub fn targets(settings: &Settings) -> Vec<Target> {
    let writeback = &settings.writeback;
    let mut targets = Vec::new();
    if writeback.hubspot.enabled {
        // Validation made sure a token is set.
        if let Some(api) = ContactsApi::from_settings(&settings.sources.hubspot) {
            targets.push(Target::new(
                CrmClient::HubSpot(api),
                writeback.hubspot.clone(),
            ));
        }
    }
    if writeback.salesforce.enabled {
        // Validation made sure the org and app are set.
        if let Some(api) = &writeback.salesforce_api {
            targets.push(Target::new(
                CrmClient::Salesforce(salesforce::LeadsApi::new(api)),
                writeback.salesforce.clone(),
            ));
        }
    }
    targets
}

/// Makes `targets` the CRMs the triggers queue writes for (every other CRM's queueing stops),
/// each with the coalescing window of `settings`.
pub async fn register_targets(
    pool: &PgPool,
    targets: &[Target],
    settings: &Settings,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let window = chrono::Duration::seconds(
        i64::try_from(settings.writeback.coalesce_window_secs).unwrap_or(i64::MAX / 1_000_000),
    );
    let enabled: Vec<(&str, chrono::Duration)> =
        targets.iter().map(|t| (t.crm(), window)).collect();
    let mut conn = pool.acquire().await?;
    crm_writes::set_targets(&mut conn, &enabled, now)
        .await
        .context("recording the CRM write-back targets")
}

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Leads whose state the CRM already had (or that have no id in it any more).
    pub unchanged: usize,
    /// Calls to the CRM.
    pub calls: usize,
    pub written: usize,
    /// Records to be tried again alone, after a backoff.
    pub retried: usize,
    /// Records the CRM refused for good, kept in `crm_write_failures`.
    pub failed_for_good: usize,
    /// How long the CRM's loop is to wait (a rate limit, an outage, a refusal).
    pub pause: Option<Duration>,
    /// Why the CRM refused a whole call, if it did.
    pub refused: Option<String>,
}

/// A record to send: its row, the CRM's id, the update.
type Pending = (Claimed, String, RecordUpdate);
/// A row with nothing to send: the lead and its change count at the claim.
type Settled = (Uuid, i64);

/// One pass at `now` for `target`: claims due rows, writes what changed, records outcomes.
#[tracing::instrument(skip_all, fields(crm = target.crm()))]
pub async fn tick(
    pool: &PgPool,
    target: &Target,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> anyhow::Result<TickReport> {
    let crm = target.crm();
    let mut report = TickReport::default();
    let lease = chrono::Duration::from_std(LEASE)?;
    let mut conn = pool.acquire().await?;
    let limit = i64::try_from(target.claim_limit())?;
    let mut claimed = crm_writes::claim_due(&mut conn, crm, now, limit, lease)
        .await
        .context("claiming due CRM writes")?;
    let short = claimed.len() % target.client.max_batch();
    if short > 0 && claimed.len() < target.claim_limit() {
        let room = i64::try_from(target.client.max_batch() - short)?;
        let soon = now + chrono::Duration::from_std(TOP_UP)?;
        claimed.extend(crm_writes::claim_due(&mut conn, crm, soon, room, lease).await?);
    }
    report.claimed = claimed.len();
    if claimed.is_empty() {
        return Ok(report);
    }
    let ids: Vec<Uuid> = claimed.iter().map(|c| c.lead_id).collect();
    let rows = crm_writes::states(&mut conn, crm, &ids).await?;
    let (pending, unchanged) = updates(&claimed, rows, target, rules, now)?;
    report.unchanged = unchanged.len();
    crm_writes::finish(&mut conn, crm, &unchanged, now).await?;
    drop(conn);
    let max = target.client.max_batch();
    for (i, chunk) in pending.chunks(max).enumerate() {
        target.limiter.acquire().await;
        let records: Vec<RecordUpdate> = chunk.iter().map(|p| p.2.clone()).collect();
        report.calls += 1;
        let answer = target.client.update(&records).await;
        let later: Vec<Uuid> = pending[i * max..].iter().map(|p| p.0.lead_id).collect();
        let mut conn = pool.acquire().await?;
        match answer {
            BatchAnswer::Answered { failed } => {
                answered(&mut conn, crm, chunk, &failed, now, &mut report).await?;
            }
            BatchAnswer::RateLimited { retry_after } => {
                tracing::warn!(
                    retry_after_ms = retry_after.as_millis() as u64,
                    "the CRM's rate limit"
                );
                crm_writes::release(&mut conn, crm, &later, now + retry_after).await?;
                report.pause = Some(retry_after);
                break;
            }
            BatchAnswer::Unavailable { error, retry_after } => {
                tracing::warn!(%error, "the CRM is unavailable");
                let failed: Vec<(Uuid, String)> =
                    chunk.iter().map(|p| (p.0.lead_id, error.clone())).collect();
                let wait = retry_after.unwrap_or(UNAVAILABLE_PAUSE);
                let base = chrono::Duration::from_std(BACKOFF)?;
                crm_writes::retry(&mut conn, crm, &failed, now, base, now + wait).await?;
                crm_writes::release(&mut conn, crm, &later[chunk.len()..], now + wait).await?;
                report.retried += chunk.len();
                report.pause = Some(wait);
                break;
            }
            BatchAnswer::Refused { status, error } => {
                tracing::error!(status, %error, "the CRM refused the write-back call; fix the configuration");
                crm_writes::release(&mut conn, crm, &later, now + REFUSED_PAUSE).await?;
                report.refused = Some(format!("{status} {error}"));
                report.pause = Some(REFUSED_PAUSE);
                break;
            }
        }
    }
    if report.calls > 0 || report.unchanged > 0 {
        tracing::info!(
            crm_writes.claimed = report.claimed,
            crm_writes.unchanged = report.unchanged,
            crm_writes.calls = report.calls,
            crm_writes.written = report.written,
            crm_writes.retried = report.retried,
            crm_writes.failed_for_good = report.failed_for_good,
            "CRM write-back tick"
        );
    }
    Ok(report)
}

/// The records to send of `rows`, and the rows (lead, changes) with nothing to send.
fn updates(
    claimed: &[Claimed],
    rows: Vec<StateRow>,
    target: &Target,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<Pending>, Vec<Settled>)> {
    let by_id: HashMap<Uuid, Claimed> = claimed.iter().map(|c| (c.lead_id, *c)).collect();
    let (mut pending, mut unchanged) = (Vec::new(), Vec::new());
    for row in rows {
        let claim = by_id[&row.lead_id];
        let Some(external_id) = row.external_id.clone() else {
            unchanged.push((claim.lead_id, claim.changes));
            continue;
        };
        let update = record_update(
            &external_id,
            &lead_state(&row, rules, now)?,
            &target.settings,
        );
        if row.synced.as_ref().and_then(Value::as_object) == Some(&update.fields) {
            unchanged.push((claim.lead_id, claim.changes));
        } else {
            pending.push((claim, external_id, update));
        }
    }
    Ok((pending, unchanged))
}

/// A lead's state as of `now`: intent decayed by the engine, in whole points.
pub fn lead_state(
    row: &StateRow,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> anyhow::Result<LeadState> {
    let intent = IntentState {
        at_last_activity: row.intent_at_last_activity,
        last_activity_at: row.last_activity_at,
        ..IntentState::default()
    }
    .score_at(now, &rules.rules.intent);
    Ok(LeadState {
        fit_score: row.fit_score,
        intent_score: intent.round() as i64,
        stage: row.lifecycle_stage.parse::<Stage>()?,
        demand_state: row.demand_state.clone(),
        account_tier: row.account_tier,
        disqualified_reason: row.disqualified_reason.clone(),
        rejection_reason: row.rejection_reason.clone(),
        owner_email: row.owner_email.clone(),
    })
}

/// Records an answered call: written records to `crm_synced`, records refused for good to
/// `crm_write_failures`, and the others retried alone.
async fn answered(
    conn: &mut sqlx::PgConnection,
    crm: &str,
    chunk: &[Pending],
    failed: &[RecordFailure],
    now: DateTime<Utc>,
    report: &mut TickReport,
) -> anyhow::Result<()> {
    let failed: HashMap<&str, &RecordFailure> = failed.iter().map(|f| (f.id.as_str(), f)).collect();
    let (mut outcomes, mut retry) = (Vec::new(), Vec::new());
    for (claim, external_id, update) in chunk {
        let outcome = |refused| Outcome {
            lead_id: claim.lead_id,
            changes: claim.changes,
            external_id: external_id.clone(),
            fields: Value::Object(update.fields.clone()),
            refused,
        };
        match failed.get(external_id.as_str()) {
            None => {
                report.written += 1;
                outcomes.push(outcome(None));
            }
            Some(f) if f.retryable => {
                report.retried += 1;
                retry.push((claim.lead_id, format!("{}: {}", f.code, f.message)));
            }
            Some(f) => {
                report.failed_for_good += 1;
                outcomes.push(outcome(Some((f.code.clone(), f.message.clone()))));
            }
        }
    }
    crm_writes::record(conn, crm, &outcomes, now).await?;
    let base = chrono::Duration::from_std(BACKOFF)?;
    crm_writes::retry(conn, crm, &retry, now, base, now).await?;
    Ok(())
}

/// Runs `target`'s loop until `shutdown`: no wait after a full claim, the CRM's pause after a
/// rate limit, an outage or a refusal, the poll interval otherwise.
pub async fn run(state: AppState, target: Target, shutdown: CancellationToken) {
    let poll = Duration::from_secs(state.settings.writeback.poll_interval_secs);
    let job = format!("crm_writeback_{}", target.crm());
    loop {
        let run = crate::metrics::JobRun::start(job.clone());
        let ticked = tick(&state.pool, &target, &state.rules, state.now()).await;
        run.finish(ticked.is_ok());
        let wait = match ticked {
            Ok(report) => report
                .pause
                .unwrap_or(if report.claimed >= target.claim_limit() {
                    Duration::ZERO
                } else {
                    poll
                }),
            Err(error) => {
                tracing::error!(
                    crm = target.crm(),
                    error = format!("{error:#}"),
                    "CRM write-back tick failed"
                );
                ERROR_PAUSE
            }
        };
        if shutdown
            .run_until_cancelled(tokio::time::sleep(wait))
            .await
            .is_none()
        {
            return;
        }
    }
}
