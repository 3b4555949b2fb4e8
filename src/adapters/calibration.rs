//! The bodies of `POST /api/v1/scoring/preview` and `/backtest`: records (a `lead` object as in
//! the canonical event, an optional `account_tier`, dated `events`, for a backtest an
//! `outcome`). Every problem is named by its JSON path (`records[3].events[0].occurred_at`);
//! at most [`MAX_PROBLEMS`] are listed.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::{
    candidate_rules,
    canonical::{Checker, Limits, RawLead},
    json,
};
use crate::{
    domain::{Email, LeadRecord, Outcome, Profile, RecordEvent},
    engine::{DEFAULT_TARGET, Grid, RuleSet, Rules, TIERS, axis},
    error::{ApiError, FieldError},
};

/// Most records one preview takes.
pub const PREVIEW_MAX_RECORDS: usize = 1_000;
/// Most records one backtest takes (the body size limit applies too).
pub const BACKTEST_MAX_RECORDS: usize = 20_000;
/// Most events one record may hold.
pub const MAX_RECORD_EVENTS: usize = 1_000;
/// Most problems one answer lists.
pub const MAX_PROBLEMS: usize = 100;

/// A validated preview request.
#[derive(Debug)]
pub struct PreviewRequest {
    /// The moment to evaluate as of; `None`: now.
    pub as_of: Option<DateTime<Utc>>,
    pub records: Vec<LeadRecord>,
}

/// A validated backtest request.
#[derive(Debug)]
pub struct BacktestRequest {
    /// Each record with its outcome.
    pub records: Vec<(Outcome, LeadRecord)>,
    /// Candidate rules; `None`: the running ones.
    pub rules: Option<RuleSet>,
    pub grid: Grid,
    /// The closed-won share to reach.
    pub target: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreview {
    as_of: Option<String>,
    records: Option<Vec<RawRecord>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBacktest {
    records: Option<Vec<RawRecord>>,
    rules: Option<Value>,
    sweep: Option<RawSweep>,
    target: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord {
    id: Option<String>,
    lead: Option<RawLead>,
    account_tier: Option<Number>,
    outcome: Option<String>,
    events: Option<Vec<RawRecordEvent>>,
}

// `event_id`, `source` and `properties` are taken and ignored, so canonical events can be
// pasted as they are.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecordEvent {
    #[serde(rename = "type")]
    event_type: Option<String>,
    occurred_at: Option<String>,
    lead: Option<RawLead>,
    #[expect(dead_code, reason = "accepted so canonical events paste as they are")]
    event_id: Option<Value>,
    #[expect(dead_code, reason = "accepted so canonical events paste as they are")]
    source: Option<Value>,
    #[expect(dead_code, reason = "accepted so canonical events paste as they are")]
    properties: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    fit: Option<RawAxis>,
    intent: Option<RawAxis>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    from: f64,
    to: f64,
    step: f64,
}

/// Parses a preview body; `rules` are the running rules (their demand states are the ones a
/// record may name).
pub fn parse_preview(body: &[u8], rules: &Rules) -> Result<PreviewRequest, ApiError> {
    let raw: RawPreview = json::decode(body)?;
    let mut errors = Vec::new();
    let as_of = raw.as_of.and_then(|at| {
        let mut check = Checker::new("", &mut errors);
        check.instant("as_of", &at)
    });
    let records = records(raw.records, PREVIEW_MAX_RECORDS, false, rules, &mut errors);
    finish(errors)?;
    Ok(PreviewRequest { as_of, records })
}

/// Parses a backtest body; candidate rules are laid over the running `rules`.
pub fn parse_backtest(body: &[u8], rules: &Rules) -> Result<BacktestRequest, ApiError> {
    let raw: RawBacktest = json::decode(body)?;
    let candidate = raw
        .rules
        .map(|c| candidate_rules::decode("rules", c, rules))
        .transpose()?;
    let effective = candidate.as_ref().map_or(rules, |c| &c.rules);
    let mut errors = Vec::new();
    let grid = grid(raw.sweep, &mut errors);
    let target = match raw.target {
        None => DEFAULT_TARGET,
        Some(t) if t > 0.0 && t <= 1.0 => t,
        Some(t) => {
            errors.push(FieldError::new(
                "target",
                format!("{t} is not a share in (0, 1], e.g. 0.7"),
            ));
            DEFAULT_TARGET
        }
    };
    let records = records(
        raw.records,
        BACKTEST_MAX_RECORDS,
        true,
        effective,
        &mut errors,
    );
    finish(errors)?;
    Ok(BacktestRequest {
        // Every record has its outcome by now: one without is a validation error above.
        records: records
            .into_iter()
            .filter_map(|r| r.outcome.map(|o| (o, r)))
            .collect(),
        rules: candidate,
        grid,
        target,
    })
}

fn finish(mut errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    errors.truncate(MAX_PROBLEMS);
    Err(ApiError::Validation(errors))
}

fn records(
    raw: Option<Vec<RawRecord>>,
    max: usize,
    need_outcome: bool,
    rules: &Rules,
    errors: &mut Vec<FieldError>,
) -> Vec<LeadRecord> {
    let raw = match raw {
        None => {
            errors.push(FieldError::new(
                "records",
                "is required (an array of records)",
            ));
            return Vec::new();
        }
        Some(raw) if raw.is_empty() => {
            errors.push(FieldError::new(
                "records",
                "is empty; send at least one record",
            ));
            return Vec::new();
        }
        Some(raw) if raw.len() > max => {
            errors.push(FieldError::new(
                "records",
                format!("holds {} records; at most {max} are taken", raw.len()),
            ));
            return Vec::new();
        }
        Some(raw) => raw,
    };
    let limits = Limits {
        max_batch_events: MAX_RECORD_EVENTS,
        max_future_skew: Duration::zero(),
        demand_states: &rules.segmentation.demand_states,
    };
    let mut records = Vec::with_capacity(raw.len());
    for (i, raw) in raw.into_iter().enumerate() {
        if let Some(record) = record(i, raw, need_outcome, &limits, errors) {
            records.push(record);
        }
        if errors.len() >= MAX_PROBLEMS {
            break;
        }
    }
    records
}

fn record(
    i: usize,
    raw: RawRecord,
    need_outcome: bool,
    limits: &Limits<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<LeadRecord> {
    let prefix = format!("records[{i}].");
    let mut check = Checker::new(&prefix, errors);
    let id = raw
        .id
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
        .and_then(|id| check.bounded("id", id));
    let lead = match raw.lead {
        Some(lead) => check.lead(lead, limits),
        None => {
            check.fail("lead", "is required (an object with at least an email)");
            None
        }
    };
    let account_tier =
        raw.account_tier
            .and_then(|n| match n.as_u64().and_then(|t| u8::try_from(t).ok()) {
                Some(tier) if TIERS.contains(&tier) => Some(tier),
                _ => {
                    check.fail(
                        "account_tier",
                        format!("unknown tier {n}; allowed: 1, 2, 3"),
                    );
                    None
                }
            });
    let outcome = match raw.outcome {
        Some(o) => match o.trim().parse::<Outcome>() {
            Ok(o) => Some(o),
            Err(why) => {
                check.fail("outcome", why.to_string());
                None
            }
        },
        None if need_outcome => {
            check.fail("outcome", "is required (closed_won or closed_lost)");
            None
        }
        None => None,
    };
    let raw_events = raw.events.unwrap_or_default();
    if raw_events.len() > limits.max_batch_events {
        check.fail(
            "events",
            format!(
                "holds {} events; a record may hold at most {}",
                raw_events.len(),
                limits.max_batch_events
            ),
        );
        return None;
    }
    let email = lead.as_ref().map(|(email, _)| email.clone());
    let sent = raw_events.len();
    let mut events = Vec::with_capacity(sent);
    for (j, raw) in raw_events.into_iter().enumerate() {
        let prefix = format!("records[{i}].events[{j}].");
        let mut check = Checker::new(&prefix, errors);
        if let Some(event) = record_event(&mut check, raw, email.as_ref(), limits) {
            events.push(event);
        }
    }
    let (email, profile) = lead?;
    (events.len() == sent && (outcome.is_some() || !need_outcome)).then_some(LeadRecord {
        id,
        email,
        profile,
        account_tier,
        events,
        outcome,
    })
}

fn record_event(
    check: &mut Checker<'_>,
    raw: RawRecordEvent,
    email: Option<&Email>,
    limits: &Limits<'_>,
) -> Option<RecordEvent> {
    let event_type = check.event_type(raw.event_type);
    let occurred_at = check
        .required("occurred_at", raw.occurred_at)
        .and_then(|at| check.instant("occurred_at", &at));
    let profile = match raw.lead {
        Some(mut lead) => {
            if let Some(sent) = lead.email.take() {
                let same = Email::parse(&sent).is_ok_and(|sent| Some(&sent) == email);
                if !same && email.is_some() {
                    check.fail("lead.email", "differs from the record's lead.email");
                }
            }
            check.profile(lead, limits)
        }
        None => Profile::default(),
    };
    Some(RecordEvent {
        event_type: event_type?,
        occurred_at: occurred_at?,
        profile,
    })
}

fn grid(raw: Option<RawSweep>, errors: &mut Vec<FieldError>) -> Grid {
    let mut grid = Grid::default();
    let Some(raw) = raw else { return grid };
    let mut axis_of = |name: &str, raw: RawAxis, whole: bool| {
        axis(raw.from, raw.to, raw.step, whole)
            .map_err(|refused| {
                errors.push(FieldError::new(
                    format!("sweep.{name}.{}", refused.part),
                    refused.problem,
                ));
            })
            .ok()
    };
    if let Some(values) = raw.fit.and_then(|fit| axis_of("fit", fit, true)) {
        grid.fit = values.into_iter().map(|v| v as i32).collect();
    }
    if let Some(values) = raw
        .intent
        .and_then(|intent| axis_of("intent", intent, false))
    {
        grid.intent = values;
    }
    grid
}
