//! The tiered account list (DESIGN §2, Segmentation): writing one account or importing many,
//! each in one transaction that also copies the tiers to the accounts' leads.
//!
//! Every row is validated before anything is written; one bad row rejects the whole import,
//! with every problem named by row and column.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::{
    adapters::account_list::{AccountInput, Row},
    db::{
        accounts::{self, Account, AccountWrite, Upserted},
        leads::{self},
    },
    domain::{AccountDomain, Email, text},
    engine::RuleSet,
    error::{ApiError, FieldError},
    usecase::{nurture, persist},
};
use uuid::Uuid;

/// The most rows one import may hold; larger lists are split into several imports.
pub const MAX_IMPORT_ROWS: usize = 50_000;

/// The tiers of the account list: Tier 1 named accounts, Tier 2, Tier 3.
const TIERS: std::ops::RangeInclusive<i64> = 1..=3;

/// At most this many problems are listed; a file with a bad column would otherwise answer
/// with one per row.
const MAX_LISTED_ERRORS: usize = 100;

/// `POST /api/v1/accounts`: the account after the write, and whether it was new.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Upsert {
    #[serde(flatten)]
    pub account: Account,
    pub created: bool,
}

/// `POST /api/v1/accounts/import`: how many accounts were created and how many updated.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
}

/// Creates or updates the account of `input.domain`; its leads get its tier.
#[tracing::instrument(skip_all)]
pub async fn upsert(
    pool: &PgPool,
    rules: &RuleSet,
    input: AccountInput,
    now: DateTime<Utc>,
) -> Result<Upsert, ApiError> {
    let row = Row {
        label: String::new(),
        input,
    };
    let mut errors = Vec::new();
    let write = validate(row, &mut errors).ok_or(ApiError::Validation(errors))?;

    let mut tx = pool.begin().await?;
    let upserted = write_accounts(&mut tx, std::slice::from_ref(&write), rules, now).await?;
    let account = accounts::by_domain(&mut tx, &write.domain)
        .await?
        .ok_or_else(|| anyhow::anyhow!("account {} vanished after its upsert", write.domain))?;
    tx.commit().await?;
    Ok(Upsert {
        account,
        created: !upserted.created.is_empty(),
    })
}

/// Validates every row of an import, then writes them all in one transaction, or nothing.
#[tracing::instrument(skip_all, fields(import.rows = rows.len()))]
pub async fn import(
    pool: &PgPool,
    rules: &RuleSet,
    rows: Vec<Row>,
    mut errors: Vec<FieldError>,
    now: DateTime<Utc>,
) -> Result<ImportReport, ApiError> {
    let writes = validate_all(rows, &mut errors);
    if !errors.is_empty() {
        // Cells the decoder could not read come first; the client wants them by row.
        errors.sort_by_key(|e| row_number(&e.field));
        return Err(ApiError::Validation(capped(errors)));
    }

    let mut tx = pool.begin().await?;
    let upserted = write_accounts(&mut tx, &writes, rules, now).await?;
    tx.commit().await?;
    let report = ImportReport {
        created: upserted.created.len(),
        updated: upserted.updated.len(),
    };
    tracing::info!(
        accounts.created = report.created,
        accounts.updated = report.updated,
        "imported accounts"
    );
    Ok(report)
}

/// The account of `raw_domain`.
pub async fn by_domain(pool: &PgPool, raw_domain: &str) -> Result<Account, ApiError> {
    let domain = AccountDomain::parse(raw_domain)
        .map_err(|why| ApiError::field("domain", why.to_string()))?;
    let mut conn = pool.acquire().await?;
    accounts::by_domain(&mut conn, domain.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account {domain}")))
}

/// The accounts, then their leads' copy of the tier, so a lead never carries a tier its
/// account no longer has once the transaction commits.
async fn write_accounts(
    conn: &mut PgConnection,
    writes: &[AccountWrite],
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<Upserted, ApiError> {
    let upserted = accounts::upsert_many(conn, writes, now).await?;
    let changed: Vec<_> = upserted
        .created
        .iter()
        .chain(&upserted.updated)
        .copied()
        .collect();
    let retiered = leads::mirror_account_tiers(conn, &changed, now).await?;
    tracing::debug!(
        leads.retiered = retiered.len(),
        "copied account tiers to leads"
    );
    follow_new_tiers(conn, &retiered, rules, now).await?;
    Ok(upserted)
}

/// A new tier moves a lead in nurture to its tier's workflow (or enrolls it, now that it is
/// segmented) at once, not at its next event.
async fn follow_new_tiers(
    conn: &mut PgConnection,
    lead_ids: &[Uuid],
    rules: &RuleSet,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if lead_ids.is_empty() || !rules.rules.nurture.enabled {
        return Ok(());
    }
    let mut planned = Vec::new();
    for mut lead in leads::by_ids(conn, lead_ids).await? {
        let records = nurture::plan(&mut lead, &[], rules, now);
        if !records.is_empty() {
            planned.push((lead, records));
        }
    }
    let decided = persist::Decided {
        leads: planned.iter().map(|(l, _)| l).collect(),
        transitions: &[],
        nurture: planned.iter().map(|(l, r)| (l, r.clone())).collect(),
    };
    persist::locked(conn, decided, rules, now).await
}

/// Validates every row, and refuses a domain that an earlier row already holds.
fn validate_all(rows: Vec<Row>, errors: &mut Vec<FieldError>) -> Vec<AccountWrite> {
    let mut first_row: HashMap<String, String> = HashMap::with_capacity(rows.len());
    let mut writes = Vec::with_capacity(rows.len());
    for row in rows {
        let field = row.field("domain");
        let label = row.label.clone();
        let Some(write) = validate(row, errors) else {
            continue;
        };
        if let Some(earlier) = first_row.get(&write.domain) {
            errors.push(FieldError::new(
                field,
                format!(
                    "{} is already on {earlier}; each domain may appear once",
                    write.domain
                ),
            ));
            continue;
        }
        first_row.insert(write.domain.clone(), label);
        writes.push(write);
    }
    writes
}

/// Checks one row, adding its problems to `errors`; `None` if it has any.
fn validate(row: Row, errors: &mut Vec<FieldError>) -> Option<AccountWrite> {
    let before = errors.len();
    let mut fail =
        |column: &str, detail: String| errors.push(FieldError::new(row.field(column), detail));
    let input = &row.input;

    let domain = match input.domain.as_deref().map(AccountDomain::parse) {
        Some(Ok(domain)) => Some(domain.into_string()),
        Some(Err(why)) => {
            fail("domain", why.to_string());
            None
        }
        None => {
            fail("domain", "is required".to_owned());
            None
        }
    };
    let name = input.name.as_ref().map(|name| {
        let name = name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        if let Some(problem) = name.and_then(|n| text::too_long(n, text::MAX_NAME_CHARS)) {
            fail("name", problem);
        }
        name.map(str::to_owned)
    });
    let tier = input.tier.map(|tier| {
        tier.and_then(|t| match i16::try_from(t) {
            Ok(ok) if TIERS.contains(&t) => Some(ok),
            _ => {
                fail("tier", format!("unknown tier {t}; allowed: 1, 2, 3"));
                None
            }
        })
    });
    let owner_email = input.owner_email.as_ref().map(|email| {
        let email = email.as_deref().map(str::trim).filter(|e| !e.is_empty())?;
        match Email::parse(email) {
            Ok(email) => Some(email.to_string()),
            Err(why) => {
                fail("owner_email", why.to_string());
                None
            }
        }
    });
    if errors.len() > before {
        return None;
    }
    Some(AccountWrite {
        domain: domain?,
        name,
        tier,
        owner_email,
    })
}

/// The row of an error field such as `row 3.tier` or `[2].tier`.
fn row_number(field: &str) -> Option<usize> {
    let rest = field
        .strip_prefix("row ")
        .or_else(|| field.strip_prefix('['))?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// The first [`MAX_LISTED_ERRORS`] problems, plus one saying how many more there are.
fn capped(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    if errors.len() > MAX_LISTED_ERRORS {
        let more = errors.len() - MAX_LISTED_ERRORS;
        errors.truncate(MAX_LISTED_ERRORS);
        errors.push(FieldError::new(
            "body",
            format!("{more} more problems are not listed; fix these and import again"),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &str, json: &str) -> Row {
        Row {
            label: label.to_owned(),
            input: serde_json::from_str(json).unwrap(),
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_row_is_normalised() {
        let mut errors = Vec::new();
        let write = validate(
            row(
                "",
                r#"{"domain":" Acme.IO ","name":"  Acme ","tier":1,"owner_email":"Ann@OurCo.com"}"#,
            ),
            &mut errors,
        )
        .unwrap();
        assert_eq!(
            write,
            AccountWrite {
                domain: "acme.io".to_owned(),
                name: Some(Some("Acme".to_owned())),
                tier: Some(Some(1)),
                owner_email: Some(Some("ann@ourco.com".to_owned())),
            }
        );
    }

    #[test]
    fn absent_null_and_empty_are_told_apart() {
        let mut errors = Vec::new();
        let write = validate(
            row("", r#"{"domain":"acme.io","name":"","tier":null}"#),
            &mut errors,
        )
        .unwrap();
        assert_eq!(write.name, Some(None), "an empty name clears it");
        assert_eq!(
            write.tier,
            Some(None),
            "null takes the account off the list"
        );
        assert_eq!(write.owner_email, None, "absent: left as it is");
    }

    #[test]
    fn every_bad_field_is_named_with_its_row() {
        let mut errors = Vec::new();
        let bad = row(
            "row 3",
            r#"{"domain":"https://acme.io","tier":4,"owner_email":"ann at ourco","name":""}"#,
        );
        assert!(validate(bad, &mut errors).is_none());
        assert_eq!(
            fields(&errors),
            ["row 3.domain", "row 3.tier", "row 3.owner_email"]
        );
        assert_eq!(errors[1].detail, "unknown tier 4; allowed: 1, 2, 3");

        let mut errors = Vec::new();
        assert!(validate(row("", r#"{"tier":70000}"#), &mut errors).is_none());
        assert_eq!(fields(&errors), ["domain", "tier"]);
    }

    #[test]
    fn a_repeated_domain_names_the_later_row() {
        let mut errors = Vec::new();
        let rows = vec![
            row("row 2", r#"{"domain":"acme.io"}"#),
            row("row 3", r#"{"domain":"beta.io"}"#),
            row("row 4", r#"{"domain":"ACME.io "}"#),
        ];
        let writes = validate_all(rows, &mut errors);
        assert_eq!(writes.len(), 2);
        assert_eq!(fields(&errors), ["row 4.domain"]);
        assert!(errors[0].detail.contains("already on row 2"), "{errors:?}");
    }

    #[test]
    fn errors_are_ordered_by_row() {
        assert_eq!(row_number("row 12.tier"), Some(12));
        assert_eq!(row_number("row 4"), Some(4));
        assert_eq!(row_number("[7].domain"), Some(7));
        assert_eq!(row_number("header"), None);
    }

    #[test]
    fn long_error_lists_are_capped() {
        let errors = vec![FieldError::new("x", "bad"); MAX_LISTED_ERRORS + 5];
        let capped = capped(errors);
        assert_eq!(capped.len(), MAX_LISTED_ERRORS + 1);
        assert!(capped[MAX_LISTED_ERRORS].detail.starts_with("5 more"));
    }
}
