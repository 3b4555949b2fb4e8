//! Countries as CRM and marketing-automation users type them ("United States", "USA",
//! "Germany") to ISO 3166-1 alpha-2 codes, which the profile holds. Salesforce's Country is free
//! text unless the org turns on State and Country Picklists, and Marketo's Country is a text
//! field too, so the common names and abbreviations are mapped here; a two-letter code passes
//! through.

/// Names and abbreviations, lower-case with dots removed, and the code each stands for.
const NAMES: &[(&str, &str)] = &[
    ("united states", "US"),
    ("united states of america", "US"),
    ("usa", "US"),
    ("united kingdom", "GB"),
    ("united kingdom of great britain and northern ireland", "GB"),
    ("uk", "GB"),
    ("great britain", "GB"),
    ("britain", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northern ireland", "GB"),
    ("germany", "DE"),
    ("deutschland", "DE"),
    ("france", "FR"),
    ("canada", "CA"),
    ("australia", "AU"),
    ("netherlands", "NL"),
    ("the netherlands", "NL"),
    ("holland", "NL"),
    ("nederland", "NL"),
    ("spain", "ES"),
    ("españa", "ES"),
    ("espana", "ES"),
    ("italy", "IT"),
    ("italia", "IT"),
    ("japan", "JP"),
    ("india", "IN"),
    ("brazil", "BR"),
    ("brasil", "BR"),
    ("sweden", "SE"),
    ("sverige", "SE"),
    ("switzerland", "CH"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("ireland", "IE"),
    ("republic of ireland", "IE"),
    ("austria", "AT"),
    ("österreich", "AT"),
    ("belgium", "BE"),
    ("denmark", "DK"),
    ("norway", "NO"),
    ("finland", "FI"),
    ("poland", "PL"),
    ("portugal", "PT"),
    ("mexico", "MX"),
    ("new zealand", "NZ"),
    ("singapore", "SG"),
    ("israel", "IL"),
    ("south africa", "ZA"),
    ("china", "CN"),
    ("south korea", "KR"),
    ("united arab emirates", "AE"),
    ("uae", "AE"),
];

/// The ISO 3166-1 alpha-2 code `raw` stands for: a known name or abbreviation (case, dots and
/// extra spaces aside), else `raw` itself when it is two letters. `None` for anything else,
/// which the caller reports rather than guesses at.
pub fn iso_code(raw: &str) -> Option<String> {
    let key = raw
        .replace('.', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if let Some((_, code)) = NAMES.iter().find(|(name, _)| *name == key) {
        return Some((*code).to_owned());
    }
    (key.len() == 2 && key.chars().all(|c| c.is_ascii_alphabetic())).then(|| key.to_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_abbreviations_become_iso_codes() {
        let cases = [
            ("United States", "US"),
            ("USA", "US"),
            ("U.S.A.", "US"),
            ("US", "US"),
            ("United States of America", "US"),
            ("united  states", "US"),
            ("United Kingdom", "GB"),
            ("UK", "GB"),
            ("Great Britain", "GB"),
            ("Germany", "DE"),
            ("Deutschland", "DE"),
            ("France", "FR"),
            ("Canada", "CA"),
            ("Australia", "AU"),
            ("The Netherlands", "NL"),
            ("Netherlands", "NL"),
            ("Spain", "ES"),
            ("Italy", "IT"),
            ("Japan", "JP"),
            ("India", "IN"),
            ("Brazil", "BR"),
            ("Sweden", "SE"),
            ("Switzerland", "CH"),
            ("Ireland", "IE"),
            (" ireland ", "IE"),
        ];
        for (name, code) in cases {
            assert_eq!(iso_code(name).as_deref(), Some(code), "{name}");
        }
    }

    #[test]
    fn two_letter_codes_pass_through_and_unknown_names_are_not_guessed() {
        assert_eq!(iso_code("de").as_deref(), Some("DE"));
        assert_eq!(iso_code("Fr").as_deref(), Some("FR"));
        assert_eq!(iso_code("Narnia"), None);
        assert_eq!(iso_code("D1"), None);
        assert_eq!(iso_code(""), None);
    }
}
