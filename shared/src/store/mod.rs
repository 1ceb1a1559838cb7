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

pub mod counting;
pub mod cursor_check;
pub mod dynamo;
pub mod embedded;

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

/// The primary key of an item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key of an item, when it has string `PK` and `SK` attributes.
    pub fn of(item: &Item) -> Option<Key> {
        Some(Key::new(
            item.get(PK)?.as_str()?.to_owned(),
            item.get(SK)?.as_str()?.to_owned(),
        ))
    }
}

/// A condition on the current state of one item, checked atomically with the write it guards.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The item exists.
    Exists,
    /// The item does not exist.
    NotExists,
    /// The item exists and `attr` equals `value`.
    Equals(String, Value),
    /// The item exists and `attr` is absent or differs from `value`.
    NotEquals(String, Value),
    /// The number `attr` is below `bound`; an absent attribute (or item) counts as 0.
    Below(String, i64),
    /// The number `attr` is at least `bound`; an absent attribute (or item) counts as 0.
    AtLeast(String, i64),
    /// Every condition holds.
    All(Vec<Condition>),
}

/// What an update does to one item. Like DynamoDB's `UpdateItem`, an update creates the item when
/// it does not exist (guard it with [`Condition::Exists`] when that is wrong).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    /// Attributes set to a value.
    pub set: Vec<(String, Value)>,
    /// Numbers raised (or lowered) atomically; an absent attribute counts as 0.
    pub add: Vec<(String, i64)>,
    /// Attributes removed.
    pub remove: Vec<String>,
}

impl Update {
    pub fn new() -> Self {
        Update::default()
    }
    pub fn set(mut self, attr: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set.push((attr.into(), value.into()));
        self
    }
    pub fn add(mut self, attr: impl Into<String>, by: i64) -> Self {
        self.add.push((attr.into(), by));
        self
    }
    pub fn remove(mut self, attr: impl Into<String>) -> Self {
        self.remove.push(attr.into());
        self
    }
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// One write of a transaction (or on its own), with its own condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Update {
        key: Key,
        update: Update,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Writes nothing; only its condition must hold.
    Check { key: Key, condition: Condition },
}

impl Write {
    pub fn put(item: Item) -> Self {
        Write::Put {
            item,
            condition: None,
        }
    }
    pub fn put_new(item: Item) -> Self {
        Write::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    }
    pub fn update(key: Key, update: Update) -> Self {
        Write::Update {
            key,
            update,
            condition: None,
        }
    }
    pub fn delete(key: Key) -> Self {
        Write::Delete {
            key,
            condition: None,
        }
    }
    /// The same write guarded by `condition` (replacing any it had).
    pub fn when(self, condition: Condition) -> Self {
        match self {
            Write::Put { item, .. } => Write::Put {
                item,
                condition: Some(condition),
            },
            Write::Update { key, update, .. } => Write::Update {
                key,
                update,
                condition: Some(condition),
            },
            Write::Delete { key, .. } => Write::Delete {
                key,
                condition: Some(condition),
            },
            Write::Check { key, .. } => Write::Check { key, condition },
        }
    }
    pub fn key(&self) -> Option<Key> {
        match self {
            Write::Put { item, .. } => Key::of(item),
            Write::Update { key, .. } | Write::Delete { key, .. } | Write::Check { key, .. } => {
                Some(key.clone())
            }
        }
    }
}

/// Which sort keys a query returns.
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    All,
    /// Sort keys that start with this prefix.
    Prefix(String),
    /// Sort keys from `from` to `to`, both included.
    Between(String, String),
}

/// Which key a query runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Index {
    /// The table itself (`PK`, `SK`).
    #[default]
    Table,
    /// The secondary index (`GSI1PK`, `GSI1SK`).
    Gsi1,
}

/// A query on one partition key, optionally narrowed by sort key, paged by a resumable cursor.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub index: Index,
    pub partition: String,
    pub sort: SortKey,
    /// At most this many items in the page (the 1 MB page bound still applies).
    pub limit: Option<usize>,
    /// The `next` of the previous page, to resume after it.
    pub cursor: Option<Item>,
    /// Ascending sort-key order when true (the default), descending otherwise.
    pub forward: bool,
}

impl Query {
    pub fn partition(partition: impl Into<String>) -> Self {
        Query {
            index: Index::Table,
            partition: partition.into(),
            sort: SortKey::All,
            limit: None,
            cursor: None,
            forward: true,
        }
    }
    pub fn gsi1(partition: impl Into<String>) -> Self {
        Query {
            index: Index::Gsi1,
            ..Query::partition(partition)
        }
    }
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sort = SortKey::Prefix(prefix.into());
        self
    }
    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sort = SortKey::Between(from.into(), to.into());
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn after(mut self, cursor: Option<Item>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }
}

/// One page of a query or scan. `next` is `Some` when more items may follow: pass it as the
/// next query's cursor. It holds only key attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub next: Option<Item>,
}

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

/// Checks `condition` against the current item (shared by adapters that evaluate conditions
/// themselves, so the semantics are written once).
pub fn condition_holds(condition: &Condition, current: Option<&Item>) -> bool {
    let number = |attr: &str| -> Option<i64> {
        match current.and_then(|item| item.get(attr)) {
            None | Some(Value::Null) => Some(0),
            Some(value) => value.as_i64(),
        }
    };
    match condition {
        Condition::Exists => current.is_some(),
        Condition::NotExists => current.is_none(),
        Condition::Equals(attr, value) => current.and_then(|item| item.get(attr)) == Some(value),
        Condition::NotEquals(attr, value) => {
            current.is_some() && current.and_then(|item| item.get(attr)) != Some(value)
        }
        Condition::Below(attr, bound) => number(attr).is_some_and(|n| n < *bound),
        Condition::AtLeast(attr, bound) => number(attr).is_some_and(|n| n >= *bound),
        Condition::All(all) => all.iter().all(|c| condition_holds(c, current)),
    }
}

/// Applies `update` to the current item (or a new one holding just the key).
pub fn apply_update(
    key: &Key,
    update: &Update,
    current: Option<&Item>,
) -> Result<Item, StoreError> {
    let mut item = current.cloned().unwrap_or_else(|| key_item(key));
    for (attr, value) in &update.set {
        guard_key_attr(attr)?;
        if value.is_null() {
            item.remove(attr);
        } else {
            item.insert(attr.clone(), value.clone());
        }
    }
    for (attr, by) in &update.add {
        guard_key_attr(attr)?;
        let now = match item.get(attr) {
            None | Some(Value::Null) => 0,
            Some(value) => value
                .as_i64()
                .ok_or_else(|| StoreError::Invalid(format!("`{attr}` is not a number")))?,
        };
        let sum = now
            .checked_add(*by)
            .ok_or_else(|| StoreError::Invalid(format!("`{attr}` would overflow")))?;
        item.insert(attr.clone(), Value::from(sum));
    }
    for attr in &update.remove {
        guard_key_attr(attr)?;
        item.remove(attr);
    }
    Ok(item)
}

fn guard_key_attr(attr: &str) -> Result<(), StoreError> {
    if attr == PK || attr == SK {
        Err(StoreError::Invalid(format!("`{attr}` is part of the key")))
    } else {
        Ok(())
    }
}

/// Drops null attributes: the store keeps no nulls, so "absent" has one meaning in both adapters.
pub fn strip_nulls(mut item: Item) -> Item {
    item.retain(|_, value| !value.is_null());
    item
}

/// A new item holding just `key`.
pub fn key_item(key: &Key) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), Value::from(key.pk.clone()));
    item.insert(SK.into(), Value::from(key.sk.clone()));
    item
}

/// Checks what both adapters refuse before touching the store.
pub fn validate_transaction(writes: &[Write]) -> Result<Vec<Key>, StoreError> {
    if writes.is_empty() || writes.len() > MAX_TRANSACTION_WRITES {
        return Err(StoreError::Invalid(format!(
            "a transaction holds 1 to {MAX_TRANSACTION_WRITES} writes, not {}",
            writes.len()
        )));
    }
    let mut keys = Vec::with_capacity(writes.len());
    for write in writes {
        let key = write
            .key()
            .ok_or_else(|| StoreError::Invalid("an item without string PK and SK".into()))?;
        if keys.contains(&key) {
            return Err(StoreError::Invalid(format!(
                "a transaction touches {}/{} twice",
                key.pk, key.sk
            )));
        }
        keys.push(key);
    }
    Ok(keys)
}
