//! The domain's one refusal language: why a rule said no, in the domain's own words. No web
//! type lives here; `http::problem` maps each refusal to a status, a problem+json body and
//! headers, once.

use std::time::Duration;

use crate::catalogue::Service;
use crate::store::StoreError;

/// Every way a rule can refuse.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// A value the client gave is not acceptable; `field` names it (`email`,
    /// `permissions[0].actions`, or `body` when no one field is at fault).
    #[error("{field}: {detail}")]
    Invalid { field: String, detail: String },
    /// The thing does not exist, or the caller may not know that it does.
    #[error("{0}")]
    NotFound(String),
    /// The request clashes with the current state (a duplicate, a rule about the state).
    #[error("{0}")]
    Conflict(String),
    /// The state changed under the request (a guarded write lost a race); trying again may work.
    #[error("{0}")]
    Contended(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The caller's e-mail is not verified yet, and this needs it (accepting an invitation).
    #[error("verify your e-mail address first (POST /v1/account/verification sends a new link)")]
    EmailUnverified,
    /// A run user gave the right password, but the profile's team deactivated them.
    #[error("this user is deactivated")]
    UserInactive,
    /// The caller could not be identified (no, a bad, an expired or a revoked token).
    #[error("{0}")]
    Unauthenticated(String),
    /// E-mail and password (or a re-entered password) do not match.
    #[error("e-mail or password is wrong")]
    InvalidCredentials,
    /// The request is understood but cannot be carried out as asked.
    #[error("{0}")]
    Unprocessable(String),
    /// The request would pass a limit of the profile's `service`; monthly limits lift after
    /// `retry_after`.
    #[error("this profile has reached its limit of {service}")]
    LimitReached {
        service: Service,
        retry_after: Option<Duration>,
    },
    /// Too many attempts (logins, invitations); the next may come after `retry_after`.
    #[error("{detail}")]
    TooManyAttempts {
        detail: String,
        retry_after: Duration,
    },
    /// A paging cursor that is not one this list of this profile gave out (another list's or
    /// profile's, or an edited one).
    #[error("{0}")]
    InvalidCursor(String),
    /// The store could not be reached; nothing was decided.
    #[error("the service is unavailable, try again")]
    Unavailable,
    /// A bug or a corrupt item: logged where it happened.
    #[error("internal error")]
    Internal,
}

impl Refusal {
    /// An unacceptable value of `field`.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Refusal::Invalid {
            field: field.into(),
            detail: detail.into(),
        }
    }

    pub fn not_found() -> Self {
        Refusal::NotFound("no such resource".into())
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(message) => {
                tracing::error!(error = %message, "storage unavailable");
                Refusal::Unavailable
            }
            other => {
                tracing::error!(error = %other, "unexpected storage outcome");
                Refusal::Internal
            }
        }
    }
}

/// What a rule decides: a value, or a refusal.
pub type Decided<T> = Result<T, Refusal>;
