//! A vendor's record (its field names and text values) made into a lead's email and profile
//! through a configured mapping, checked by the canonical schema's own rules: the one way
//! every native connector maps a record, so that a problem names the vendor's field and the
//! lead field it fills alike for all of them.

use std::collections::BTreeMap;

use serde_json::Number;

use super::{
    canonical::{Checker, Limits, RawLead},
    country,
};
use crate::domain::{Email, LeadField, Profile, ProfileField};

/// The lead that `fields` (vendor field name and value, in the record's order; empty values
/// are absent) make through `mapping` (vendor field name, matched case-insensitively, to the
/// lead field it fills; where two fill one, the first with a value wins): its email and
/// profile, or every problem, joined. A record without an email names no lead.
pub(super) fn lead<'v>(
    fields: impl IntoIterator<Item = (&'v str, &'v str)>,
    mapping: &BTreeMap<String, LeadField>,
    limits: &Limits<'_>,
) -> Result<(Email, Profile), String> {
    let mut raw = RawLead::default();
    let mut filled_by: Vec<(LeadField, &str)> = Vec::new();
    let mut problems = Vec::new();
    for (name, value) in fields {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let target = mapping
            .iter()
            .find(|(vendor, _)| vendor.eq_ignore_ascii_case(name))
            .map(|(_, target)| *target);
        let Some(target) = target else { continue };
        if filled_by.iter().any(|(t, _)| *t == target) {
            continue;
        }
        filled_by.push((target, name));
        if let Err(problem) = fill(&mut raw, target, value) {
            problems.push(format!("{name} ({}): {problem}", target.as_str()));
        }
    }
    if raw.email.is_none() {
        return Err(
            "the record has no email (no field mapped to email has a value), so it names no lead"
                .to_owned(),
        );
    }
    let mut errors = Vec::new();
    let mut check = Checker::new("", &mut errors);
    let email = check.email("lead.email", raw.email.take());
    let profile = check.profile(raw, limits);
    problems.extend(errors.iter().map(|e| {
        let vendor = e.field.strip_prefix("lead.").and_then(|wire| {
            filled_by
                .iter()
                .find(|(target, _)| target.as_str() == wire)
                .map(|(_, name)| *name)
        });
        match vendor {
            Some(name) => format!("{name} ({}): {}", e.field, e.detail),
            None => format!("{}: {}", e.field, e.detail),
        }
    }));
    match email {
        Some(email) if problems.is_empty() => Ok((email, profile)),
        _ => Err(problems.join("; ")),
    }
}

/// Puts `value` into the lead object's `target` field; a country name becomes its ISO code
/// (an unknown one is left for the checks to report).
fn fill(raw: &mut RawLead, target: LeadField, value: &str) -> Result<(), String> {
    let text = Some(value.to_owned());
    match target {
        LeadField::Email => raw.email = text,
        LeadField::Profile(field) => match field {
            ProfileField::FirstName => raw.first_name = text,
            ProfileField::LastName => raw.last_name = text,
            ProfileField::Title => raw.title = text,
            ProfileField::Company => raw.company = text,
            ProfileField::Industry => raw.industry = text,
            ProfileField::EmployeeCount => raw.employee_count = Some(number(value)?),
            ProfileField::AnnualRevenue => raw.annual_revenue = Some(number(value)?),
            ProfileField::Country => raw.country = country::iso_code(value).or(text),
            ProfileField::DemandState => raw.demand_state = text,
        },
    }
    Ok(())
}

/// A number as vendors write them in text (`250`, `5.0E7`, `1500000.00`).
fn number(value: &str) -> Result<Number, String> {
    value
        .parse::<i64>()
        .map(Number::from)
        .ok()
        .or_else(|| value.parse::<f64>().ok().and_then(Number::from_f64))
        .ok_or_else(|| format!("{value:?} is not a number"))
}
