//! JSON request bodies decoded with the path of whatever is wrong, so every 4xx names the
//! field.

use serde_json::Value;

use crate::{
    domain::text::{MAX_NOTE_CHARS, too_long},
    error::ApiError,
};

/// Decodes a JSON body into `T`: a syntax error is a 400, a value of the wrong shape a 422
/// naming its JSON path (`[2].lead.email`, `tier`). So is any string or key that holds a NUL
/// character (PostgreSQL stores none in text or jsonb) or is longer than
/// [`MAX_NOTE_CHARS`], whatever the field: fields may set lower limits of their own.
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::MalformedJson(inner.to_string())
        } else {
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::field(field, strip_position(&inner.to_string()))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    check_strings(body)?;
    Ok(value)
}

/// What a field holding NUL is told.
pub const NUL_DETAIL: &str = "holds a NUL character (\\u0000), which cannot be stored";

/// What the raw bytes of a valid JSON body say about its strings and keys.
struct Scan {
    /// Some string or key may hold NUL: the escape `\u0000` (a raw NUL byte cannot appear in
    /// valid JSON), whose backslash is a real escape only after an even number of others.
    nul: bool,
    /// The longest string or key in raw bytes, never fewer than its characters.
    longest: usize,
}

/// One pass over `body`, the whole cost for a clean body; finding the field is left to the
/// rare body this flags.
fn scan(body: &[u8]) -> Scan {
    let (mut nul, mut longest) = (false, 0);
    let mut at = 0;
    while let Some(open) = body[at..].iter().position(|&b| b == b'"') {
        let start = at + open + 1;
        let mut i = start;
        while i < body.len() && body[i] != b'"' {
            if body[i] == b'\\' {
                nul |= body[i + 1..].starts_with(b"u0000");
                i += 1;
            }
            i += 1;
        }
        longest = longest.max(i - start);
        at = i + 1;
        if at >= body.len() {
            break;
        }
    }
    Scan { nul, longest }
}

/// Refuses a decoded `body` whose strings or keys hold NUL or pass [`MAX_NOTE_CHARS`].
fn check_strings(body: &[u8]) -> Result<(), ApiError> {
    let scan = scan(body);
    if !scan.nul && scan.longest <= MAX_NOTE_CHARS {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    match find_string(&value, String::new(), &bad_string) {
        Some((path, detail)) => Err(ApiError::field(
            if path.is_empty() { "body" } else { &path },
            detail,
        )),
        None => Ok(()),
    }
}

/// What is wrong with a string or key of a request body, if anything.
fn bad_string(text: &str) -> Option<String> {
    if text.contains('\0') {
        return Some(NUL_DETAIL.to_owned());
    }
    too_long(text, MAX_NOTE_CHARS)
}

/// The path (`[3].lead.title`, `properties.url`) of the first value or key that `bad`
/// finds a problem with, and the problem.
fn find_string(
    value: &Value,
    path: String,
    bad: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    let join = |path: &str, key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) => bad(s).map(|detail| (path, detail)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_string(item, format!("{path}[{i}]"), bad)),
        Value::Object(map) => map.iter().find_map(|(key, item)| match bad(key) {
            Some(detail) => {
                let shown: String = key.replace('\0', "\\u0000").chars().take(64).collect();
                Some((join(&path, &shown), format!("(a key) {detail}")))
            }
            None => find_string(item, join(&path, key), bad),
        }),
        _ => None,
    }
}

/// serde_json appends " at line L column C", which is noise next to a field path.
pub(crate) fn strip_position(message: &str) -> String {
    message
        .find(" at line ")
        .map_or(message, |i| &message[..i])
        .to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn nul_field(body: &str) -> Option<String> {
        match decode::<Value>(body.as_bytes()) {
            Err(ApiError::Validation(errors)) => Some(errors[0].field.clone()),
            Ok(_) => None,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_nul_in_any_string_or_key_is_named_by_its_path() {
        assert_eq!(
            nul_field(r#"[{"lead":{"title":"VP\u0000Sales"}}]"#).as_deref(),
            Some("[0].lead.title")
        );
        assert_eq!(
            nul_field(r#"{"properties":{"a\u0000b":1}}"#).as_deref(),
            Some("properties.a\\u0000b")
        );
        assert_eq!(
            nul_field(r#"{"p":{"list":["ok","\u0000"]}}"#).as_deref(),
            Some("p.list[1]")
        );
        assert_eq!(nul_field(r#""\u0000""#).as_deref(), Some("body"));
    }

    #[test]
    fn a_string_or_key_past_the_limit_is_named() {
        let long = "é".repeat(MAX_NOTE_CHARS + 1);
        assert_eq!(
            nul_field(&format!(r#"{{"a":[1,{{"note":"{long}"}}]}}"#)).as_deref(),
            Some("a[1].note")
        );
        let fits = "é".repeat(MAX_NOTE_CHARS);
        assert_eq!(nul_field(&format!(r#"{{"note":"{fits}"}}"#)), None);
        let escaped = "\\n".repeat(MAX_NOTE_CHARS);
        assert_eq!(
            nul_field(&format!(r#"{{"note":"{escaped}"}}"#)),
            None,
            "escapes count as the characters they stand for"
        );
    }

    #[test]
    fn an_escaped_backslash_before_u0000_is_text_not_nul() {
        assert_eq!(nul_field(r#"{"a":"C:\\u0000"}"#), None);
        assert_eq!(
            nul_field(r#"{"a":"C:\\\u0000"}"#).as_deref(),
            Some("a"),
            "three backslashes: an escaped backslash, then NUL"
        );
    }
}
