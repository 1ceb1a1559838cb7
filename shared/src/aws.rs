//! What every AWS SDK client of ours shares: one SDK config per process ([`config`]), an
//! operation timeout well below a Lambda's own, and endpoints that the environment may override
//! (DynamoDB Local, the SES emulator).

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

/// Every SDK call (retries included) gives up after this, unless the SDK config sets its own.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The process's SDK config (region, credentials, retries, and [`timeouts`]): loaded from the
/// environment on first use, then shared by every client (the DynamoDB table, the SES mailer),
/// so a Lambda resolves its region and credentials once per cold start.
pub async fn config() -> &'static SdkConfig {
    static CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();
    CONFIG.get_or_init(load).await
}

/// The loader of every SDK config of ours (this process's [`config`], the tests' own): the
/// environment's settings, and the HTTP client every SDK client uses, hyper with rustls on ring
/// (the SDK crates' default features, which would bring rustls on aws-lc, are off: issue 14).
pub fn loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(client)
}

/// Loads the SDK config from the environment, with [`timeouts`] (only [`config`] calls it).
async fn load() -> SdkConfig {
    let sdk = loader().load().await;
    let timeouts = timeouts(&sdk);
    sdk.into_builder().timeout_config(timeouts).build()
}

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
