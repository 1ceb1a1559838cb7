//! The application context every handler receives: the table, the settings and the clock.
//! Built once per process (in a Lambda's `main`, or in the local server).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::policy_set::cache::PolicyCache;
use crate::domain::usage::tally::Meter;
use crate::store::Table;

/// Wall-clock time, which tests may move forward to reach an expiry without waiting.
#[derive(Default)]
pub struct Clock {
    offset_seconds: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.offset_seconds.load(Ordering::SeqCst))
    }

    /// Moves this clock forward (tests only use it; nothing in production calls it).
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_seconds
            .fetch_add(by.num_seconds(), Ordering::SeqCst);
    }
}

/// What every request of the process shares (besides the table, which [`App`] holds).
pub struct Context {
    pub config: Config,
    pub clock: Clock,
    /// Compiled policy sets of recently checked profiles (`domain::policy_set`).
    pub policies: PolicyCache,
    /// `api_requests` counted by this process and not yet written (`domain::usage::meter`).
    pub meter: Meter,
    /// The stored key paging cursors are signed with, once read (`domain::cursor::key`).
    pub cursor_key: std::sync::OnceLock<[u8; 32]>,
}

/// Shared, cheap to clone. The table sits beside the shared context, so that one request may
/// see it through a wrapper ([`App::with_table`]: the reads its route made ahead, `http`'s
/// `Primed`) while every other part of the context stays the process's.
#[derive(Clone)]
pub struct App {
    pub table: Arc<dyn Table>,
    context: Arc<Context>,
}

impl std::ops::Deref for App {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.context
    }
}

impl App {
    pub fn new(table: Arc<dyn Table>, config: Config) -> Self {
        App {
            table,
            context: Arc::new(Context {
                meter: Meter::new(config.meter_batch, config.meter_flush),
                cursor_key: std::sync::OnceLock::new(),
                config,
                clock: Clock::default(),
                policies: PolicyCache::default(),
            }),
        }
    }

    /// The same context over another table (the same one, wrapped).
    pub fn with_table(&self, table: Arc<dyn Table>) -> Self {
        App {
            table,
            context: self.context.clone(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The context a Lambda function runs with: DynamoDB from `TABLE_NAME` (and optionally
    /// `DYNAMODB_ENDPOINT`) on the process's one Lambda SDK config
    /// ([`crate::aws::lambda_config`], which the function's other clients share), settings from
    /// the environment.
    #[cfg(feature = "dynamo")]
    pub async fn for_lambda() -> anyhow::Result<Self> {
        use crate::store::dynamo::DynamoTable;
        let name = crate::aws::env_value("TABLE_NAME")
            .ok_or_else(|| anyhow::anyhow!("TABLE_NAME is not set"))?;
        let table = DynamoTable::new(DynamoTable::client(crate::aws::lambda_config()), name);
        // With `TENANTRY_CONNECT_AT_INIT=1` the DynamoDB connection is opened during init instead
        // of by the first request: the cold-start bench's `tls-init` setup (issue 14,
        // BENCHMARKS.md "Cold start (issue 14)"); off by default, see there why.
        if crate::aws::env_value("TENANTRY_CONNECT_AT_INIT").as_deref() == Some("1") {
            table.connect().await;
        }
        Ok(App::new(Arc::new(table), Config::from_env()))
    }
}
