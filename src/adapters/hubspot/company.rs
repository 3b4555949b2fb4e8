//! Company notifications: a HubSpot company is an account of the tiered account list, keyed
//! by its domain, with its name and (through a configured property) its tier. Its properties
//! are always read from HubSpot's API, so notifications delivered late or out of order all
//! write the company as it is now.

use super::Notification;
use crate::{adapters::account_list::AccountInput, config::HubSpotSettings, domain::AccountDomain};

pub(super) const CREATION: &str = "company.creation";
pub(super) const PROPERTY_CHANGE: &str = "company.propertyChange";

/// The company properties an account is made of, besides the tier property.
pub(super) const DOMAIN: &str = "domain";
pub(super) const NAME: &str = "name";

/// Whether `n` is about a company.
pub(super) fn is_company(n: &Notification) -> bool {
    n.kind().starts_with("company.")
}

/// Whether a company notification says something about its account (its creation, or a
/// change of its domain, name or tier); why not otherwise.
pub(super) fn relevant(n: &Notification, settings: &HubSpotSettings) -> Result<(), String> {
    match n.kind() {
        CREATION => Ok(()),
        PROPERTY_CHANGE => {
            let property = n.property_name.as_deref().unwrap_or("");
            let tier = settings.company_tier_property.as_deref();
            if [Some(DOMAIN), Some(NAME), tier].contains(&Some(property)) {
                Ok(())
            } else {
                Err(format!(
                    "company property {property:?} says nothing of its account (domain, name \
                     and sources.hubspot.company_tier_property do)"
                ))
            }
        }
        other => Err(format!(
            "{other:?} notifications are not mapped ({CREATION} and {PROPERTY_CHANGE} are)"
        )),
    }
}

/// The account company `id`'s `properties` (as read from HubSpot) describe, or why none.
pub(super) fn account(
    id: &str,
    properties: &[(String, String)],
    settings: &HubSpotSettings,
) -> Result<AccountInput, String> {
    let value = |name: &str| {
        properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let domain = value(DOMAIN)
        .ok_or_else(|| format!("company {id} has no domain, so it names no account"))?;
    AccountDomain::parse(domain).map_err(|why| format!("company {id}'s domain: {why}"))?;
    let tier = match settings.company_tier_property.as_deref() {
        None => None,
        Some(property) => Some(match value(property) {
            None => None,
            Some(v) => Some(
                settings
                    .company_tiers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(v))
                    .map(|(_, tier)| *tier)
                    .ok_or_else(|| {
                        format!(
                            "company {id}'s {property} {v:?} is no tier \
                             (sources.hubspot.company_tiers)"
                        )
                    })?,
            ),
        }),
    };
    Ok(AccountInput {
        domain: Some(domain.to_owned()),
        name: value(NAME).map(|n| Some(n.to_owned())),
        tier,
        owner_email: None,
    })
}
