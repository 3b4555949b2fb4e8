//! JSON request bodies decoded with the path of whatever is wrong, so every 4xx names the
//! field.

use crate::error::ApiError;

/// Decodes a JSON body into `T`: a syntax error is a 400, a value of the wrong shape a 422
/// naming its JSON path (`[2].lead.email`, `tier`).
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
    Ok(value)
}

/// serde_json appends " at line L column C", which is noise next to a field path.
fn strip_position(message: &str) -> String {
    message
        .find(" at line ")
        .map_or(message, |i| &message[..i])
        .to_owned()
}
