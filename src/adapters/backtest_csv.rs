//! Backtest records as CSV (the `backtest` command): one row per event, with the record's
//! columns repeated on each of its rows. Rows are grouped into records by `email`; a row with
//! neither `type` nor `occurred_at` carries attributes only (a record may have no events).
//! Profile cells on an event row are fields that event carried (the latest wins, as in live
//! ingestion); on an attributes-only row they are the record's own. Problems are named
//! `row N.column`, N being the line number (the header is line 1).

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::canonical::{Checker, Limits, RawLead};
use crate::{
    domain::{Email, LeadRecord, Outcome, Profile, RecordEvent},
    engine::{Rules, TIERS},
    error::FieldError,
};

/// The columns, in any order. `email`, `outcome`, `type` and `occurred_at` are required.
pub const COLUMNS: [&str; 15] = [
    "id",
    "email",
    "outcome",
    "account_tier",
    "first_name",
    "last_name",
    "title",
    "company",
    "industry",
    "employee_count",
    "annual_revenue",
    "country",
    "demand_state",
    "type",
    "occurred_at",
];

const REQUIRED: [&str; 4] = ["email", "outcome", "type", "occurred_at"];
const PROFILE: [&str; 9] = [
    "first_name",
    "last_name",
    "title",
    "company",
    "industry",
    "employee_count",
    "annual_revenue",
    "country",
    "demand_state",
];

/// Most problems one run lists.
const MAX_PROBLEMS: usize = 100;

/// Reads `text` into records with their outcomes, in order of first appearance; `rules` give
/// the demand states a row may name.
pub fn parse(text: &str, rules: &Rules) -> Result<Vec<(Outcome, LeadRecord)>, Vec<FieldError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_lowercase).collect(),
        Err(e) => return Err(vec![FieldError::new("header", e.to_string())]),
    };
    check_header(&header)?;
    let limits = Limits {
        max_batch_events: usize::MAX,
        max_future_skew: chrono::Duration::zero(),
        demand_states: &rules.segmentation.demand_states,
    };
    let mut errors = Vec::new();
    let mut records: Vec<(Option<Outcome>, LeadRecord)> = Vec::new();
    let mut by_email: HashMap<String, (usize, usize)> = HashMap::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                errors.push(FieldError::new(format!("row {line}"), e.to_string()));
                continue;
            }
        };
        let cells: HashMap<&str, &str> = header
            .iter()
            .map(String::as_str)
            .zip(row.iter())
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if let Some(parsed) = read_row(line, &cells, &limits, &mut errors) {
            merge(parsed, line, &mut records, &mut by_email, &mut errors);
        }
        if errors.len() >= MAX_PROBLEMS {
            break;
        }
    }
    if records.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "body",
            "holds no rows; add one row per event",
        ));
    }
    if !errors.is_empty() {
        errors.truncate(MAX_PROBLEMS);
        return Err(errors);
    }
    Ok(records
        .into_iter()
        .filter_map(|(outcome, record)| outcome.map(|o| (o, record)))
        .collect())
}

fn check_header(header: &[String]) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if !COLUMNS.contains(&name.as_str()) {
            errors.push(FieldError::new(
                "header",
                format!("unknown column {name:?}; columns: {}", COLUMNS.join(", ")),
            ));
        } else if header[..i].contains(name) {
            errors.push(FieldError::new(
                "header",
                format!("column {name:?} repeats"),
            ));
        }
    }
    for name in REQUIRED {
        if !header.iter().any(|h| h == name) {
            errors.push(FieldError::new(
                "header",
                format!("column {name:?} is required"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// One row, validated.
struct Row {
    id: Option<String>,
    email: Email,
    outcome: Option<Outcome>,
    account_tier: Option<u8>,
    profile: Profile,
    event: Option<RecordEvent>,
}

fn read_row(
    line: usize,
    cells: &HashMap<&str, &str>,
    limits: &Limits<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<Row> {
    let prefix = format!("row {line}.");
    let mut lead = Map::new();
    let mut bad_number = false;
    for column in PROFILE {
        let Some(cell) = cells.get(column) else {
            continue;
        };
        let value = if matches!(column, "employee_count" | "annual_revenue") {
            match cell.parse::<Number>() {
                Ok(n) => Value::Number(n),
                Err(_) => {
                    errors.push(FieldError::new(
                        format!("{prefix}{column}"),
                        format!("{cell:?} is not a whole number ≥ 0"),
                    ));
                    bad_number = true;
                    continue;
                }
            }
        } else {
            Value::String((*cell).to_owned())
        };
        lead.insert(column.to_owned(), value);
    }
    let raw: RawLead = serde_json::from_value(Value::Object(lead)).ok()?;
    let mut found = Vec::new();
    let mut check = Checker::new(&prefix, &mut found);
    let email = check.email("email", cells.get("email").map(|e| (*e).to_owned()));
    let profile = check.profile(raw, limits);
    let outcome = check
        .required("outcome", cells.get("outcome").map(|o| (*o).to_owned()))
        .and_then(|o| match o.parse::<Outcome>() {
            Ok(o) => Some(o),
            Err(why) => {
                check.fail("outcome", why.to_string());
                None
            }
        });
    let account_tier = cells.get("account_tier").and_then(|t| {
        match t.parse::<u8>().ok().filter(|t| TIERS.contains(t)) {
            Some(tier) => Some(tier),
            None => {
                check.fail(
                    "account_tier",
                    format!("unknown tier {t:?}; allowed: 1, 2, 3"),
                );
                None
            }
        }
    });
    let event = match (cells.get("type"), cells.get("occurred_at")) {
        (None, None) => None,
        (event_type, at) => {
            let event_type = check.event_type(event_type.map(|t| (*t).to_owned()));
            let occurred_at = check
                .required("occurred_at", at.map(|a| (*a).to_owned()))
                .and_then(|a| check.instant("occurred_at", &a));
            Some((event_type, occurred_at))
        }
    };
    // The profile checks name fields as in a JSON `lead` object; here they are columns.
    let fresh = found.len();
    errors.extend(found.into_iter().map(|mut e| {
        e.field = e.field.replacen(&format!("{prefix}lead."), &prefix, 1);
        e
    }));
    if fresh > 0 || bad_number {
        return None;
    }
    let event = match event {
        None => None,
        Some((Some(event_type), Some(occurred_at))) => Some((event_type, occurred_at)),
        Some(_) => return None,
    };
    Some(Row {
        id: cells.get("id").map(|id| (*id).to_owned()),
        email: email?,
        outcome,
        account_tier,
        event: event.map(|(event_type, occurred_at)| RecordEvent {
            event_type,
            occurred_at,
            profile: profile.clone(),
        }),
        profile,
    })
}

/// Adds `row` to its email's record, checking that the record's columns agree.
fn merge(
    row: Row,
    line: usize,
    records: &mut Vec<(Option<Outcome>, LeadRecord)>,
    by_email: &mut HashMap<String, (usize, usize)>,
    errors: &mut Vec<FieldError>,
) {
    let key = row.email.as_str().to_owned();
    let Some(&(index, first_line)) = by_email.get(&key) else {
        by_email.insert(key, (records.len(), line));
        let (profile, events) = match row.event {
            Some(event) => (Profile::default(), vec![event]),
            None => (row.profile, Vec::new()),
        };
        records.push((
            row.outcome,
            LeadRecord {
                id: row.id,
                email: row.email,
                profile,
                account_tier: row.account_tier,
                events,
                outcome: row.outcome,
            },
        ));
        return;
    };
    let (outcome, record) = &mut records[index];
    if *outcome != row.outcome {
        errors.push(FieldError::new(
            format!("row {line}.outcome"),
            format!("differs from row {first_line} of the same email"),
        ));
    }
    match (record.account_tier, row.account_tier) {
        (Some(a), Some(b)) if a != b => errors.push(FieldError::new(
            format!("row {line}.account_tier"),
            format!("differs from an earlier row of the same email ({a})"),
        )),
        (None, Some(b)) => record.account_tier = Some(b),
        _ => {}
    }
    if record.id.is_none() {
        record.id = row.id;
    }
    match row.event {
        Some(event) => record.events.push(event),
        None => {
            let mut stamps = Default::default();
            record
                .profile
                .merge(&mut stamps, &row.profile, chrono::DateTime::UNIX_EPOCH);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        crate::config::load_rules(&dir).expect("the shipped rules load")
    }

    fn fields(text: &str) -> Vec<String> {
        parse(text, &rules())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn rows_group_into_records_by_email_in_order_of_appearance() {
        let text = "email,outcome,title,type,occurred_at,account_tier\n\
                    b@acme.io,closed_won,VP Sales,demo_request,2026-09-02T10:00:00Z,1\n\
                    a@acme.io,closed_lost,,,,\n\
                    B@Acme.io,closed_won,,page_view,2026-09-01T10:00:00Z,\n";
        let records = parse(text, &rules()).unwrap();
        assert_eq!(records.len(), 2);
        let (outcome, b) = &records[0];
        assert_eq!(
            (*outcome, b.email.as_str()),
            (Outcome::ClosedWon, "b@acme.io")
        );
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[0].profile.title.as_deref(), Some("VP Sales"));
        assert_eq!(b.account_tier, Some(1));
        let (_, a) = &records[1];
        assert!(a.events.is_empty(), "an attributes-only row");
    }

    #[test]
    fn problems_name_the_row_and_column() {
        let text = "email,outcome,employee_count,type,occurred_at\n\
                    a@acme.io,closed_won,lots,demo_request,2026-09-01T10:00:00Z\n\
                    b@acme.io,won,-5,teleport,yesterday\n\
                    a@acme.io,closed_lost,,page_view,2026-09-01T10:00:00Z\n";
        assert_eq!(
            fields(text),
            [
                "row 2.employee_count",
                "row 3.employee_count",
                "row 3.outcome",
                "row 3.type",
                "row 3.occurred_at",
            ]
        );
        let text = "email,outcome,type,occurred_at\n\
                    a@acme.io,closed_won,demo_request,2026-09-01T10:00:00Z\n\
                    a@acme.io,closed_lost,page_view,2026-09-01T10:00:00Z\n";
        assert_eq!(fields(text), ["row 3.outcome"]);
    }

    #[test]
    fn the_header_must_name_known_columns_and_the_required_ones() {
        assert_eq!(fields("email,outcome,type,when\n"), ["header", "header"]);
        assert_eq!(fields("email,outcome,type,occurred_at\n"), ["body"]);
    }
}
