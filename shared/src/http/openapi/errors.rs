//! The errors of the document: which statuses a route can answer, and the problem+json
//! responses and schema they share.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::super::{LOCAL, Route};
use super::words::path_params;
use crate::catalogue::Service;
use crate::domain::access::{Access, RequestMetering};

/// Every error status a route can answer: its own plus those that follow from what it declares.
pub(super) fn error_statuses(route: &Route) -> Vec<StatusCode> {
    let doc = &route.doc;
    // A token in the query string is refused (400) before anything else; 500 can always happen.
    let mut errors = vec![StatusCode::BAD_REQUEST, StatusCode::INTERNAL_SERVER_ERROR];
    if route.function != LOCAL {
        errors.push(StatusCode::SERVICE_UNAVAILABLE);
    }
    match route.access {
        Access::Anyone => {}
        Access::Session => errors.extend([StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN]),
        // The profile must exist; each request counts one `api_requests` use.
        Access::Application => {
            errors.extend([StatusCode::NOT_FOUND, StatusCode::TOO_MANY_REQUESTS]);
        }
        Access::RunUser => errors.extend([
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::TOO_MANY_REQUESTS,
        ]),
        Access::Profile(_, _, metering) => {
            errors.extend([
                StatusCode::UNAUTHORIZED,
                StatusCode::FORBIDDEN,
                StatusCode::NOT_FOUND,
            ]);
            // 429: an application route counts one `api_requests` use, refused past the limit.
            if metering == RequestMetering::Metered {
                errors.push(StatusCode::TOO_MANY_REQUESTS);
            }
        }
    }
    if path_params(route.path).iter().any(|name| *name != "pid") {
        errors.push(StatusCode::NOT_FOUND);
    }
    if doc.request.is_some() {
        errors.extend([
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::UNPROCESSABLE_ENTITY,
        ]);
    }
    if !doc.query.is_empty() {
        errors.push(StatusCode::UNPROCESSABLE_ENTITY);
    }
    errors.extend(doc.errors.iter().copied());
    errors.sort();
    errors.dedup();
    errors
}

/// The name of the shared response of an error status, and what it means.
pub(super) fn error_name(status: StatusCode) -> Option<(&'static str, &'static str)> {
    Some(match status.as_u16() {
        400 => (
            "BadRequest",
            "`malformed-json`, `invalid-id` (an id in the path), or `bad-request` (e.g. a token \
             in the query string: tokens go in the Authorization header only)",
        ),
        401 => (
            "Unauthorized",
            "`unauthorized` (no, an unknown, an expired or a revoked token) or \
             `invalid-credentials`",
        ),
        403 => (
            "Forbidden",
            "`forbidden`: the caller's role or token permission does not allow this",
        ),
        404 => (
            "NotFound",
            "`not-found`: no such resource, or one the caller may not see (another tenant's)",
        ),
        409 => (
            "Conflict",
            "`conflict`: the current state does not allow this",
        ),
        413 => ("PayloadTooLarge", "`body-too-large`"),
        415 => (
            "UnsupportedMediaType",
            "`unsupported-media-type`: send JSON with Content-Type: application/json",
        ),
        422 => (
            "UnprocessableEntity",
            "`invalid-body` (unknown field, wrong type, missing field), `validation-failed` or \
             `unprocessable`",
        ),
        429 => (
            "TooManyRequests",
            "`limit-reached` (the profile's limit of `service`; `Retry-After` for monthly \
             services) or `too-many-attempts` (`Retry-After`)",
        ),
        500 => ("InternalServerError", "`internal`"),
        503 => ("ServiceUnavailable", "`unavailable`: try again"),
        _ => return None,
    })
}

pub(super) fn problem_response(status: StatusCode, description: &str) -> Value {
    let mut response = json!({
        "description": format!(
            "{}: {description}",
            status.canonical_reason().unwrap_or("Error")
        ),
        "content": {
            "application/problem+json": {
                "schema": { "$ref": "#/components/schemas/Problem" },
            },
        },
    });
    let header = match status {
        StatusCode::UNAUTHORIZED => Some((
            "WWW-Authenticate",
            "`Bearer`",
            json!({ "type": "string", "const": "Bearer" }),
        )),
        StatusCode::TOO_MANY_REQUESTS => Some((
            "Retry-After",
            "Seconds until trying again may succeed (not sent for gauge limits)",
            json!({ "type": "integer", "minimum": 1 }),
        )),
        _ => None,
    };
    if let Some((name, description, schema)) = header {
        response["headers"] = json!({
            name: { "description": description, "schema": schema },
        });
    }
    response
}

/// RFC 9457 problem details, as [`crate::http::problem::ApiError`] writes them.
pub(super) fn problem_schema() -> Value {
    let services: Vec<&str> = Service::ALL.into_iter().map(Service::name).collect();
    json!({
        "type": "object",
        "description": "An error (RFC 9457 problem details).",
        "properties": {
            "type": {
                "type": "string",
                "description": "A stable slug to match on: `validation-failed`, `not-found`, \
                                `limit-reached`, …",
            },
            "title": { "type": "string", "description": "A short summary of the type" },
            "status": { "type": "integer", "description": "The HTTP status" },
            "detail": { "type": "string", "description": "What went wrong this time" },
            "service": {
                "type": "string",
                "enum": services,
                "description": "With `limit-reached`: the service whose limit was reached",
            },
            "field": {
                "type": "string",
                "description": "With `validation-failed`: the field whose value is not acceptable",
            },
        },
        "required": ["type", "title", "status", "detail"],
    })
}
