//! The reps and managers admin: create, list, update, deactivate. A rep who becomes active
//! picks up the MQLs that were waiting for someone, in the same transaction.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{PgConnection, PgPool, types::Json};
use uuid::Uuid;

use super::{handoff::assign, webhook_endpoints::check_url};
use crate::{
    db::{
        leads::{self, Lead},
        reps::{self, Rep},
    },
    domain::{Caller, Email, Role, text},
    engine::RuleSet,
    error::{ApiError, FieldError},
};

/// A rep as written by an admin; on update, absent fields keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    /// `null` clears the manager.
    #[serde(default, deserialize_with = "present")]
    pub manager_id: Option<Option<Uuid>>,
    pub countries: Option<Vec<String>>,
    pub industries: Option<Vec<String>>,
    pub active: Option<bool>,
    /// The Slack incoming webhook of their own channel; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    pub slack_webhook_url: Option<Option<String>>,
}

/// Tells a present `null` (Some(None)) from an absent field (None).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Every rep, optionally only active or inactive ones.
pub async fn list(pool: &PgPool, active: Option<bool>) -> Result<Vec<Rep>, ApiError> {
    let mut conn = pool.acquire().await?;
    Ok(reps::list(&mut conn, active).await?)
}

/// One rep. A rep reads only their own record (before any lookup, so a refusal says
/// nothing of whether the id exists); admin and managers read any.
pub async fn get(pool: &PgPool, caller: &Caller, id: Uuid) -> Result<Rep, ApiError> {
    if caller.role == Role::Rep && caller.rep_id != Some(id) {
        return Err(ApiError::Forbidden(
            "a rep key reads only its own rep record".to_owned(),
        ));
    }
    let mut conn = pool.acquire().await?;
    reps::by_id(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("rep {id}")))
}

/// Creates a rep (`id` None) or updates one, then assigns waiting MQLs if reps are active.
pub async fn save(
    pool: &PgPool,
    rules: &RuleSet,
    now: DateTime<Utc>,
    id: Option<Uuid>,
    input: RepInput,
) -> Result<Rep, ApiError> {
    let mut tx = pool.begin().await?;
    let current = match id {
        Some(id) => Some(
            reps::by_id(&mut tx, id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("rep {id}")))?,
        ),
        None => None,
    };
    let rep = merge(&mut tx, current, input, now).await?;
    let saved = reps::save(&mut tx, &rep).await.map_err(|e| match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("reps_email_key") => {
            ApiError::field("email", format!("{} belongs to another rep", rep.email))
        }
        _ => e.into(),
    })?;
    if saved.active {
        assign_waiting(&mut tx, rules, now).await?;
    }
    tx.commit().await?;
    Ok(saved)
}

/// Validates `input` over `current` (or a new rep).
async fn merge(
    conn: &mut PgConnection,
    current: Option<Rep>,
    input: RepInput,
    now: DateTime<Utc>,
) -> Result<Rep, ApiError> {
    let creating = current.is_none();
    let mut rep = current.unwrap_or_else(|| Rep {
        id: Uuid::now_v7(),
        name: String::new(),
        email: String::new(),
        role: "rep".to_owned(),
        manager_id: None,
        countries: Json(Vec::new()),
        industries: Json(Vec::new()),
        active: true,
        slack_webhook_url: None,
        created_at: now,
        updated_at: now,
    });
    let mut errors = Vec::new();
    match input.name.map(|n| n.trim().to_owned()) {
        Some(name) if name.is_empty() => errors.push(FieldError::new("name", "must not be empty")),
        Some(name) => match text::too_long(&name, text::MAX_NAME_CHARS) {
            Some(problem) => errors.push(FieldError::new("name", problem)),
            None => rep.name = name,
        },
        None if creating => errors.push(FieldError::new("name", "is required")),
        None => {}
    }
    match input.email.map(|e| Email::parse(&e)) {
        Some(Ok(email)) => rep.email = email.as_str().to_owned(),
        Some(Err(why)) => errors.push(FieldError::new("email", why.to_string())),
        None if creating => errors.push(FieldError::new("email", "is required")),
        None => {}
    }
    match input.role.as_deref() {
        Some(role @ ("rep" | "manager")) => rep.role = role.to_owned(),
        Some(other) => errors.push(FieldError::new(
            "role",
            format!("unknown role {other:?}; allowed: rep, manager"),
        )),
        None => {}
    }
    if let Some(countries) = input.countries {
        match countries
            .iter()
            .find(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
        {
            Some(bad) => errors.push(FieldError::new(
                "countries",
                format!("{bad:?} is not an ISO 3166-1 alpha-2 code such as US"),
            )),
            None => {
                rep.countries = Json(countries.iter().map(|c| c.to_ascii_uppercase()).collect())
            }
        }
    }
    if let Some(industries) = input.industries {
        if industries.iter().any(|i| i.trim().is_empty()) {
            errors.push(FieldError::new("industries", "holds an empty industry"));
        } else if let Some(problem) = industries
            .iter()
            .find_map(|i| text::too_long(i, text::MAX_NAME_CHARS))
        {
            errors.push(FieldError::new(
                "industries",
                format!("holds an industry that {problem}"),
            ));
        } else {
            rep.industries = Json(industries.iter().map(|i| i.trim().to_lowercase()).collect());
        }
    }
    if let Some(active) = input.active {
        rep.active = active;
    }
    match input.slack_webhook_url {
        Some(Some(url)) => {
            if let Some(url) = check_url("slack_webhook_url", &url, &mut errors) {
                rep.slack_webhook_url = Some(url);
            }
        }
        Some(None) => rep.slack_webhook_url = None,
        None => {}
    }
    if let Some(manager_id) = input.manager_id {
        rep.manager_id = manager_id;
    }
    if let Some(manager_id) = rep.manager_id {
        match reps::by_id(conn, manager_id).await? {
            _ if manager_id == rep.id => {
                errors.push(FieldError::new(
                    "manager_id",
                    "a rep cannot manage themselves",
                ));
            }
            Some(m) if m.role == "manager" => {}
            Some(_) => errors.push(FieldError::new(
                "manager_id",
                format!("{manager_id} is not a manager"),
            )),
            None => errors.push(FieldError::new(
                "manager_id",
                format!("no rep {manager_id}"),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    rep.updated_at = now;
    Ok(rep)
}

/// Hands the MQLs that no rep holds to the active reps.
pub async fn assign_waiting(
    conn: &mut PgConnection,
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let waiting: Vec<Lead> = leads::claim_unassigned(conn, 1_000).await?;
    let waiting: Vec<&Lead> = waiting.iter().collect();
    assign::assign(conn, &waiting, &Default::default(), rules, now).await
}
