use std::fmt;

/// An account's domain, trimmed and lower-cased: the key of the account list.
///
/// It is what follows `@` in its people's email addresses, so it is checked with the same
/// rules as the domain of an [`Email`](super::Email).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountDomain(String);

/// Why a string is not an account domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountDomainError {
    #[error("is required")]
    Empty,
    #[error("is longer than 253 characters")]
    TooLong,
    #[error("{0:?} is a URL; give the bare domain, such as acme.io")]
    Url(String),
    #[error("{0:?} is an email address; give only the part after @")]
    Email(String),
    #[error("{0:?} contains white space")]
    WhiteSpace(String),
    #[error("{0:?} is not a domain (expected a name with a dot, such as acme.io)")]
    Malformed(String),
}

impl AccountDomain {
    /// Normalises (trim, lower-case) and checks the shape `name.tld`.
    pub fn parse(raw: &str) -> Result<Self, AccountDomainError> {
        let domain = raw.trim().to_lowercase();
        if domain.is_empty() {
            return Err(AccountDomainError::Empty);
        }
        if domain.len() > 253 {
            return Err(AccountDomainError::TooLong);
        }
        // The specific mistakes first: they are what spreadsheets actually hold.
        if domain.contains('/') {
            return Err(AccountDomainError::Url(domain));
        }
        if domain.contains('@') {
            return Err(AccountDomainError::Email(domain));
        }
        if domain.chars().any(char::is_whitespace) {
            return Err(AccountDomainError::WhiteSpace(domain));
        }
        let well_formed = domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && !domain.ends_with(['.', '-'])
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if !well_formed {
            return Err(AccountDomainError::Malformed(domain));
        }
        Ok(Self(domain))
    }

    /// The normalised domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised domain, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for AccountDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;

    #[test]
    fn trims_and_lowercases() {
        assert_eq!(
            AccountDomain::parse("  ACME.io ").unwrap().as_str(),
            "acme.io"
        );
        assert_eq!(
            AccountDomain::parse("eu.acme-corp.co.uk").unwrap().as_str(),
            "eu.acme-corp.co.uk"
        );
    }

    #[test]
    fn names_the_usual_mistakes() {
        use AccountDomainError as E;
        assert_eq!(AccountDomain::parse("  ").unwrap_err(), E::Empty);
        assert!(matches!(
            AccountDomain::parse("https://acme.io"),
            Err(E::Url(_))
        ));
        assert!(matches!(
            AccountDomain::parse("www.acme.io/pricing"),
            Err(E::Url(_))
        ));
        assert!(matches!(
            AccountDomain::parse("ann@acme.io"),
            Err(E::Email(_))
        ));
        assert!(matches!(
            AccountDomain::parse("acme .io"),
            Err(E::WhiteSpace(_))
        ));
        for bad in [
            "acme",
            ".acme.io",
            "acme.io.",
            "acme..io",
            "acme_io.com",
            "-acme.io",
        ] {
            assert!(
                matches!(AccountDomain::parse(bad), Err(E::Malformed(_))),
                "{bad:?} should be malformed"
            );
        }
        assert_eq!(
            AccountDomain::parse(&format!("{}.io", "a".repeat(251))).unwrap_err(),
            E::TooLong
        );
    }

    #[test]
    fn every_account_domain_is_a_valid_email_domain() {
        for good in ["acme.io", "x.co", "acme-corp.com", "eu.acme.co.uk"] {
            let domain = AccountDomain::parse(good).unwrap();
            let email = Email::parse(&format!("ann@{domain}")).unwrap();
            assert_eq!(email.domain(), domain.as_str());
        }
    }
}
