//! A vendor's record (its field names and text values) made into a lead's email and profile
//! through a configured mapping, checked by the canonical schema's own rules: the one way
//! every native connector maps a record, so that a problem names the vendor's field and the
//! lead field it fills alike for all of them.

use std::collections::BTreeMap;

use super::canonical::{Checker, Limits, RawLead};
use crate::domain::{Email, LeadField, Profile};

/// The lead that `fields` (vendor field name and value, in the record's order; empty values
/// are absent) make through `mapping` (vendor field name, matched case-insensitively, to the
/// lead field it fills; where two fill one, the first with a value wins): its email and
/// profile, or every problem, joined, each naming the vendor's field after `prefix` (where
/// the vendor's payload keeps its fields, e.g. `lead.`). A record without an email names no
/// lead.
pub(super) fn lead<'v>(
    prefix: &str,
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
        if let Err(problem) = raw.fill(target, value) {
            problems.push(format!(
                "{prefix}{name} (lead.{}): {problem}",
                target.as_str()
            ));
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
            Some(name) => format!("{prefix}{name} ({}): {}", e.field, e.detail),
            None => format!("{}: {}", e.field, e.detail),
        }
    }));
    match email {
        Some(email) if problems.is_empty() => Ok((email, profile)),
        _ => Err(problems.join("; ")),
    }
}
