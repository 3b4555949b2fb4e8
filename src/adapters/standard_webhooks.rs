//! Outbound messages signed per the Standard Webhooks specification
//! (<https://www.standardwebhooks.com>): the envelope, the three headers, the signature and
//! the endpoints' secrets. Pure: the dispatcher decides when, this decides what.

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

/// What a secret starts with; the rest is the base64 of the key.
pub const SECRET_PREFIX: &str = "whsec_";

/// Key bytes in a secret made by [`generate_secret`] (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 24;

/// The header carrying the message id, the same on every attempt so receivers dedupe.
pub const ID_HEADER: &str = "webhook-id";
/// The header carrying the time of the attempt, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying `v1,<base64 HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// A secret that is not `whsec_` followed by base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the endpoint's secret is not `whsec_` followed by base64")]
pub struct BadSecret;

/// A new secret: `whsec_` and the base64 of 24 random bytes.
pub fn generate_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    data: &'a Value,
}

/// The body sent for a message: `{"type": topic, "timestamp": created_at, "data": payload}`.
/// The same message gives the same bytes on every attempt.
pub fn envelope(topic: &str, created_at: DateTime<Utc>, payload: &Value) -> Vec<u8> {
    let envelope = Envelope {
        kind: topic,
        timestamp: created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        data: payload,
    };
    serde_json::to_vec(&envelope).expect("a JSON value and strings serialise")
}

/// `v1,<signature>` of `body` sent as message `id` at `timestamp` (Unix seconds).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .filter(|key| !key.is_empty())
        .ok_or(BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The three headers of an attempt at `timestamp` (Unix seconds): id, timestamp, signature.
pub fn headers(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<[(&'static str, String); 3], BadSecret> {
    Ok([
        (ID_HEADER, id.to_owned()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (SIGNATURE_HEADER, sign(secret, id, timestamp, body)?),
    ])
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    /// The example published with the specification, checked independently with Python's
    /// `hmac` module.
    #[test]
    fn signs_the_specifications_example() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn headers_carry_id_timestamp_and_signature() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let [id, timestamp, signature] = headers(secret, "msg_7", 1_700_000_000, b"{}").unwrap();
        assert_eq!(id, (ID_HEADER, "msg_7".to_owned()));
        assert_eq!(timestamp, (TIMESTAMP_HEADER, "1700000000".to_owned()));
        assert_eq!(
            signature,
            (
                SIGNATURE_HEADER,
                sign(secret, "msg_7", 1_700_000_000, b"{}").unwrap()
            )
        );
    }

    #[test]
    fn a_secret_without_prefix_or_base64_is_refused() {
        for secret in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!",
            "whsec_",
        ] {
            assert_eq!(sign(secret, "msg_1", 1, b"{}"), Err(BadSecret), "{secret}");
        }
    }

    #[test]
    fn generated_secrets_are_24_random_bytes_and_sign() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        let key = STANDARD
            .decode(a.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(key.len(), 24);
        assert_eq!(a.len(), SECRET_PREFIX.len() + 32);
        assert!(sign(&a, "msg_1", 1, b"{}").is_ok());
    }

    #[test]
    fn the_envelope_names_type_timestamp_and_data_in_that_order() {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap();
        let body = envelope("rep.assigned", at, &json!({"lead_id": "l1", "b": 1}));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"type":"rep.assigned","timestamp":"2026-11-20T12:00:00Z","data":{"b":1,"lead_id":"l1"}}"#
        );
    }
}
