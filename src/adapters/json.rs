//! JSON bodies deserialised so that a wrong type or an unknown field is a 4xx naming its
//! JSON path (`[3].lead.email`), not a bare serde message.

use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Deserialises `body` as one `T`: 400 if it is not JSON, 422 naming the path of a field
/// that does not fit `T` (`body` for the document itself).
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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
