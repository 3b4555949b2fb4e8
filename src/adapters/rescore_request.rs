//! The body of `POST /api/v1/admin/rescore`: `apply`, candidate `rules` (dry runs only),
//! `after` and `limit` to walk a large table in several calls. An empty body is a dry run.

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{candidate_rules, json};
use crate::{
    engine::{RuleSet, Rules},
    error::ApiError,
};

/// A validated rescore request.
#[derive(Debug, Default)]
pub struct RescoreRequest {
    /// Write the changes; otherwise only count them (a dry run).
    pub apply: bool,
    /// Candidate rules (dry runs only); `None`: the running ones.
    pub rules: Option<RuleSet>,
    /// Start after this lead id (resuming a pass that stopped at `limit`).
    pub after: Option<Uuid>,
    /// Look at no more than this many leads.
    pub limit: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRescore {
    apply: Option<bool>,
    rules: Option<Value>,
    after: Option<String>,
    limit: Option<u64>,
}

/// Parses a rescore body; an empty body is a dry run with the running rules. Candidate rules
/// are refused with `apply`: the service would go on scoring new events with the rules it
/// runs, so stored leads must be rescored with those.
pub fn parse(body: &[u8], rules: &Rules) -> Result<RescoreRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RescoreRequest::default());
    }
    let raw: RawRescore = json::decode(body)?;
    let apply = raw.apply.unwrap_or(false);
    if apply && raw.rules.is_some() {
        return Err(ApiError::field(
            "rules",
            "candidate rules are for dry runs only: put them in config/rules.toml, restart, \
             then apply with the rules the service runs",
        ));
    }
    let candidate = raw
        .rules
        .map(|c| candidate_rules::decode("rules", c, rules))
        .transpose()?;
    let after = raw
        .after
        .map(|a| {
            Uuid::parse_str(a.trim())
                .map_err(|_| ApiError::field("after", format!("{a:?} is not a lead id (UUID)")))
        })
        .transpose()?;
    if raw.limit == Some(0) {
        return Err(ApiError::field("limit", "must be at least 1"));
    }
    Ok(RescoreRequest {
        apply,
        rules: candidate,
        after,
        limit: raw.limit,
    })
}
