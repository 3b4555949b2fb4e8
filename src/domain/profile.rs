use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who the lead is: the attributes Fit is scored on. Every field is optional because
/// sources send what they know.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Profile {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    pub annual_revenue: Option<i64>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// The demand state the MAP assigned (one of the configured states); when absent, the
    /// engine derives one from behaviour.
    pub demand_state: Option<String>,
}

/// The profile fields, named as on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileField {
    FirstName,
    LastName,
    Title,
    Company,
    Industry,
    EmployeeCount,
    AnnualRevenue,
    Country,
    DemandState,
}

/// What a source's field can be mapped to (a connector's field mapping in config): the lead's
/// email, or one of its profile fields, named as on the wire (`email`, `first_name`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeadField {
    Email,
    Profile(ProfileField),
}

impl LeadField {
    /// The wire name (`email`, `first_name`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            LeadField::Email => "email",
            LeadField::Profile(field) => match field {
                ProfileField::FirstName => "first_name",
                ProfileField::LastName => "last_name",
                ProfileField::Title => "title",
                ProfileField::Company => "company",
                ProfileField::Industry => "industry",
                ProfileField::EmployeeCount => "employee_count",
                ProfileField::AnnualRevenue => "annual_revenue",
                ProfileField::Country => "country",
                ProfileField::DemandState => "demand_state",
            },
        }
    }
}

impl<'de> Deserialize<'de> for LeadField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, IntoDeserializer, value};
        let name = String::deserialize(deserializer)?;
        if name == "email" {
            return Ok(LeadField::Email);
        }
        let field: Result<ProfileField, value::Error> =
            ProfileField::deserialize(name.as_str().into_deserializer());
        field.map(LeadField::Profile).map_err(|_| {
            D::Error::custom(format!(
                "{name:?} is not a lead field; expected email, first_name, last_name, title, \
                 company, industry, employee_count, annual_revenue, country or demand_state"
            ))
        })
    }
}

/// For each profile field, the `occurred_at` of the event its current value came from.
pub type ProfileStamps = BTreeMap<ProfileField, DateTime<Utc>>;

impl Profile {
    /// Takes each field `update` carries unless the lead already holds a value from a later
    /// event, so that late deliveries never overwrite newer facts. On a tie the update wins,
    /// which keeps a re-sent correction of the same moment effective.
    ///
    /// Returns whether anything changed.
    pub fn merge(
        &mut self,
        stamps: &mut ProfileStamps,
        update: &Profile,
        at: DateTime<Utc>,
    ) -> bool {
        fn take<T: Clone + PartialEq>(
            field: ProfileField,
            current: &mut Option<T>,
            new: &Option<T>,
            stamps: &mut ProfileStamps,
            at: DateTime<Utc>,
        ) -> bool {
            let Some(new) = new else { return false };
            if stamps.get(&field).is_some_and(|held| *held > at) {
                return false;
            }
            stamps.insert(field, at);
            let changed = current.as_ref() != Some(new);
            *current = Some(new.clone());
            changed
        }
        use ProfileField as F;
        let mut changed = false;
        changed |= take(
            F::FirstName,
            &mut self.first_name,
            &update.first_name,
            stamps,
            at,
        );
        changed |= take(
            F::LastName,
            &mut self.last_name,
            &update.last_name,
            stamps,
            at,
        );
        changed |= take(F::Title, &mut self.title, &update.title, stamps, at);
        changed |= take(F::Company, &mut self.company, &update.company, stamps, at);
        changed |= take(
            F::Industry,
            &mut self.industry,
            &update.industry,
            stamps,
            at,
        );
        changed |= take(
            F::EmployeeCount,
            &mut self.employee_count,
            &update.employee_count,
            stamps,
            at,
        );
        changed |= take(
            F::AnnualRevenue,
            &mut self.annual_revenue,
            &update.annual_revenue,
            stamps,
            at,
        );
        changed |= take(F::Country, &mut self.country, &update.country, stamps, at);
        changed |= take(
            F::DemandState,
            &mut self.demand_state,
            &update.demand_state,
            stamps,
            at,
        );
        changed
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap()
    }

    #[test]
    fn latest_occurred_at_wins_per_field_whatever_the_arrival_order() {
        let newer = Profile {
            title: Some("VP Sales".into()),
            ..Default::default()
        };
        let older = Profile {
            title: Some("Analyst".into()),
            company: Some("Acme".into()),
            ..Default::default()
        };

        let mut in_order = Profile::default();
        let mut stamps = ProfileStamps::new();
        in_order.merge(&mut stamps, &older, at(1));
        in_order.merge(&mut stamps, &newer, at(2));

        let mut reversed = Profile::default();
        let mut stamps = ProfileStamps::new();
        reversed.merge(&mut stamps, &newer, at(2));
        let changed = reversed.merge(&mut stamps, &older, at(1));

        assert!(changed, "the older event still brings the company");
        assert_eq!(in_order, reversed);
        assert_eq!(reversed.title.as_deref(), Some("VP Sales"));
        assert_eq!(reversed.company.as_deref(), Some("Acme"));
        assert_eq!(stamps[&ProfileField::Title], at(2));
    }

    #[test]
    fn a_lead_field_is_the_email_or_a_profile_field_by_its_wire_name() {
        let parse = |name: &str| serde_json::from_value::<LeadField>(name.into());
        assert_eq!(parse("email").unwrap(), LeadField::Email);
        assert_eq!(
            parse("employee_count").unwrap(),
            LeadField::Profile(ProfileField::EmployeeCount)
        );
        assert_eq!(parse("demand_state").unwrap().as_str(), "demand_state");
        let error = parse("Email").unwrap_err().to_string();
        assert!(error.contains("\"Email\" is not a lead field"), "{error}");
    }
}
