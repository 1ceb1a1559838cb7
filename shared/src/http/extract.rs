//! Request extractors that answer bad input with a problem (never axum's plain-text rejections):
//! JSON bodies (one Content-Type rule for all), optional JSON bodies, and ids in the path.

use axum::body::Bytes;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::problem::ApiError;
use crate::app::App;

/// The context a handler works in: the app, over a table that answers the reads its route made
/// ahead (`Route::reads_ahead`) when it made some, the app's own table otherwise.
#[derive(Clone)]
pub struct Primed(pub App);

impl FromRequestParts<App> for Primed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Primed>()
            .cloned()
            .unwrap_or_else(|| Primed(app.clone())))
    }
}

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A JSON body: `Content-Type: application/json`, at most 64 KiB, well-formed, of the expected
/// shape (record types deny unknown fields).
pub struct Json<T>(pub T);

/// A JSON body that may be left out: no body (or only white space) is `None`, whatever the
/// Content-Type; any other body follows the rules of [`Json`].
pub struct OptionalJson<T>(pub Option<T>);

/// The one Content-Type rule: `application/json` or any `application/…+json`.
fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "the body must be JSON, sent with Content-Type: application/json".into(),
        ))
    }
}

async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::BodyTooLarge(MAX_BODY_BYTES)
            } else {
                ApiError::BadRequest(format!("the body could not be read: {rejection}"))
            }
        })
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json(request.headers())?;
        parse(&body_bytes(request, state).await?).map(Json)
    }
}

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = body_bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        require_json(&headers)?;
        parse(&bytes).map(|value| OptionalJson(Some(value)))
    }
}

/// Parses a JSON body, telling malformed JSON (400) from a well-formed body of the wrong shape
/// (422: not an object, wrong types, unknown or missing fields).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|error| ApiError::MalformedJson(format!("the body is not valid JSON: {error}")))?;
    // serde would read an array into a struct field by field: only an object is a body here.
    if !value.is_object() {
        return Err(ApiError::InvalidBody("body: must be a JSON object".into()));
    }
    whole_numbers(&mut value);
    serde_json::from_value(value).map_err(|error| ApiError::InvalidBody(format!("body: {error}")))
}

/// JSON has one kind of number, and JSON Schema (so the document) reads `3.0` as the integer 3:
/// a whole number written with a fraction becomes an integer before serde reads it into an
/// integer field (found by schemathesis: `{"emails": -359057.0}` was refused as `invalid-body`).
fn whole_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) if number.is_f64() => {
            // 2^63 is exact as a float; below it every whole float fits an i64.
            let whole = number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= -(2f64.powi(63)) && *f < 2f64.powi(63));
            if let Some(whole) = whole {
                *value = Value::from(whole as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
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

/// What a path parameter names, for messages (`{tid}` → "token id").
fn what(param: &str) -> &str {
    match param {
        "pid" => "profile id",
        "aid" => "account id",
        "iid" => "invitation id",
        "tid" => "token id",
        "uid" => "run user id",
        "id" => "policy id",
        other => other,
    }
}

/// The id in the path's last `{…}` parameter, parsed: a handler of
/// `/v1/profiles/{pid}/tokens/{tid}` takes `PathId(tid): PathId` (the `{pid}` was already
/// checked by the access layer). A malformed id is 400 `invalid-id`, naming the parameter.
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = raw_params(parts, state).await?;
        let (name, raw) = params
            .iter()
            .last()
            .ok_or(ApiError::Refused(crate::refusal::Refusal::Internal))?;
        id(what(name), raw).map(PathId)
    }
}

/// The path's parameters as sent. One that is not UTF-8 once percent-decoded (`%FF`) cannot be
/// an id: 400 `invalid-id`, like any other malformed id (found by schemathesis: it was a 500).
pub async fn raw_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<RawPathParams, ApiError> {
    RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|rejection| match rejection {
            RawPathParamsRejection::InvalidUtf8InPathParam(_) => ApiError::InvalidId(
                "an id in the path is not valid UTF-8 once percent-decoded (a UUID is expected)"
                    .into(),
            ),
            _ => ApiError::Refused(crate::refusal::Refusal::Internal),
        })
}

/// Deserialises a field that may be absent (`None`), null (`Some(None)`) or set (`Some(Some)`).
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Limits {
        emails: Option<i64>,
        ratio: Option<f64>,
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_reads_as_an_integer() {
        let Ok(body) = parse::<Limits>(br#"{"emails": -359057.0, "ratio": 2.0}"#) else {
            panic!("a whole number with a fraction was refused");
        };
        assert_eq!(body.emails, Some(-359_057));
        assert_eq!(body.ratio, Some(2.0));
        // A fraction, or a whole number past i64, is still no integer.
        for body in [&br#"{"emails": 1.5}"#[..], br#"{"emails": 1e19}"#] {
            assert!(matches!(
                parse::<Limits>(body),
                Err(ApiError::InvalidBody(_))
            ));
        }
    }

    #[tokio::test]
    async fn a_path_id_that_is_not_utf8_is_an_invalid_id() {
        use axum::Router;
        use axum::body::Body;
        use axum::response::IntoResponse;
        use axum::routing::get;
        use tower::ServiceExt;

        let app = Router::new().route(
            "/things/{tid}",
            get(|id: Result<PathId, ApiError>| async move {
                match id {
                    Ok(PathId(id)) => id.to_string().into_response(),
                    Err(error) => error.into_response(),
                }
            }),
        );
        for (path, status) in [
            ("/things/%FF", 400),
            ("/things/%C3%28", 400),
            ("/things/x", 400),
        ] {
            let Ok(request) = axum::http::Request::get(path).body(Body::empty()) else {
                panic!("request");
            };
            let Ok(response) = app.clone().oneshot(request).await;
            assert_eq!(response.status().as_u16(), status, "{path}");
            assert_eq!(
                response.headers()[axum::http::header::CONTENT_TYPE],
                "application/problem+json",
                "{path}"
            );
        }
    }
}
