use std::fmt;

/// A lead's email address, trimmed and lower-cased: the identity of a lead.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Email(String);

/// Why a string is not an email address we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("is empty")]
    Empty,
    #[error("is longer than 254 characters")]
    TooLong,
    #[error("is not an email address (expected local@domain.tld)")]
    Malformed,
}

impl Email {
    /// Normalises (trim, lower-case) and checks the shape `local@domain.tld`.
    ///
    /// Deliberately loose on the local part (CRMs hold all sorts) and strict on what routing
    /// needs: exactly one `@`, no white space, and a domain with a dot in it.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(EmailError::Empty);
        }
        if email.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(EmailError::Malformed);
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.chars().any(char::is_whitespace) || !domain_ok {
            return Err(EmailError::Malformed);
        }
        Ok(Self(email))
    }

    /// The part after `@`, which links a lead to its account.
    pub fn domain(&self) -> &str {
        self.0
            .split_once('@')
            .map(|(_, domain)| domain)
            .unwrap_or_default()
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Read back from storage and checked again, so a stored value is never trusted blindly.
impl<'de> serde::Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Email::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lowercases() {
        let email = Email::parse("  Jane.Doe@ACME.io ").unwrap();
        assert_eq!(email.as_str(), "jane.doe@acme.io");
        assert_eq!(email.domain(), "acme.io");
    }

    #[test]
    fn rejects_what_cannot_route() {
        for bad in [
            "",
            "   ",
            "jane",
            "jane@",
            "@acme.io",
            "jane@acme",
            "ja ne@acme.io",
            "a@b@c.io",
            "jane@acme..io",
            "jane@.acme.io",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(Email::parse(" ").unwrap_err(), EmailError::Empty);
        assert_eq!(
            Email::parse(&format!("{}@acme.io", "a".repeat(250))).unwrap_err(),
            EmailError::TooLong
        );
    }
}
