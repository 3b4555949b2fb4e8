//! Rescoring stored leads after a rules change: activity and intent are refolded from each
//! lead's stored events (so new weights count for its whole history), then the engine
//! evaluates the lead at its current stage as of now, exactly as ingest would. The engine only
//! ever moves `Lead` → `MQL` and `Lead`/`MQL` → `Disqualified`, so a rescore never demotes.
//!
//! A dry run reads in pages and writes nothing. Applying walks the leads in keyset pages of
//! [`BATCH`], one transaction each: rows are claimed `for update skip locked` (an ingest in
//! flight keeps its lead and is not slowed), and the leads skipped that way are taken at the
//! end, waiting for them, locked in email order like ingest locks. Each stage change is a
//! transition by `rescore`, followed by nurture and the handoff as any other (nurture exit,
//! assignment on MQL, queue exit on disqualification), in the same transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{evaluation, nurture, persist};
use crate::{
    adapters::rescore_request::RescoreRequest,
    db::{
        events,
        leads::{self, History, Lead},
        transitions::NewTransition,
    },
    domain::{DisqualifyReason, Stage},
    engine::RuleSet,
    error::ApiError,
};

/// Leads per page (and per transaction when applying).
pub const BATCH: usize = 2_000;

/// How many sample leads the answer shows.
pub const SAMPLE: usize = 20;

/// The actor of the transitions a rescore records.
pub const ACTOR: &str = "rescore";

/// The answer of a rescore.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RescoreReport {
    /// Whether the changes were written (else a dry run).
    pub apply: bool,
    pub rules_version: String,
    /// Whether candidate rules sent with the request were used.
    pub candidate: bool,
    pub as_of: DateTime<Utc>,
    /// Leads looked at.
    pub scanned: usize,
    /// Leads whose stored scores, stage or rules version change.
    pub rescored: usize,
    /// Leads whose stage changes.
    pub stage_changes: usize,
    /// How many leads move from one stage to another.
    #[schema(value_type = Vec<Object>)]
    pub by_change: Vec<ChangeCount>,
    /// Up to [`SAMPLE`] changed leads, stage changes first.
    #[schema(value_type = Vec<Object>)]
    pub sample: Vec<SampleLead>,
    /// Set when `limit` stopped the pass: send it as `after` to go on.
    pub next_after: Option<Uuid>,
}

/// How many leads move from one stage to another.
#[derive(Debug, Serialize)]
pub struct ChangeCount {
    pub from: Stage,
    pub to: Stage,
    pub count: usize,
}

/// One changed lead, before and after.
#[derive(Debug, Serialize)]
pub struct SampleLead {
    pub lead_id: Uuid,
    pub email: String,
    pub before: Snapshot,
    pub after: Snapshot,
    /// The transition's reason, when the stage changes.
    pub reason: Option<String>,
}

/// What a lead shows: stage, scores as of the rescore, the rules version behind them.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub lifecycle_stage: Stage,
    pub disqualified_reason: Option<DisqualifyReason>,
    pub fit_score: i32,
    pub intent_score: f64,
    pub rules_version: String,
}

impl Snapshot {
    fn of(lead: &Lead, rules: &RuleSet, now: DateTime<Utc>) -> Self {
        Snapshot {
            lifecycle_stage: lead.stage,
            disqualified_reason: lead.disqualified_reason,
            fit_score: lead.fit.total,
            intent_score: lead.intent.score_at(now, &rules.rules.intent),
            rules_version: lead.rules_version.clone(),
        }
    }
}

/// Rescores every lead (or `limit` of them after `after`) with the request's candidate rules or
/// else `running`, writing only if the request says `apply`.
#[tracing::instrument(skip_all, fields(apply = request.apply))]
pub async fn rescore(
    pool: &PgPool,
    running: &RuleSet,
    request: &RescoreRequest,
    now: DateTime<Utc>,
) -> Result<RescoreReport, ApiError> {
    let rules = request.rules.as_ref().unwrap_or(running);
    let mut tally = Tally::default();
    let mut seen: usize = 0;
    let mut cursor = request.after;
    let mut busy = Vec::new();
    let mut next_after = None;
    loop {
        let room = request
            .limit
            .map_or(BATCH, |limit| BATCH.min(limit_left(limit, seen)));
        if room == 0 {
            next_after = cursor;
            break;
        }
        let ids = {
            let mut conn = pool.acquire().await?;
            leads::ids_after(&mut conn, cursor, room as i64).await?
        };
        let Some(last) = ids.last() else { break };
        cursor = Some(*last);
        seen += ids.len();
        if request.apply {
            busy.extend(apply_page(pool, &ids, true, running, rules, now, &mut tally).await?);
        } else {
            let mut conn = pool.acquire().await?;
            let mut page = leads::by_ids(&mut conn, &ids).await?;
            page.sort_by_key(|l| l.id);
            let histories = histories(&mut conn, &page).await?;
            for mut lead in page {
                rescore_lead(
                    &mut lead, &histories, running, rules, now, &mut tally, false,
                );
            }
        }
        if ids.len() < room {
            break;
        }
    }
    for page in busy.chunks(BATCH) {
        apply_page(pool, page, false, running, rules, now, &mut tally).await?;
    }
    if request.apply && tally.rescored > 0 {
        tracing::info!(
            leads.scanned = tally.scanned,
            leads.rescored = tally.rescored,
            leads.moved = tally.stage_changes(),
            rules.version = %rules.version,
            "rescored leads"
        );
    }
    Ok(tally.report(request, rules, now, next_after))
}

fn limit_left(limit: u64, seen: usize) -> usize {
    usize::try_from(limit.saturating_sub(seen as u64)).unwrap_or(usize::MAX)
}

/// Rescores and writes the leads `ids` in one transaction; returns those another transaction
/// held (only when `skip_busy`).
async fn apply_page(
    pool: &PgPool,
    ids: &[Uuid],
    skip_busy: bool,
    running: &RuleSet,
    rules: &RuleSet,
    now: DateTime<Utc>,
    tally: &mut Tally,
) -> Result<Vec<Uuid>, ApiError> {
    let mut tx = pool.begin().await?;
    let mut page = leads::lock_ids(&mut tx, ids, skip_busy).await?;
    page.sort_by_key(|l| l.id);
    let locked: HashSet<Uuid> = page.iter().map(|l| l.id).collect();
    let busy = ids
        .iter()
        .copied()
        .filter(|id| !locked.contains(id))
        .collect();
    let histories = histories(&mut tx, &page).await?;
    let mut changed = Vec::new();
    let mut new_transitions = Vec::new();
    for mut lead in page {
        let (wrote, transitions) =
            rescore_lead(&mut lead, &histories, running, rules, now, tally, true);
        if wrote {
            // Nurture follows, as after any evaluation: an MQL or a disqualified lead exits.
            let nurtured = nurture::plan(&mut lead, &[], rules, now);
            changed.push((lead, nurtured));
            new_transitions.extend(transitions);
        }
    }
    let decided = persist::Decided {
        leads: changed.iter().map(|(l, _)| l).collect(),
        transitions: &new_transitions,
        nurture: changed.iter().map(|(l, r)| (l, r.clone())).collect(),
    };
    persist::locked(&mut tx, decided, rules, now).await?;
    tx.commit().await?;
    Ok(busy)
}

/// Every stored event of `page`'s leads as (type, occurred_at), by lead.
async fn histories(
    conn: &mut PgConnection,
    page: &[Lead],
) -> Result<HashMap<Uuid, History>, ApiError> {
    let ids: Vec<Uuid> = page.iter().map(|l| l.id).collect();
    let mut by_lead: HashMap<Uuid, History> = HashMap::new();
    for (lead_id, event_type, at) in events::intent_histories(conn, &ids).await? {
        by_lead.entry(lead_id).or_default().push((event_type, at));
    }
    Ok(by_lead)
}

/// Rescores one lead in place; returns whether it changed and the transitions to record
/// (`apply`: they will be, so they are logged as moves).
fn rescore_lead(
    lead: &mut Lead,
    histories: &HashMap<Uuid, History>,
    running: &RuleSet,
    rules: &RuleSet,
    now: DateTime<Utc>,
    tally: &mut Tally,
    apply: bool,
) -> (bool, Vec<NewTransition>) {
    let before_lead = lead.clone();
    let before = Snapshot::of(lead, running, now);
    let history = histories.get(&lead.id).map_or(&[][..], Vec::as_slice);
    lead.parts().refold(history, &rules.rules);
    if let Some(since) = &mut lead.since_rejection {
        since.refold(history, &rules.rules.intent);
    }
    let mut transitions = if apply {
        evaluation::apply(lead, None, rules, now)
    } else {
        evaluation::settle(lead, None, rules, now)
    };
    for t in &mut transitions {
        ACTOR.clone_into(&mut t.actor);
    }
    tally.scanned += 1;
    let changed = differs(&before_lead, lead);
    if changed {
        let after = Snapshot::of(lead, rules, now);
        tally.note(lead, before, after, transitions.first());
    }
    (changed, transitions)
}

/// Whether a rescore changed anything the lead row stores.
fn differs(before: &Lead, after: &Lead) -> bool {
    before.stage != after.stage
        || before.fit != after.fit
        || before.intent != after.intent
        || before.since_rejection != after.since_rejection
        || before.activity != after.activity
        || before.disqualified_reason != after.disqualified_reason
        || before.account_tier != after.account_tier
        || before.review != after.review
        || before.rules_version != after.rules_version
}

/// What a pass has seen so far.
#[derive(Default)]
struct Tally {
    scanned: usize,
    rescored: usize,
    by_change: Vec<ChangeCount>,
    moved: Vec<SampleLead>,
    rescored_only: Vec<SampleLead>,
}

impl Tally {
    fn note(
        &mut self,
        lead: &Lead,
        before: Snapshot,
        after: Snapshot,
        transition: Option<&NewTransition>,
    ) {
        self.rescored += 1;
        let (from, to) = (before.lifecycle_stage, after.lifecycle_stage);
        if from != to {
            match self
                .by_change
                .iter_mut()
                .find(|c| c.from == from && c.to == to)
            {
                Some(count) => count.count += 1,
                None => self.by_change.push(ChangeCount { from, to, count: 1 }),
            }
        }
        let samples = if from != to {
            &mut self.moved
        } else {
            &mut self.rescored_only
        };
        if samples.len() < SAMPLE {
            samples.push(SampleLead {
                lead_id: lead.id,
                email: lead.email.to_string(),
                before,
                after,
                reason: transition.map(|t| t.reason.clone()),
            });
        }
    }

    fn stage_changes(&self) -> usize {
        self.by_change.iter().map(|c| c.count).sum()
    }

    fn report(
        mut self,
        request: &RescoreRequest,
        rules: &RuleSet,
        now: DateTime<Utc>,
        next_after: Option<Uuid>,
    ) -> RescoreReport {
        let stage_changes = self.stage_changes();
        let mut sample = std::mem::take(&mut self.moved);
        sample.extend(self.rescored_only);
        sample.truncate(SAMPLE);
        RescoreReport {
            apply: request.apply,
            rules_version: rules.version.clone(),
            candidate: request.rules.is_some(),
            as_of: now,
            scanned: self.scanned,
            rescored: self.rescored,
            stage_changes,
            by_change: self.by_change,
            sample,
            next_after,
        }
    }
}
