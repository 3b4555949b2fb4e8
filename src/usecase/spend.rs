//! Recording marketing spend: what CAC divides by deals won (`metrics::revenue`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

use super::Page;
use crate::{
    db::spend::{self, NewSpend, Spend},
    domain::{Money, text},
    error::{ApiError, FieldError},
};

/// The longest span one record may cover: a year, leap day included.
pub const MAX_DAYS: i64 = 366;

/// A spend to record; every field optional here so that a missing one is a 422 naming it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendInput {
    /// The first day spent on (`YYYY-MM-DD`, UTC).
    #[schema(value_type = String, format = Date)]
    pub first_day: Option<NaiveDate>,
    /// The last day spent on, included.
    #[schema(value_type = String, format = Date)]
    pub last_day: Option<NaiveDate>,
    /// `total` (the default), `tier`, `source` or `demand_state`.
    pub segment_by: Option<String>,
    /// The tier (1–3), source or demand state; none for the total.
    pub segment: Option<String>,
    /// A decimal with at most two places, as a number or a string.
    #[schema(value_type = String)]
    pub amount: Option<Value>,
    /// ISO 4217, e.g. `USD`.
    pub currency: Option<String>,
    pub note: Option<String>,
}

/// Validates and stores `input`; `demand_states` are the configured ones.
pub async fn record(
    pool: &PgPool,
    input: SpendInput,
    demand_states: &[String],
    now: DateTime<Utc>,
) -> Result<Spend, ApiError> {
    let mut errors = Vec::new();
    let mut fail = |field: &str, detail: String| errors.push(FieldError::new(field, detail));
    let (first_day, last_day) = (input.first_day, input.last_day);
    match (first_day, last_day) {
        (None, _) => fail("first_day", "is required".into()),
        (_, None) => fail("last_day", "is required".into()),
        (Some(first), Some(last)) if last < first => {
            fail("last_day", format!("{last} is before first_day {first}"))
        }
        (Some(first), Some(last)) if (last - first).num_days() >= MAX_DAYS => fail(
            "last_day",
            format!("the span is longer than {MAX_DAYS} days"),
        ),
        _ => {}
    }
    let segment_by = input
        .segment_by
        .as_deref()
        .map(str::trim)
        .unwrap_or("total");
    let segment = input
        .segment
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let segment = match (segment_by, segment) {
        ("total", None) => None,
        ("total", Some(_)) => {
            fail(
                "segment",
                "is for a tier, source or demand state; omit it for the total".into(),
            );
            None
        }
        (_, None) if ["tier", "source", "demand_state"].contains(&segment_by) => {
            fail(
                "segment",
                format!("is required for segment_by {segment_by:?}"),
            );
            None
        }
        ("tier", Some(tier)) if !["1", "2", "3"].contains(&tier) => {
            fail("segment", format!("{tier:?} is not a tier (1, 2 or 3)"));
            None
        }
        ("demand_state", Some(state)) if !demand_states.iter().any(|s| s == state) => {
            fail(
                "segment",
                format!(
                    "{state:?} is not a configured demand state; one of {}",
                    demand_states.join(", ")
                ),
            );
            None
        }
        ("tier" | "demand_state", Some(s)) => Some(s.to_owned()),
        ("source", Some(s)) => Some(s.to_lowercase()),
        (other, _) => {
            fail(
                "segment_by",
                format!("{other:?} is not total, tier, source or demand_state"),
            );
            None
        }
    };
    if let Some(problem) = segment
        .as_deref()
        .and_then(|s| text::too_long(s, text::MAX_NAME_CHARS))
    {
        fail("segment", problem);
    }
    if input.amount.is_none() {
        fail("amount", "is required".into());
    }
    let money = match (input.amount, input.currency) {
        (Some(amount), Some(currency)) => Money::from_json(&amount, &currency)
            .map_err(|e| {
                let (field, why) = e.field("amount", "currency");
                fail(field, why)
            })
            .ok(),
        (_, None) => {
            fail("currency", "is required (ISO 4217, e.g. USD)".into());
            None
        }
        _ => None,
    };
    let note = input
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if let Some(problem) = note.and_then(|n| text::too_long(n, text::MAX_NOTE_CHARS)) {
        fail("note", problem);
    }
    let (Some(first_day), Some(last_day), Some(money), true) =
        (first_day, last_day, money, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };
    let new = NewSpend {
        first_day,
        last_day,
        segment_by,
        segment: segment.as_deref(),
        money: &money,
        note,
    };
    let mut conn = pool.acquire().await?;
    Ok(spend::insert(&mut conn, &new, now).await?)
}

/// A page of spend records, latest first.
pub async fn list(pool: &PgPool, limit: i64, offset: i64) -> Result<Page<Spend>, ApiError> {
    let mut conn = pool.acquire().await?;
    let (items, total) = spend::list(&mut conn, limit, offset).await?;
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}
