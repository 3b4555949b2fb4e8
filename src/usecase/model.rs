//! The predictive model, end to end: reads the leads credited with closed deals page by page,
//! fits each fit rule's and each intent signal's lift on winning (`engine::model`), proposes
//! candidate rules at the running rules' scale, and backtests them against the running rules
//! on the same leads, each lead replayed as ingest took its events (decay included). It
//! proposes and writes nothing: the candidate is for `POST /api/v1/scoring/backtest` and the
//! rescore dry run to judge, and for ops to adopt or not.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    adapters::candidate_rules,
    config::RevenueSettings,
    db::{
        events, leads,
        model::{self, LeadOutcome},
    },
    domain::{EventType, LeadRecord, Outcome, Profile, RecordEvent},
    engine::{
        BacktestReport, BacktestTally, DEFAULT_TARGET, Grid, RuleSet, decay_factor,
        model::{self as engine, Factor, Patterns},
        percent, replay, score_fit,
    },
    error::ApiError,
};

/// Leads read per page: what is held at once.
pub const PAGE: usize = 2_000;

/// The L2 penalty on the coefficients: negligible against a few hundred examples (it shrinks
/// a coefficient by about `RIDGE / (n·p·(1-p))`), enough to keep a rule that never varies, or
/// separates the outcomes perfectly, at a finite value.
const RIDGE: f64 = 0.01;

/// How many factors the answer names as the strongest each way.
const TOP: usize = 3;

/// The body of `POST /api/v1/model/proposals`; `{}` takes the defaults.
#[derive(Clone, Copy, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalRequest {
    /// Fit even below the configured minimums of history (default false).
    #[serde(default)]
    pub force: bool,
    /// The share of won deals the proposed thresholds must capture, above 0 and at most 1
    /// (default 0.7, the procedure's 70%).
    pub target: Option<f64>,
}

impl ProposalRequest {
    fn target(&self) -> Result<f64, ApiError> {
        match self.target {
            None => Ok(DEFAULT_TARGET),
            Some(t) if t > 0.0 && t <= 1.0 => Ok(t),
            Some(t) => Err(ApiError::field(
                "target",
                format!("{t} is not a share above 0 and at most 1"),
            )),
        }
    }
}

/// The model and what it proposes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelReport {
    pub training: Training,
    /// The log-odds of winning of a lead matching no rule and doing nothing.
    pub intercept: f64,
    /// Every fit rule and signal, strongest lift first.
    pub factors: Vec<Factor>,
    /// The names of the factors that lift winning most, and that lower it most.
    pub top_positive: Vec<String>,
    pub top_negative: Vec<String>,
    /// Candidate rules (the shape of `config/rules.toml`, as JSON): send them as `rules` to
    /// `POST /api/v1/scoring/backtest` or to a rescore dry run.
    #[schema(value_type = Object)]
    pub candidate_rules: Value,
    pub candidate_version: String,
    pub comparison: Comparison,
    pub decay: DecayCheck,
}

/// What the model was fitted on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Training {
    /// Leads credited with a closed deal: won if any was won, else lost.
    pub leads: usize,
    pub won: usize,
    pub lost: usize,
    pub first_closed_at: Option<DateTime<Utc>>,
    pub last_closed_at: Option<DateTime<Utc>>,
    /// Months from the first closed deal to the last.
    pub history_months: f64,
    /// Whether the minimums were waived.
    pub forced: bool,
    /// Distinct feature patterns: what the fit holds in memory.
    pub patterns: usize,
    pub iterations: usize,
    pub converged: bool,
}

/// The running rules against the candidate, on the training leads.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    pub running: Side,
    pub candidate: Side,
    /// In a sentence.
    pub summary: String,
}

/// How one set of rules did on the training leads.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Side {
    pub fit: i32,
    pub intent: f64,
    /// Won leads that would have crossed MQL, and their share.
    pub won_crossed: usize,
    pub won_share: Option<f64>,
    pub lost_crossed: usize,
    /// Leads that would have crossed MQL, won or lost.
    pub mqls: usize,
}

/// Stale leads inflating the MQL count: MQLs whose intent has decayed below the running
/// threshold since their last signal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecayCheck {
    pub mqls: usize,
    pub stale: usize,
    pub stale_share: Option<f64>,
    pub summary: String,
}

/// Fits the model on the stored history and proposes candidate rules; a 422 naming `force`
/// below the configured minimums (unless forced), or without both won and lost leads.
#[tracing::instrument(skip_all, fields(force = request.force))]
pub async fn propose(
    pool: &PgPool,
    running: &RuleSet,
    settings: &RevenueSettings,
    request: ProposalRequest,
    now: DateTime<Utc>,
) -> Result<ModelReport, ApiError> {
    let target = request.target()?;
    let outcomes = model::outcomes(&mut *pool.acquire().await?).await?;
    let mut training = summary(&outcomes, request.force);
    check_minimums(&training, settings, request.force)?;

    let mut patterns = Patterns::new(engine::width());
    for_each_lead(pool, &outcomes, |outcome, record| {
        let fit = score_fit(&record.profile, record.email.domain(), &running.rules.fit);
        let x = engine::features(&fit, record.events.iter().map(|e| e.event_type));
        patterns.add(&x, outcome == Outcome::ClosedWon);
    })
    .await?;
    let fitted = engine::fit(&patterns, RIDGE);
    training.patterns = patterns.len();
    training.iterations = fitted.iterations;
    training.converged = fitted.converged;
    drop(patterns);

    let (mut factors, weights) = engine::propose(&fitted, &running.rules);
    let weighted = candidate_rules::decode("rules", weights.clone(), &running.rules)?;
    let grid = Grid::default();
    let (mut on_running, mut on_candidate) = (BacktestTally::new(&grid), BacktestTally::new(&grid));
    for_each_lead(pool, &outcomes, |outcome, record| {
        let end = record.last_event_at().unwrap_or(now);
        on_running.add(outcome, &replay(record, &running.rules, end));
        on_candidate.add(outcome, &replay(record, &weighted.rules, end));
    })
    .await?;
    let running_report = on_running.report(&running.rules.mql, target);
    let candidate_report = on_candidate.report(&weighted.rules.mql, target);
    let chosen = choose(&candidate_report);
    let candidate_rules = engine::with_thresholds(weights, chosen.fit, chosen.intent);
    let candidate = candidate_rules::decode("rules", candidate_rules.clone(), &running.rules)?;

    factors.sort_by(|a, b| b.coefficient.total_cmp(&a.coefficient));
    let names =
        |fs: &mut dyn Iterator<Item = &Factor>| fs.take(TOP).map(|f| f.name.clone()).collect();
    let top_positive = names(&mut factors.iter().filter(|f| f.coefficient > 0.0));
    let top_negative = names(&mut factors.iter().rev().filter(|f| f.coefficient < 0.0));
    let running_side = side_at_rules(&running_report);
    Ok(ModelReport {
        training,
        intercept: (fitted.intercept * 10_000.0).round() / 10_000.0,
        factors,
        top_positive,
        top_negative,
        comparison: Comparison {
            summary: compare(&running_side, &chosen),
            running: running_side,
            candidate: chosen,
        },
        candidate_rules,
        candidate_version: candidate.version,
        decay: decay_check(pool, running, now).await?,
    })
}

fn summary(outcomes: &[LeadOutcome], forced: bool) -> Training {
    let won = outcomes.iter().filter(|o| o.won).count();
    let first = outcomes.iter().map(|o| o.first_closed_at).min();
    let last = outcomes.iter().map(|o| o.last_closed_at).max();
    let days = match (first, last) {
        (Some(first), Some(last)) => (last - first).num_seconds() as f64 / 86_400.0,
        _ => 0.0,
    };
    Training {
        leads: outcomes.len(),
        won,
        lost: outcomes.len() - won,
        first_closed_at: first,
        last_closed_at: last,
        history_months: (days / (365.25 / 12.0) * 10.0).floor() / 10.0,
        forced,
        patterns: 0,
        iterations: 0,
        converged: false,
    }
}

fn check_minimums(
    training: &Training,
    settings: &RevenueSettings,
    force: bool,
) -> Result<(), ApiError> {
    if training.won == 0 || training.lost == 0 {
        return Err(ApiError::field(
            "force",
            format!(
                "the model needs leads credited with both won and lost deals; the history \
                 holds {} won and {} lost",
                training.won, training.lost
            ),
        ));
    }
    let months = f64::from(settings.model_min_history_months);
    if !force && (training.won < settings.model_min_won_deals || training.history_months < months) {
        return Err(ApiError::field(
            "force",
            format!(
                "the history holds {} leads with won deals over {} months; the model needs at \
                 least {} over {} months (revenue.model_min_won_deals, \
                 revenue.model_min_history_months) to be trusted. Send \"force\": true to fit \
                 anyway",
                training.won,
                training.history_months,
                settings.model_min_won_deals,
                settings.model_min_history_months
            ),
        ));
    }
    Ok(())
}

/// Calls `each` with every outcome's lead as a backtest record (its stored profile, tier and
/// events), [`PAGE`] leads at a time.
async fn for_each_lead(
    pool: &PgPool,
    outcomes: &[LeadOutcome],
    mut each: impl FnMut(Outcome, &LeadRecord),
) -> Result<(), ApiError> {
    for page in outcomes.chunks(PAGE) {
        let ids: Vec<Uuid> = page.iter().map(|o| o.lead_id).collect();
        let mut conn = pool.acquire().await?;
        let stored = leads::by_ids(&mut conn, &ids).await?;
        let mut histories: HashMap<Uuid, Vec<(EventType, DateTime<Utc>)>> = HashMap::new();
        for (lead, event_type, at) in events::intent_histories(&mut conn, &ids).await? {
            histories.entry(lead).or_default().push((event_type, at));
        }
        drop(conn);
        let won: HashMap<Uuid, bool> = page.iter().map(|o| (o.lead_id, o.won)).collect();
        for lead in stored {
            let outcome = if won[&lead.id] {
                Outcome::ClosedWon
            } else {
                Outcome::ClosedLost
            };
            let events = histories.remove(&lead.id).unwrap_or_default();
            let record = LeadRecord {
                id: None,
                email: lead.email,
                profile: lead.profile,
                account_tier: lead.account_tier,
                events: events
                    .into_iter()
                    .map(|(event_type, occurred_at)| RecordEvent {
                        event_type,
                        occurred_at,
                        profile: Profile::default(),
                    })
                    .collect(),
                outcome: Some(outcome),
            };
            each(outcome, &record);
        }
    }
    Ok(())
}

/// The candidate's thresholds: the sweep's pair that meets the target letting the fewest
/// lost leads through, else the running rules' own.
fn choose(report: &BacktestReport) -> Side {
    match &report.suggested {
        Some(cell) => Side {
            fit: cell.fit,
            intent: cell.intent,
            won_crossed: cell.won_crossed,
            won_share: cell.won_share,
            lost_crossed: cell.lost_crossed,
            mqls: cell.won_crossed + cell.lost_crossed,
        },
        None => side_at_rules(report),
    }
}

fn side_at_rules(report: &BacktestReport) -> Side {
    Side {
        fit: report.thresholds.fit,
        intent: report.thresholds.intent,
        won_crossed: report.won.crossed,
        won_share: report.won.share,
        lost_crossed: report.lost.crossed,
        mqls: report.won.crossed + report.lost.crossed,
    }
}

/// "these weights would have captured 83% of won deals at 71% fewer MQLs".
fn compare(running: &Side, candidate: &Side) -> String {
    let share = |s: &Side| percent(s.won_share.unwrap_or(0.0));
    let volume = if running.mqls == 0 {
        format!("{} MQLs where the running rules made none", candidate.mqls)
    } else {
        let change = candidate.mqls as f64 / running.mqls as f64 - 1.0;
        let direction = if change <= 0.0 { "fewer" } else { "more" };
        format!("{} {direction} MQLs", percent(change.abs()))
    };
    format!(
        "these weights (fit ≥ {}, intent ≥ {}) would have captured {} of won deals at {volume} \
         ({} against {}); the running rules capture {}",
        candidate.fit,
        candidate.intent,
        share(candidate),
        candidate.mqls,
        running.mqls,
        share(running)
    )
}

async fn decay_check(
    pool: &PgPool,
    running: &RuleSet,
    now: DateTime<Utc>,
) -> Result<DecayCheck, ApiError> {
    let rules = &running.rules;
    let (mut mqls, mut stale) = (0usize, 0usize);
    model::mql_intents(&mut *pool.acquire().await?, |intent, last| {
        mqls += 1;
        let decayed = last.map_or(intent, |at| {
            intent * decay_factor(&rules.intent.decay, at, now)
        });
        stale += usize::from(decayed < rules.mql.intent);
    })
    .await?;
    let share = (mqls > 0).then(|| (stale as f64 / mqls as f64 * 10_000.0).round() / 10_000.0);
    let summary = format!(
        "{stale} of {mqls} MQLs have decayed below intent {} since their last signal (half-life \
         {} days): they inflate the MQL count until a rep works them or the inactivity \
         rule disqualifies them",
        rules.mql.intent, rules.intent.decay.half_life_days
    );
    Ok(DecayCheck {
        mqls,
        stale,
        stale_share: share,
        summary,
    })
}
