//! The one retry loop of the adapter: a request refused by a transaction conflict (another
//! transaction holds the item) is sent again after a jittered, growing pause.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use super::convert::store_error;
use crate::store::StoreError;

/// How many times a write refused by a transaction conflict is tried again.
const CONFLICT_RETRIES: u32 = 6;

/// Why a request failed, as far as retrying goes.
pub(super) enum Failure {
    /// Another transaction was in the way: worth sending again. Carries the error to report when
    /// every retry was used up.
    Conflict(StoreError),
    /// Sending again would not help.
    Final(StoreError),
}

/// Sends a request (`send` builds and sends a fresh copy each time) until it succeeds, fails for
/// good, or conflicts more than [`CONFLICT_RETRIES`] times; `classify` says which failure is which.
pub(super) async fn with_conflict_retries<T, E, F, Fut>(
    mut send: F,
    classify: impl Fn(E) -> Failure,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        let err = match send().await {
            Ok(out) => return Ok(out),
            Err(err) => err,
        };
        match classify(err) {
            Failure::Conflict(_) if attempt < CONFLICT_RETRIES => {
                backoff(attempt).await;
                attempt += 1;
            }
            Failure::Conflict(err) | Failure::Final(err) => return Err(err),
        }
    }
}

/// The classification of a single-item write: only a transaction conflict is worth retrying.
pub(super) fn conflict_or_final<E, R>(err: SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    if is_conflict(&err) {
        Failure::Conflict(store_error(err))
    } else {
        Failure::Final(store_error(err))
    }
}

pub(super) fn is_conflict<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("TransactionConflictException")
}

/// Sleeps 10 ms × 2^attempt, jittered by ±50 %.
async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(10);
    let jitter = getrandom::u64().unwrap_or(0) % (base + 1);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}
