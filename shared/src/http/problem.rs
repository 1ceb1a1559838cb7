//! The one mapping from refusals to answers: each [`Refusal`] of the domain, and each way a
//! request itself can be malformed, becomes one status, one `application/problem+json` body
//! (RFC 9457: `type`, `title`, `status`, `detail`) and its headers (`Retry-After`,
//! `WWW-Authenticate`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::refusal::Refusal;

/// Every way a request can fail: a domain refusal, or a request that never reached a rule.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    InvalidId(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    MethodNotAllowed(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        ApiError::Refused(error.into())
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Refused(refusal) => match refusal {
                Refusal::Invalid { .. } | Refusal::Unprocessable(_) => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                Refusal::NotFound(_) => StatusCode::NOT_FOUND,
                Refusal::Conflict(_) | Refusal::Contended(_) => StatusCode::CONFLICT,
                Refusal::Forbidden(_) | Refusal::EmailUnverified | Refusal::UserInactive => {
                    StatusCode::FORBIDDEN
                }
                Refusal::Unauthenticated(_) | Refusal::InvalidCredentials => {
                    StatusCode::UNAUTHORIZED
                }
                Refusal::LimitReached { .. } | Refusal::TooManyAttempts { .. } => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                Refusal::InvalidCursor(_) => StatusCode::BAD_REQUEST,
                Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                Refusal::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::MalformedJson(_) | ApiError::InvalidId(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The problem `type` and `title`: a short, stable slug clients can match on, and its words.
    pub fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Refused(refusal) => match refusal {
                Refusal::Invalid { .. } => ("validation-failed", "A value is not acceptable"),
                Refusal::NotFound(_) => ("not-found", "Not found"),
                Refusal::Conflict(_) | Refusal::Contended(_) => ("conflict", "Conflict"),
                Refusal::Forbidden(_) => ("forbidden", "Not allowed"),
                Refusal::EmailUnverified => ("email-unverified", "The e-mail is not verified"),
                Refusal::UserInactive => ("user-inactive", "The user is deactivated"),
                Refusal::Unauthenticated(_) => ("unauthorized", "Authentication required"),
                Refusal::InvalidCredentials => ("invalid-credentials", "Invalid credentials"),
                Refusal::Unprocessable(_) => ("unprocessable", "The request cannot be carried out"),
                Refusal::LimitReached { .. } => ("limit-reached", "Limit reached"),
                Refusal::TooManyAttempts { .. } => ("too-many-attempts", "Too many attempts"),
                Refusal::InvalidCursor(_) => ("invalid-cursor", "The paging cursor is not valid"),
                Refusal::Unavailable => ("unavailable", "Service unavailable"),
                Refusal::Internal => ("internal", "Internal error"),
            },
            ApiError::MalformedJson(_) => ("malformed-json", "The body is not valid JSON"),
            ApiError::InvalidBody(_) => {
                ("invalid-body", "The body does not have the expected shape")
            }
            ApiError::InvalidId(_) => ("invalid-id", "An id in the path is not valid"),
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::BodyTooLarge(_) => ("body-too-large", "The body is too large"),
            ApiError::UnsupportedMediaType(_) => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
        }
    }

    pub fn not_found() -> Self {
        ApiError::Refused(Refusal::not_found())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (kind, title) = self.kind();
        let mut body = json!({
            "type": kind,
            "title": title,
            "status": status.as_u16(),
            "detail": self.to_string(),
        });
        let mut retry_after = None;
        let mut challenge = false;
        if let ApiError::Refused(refusal) = &self {
            match refusal {
                Refusal::LimitReached {
                    service,
                    retry_after: after,
                } => {
                    body["service"] = service.name().into();
                    retry_after = *after;
                }
                Refusal::TooManyAttempts {
                    retry_after: after, ..
                } => retry_after = Some(*after),
                Refusal::Invalid { field, .. } => body["field"] = field.as_str().into(),
                Refusal::Unauthenticated(_) | Refusal::InvalidCredentials => challenge = true,
                _ => {}
            }
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(after) = retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        if challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
