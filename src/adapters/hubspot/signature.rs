//! HubSpot's request signatures, verified over the raw request with the app's client secret
//! (<https://developers.hubspot.com/docs/api/webhooks/validating-requests>, "Validating
//! requests from HubSpot"):
//!
//! * v3, in `X-HubSpot-Signature-v3`: base64 of HMAC-SHA256, keyed by the client secret, of
//!   method + URI + body + `X-HubSpot-Request-Timestamp` (epoch milliseconds), the URI with
//!   some percent-encoded characters decoded first ([`v3_uri`]). HubSpot says to reject a
//!   timestamp older than five minutes; a future one as far off is refused too.
//! * v2 (`X-HubSpot-Signature-Version: v2`, signature in `X-HubSpot-Signature`): hex SHA-256
//!   of client secret + method + URI + body.
//! * v1 (`X-HubSpot-Signature-Version: v1`): hex SHA-256 of client secret + body.
//!
//! v3 wins when its header is present (HubSpot sends the older ones alongside it for backward
//! compatibility). HubSpot documents no default version, so a v1/v2 signature without
//! `X-HubSpot-Signature-Version` is refused rather than guessed at.

use std::{borrow::Cow, fmt};

use axum::http::HeaderMap;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The v3 signature.
pub const SIGNATURE_V3: &str = "x-hubspot-signature-v3";
/// When HubSpot signed a v3 request, in milliseconds since the Unix epoch.
pub const REQUEST_TIMESTAMP: &str = "x-hubspot-request-timestamp";
/// The v1 or v2 signature.
pub const SIGNATURE: &str = "x-hubspot-signature";
/// Which of v1 and v2 [`SIGNATURE`] is.
pub const SIGNATURE_VERSION: &str = "x-hubspot-signature-version";

/// How far a v3 timestamp may be from our clock, either way.
pub const MAX_SKEW: TimeDelta = TimeDelta::minutes(5);

/// The percent-encoded characters HubSpot decodes in the URI before it signs it (v3 only):
/// `:` `/` `?` `@` `!` `$` `'` `(` `)` `*` `,` `;`. Every other escape (`%20`, `%26`, `%3D`,
/// `%25`…) stays as it is.
const V3_DECODED: &[u8] = b":/?@!$'()*,;";

/// A request as HubSpot sent it.
#[derive(Clone, Copy, Debug)]
pub struct Signed<'a> {
    /// The HTTP method, as sent (`POST`).
    pub method: &'a str,
    /// The full public URI HubSpot called, scheme and query included, as configured in the
    /// app (`https://leadrouter.example.com/webhooks/hubspot?x=y`), not the path this
    /// service sees behind a proxy.
    pub uri: &'a str,
    /// The body, byte for byte.
    pub body: &'a [u8],
    pub headers: &'a HeaderMap,
}

/// A version of HubSpot's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
    V3,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
            Version::V3 => "v3",
        })
    }
}

/// Why a request is refused. The messages are for the HubSpot admin setting the app up; none
/// contains the secret, the expected signature or the one presented.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No client secret is configured, so nothing can be verified (an empty key would make
    /// v1 a plain hash of the body that anyone can compute).
    #[error("no HubSpot client secret is configured, so no HubSpot request can be verified")]
    Unconfigured,
    /// A header the signature needs is absent.
    #[error(
        "the request has no {0} header: HubSpot signs every request it sends, so it came \
         from elsewhere or a proxy dropped the header"
    )]
    Missing(&'static str),
    /// A header is present but not readable (not text, or a timestamp that is not a number).
    #[error("the {0} header is not in the form HubSpot sends")]
    Malformed(&'static str),
    /// The v3 timestamp is further than [`MAX_SKEW`] from our clock.
    #[error(
        "the {REQUEST_TIMESTAMP} header is {:.3} s off this service's clock (negative: \
         ahead of it; at most {} s either way): a replayed request, or a clock out of sync",
        *skew_ms as f64 / 1000.0,
        MAX_SKEW.num_seconds()
    )]
    Stale {
        /// Our clock minus the timestamp, in milliseconds.
        skew_ms: i64,
    },
    /// The signature is not the one the client secret gives.
    #[error(
        "the {0} signature does not match: check that the client secret configured here is \
         that of the HubSpot app sending, and (v2, v3) that the public URL configured here \
         is exactly the one HubSpot calls"
    )]
    Mismatch(Version),
    /// `X-HubSpot-Signature-Version` names a version we do not verify.
    #[error("{SIGNATURE_VERSION} {0:?} is not one this service verifies (v1, v2 or v3)")]
    UnknownVersion(String),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::Unauthorized(refusal.to_string())
    }
}

/// Verifies `req`'s signature with `client_secret`, at `now`: v3 if HubSpot sent one, else
/// the v1 or v2 that `X-HubSpot-Signature-Version` names.
pub fn verify(req: &Signed<'_>, client_secret: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
    if client_secret.is_empty() {
        return Err(Refusal::Unconfigured);
    }
    if let Some(signature) = header(req.headers, SIGNATURE_V3)? {
        return verify_v3(req, signature, client_secret, now);
    }
    let signature = header(req.headers, SIGNATURE)?.ok_or(Refusal::Missing(SIGNATURE_V3))?;
    let version =
        header(req.headers, SIGNATURE_VERSION)?.ok_or(Refusal::Missing(SIGNATURE_VERSION))?;
    let mut hash = Sha256::new();
    hash.update(client_secret.as_bytes());
    let version = match version.trim() {
        "v1" => Version::V1,
        "v2" => {
            hash.update(req.method.as_bytes());
            hash.update(req.uri.as_bytes());
            Version::V2
        }
        other => {
            let shown: String = other.chars().take(16).collect();
            return Err(Refusal::UnknownVersion(shown));
        }
    };
    hash.update(req.body);
    let presented = hex::decode(signature.trim()).map_err(|_| Refusal::Mismatch(version))?;
    if bool::from(hash.finalize().as_slice().ct_eq(&presented)) {
        Ok(())
    } else {
        Err(Refusal::Mismatch(version))
    }
}

fn verify_v3(
    req: &Signed<'_>,
    signature: &str,
    client_secret: &str,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let timestamp = header(req.headers, REQUEST_TIMESTAMP)?
        .ok_or(Refusal::Missing(REQUEST_TIMESTAMP))?
        .trim();
    let signed_at = timestamp
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .ok_or(Refusal::Malformed(REQUEST_TIMESTAMP))?;
    let skew = now - signed_at;
    if skew.abs() > MAX_SKEW {
        return Err(Refusal::Stale {
            skew_ms: skew.num_milliseconds(),
        });
    }
    let presented = BASE64
        .decode(signature.trim())
        .map_err(|_| Refusal::Mismatch(Version::V3))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(req.method.as_bytes());
    mac.update(v3_uri(req.uri).as_bytes());
    mac.update(req.body);
    mac.update(timestamp.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&presented)
        .map_err(|_| Refusal::Mismatch(Version::V3))
}

/// `uri` as HubSpot signs it for v3: each escape of a character in [`V3_DECODED`] decoded
/// (hex digits in either case, RFC 3986 §2.1), in one left-to-right pass so that `%253A`
/// stays `%253A`.
pub fn v3_uri(uri: &str) -> Cow<'_, str> {
    let bytes = uri.as_bytes();
    let decodable = |i: usize| -> Option<u8> {
        let hex = bytes.get(i + 1..i + 3)?;
        let byte = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        V3_DECODED.contains(&byte).then_some(byte)
    };
    if !(0..bytes.len()).any(|i| bytes[i] == b'%' && decodable(i).is_some()) {
        return Cow::Borrowed(uri);
    }
    let mut out = String::with_capacity(uri.len());
    let mut rest = 0;
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], decodable(i)) {
            (b'%', Some(byte)) => {
                out.push_str(&uri[rest..i]);
                out.push(char::from(byte));
                i += 3;
                rest = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&uri[rest..]);
    Cow::Owned(out)
}

/// The header `name` as text, if present.
fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, Refusal> {
    headers
        .get(name)
        .map(|value| value.to_str().map_err(|_| Refusal::Malformed(name)))
        .transpose()
}

#[cfg(test)]
mod tests;
