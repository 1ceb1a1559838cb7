//! One way to run a test on both adapters: [`on_both_adapters!`](crate::on_both_adapters) turns
//! each listed `async fn(F)` into one test per adapter, where `F` is anything with a
//! [`Fixture`] (a bare table, an [`Api`], or a test's own set-up).

use std::future::Future;
use std::sync::Arc;

use shared::store::Table;

use crate::api::Api;
use crate::fixtures;

/// The two adapters of the table port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// The embedded store (`redb`), in a temporary directory.
    Embedded,
    /// A fresh table on DynamoDB Local (fails loudly without `DYNAMODB_ENDPOINT`).
    DynamoDb,
}

/// What a test on both adapters starts from, made fresh for one adapter.
pub trait Fixture: Sized {
    fn on(adapter: Adapter) -> impl Future<Output = Self>;
}

/// A fresh, empty table.
impl Fixture for Arc<dyn Table> {
    async fn on(adapter: Adapter) -> Self {
        match adapter {
            Adapter::Embedded => fixtures::embedded_table().await,
            Adapter::DynamoDb => fixtures::dynamo_table().await,
        }
    }
}

/// The routers on a fresh, empty table.
impl Fixture for Api {
    async fn on(adapter: Adapter) -> Self {
        Api::new(<Arc<dyn Table>>::on(adapter).await)
    }
}

/// Runs `case` on a fresh fixture for `adapter` (what each test of [`on_both_adapters!`] does).
///
/// [`on_both_adapters!`]: crate::on_both_adapters
///
/// On DynamoDB Local the tables the fixture created are deleted once the case passed: they live
/// in DynamoDB Local's memory, and a suite's worth of them (the authorization matrix's table holds
/// tens of thousands of items) slows it down for every test after.
pub async fn run<F, Fut>(adapter: Adapter, case: impl FnOnce(F) -> Fut)
where
    F: Fixture,
    Fut: Future<Output = ()>,
{
    let created = fixtures::CREATED_TABLES
        .scope(Default::default(), async {
            case(F::on(adapter).await).await;
            fixtures::CREATED_TABLES.with(|created| created.take())
        })
        .await;
    if !created.is_empty() {
        fixtures::delete_tables(&created).await;
    }
}

/// Runs each listed test, an `async fn(F)` where `F:` [`Fixture`], on both adapters: modules
/// `embedded` and `dynamodb`, one `#[tokio::test]` each, on a multi-threaded runtime with
/// 2 worker threads unless `worker_threads = N;` comes first. The `dynamodb` half fails loudly
/// without DynamoDB Local.
///
/// ```text
/// tenantry_tests::on_both_adapters!(signup_then_login, login_with_a_wrong_password);
/// tenantry_tests::on_both_adapters!(worker_threads = 4; racing_creates_have_one_winner);
/// ```
#[macro_export]
macro_rules! on_both_adapters {
    (worker_threads = $workers:tt; $($case:ident),* $(,)?) => {
        $crate::on_both_adapters!(@adapter embedded, Embedded, $workers, [$($case),*]);
        $crate::on_both_adapters!(@adapter dynamodb, DynamoDb, $workers, [$($case),*]);
    };
    (@adapter $module:ident, $adapter:ident, $workers:tt, [$($case:ident),*]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = $workers)]
                async fn $case() {
                    $crate::adapters::run($crate::adapters::Adapter::$adapter, super::$case).await;
                }
            )*
        }
    };
    ($($case:ident),* $(,)?) => {
        $crate::on_both_adapters!(worker_threads = 2; $($case),*);
    };
}
