//! Request extractors that answer bad input with a problem (never axum's plain-text rejections).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body: `Content-Type: application/json`, at most 64 KiB, well-formed, of the expected
/// shape (record types deny unknown fields).
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json"
            && !(mime.starts_with("application/") && mime.ends_with("+json"))
        {
            return Err(ApiError::UnsupportedMediaType(
                "the body must be JSON, sent with Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BodyTooLarge(MAX_BODY_BYTES)
                } else {
                    ApiError::BadRequest(format!("the body could not be read: {rejection}"))
                }
            })?;
        parse(&bytes).map(Json)
    }
}

/// Parses a JSON body, telling malformed JSON (400) from a well-formed body of the wrong shape
/// (422: not an object, wrong types, unknown or missing fields).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::MalformedJson(format!("the body is not valid JSON: {error}")))?;
    // serde would read an array into a struct field by field: only an object is a body here.
    if !value.is_object() {
        return Err(ApiError::InvalidBody("body: must be a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|error| ApiError::InvalidBody(format!("body: {error}")))
}

/// A UUID from the path.
pub fn id(what: &str, raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::InvalidId(format!(
            "{what} `{}` is not a valid id (a UUID)",
            truncate(raw)
        ))
    })
}

fn truncate(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// Deserialises a field that may be absent (`None`), null (`Some(None)`) or set (`Some(Some)`).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}
