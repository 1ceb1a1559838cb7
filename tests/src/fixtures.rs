use std::sync::Arc;

use aws_sdk_dynamodb::config::retry::{RetryPartition, TokenBucket};

use shared::store::Table;
use shared::store::embedded::EmbeddedTable;

/// A fresh, empty embedded table, on disk in a temporary directory.
pub async fn embedded_table() -> Arc<dyn Table> {
    Arc::new(embedded())
}

/// A fresh embedded table, as its own type (for the change feed).
pub fn embedded() -> EmbeddedTable {
    crate::logs::init();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let table =
        EmbeddedTable::open(dir.path().join("tenantry.redb")).expect("open the embedded table");
    // The open file outlives its directory entry: nothing is left behind when the test ends.
    drop(dir);
    table
}

/// A fresh, empty table on DynamoDB Local (a new table name per call).
/// Panics with a clear message when `DYNAMODB_ENDPOINT` is not set.
pub async fn dynamo_table() -> Arc<dyn Table> {
    Arc::new(dynamo().await)
}

/// The same, as its own type (for its client and table name, to read its stream).
pub async fn dynamo() -> shared::store::dynamo::DynamoTable {
    crate::logs::init();
    let client = dynamo_client().await;
    remove_stale_test_tables(&client).await;
    let name = format!("{TEST_TABLE_PREFIX}{}", uuid::Uuid::now_v7().simple());
    shared::store::dynamo::DynamoTable::create_table(&client, &name)
        .await
        .unwrap_or_else(|err| panic!("creating table {name} on DynamoDB Local: {err:#}"));
    let _ = CREATED_TABLES.try_with(|created| created.borrow_mut().push(name.clone()));
    shared::store::dynamo::DynamoTable::new(client, name)
}

tokio::task_local! {
    /// The DynamoDB Local tables a test of `on_both_adapters!` created, to delete when it passed.
    pub static CREATED_TABLES: std::cell::RefCell<Vec<String>>;
}

/// Deletes these tables from DynamoDB Local and waits until they are gone, so the next test does
/// not meet the deletion holding DynamoDB Local's locks (errors ignored: they are only memory to
/// free).
pub async fn delete_tables(names: &[String]) {
    let client = dynamo_client().await;
    for name in names {
        let _ = client.delete_table().table_name(name).send().await;
        for _ in 0..600 {
            if client
                .describe_table()
                .table_name(name)
                .send()
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

const TEST_TABLE_PREFIX: &str = "tenantry-test-";
/// Test tables older than this are left-overs of earlier runs.
const STALE_AFTER_SECS: u64 = 15 * 60;

/// Deletes the test tables that earlier runs left on a long-lived DynamoDB Local (they pile up
/// and slow it down), once per test process. Tables are named after a UUID v7, whose time says
/// how old they are; errors are ignored (another process may be deleting the same table).
async fn remove_stale_test_tables(client: &aws_sdk_dynamodb::Client) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let mut start: Option<String> = None;
    loop {
        let Ok(page) = client
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
        else {
            return;
        };
        for name in page.table_names() {
            let created = name
                .strip_prefix(TEST_TABLE_PREFIX)
                .and_then(|id| uuid::Uuid::parse_str(id).ok())
                .and_then(|id| id.get_timestamp())
                .map(|at| at.to_unix().0);
            if created.is_some_and(|at| at + STALE_AFTER_SECS < now) {
                let _ = client.delete_table().table_name(name).send().await;
            }
        }
        match page.last_evaluated_table_name {
            Some(last) => start = Some(last),
            None => return,
        }
    }
}

/// A client for DynamoDB Local at `DYNAMODB_ENDPOINT`, with dummy credentials and region
/// when the environment has none (DynamoDB Local accepts any).
pub async fn dynamo_client() -> aws_sdk_dynamodb::Client {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    if !set("DYNAMODB_ENDPOINT") {
        panic!(
            "DYNAMODB_ENDPOINT is not set: the DynamoDB tests need DynamoDB Local. \
             Run them with `scripts/test.sh`, which starts it and sets DYNAMODB_ENDPOINT."
        );
    }
    let sdk = local_sdk_config().await;
    let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        // The SDK's retry quota (a token bucket shared by every client of the process) runs dry
        // when DynamoDB Local answers a burst of parallel tests with lock time-outs, and then
        // nothing is retried at all: the tests' clients retry without a quota.
        .retry_partition(
            RetryPartition::custom("tenantry-tests")
                .token_bucket(TokenBucket::unlimited())
                .build(),
        );
    if let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") {
        config = config.endpoint_url(endpoint.trim());
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// The SDK config for the local stand-ins (DynamoDB Local, the SES emulator): dummy credentials
/// and region when the environment has none (they accept any), and a long operation timeout —
/// the tests check semantics, not latency, and a busy machine under the suite's concurrency can
/// take longer than the production timeout.
pub async fn local_sdk_config() -> aws_config::SdkConfig {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(std::time::Duration::from_secs(60))
        .build();
    // DynamoDB Local answers a long wait for its (coarser than AWS's) locks with a retryable
    // 500 under the suite's concurrency: give it more attempts than production has.
    let retries = aws_config::retry::RetryConfig::standard().with_max_attempts(8);
    let mut loader = shared::aws::loader()
        .timeout_config(timeouts)
        .retry_config(retries);
    if !set("AWS_ACCESS_KEY_ID") {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "tenantry-tests",
        ));
    }
    if !set("AWS_REGION") && !set("AWS_DEFAULT_REGION") {
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    loader.load().await
}

/// The endpoint of the SES v2 emulator (`aws-ses-v2-local`) that `scripts/test.sh` starts.
/// Panics with a clear message when `SES_TEST_ENDPOINT` is not set. (Not `SES_ENDPOINT`: that
/// one switches the local server to SES.)
pub fn ses_test_endpoint() -> String {
    match std::env::var("SES_TEST_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            endpoint.trim().trim_end_matches('/').to_owned()
        }
        _ => panic!(
            "SES_TEST_ENDPOINT is not set: the SES tests need the aws-ses-v2-local emulator. \
             Run them with `scripts/test.sh`, which starts it and sets SES_TEST_ENDPOINT."
        ),
    }
}

/// A client for the SES emulator at `SES_TEST_ENDPOINT`, with dummy credentials and region
/// when the environment has none (the emulator accepts any).
/// Panics with a clear message when `SES_TEST_ENDPOINT` is not set.
pub async fn ses_client() -> aws_sdk_sesv2::Client {
    let endpoint = ses_test_endpoint();
    let sdk = local_sdk_config().await;
    let config = aws_sdk_sesv2::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}
