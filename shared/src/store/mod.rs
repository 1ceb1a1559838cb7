//! The table port: the narrow subset of DynamoDB that the domain needs, and its adapters.
//!
//! Items are JSON objects (`serde_json::Map`). Every item carries the string attributes `PK` and
//! `SK`; an item that also carries `GSI1PK` and `GSI1SK` is projected into the one secondary index.
//! Numbers are integers (`i64`); null attributes are not stored (setting one to null removes it).
//! A `ttl` attribute (epoch seconds) marks an item for expiry; like
//! DynamoDB TTL, expiry is lazy, so readers must still check the times they care about.
//!
//! Both adapters ([`embedded::EmbeddedTable`] and [`dynamo::DynamoTable`]) implement
//! [`Table`] with the same semantics, proven by the one conformance suite in `tests/`.

pub mod ahead;
pub mod counting;
pub mod cursor_check;
#[cfg(feature = "dynamo")]
pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;
mod query;
mod semantics;
mod write;

pub use query::{Index, Page, Query, SortKey};
pub use semantics::{apply_update, condition_holds, key_item, strip_nulls, validate_transaction};
pub use write::{Condition, Key, Update, Write};

use async_trait::async_trait;
use serde_json::{Map, Value};

/// One stored item: attribute name → value.
pub type Item = Map<String, Value>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const TTL: &str = "ttl";
/// DynamoDB returns at most 1 MB of items per query page; both adapters keep to it.
pub const PAGE_BYTES: usize = 1024 * 1024;
/// The most writes one transaction may hold (DynamoDB's `TransactWriteItems` limit).
pub const MAX_TRANSACTION_WRITES: usize = 100;

/// A change to one item, as the embedded store's change feed and DynamoDB Streams report it.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub key: Key,
    pub old: Option<Item>,
    pub new: Option<Item>,
    /// The item was removed because its `ttl` passed (DynamoDB's TTL, or the embedded store's
    /// purge), not by a request: nothing of ours saw it go.
    pub expired: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition of a single write did not hold; nothing was written.
    #[error("the condition of the write did not hold")]
    ConditionFailed,
    /// A transaction was refused; nothing was written. `failed` lists the indexes of the writes
    /// whose condition did not hold.
    #[error("the transaction was cancelled: conditions failed at {failed:?}")]
    TransactionCancelled { failed: Vec<usize> },
    /// The request itself is wrong (for example a transaction touching one key twice).
    #[error("invalid storage request: {0}")]
    Invalid(String),
    /// The store could not be reached or failed.
    #[error("storage failure: {0}")]
    Unavailable(String),
}

/// The storage port. Every method is one round trip to the store.
#[async_trait]
pub trait Table: Send + Sync + 'static {
    /// The item under `key`, if any.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Writes `item` whole, when `condition` holds.
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError>;
    /// Updates (or creates) the item under `key` when `condition` holds; returns the new item.
    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError>;
    /// Deletes the item under `key` when `condition` holds; returns the old item, if any.
    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError>;
    /// One page of the items of one partition.
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
    /// All-or-nothing: every write applies, or (when any condition fails) none does.
    /// At most [`MAX_TRANSACTION_WRITES`] writes, each on a different key.
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError>;
    /// One page of every item in the table, in no particular order (for tests and maintenance).
    async fn scan(&self, cursor: Option<Item>) -> Result<Page, StoreError>;
}

/// Reads every page of a query.
pub async fn query_all(table: &dyn Table, query: Query) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut query = query;
    loop {
        let page = table.query(query.clone()).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return Ok(items),
        }
    }
}

/// The first item a query finds, if any (one round trip).
pub async fn query_first(table: &dyn Table, query: Query) -> Result<Option<Item>, StoreError> {
    Ok(table.query(query.limit(1)).await?.items.into_iter().next())
}

/// Reads every item of the table.
pub async fn scan_all(table: &dyn Table) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = table.scan(cursor).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
}
