//! Against HubSpot's published examples, and vectors computed from its description.

use axum::http::HeaderValue;

use super::*;

/// The client secret of HubSpot's published examples.
const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
/// The request body of HubSpot's v1 example.
const V1_BODY: &str = r#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
/// HubSpot's v1 example signature.
const V1_SIGNATURE: &str = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de";
const EXAMPLE_URI: &str = "https://www.example.com/webhook_uri";
/// The body of HubSpot's v2 POST example.
const V2_BODY: &str = r#"{"example_field":"example_value"}"#;
/// The timestamp of our v3 vectors, 2023-11-14T22:13:20Z.
const TIMESTAMP: &str = "1700000000000";
/// v3 over the v2 POST example's request and [`TIMESTAMP`] (see
/// `a_v3_signature_verifies_and_wins_over_v1`).
const V3_SIGNATURE: &str = "rQEKkaNUiu+1qGF//O/pw4BCzstSqO1PyUnGICmf+7o=";

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn at(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap()
}

/// The instant of [`TIMESTAMP`].
fn signed_at() -> DateTime<Utc> {
    at(1_700_000_000_000)
}

fn check(method: &str, uri: &str, body: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    let req = Signed {
        method,
        uri,
        body: body.as_bytes(),
        headers,
    };
    verify(&req, SECRET, signed_at())
}

fn v3(signature: &str) -> HeaderMap {
    headers(&[(SIGNATURE_V3, signature), (REQUEST_TIMESTAMP, TIMESTAMP)])
}

/// HubSpot's published v1 example ("Validating requests from HubSpot", and the older
/// "v1 request validation" FAQ page).
#[test]
fn hubspots_v1_example_verifies() {
    let h = headers(&[(SIGNATURE, V1_SIGNATURE), (SIGNATURE_VERSION, "v1")]);
    assert_eq!(check("POST", EXAMPLE_URI, V1_BODY, &h), Ok(()));
}

/// HubSpot's published v2 examples, a GET without a body and a POST with one.
#[test]
fn hubspots_v2_examples_verify() {
    let get = headers(&[
        (
            SIGNATURE,
            "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e",
        ),
        (SIGNATURE_VERSION, "v2"),
    ]);
    assert_eq!(check("GET", EXAMPLE_URI, "", &get), Ok(()));
    let post = headers(&[
        (
            SIGNATURE,
            "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900",
        ),
        (SIGNATURE_VERSION, "v2"),
    ]);
    assert_eq!(check("POST", EXAMPLE_URI, V2_BODY, &post), Ok(()));
    assert_eq!(
        check("PUT", EXAMPLE_URI, V2_BODY, &post),
        Err(Refusal::Mismatch(Version::V2)),
        "v2 signs the method"
    );
}

/// HubSpot publishes no v3 vector. These were computed once, outside this code, with
/// Python's `hmac` and cross-checked with `openssl dgst -sha256 -hmac … -binary | base64`,
/// over the v2 POST example's request and [`TIMESTAMP`].
#[test]
fn a_v3_signature_verifies_and_wins_over_v1() {
    assert_eq!(
        check("POST", EXAMPLE_URI, V2_BODY, &v3(V3_SIGNATURE)),
        Ok(())
    );
    let mut both = v3(V3_SIGNATURE);
    both.insert(SIGNATURE, HeaderValue::from_static(V1_SIGNATURE));
    both.insert(SIGNATURE_VERSION, HeaderValue::from_static("v1"));
    assert_eq!(
        check("POST", EXAMPLE_URI, V1_BODY, &both),
        Err(Refusal::Mismatch(Version::V3)),
        "a valid v1 does not rescue a wrong v3"
    );
}

/// The second vector (same tools) signs the URI as HubSpot decodes it, written out by
/// hand: `%40`, `%2C`, `%3A` decoded; `%20` and `%253A` kept.
#[test]
fn v3_signs_the_uri_with_hubspots_characters_decoded() {
    let uri = "https://leadrouter.example.com/webhooks/hubspot?from=a%40b.com%2Cc%3Ad&q=x%20y%253A";
    let body = r#"[{"eventId":1}]"#;
    let over_decoded = "PmjDEsMXglHN345Z3gWLlU5J43kRqiPSgllowlLjoWk=";
    assert_eq!(check("POST", uri, body, &v3(over_decoded)), Ok(()));
    let over_raw = "J0T2xRrrA87zMrupcsoQkXxkz+K274RkqvuHT0HfinM=";
    assert_eq!(
        check("POST", uri, body, &v3(over_raw)),
        Err(Refusal::Mismatch(Version::V3))
    );
}

#[test]
fn the_v3_uri_rule_decodes_exactly_the_listed_escapes_once() {
    assert_eq!(
        v3_uri("https%3A%2F%2Fh%2fp%3F%40%21%24%27%28%29%2A%2C%3B"),
        "https://h/p?@!$'()*,;"
    );
    assert_eq!(
        v3_uri("/a?b=%20%26%3D%2B%23%25%5B"),
        "/a?b=%20%26%3D%2B%23%25%5B"
    );
    assert_eq!(v3_uri("/%253A/%3a%"), "/%253A/:%");
    assert_eq!(v3_uri("/é%2C%2"), "/é,%2");
    assert!(matches!(v3_uri("/plain?x=1"), Cow::Borrowed(_)));
}

#[test]
fn a_stale_or_future_timestamp_is_refused_at_five_minutes_and_a_millisecond() {
    let h = v3(V3_SIGNATURE);
    let req = Signed {
        method: "POST",
        uri: EXAMPLE_URI,
        body: V2_BODY.as_bytes(),
        headers: &h,
    };
    let limit = 5 * 60 * 1000;
    for now in [1_700_000_000_000 + limit, 1_700_000_000_000 - limit] {
        assert_eq!(verify(&req, SECRET, at(now)), Ok(()), "{now}");
    }
    assert_eq!(
        verify(&req, SECRET, at(1_700_000_000_000 + limit + 1)),
        Err(Refusal::Stale { skew_ms: limit + 1 })
    );
    assert_eq!(
        verify(&req, SECRET, at(1_700_000_000_000 - limit - 1)),
        Err(Refusal::Stale {
            skew_ms: -limit - 1
        })
    );
    let late = verify(&req, SECRET, at(1_700_000_000_000 + 86_400_000)).unwrap_err();
    assert_eq!(
        late,
        Refusal::Stale {
            skew_ms: 86_400_000
        }
    );
    assert!(late.to_string().contains("86400.000 s off"), "{late}");
}

#[test]
fn a_tampered_body_or_a_wrong_secret_is_refused() {
    let v1 = headers(&[(SIGNATURE, V1_SIGNATURE), (SIGNATURE_VERSION, "v1")]);
    let tampered = V1_BODY.replace("62515", "62516");
    assert_eq!(
        check("POST", EXAMPLE_URI, &tampered, &v1),
        Err(Refusal::Mismatch(Version::V1))
    );
    let h = v3(V3_SIGNATURE);
    let tampered = V2_BODY.replace("value", "valuf");
    assert_eq!(
        check("POST", EXAMPLE_URI, &tampered, &h),
        Err(Refusal::Mismatch(Version::V3))
    );
    for (headers, version) in [(&v1, Version::V1), (&h, Version::V3)] {
        let body = if version == Version::V1 {
            V1_BODY
        } else {
            V2_BODY
        };
        let req = Signed {
            method: "POST",
            uri: EXAMPLE_URI,
            body: body.as_bytes(),
            headers,
        };
        let wrong = "zzzzzzzz-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
        assert_eq!(
            verify(&req, wrong, signed_at()),
            Err(Refusal::Mismatch(version))
        );
        assert_eq!(verify(&req, "", signed_at()), Err(Refusal::Unconfigured));
    }
}

#[test]
fn missing_malformed_and_unknown_headers_are_named() {
    let none = HeaderMap::new();
    assert_eq!(
        check("POST", EXAMPLE_URI, V1_BODY, &none),
        Err(Refusal::Missing(SIGNATURE_V3))
    );
    let unversioned = headers(&[(SIGNATURE, V1_SIGNATURE)]);
    assert_eq!(
        check("POST", EXAMPLE_URI, V1_BODY, &unversioned),
        Err(Refusal::Missing(SIGNATURE_VERSION))
    );
    let v9 = headers(&[(SIGNATURE, V1_SIGNATURE), (SIGNATURE_VERSION, "v9")]);
    assert_eq!(
        check("POST", EXAMPLE_URI, V1_BODY, &v9),
        Err(Refusal::UnknownVersion("v9".to_owned()))
    );
    let no_time = headers(&[(SIGNATURE_V3, "x")]);
    assert_eq!(
        check("POST", EXAMPLE_URI, V1_BODY, &no_time),
        Err(Refusal::Missing(REQUEST_TIMESTAMP))
    );
    let bad_time = headers(&[(SIGNATURE_V3, "x"), (REQUEST_TIMESTAMP, "yesterday")]);
    assert_eq!(
        check("POST", EXAMPLE_URI, V1_BODY, &bad_time),
        Err(Refusal::Malformed(REQUEST_TIMESTAMP))
    );
    let not_base64 = v3("not base64!");
    assert_eq!(
        check("POST", EXAMPLE_URI, V2_BODY, &not_base64),
        Err(Refusal::Mismatch(Version::V3))
    );
}

#[test]
fn no_message_shows_the_secret_or_a_signature() {
    let h = headers(&[(SIGNATURE, V1_SIGNATURE), (SIGNATURE_VERSION, "v1")]);
    let refusal = check("POST", EXAMPLE_URI, "{}", &h).unwrap_err();
    let message = refusal.to_string();
    assert!(message.contains("v1 signature does not match"), "{message}");
    assert!(!message.contains(SECRET) && !message.contains(V1_SIGNATURE));
    let ApiError::Unauthorized(detail) = ApiError::from(refusal) else {
        panic!("a refusal is a 401");
    };
    assert_eq!(detail, message);
}
