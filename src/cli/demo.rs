//! `leadrouter demo`: an example data set loaded through the use cases the API calls (reps,
//! account import, event ingest), so every rule applies as in production: a manager and
//! three reps, a tiered account list, and a week of events for 20 leads, of which some
//! become MQL and are assigned, some wait in review, some stay in nurture and some are
//! disqualified. Running it again changes nothing: reps and accounts already there are
//! left alone and the events carry fixed ids.

mod data;
mod summary;

use std::{collections::HashMap, path::Path};

use chrono::{DateTime, SubsecRound, Utc};

use super::{Failure, setup};
use crate::{
    adapters::{
        account_list::{self, Format},
        canonical,
    },
    app::{AppState, system_clock},
    domain::Email,
    error::ApiError,
    usecase::{
        accounts::{self, MAX_IMPORT_ROWS},
        ingest::{self, EventStatus},
        reps::{self, RepInput},
    },
};

/// What the load wrote, next to what the data set holds.
#[derive(Debug, Default)]
pub struct Loaded {
    pub reps: usize,
    pub reps_new: usize,
    pub accounts: usize,
    pub accounts_new: usize,
    pub events: usize,
    pub events_new: usize,
    /// The data set's leads, in the order of their first event.
    pub emails: Vec<Email>,
}

/// Loads the data set into the configured database; the summary to print.
pub async fn run(config: &Path) -> Result<String, Failure> {
    let (settings, rules) = setup::load(config)?;
    let (pool, _) = setup::connect(&settings).await?;
    // The state the service itself would run with: ingest goes through its group commit.
    let state = AppState::new(pool.clone(), settings, rules, system_clock());
    let result = load(&state).await;
    pool.close().await;
    result
}

async fn load(state: &AppState) -> Result<String, Failure> {
    let mut loaded = Loaded::default();
    load_reps(state, &mut loaded).await?;
    load_accounts(state, &mut loaded).await?;
    load_events(state, &mut loaded).await?;
    let leads = summary::leads(state, &loaded.emails)
        .await
        .map_err(api_failure)?;
    Ok(summary::render(&loaded, &leads))
}

/// A refusal of the shipped data is a bug in it, not the user's mistake.
fn api_failure(error: ApiError) -> Failure {
    match Failure::from_api(error, |field| format!("demo data: {field}")) {
        Failure::Usage(line) => Failure::Runtime(line),
        runtime => runtime,
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Creates the reps whose email no rep has yet, active and without Slack webhooks.
async fn load_reps(state: &AppState, loaded: &mut Loaded) -> Result<(), Failure> {
    let demo = data::reps().map_err(|e| Failure::Runtime(format!("demo data: reps.json: {e}")))?;
    let mut ids: HashMap<String, uuid::Uuid> = reps::list(&state.pool, None)
        .await
        .map_err(api_failure)?
        .into_iter()
        .map(|rep| (rep.email, rep.id))
        .collect();
    loaded.reps = demo.len();
    for rep in demo {
        let email = rep.email.to_lowercase();
        if ids.contains_key(&email) {
            continue;
        }
        let manager_id = rep
            .manager_email
            .map(|m| {
                ids.get(&m.to_lowercase()).copied().ok_or_else(|| {
                    Failure::Runtime(format!(
                        "demo data: manager {m} is not listed before {email}"
                    ))
                })
            })
            .transpose()?;
        let input = RepInput {
            name: Some(rep.name),
            email: Some(email.clone()),
            role: Some(rep.role),
            manager_id: Some(manager_id),
            countries: Some(rep.countries),
            industries: Some(rep.industries),
            active: Some(true),
            slack_webhook_url: None,
        };
        let saved = reps::save(&state.pool, &state.rules, now(), None, input)
            .await
            .map_err(api_failure)?;
        ids.insert(saved.email, saved.id);
        loaded.reps_new += 1;
    }
    Ok(())
}

/// Imports the rows of the account list whose domain has no tier yet (missing, or made by
/// ingest from a lead's email), leaving tiers someone chose alone.
async fn load_accounts(state: &AppState, loaded: &mut Loaded) -> Result<(), Failure> {
    let decoded = account_list::decode(Format::Csv, data::ACCOUNTS_CSV.as_bytes(), MAX_IMPORT_ROWS)
        .map_err(api_failure)?;
    if let Some(bad) = decoded.errors.first() {
        return Err(Failure::Runtime(format!(
            "demo data: accounts.csv: {}: {}",
            bad.field, bad.detail
        )));
    }
    loaded.accounts = decoded.rows.len();
    let mut rows = Vec::new();
    for row in decoded.rows {
        let domain = row.input.domain.clone().unwrap_or_default();
        match accounts::by_domain(&state.pool, &domain).await {
            Ok(account) if account.tier.is_some() => {}
            Ok(_) | Err(ApiError::NotFound(_)) => rows.push(row),
            Err(other) => return Err(api_failure(other)),
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let report = accounts::import(&state.pool, &state.rules, rows, Vec::new(), now())
        .await
        .map_err(api_failure)?;
    loaded.accounts_new = report.created + report.updated;
    Ok(())
}

/// Ingests the week of events as one batch, as `POST /webhooks/events` would.
async fn load_events(state: &AppState, loaded: &mut Loaded) -> Result<(), Failure> {
    let now = state.now();
    let body = data::events_as_of(now)
        .map_err(|e| Failure::Runtime(format!("demo data: events.json: {e:#}")))?;
    let events = canonical::parse_batch(&body, &state.limits(), now).map_err(api_failure)?;
    for event in &events {
        if !loaded.emails.contains(&event.email) {
            loaded.emails.push(event.email.clone());
        }
    }
    let outcomes = ingest::ingest(&state.group_commit, now, events)
        .await
        .map_err(api_failure)?;
    loaded.events = outcomes.len();
    loaded.events_new = outcomes
        .iter()
        .filter(|o| o.status == EventStatus::Accepted)
        .count();
    Ok(())
}
