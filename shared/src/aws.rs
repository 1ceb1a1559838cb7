//! What every AWS SDK client of ours shares: an operation timeout well below a Lambda's own,
//! and endpoints that the environment may override (DynamoDB Local, the SES emulator).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;

/// Every SDK call (retries included) gives up after this, unless the SDK config sets its own.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// `sdk`'s timeouts, with [`OPERATION_TIMEOUT`] as the operation timeout when it has none (the
/// SDK sets none by default).
pub fn timeouts(sdk: &SdkConfig) -> TimeoutConfig {
    match sdk.timeout_config() {
        Some(t) if t.operation_timeout().is_some() => t.clone(),
        Some(t) => t.to_builder().operation_timeout(OPERATION_TIMEOUT).build(),
        None => TimeoutConfig::builder()
            .operation_timeout(OPERATION_TIMEOUT)
            .build(),
    }
}

/// An environment variable's trimmed value, when it is set and not blank.
pub fn env_value(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}
