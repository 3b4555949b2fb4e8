//! Turning the keys of `db::metrics` rows into labelled groups, with the closed lists
//! complete: every tier and every week of the period appears, at zero if need be, so charts
//! and tables keep their shape. Open lists (reps, sources) show what has numbers.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Period, Week};
use crate::db::metrics::{self, Grouping};

/// One group of a view: its key (a rep id, a tier, a source, an ISO week such as
/// `2026-W47`; `null` for "none": unassigned, no tier, unknown source), a label for people,
/// and its numbers.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Group<T> {
    pub key: Option<String>,
    pub label: String,
    #[serde(flatten)]
    pub values: T,
}

/// Labels the groups `rows` (raw key → numbers) of a view grouped `by` over `period`, fills
/// in missing tiers and weeks with `T::default()`, and orders them: reps by name, tiers
/// 1–3, sources by name, weeks in time; "none" last.
pub async fn label<T: Default>(
    conn: &mut PgConnection,
    by: Grouping,
    period: &Period,
    mut rows: HashMap<Option<String>, T>,
) -> sqlx::Result<Vec<Group<T>>> {
    let closed: Vec<String> = match by {
        Grouping::Tier => (1..=3).map(|t| t.to_string()).collect(),
        Grouping::Week => period
            .weeks()
            .into_iter()
            .map(|w| w.monday.format("%Y-%m-%d").to_string())
            .collect(),
        _ => Vec::new(),
    };
    for key in closed {
        rows.entry(Some(key)).or_default();
    }
    let names = match by {
        Grouping::Rep => rep_names(conn, rows.keys()).await?,
        _ => HashMap::new(),
    };
    let mut groups: Vec<(bool, String, Group<T>)> = rows
        .into_iter()
        .map(|(key, values)| {
            let (key, label) = describe(by, key, &names);
            (key.is_none(), label.clone(), Group { key, label, values })
        })
        .collect();
    // Weeks sort by their Monday, which their ISO key also orders, year by year.
    groups.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    if by == Grouping::Week {
        groups.sort_by(|a, b| a.2.key.cmp(&b.2.key));
    }
    Ok(groups.into_iter().map(|(_, _, g)| g).collect())
}

async fn rep_names<'a>(
    conn: &mut PgConnection,
    keys: impl Iterator<Item = &'a Option<String>>,
) -> sqlx::Result<HashMap<String, String>> {
    let ids: Vec<Uuid> = keys.flatten().filter_map(|k| k.parse().ok()).collect();
    Ok(metrics::rep_names(conn, &ids)
        .await?
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect())
}

/// The public key and the label of a raw key.
fn describe(
    by: Grouping,
    key: Option<String>,
    rep_names: &HashMap<String, String>,
) -> (Option<String>, String) {
    let Some(key) = key else {
        let none = match by {
            Grouping::Rep => "unassigned",
            Grouping::Tier => "no tier",
            Grouping::Source => "unknown source",
            Grouping::Week | Grouping::Total => "none",
        };
        return (None, none.to_owned());
    };
    match by {
        Grouping::Rep => {
            let name = rep_names
                .get(&key)
                .cloned()
                .unwrap_or_else(|| format!("rep {key}"));
            (Some(key), name)
        }
        Grouping::Tier => {
            let label = format!("Tier {key}");
            (Some(key), label)
        }
        Grouping::Week => match NaiveDate::parse_from_str(&key, "%Y-%m-%d") {
            Ok(monday) => (Some(Week { monday }.key()), format!("week of {key}")),
            Err(_) => (Some(key.clone()), key),
        },
        Grouping::Source | Grouping::Total => (Some(key.clone()), key),
    }
}
