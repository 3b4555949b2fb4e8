//! Salesforce organization ids. An id has a 15-character form, case-sensitive, and an
//! 18-character form that appends a checksum of the letters' case so that it survives
//! case-insensitive systems. Outbound Messages carry the 18-character form; Setup shows
//! either, so the configuration takes both.

use std::fmt;

use serde::Deserialize;

/// Which of the 32 characters a checksum digit is.
const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// An organization allowed to send, held as its 15-character form.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OrgId(String);

impl OrgId {
    /// Parses a configured id: 15 or 18 letters and digits; an 18-character id must end in
    /// the checksum of its first 15, which catches a mistyped id at start-up.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let id = raw.trim();
        if !id.chars().all(|c| c.is_ascii_alphanumeric()) || !matches!(id.len(), 15 | 18) {
            return Err(format!(
                "{raw:?} is not a Salesforce organization id (15 or 18 letters and digits, e.g. 00D5e000000abcd)"
            ));
        }
        let (short, suffix) = id.split_at(15);
        if !suffix.is_empty() && !suffix.eq_ignore_ascii_case(&checksum(short)) {
            return Err(format!(
                "{raw:?}: the last 3 characters are not the checksum of the first 15 (copy the id from Setup > Company Information)"
            ));
        }
        Ok(Self(short.to_owned()))
    }

    /// Whether `presented` (an Outbound Message's `OrganizationId`) names this organization:
    /// the same first 15 characters, compared case-sensitively as Salesforce ids are. The
    /// presented checksum is not required to be right, only the id it qualifies.
    pub fn matches(&self, presented: &str) -> bool {
        let presented = presented.trim();
        matches!(presented.len(), 15 | 18)
            && presented.is_char_boundary(15)
            && presented[..15] == self.0
    }

    /// The 18-character form.
    pub fn long_form(&self) -> String {
        format!("{}{}", self.0, checksum(&self.0))
    }
}

impl TryFrom<String> for OrgId {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({})", self.0)
    }
}

/// The 3-character suffix of a 15-character id: for each block of 5 characters, a digit
/// whose bit `i` says whether character `i` of the block is an upper-case letter.
fn checksum(short: &str) -> String {
    short
        .as_bytes()
        .chunks(5)
        .map(|block| {
            let bits = block
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0usize, |bits, (i, _)| bits | (1 << i));
            char::from(CHECKSUM_ALPHABET[bits])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_encodes_where_the_capitals_are() {
        // 01234 | 56789 | ABCDE: no capitals, none, all five (bits 0 to 4: 31, `5`).
        assert_eq!(checksum("0123456789ABCDE"), "AA5");
        // 00D5e: a capital at position 2 (4, `E`); then none, none.
        assert_eq!(checksum("00D5e000000abcd"), "EAA");
        assert_eq!(
            OrgId::parse("00D5e000000abcd").unwrap().long_form(),
            "00D5e000000abcdEAA"
        );
    }

    #[test]
    fn a_configured_id_may_be_short_or_long_and_matches_both_forms() {
        let short = OrgId::parse("00D5e000000abcd").unwrap();
        let long = OrgId::parse(" 00D5e000000abcdEAA ").unwrap();
        assert_eq!(short, long);
        for org in [&short, &long] {
            assert!(org.matches("00D5e000000abcdEAA"));
            assert!(org.matches("00D5e000000abcd"));
            // Another checksum on the same id (the anonymised fixtures have one).
            assert!(org.matches("00D5e000000abcdNNN"));
        }
    }

    #[test]
    fn ids_differing_in_case_or_length_do_not_match() {
        let org = OrgId::parse("00D5e000000abcd").unwrap();
        assert!(
            !org.matches("00D5E000000ABCDEAA"),
            "15-character ids are case-sensitive"
        );
        assert!(!org.matches("00D5e000000abce"));
        assert!(!org.matches("00D5e000000abc"));
        assert!(!org.matches(""));
        assert!(!org.matches("00D5e000000abcdEAAX"));
        assert!(!org.matches("00D5e000000abcé"), "non-ASCII never panics");
    }

    #[test]
    fn malformed_or_mistyped_ids_are_refused() {
        assert!(OrgId::parse("00D5e000000abc").is_err(), "14 characters");
        assert!(OrgId::parse("00D5e000000abc-").is_err());
        let error = OrgId::parse("00D5e000000abcdAAA").unwrap_err();
        assert!(error.contains("checksum"), "{error}");
        assert!(
            OrgId::parse("00D5e000000abcdeaa").is_ok(),
            "the suffix is case-blind"
        );
    }
}
