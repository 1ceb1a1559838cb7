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

/// The SDK config of a Lambda function (`App::for_lambda`, the stream handler's mailer): built
/// from Lambda's own environment only, once per process. The region is `AWS_REGION` (Lambda
/// sets it; `AWS_DEFAULT_REGION` otherwise), the credentials are the execution role's, which
/// Lambda puts in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; retries,
/// the identity cache, the sleep and the clock are the SDK clients' defaults for
/// [`BehaviorVersion::latest`], and the operation timeout is [`OPERATION_TIMEOUT`].
///
/// Unlike [`config`] this never links `aws-config`'s default provider chains (profile files,
/// IMDS, ECS, web identity through STS): a Lambda never needs them, and they were about half a
/// megabyte of every function (issue 14, BENCHMARKS.md "Package size (issue 14)").
pub fn lambda_config() -> &'static SdkConfig {
    static CONFIG: std::sync::OnceLock<SdkConfig> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        let region = env_value("AWS_REGION").or_else(|| env_value("AWS_DEFAULT_REGION"));
        env_config(region)
    })
}

/// [`lambda_config`]'s config for `region` (`None`: the SDK refuses each call for want of one).
fn env_config(region: Option<String>) -> SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_types::sdk_config::SharedCredentialsProvider;
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.map(aws_config::Region::new))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(lambda_http_client())
        .build();
    let timeouts = timeouts(&sdk);
    sdk.into_builder().timeout_config(timeouts).build()
}

/// The roots of the certificates of AWS's service endpoints (Amazon Trust Services: Amazon Root
/// CA 1 – 4, Starfield Services Root G2; `shared/data/README.md`).
pub const AWS_ROOT_CAS: &str = include_str!("../data/aws-root-cas.pem");

/// Whether a Lambda's clients trust the system's roots instead of [`AWS_ROOT_CAS`]: only when
/// `SSL_CERT_FILE` or `SSL_CERT_DIR` names roots of its own (the cold-start bench's CA), which
/// the system loader then reads instead of the whole store.
fn trusts_system_roots(ssl_cert_file: Option<&str>, ssl_cert_dir: Option<&str>) -> bool {
    ssl_cert_file.is_some() || ssl_cert_dir.is_some()
}

/// A Lambda's HTTP client: [`http_client`]'s, trusting only [`AWS_ROOT_CAS`] (unless
/// [`trusts_system_roots`]). The system's store is what the SDK loads by default, every file of
/// it, during init: 3.6 ms of a cold start on this machine for roots that AWS's endpoints never
/// use (issue 14, BENCHMARKS.md "Cold start (issue 14)").
fn lambda_http_client() -> aws_types::sdk_config::SharedHttpClient {
    let file = env_value("SSL_CERT_FILE");
    let dir = env_value("SSL_CERT_DIR");
    if trusts_system_roots(file.as_deref(), dir.as_deref()) {
        return http_client();
    }
    aws_roots_http_client()
}

/// [`http_client`] trusting only [`AWS_ROOT_CAS`].
fn aws_roots_http_client() -> aws_types::sdk_config::SharedHttpClient {
    use aws_smithy_http_client::tls::{
        Provider, TlsContext, TrustStore, rustls_provider::CryptoMode,
    };
    let trust = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AWS_ROOT_CAS.as_bytes());
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .tls_context(context)
            .build_https(),
        Err(error) => {
            tracing::warn!(%error, "the AWS roots were refused; trusting the system's");
            http_client()
        }
    }
}

/// The HTTP client every SDK client of ours uses: hyper with rustls on ring (the SDK crates'
/// default features, which would bring rustls on aws-lc, are off: issue 14).
fn http_client() -> aws_types::sdk_config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The loader of every SDK config of ours outside Lambda (this process's [`config`], the
/// tests' own): the environment's settings through `aws-config`'s default chains (profiles
/// included), and [`http_client`].
pub fn loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_config_has_the_region_the_credentials_and_the_timeout() {
        let sdk = env_config(Some("eu-west-1".to_owned()));
        assert_eq!(
            sdk.region().map(|region| region.as_ref()),
            Some("eu-west-1")
        );
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.http_client().is_some());
        assert!(sdk.behavior_version().is_some());
        let timeout = sdk
            .timeout_config()
            .and_then(|timeouts| timeouts.operation_timeout());
        assert_eq!(timeout, Some(OPERATION_TIMEOUT));
    }

    #[test]
    fn a_lambda_trusts_the_aws_roots_unless_told_of_others() {
        assert!(!trusts_system_roots(None, None));
        assert!(trusts_system_roots(Some("/tmp/ca.pem"), None));
        assert!(trusts_system_roots(None, Some("/etc/ssl/certs")));
        assert_eq!(
            AWS_ROOT_CAS.matches("-----BEGIN CERTIFICATE-----").count(),
            5
        );
        assert_eq!(AWS_ROOT_CAS.matches("-----END CERTIFICATE-----").count(), 5);
    }

    /// An SDK client made on the Lambda config loads its roots (the five certificates, parsed
    /// when the HTTP client becomes a client's: a bad one would panic here).
    #[cfg(feature = "dynamo")]
    #[test]
    fn a_client_on_the_lambda_config_loads_the_aws_roots() {
        // Not `env_config`: the environment running the tests may set SSL_CERT_FILE.
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(aws_roots_http_client())
            .build();
        let _client = crate::store::dynamo::DynamoTable::client(&sdk);
    }

    #[test]
    fn without_a_region_the_lambda_config_has_none() {
        assert!(env_config(None).region().is_none());
    }
}
