//! API key secrets: their format, the prefix that names them in listings, and the hash that
//! is all the database keeps.

use std::fmt;

use serde::{Deserialize, Serializer};
use sha2::{Digest, Sha256};

/// Every minted key starts with this, so a leaked key is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "lr_";

/// Bytes of randomness in a minted key (256 bits, written as 64 hex digits).
pub const KEY_RANDOM_BYTES: usize = 32;

/// How many leading characters of a key are shown in listings and actor names: `lr_` and 8
/// hex digits, 32 of the 256 random bits, enough to tell keys apart, useless for guessing.
const SHOWN_CHARS: usize = KEY_PREFIX.len() + 8;

/// A secret string (an API key, the bootstrap admin key) that never shows in `Debug` output
/// and so never in a log line.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Serialises the secret itself: for `#[serde(serialize_with)]` on the one response
    /// that shows a key (minting), so exposure is visible where it happens.
    pub fn serialize_exposed<S: Serializer>(
        secret: &Secret,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&secret.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A new API key from `random` bytes: `lr_` and 64 lower-case hex digits.
pub fn format_key(random: [u8; KEY_RANDOM_BYTES]) -> Secret {
    Secret(format!("{KEY_PREFIX}{}", hex::encode(random)))
}

/// The public prefix of `key` shown in listings (`lr_1a2b3c4d`).
pub fn shown_prefix(key: &str) -> String {
    key.chars().take(SHOWN_CHARS).collect()
}

/// The SHA-256 of a key. Keys are 256 random bits, so a fast unsalted hash is enough: there
/// is nothing to guess from it, and a lookup by hash stays one indexed read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// The hash of `key`.
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// The stored form: 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Equality that takes the same time wherever the hashes differ, so comparing a presented
    /// key with the bootstrap key reveals nothing through timing.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_lr_and_64_hex_digits_and_its_prefix_shows_8_of_them() {
        let key = format_key([0xab; KEY_RANDOM_BYTES]);
        assert_eq!(key.expose().len(), 3 + 64);
        assert!(key.expose().starts_with("lr_abab"));
        assert_eq!(shown_prefix(key.expose()), "lr_abababab");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let key = format_key([7; KEY_RANDOM_BYTES]);
        assert_eq!(format!("{key:?}"), "***");
        assert_eq!(format!("{:?}", Some(key)), "Some(***)");
    }

    #[test]
    fn hashes_are_sha256_hex_and_compare_by_value() {
        // SHA-256 of the empty string.
        assert_eq!(
            KeyHash::of("").to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(KeyHash::of("lr_a").matches(&KeyHash::of("lr_a")));
        assert!(!KeyHash::of("lr_a").matches(&KeyHash::of("lr_b")));
    }
}
