//! The embedded adapter of the table port: in-process, persistent on disk (`redb`), with the same
//! semantics as DynamoDB and a durable change feed that stands in for DynamoDB Streams.
//!
//! Every write runs in one `redb` write transaction, which `redb` serialises: a condition checked
//! inside it cannot be raced. The change records of a write are stored in that same transaction,
//! so the feed never misses or invents a change.

mod codec;
mod feed;
mod items;
mod query;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, TableDefinition, WriteTransaction};
use tokio::sync::Notify;

use self::codec::{decode_item, encode_key};
use self::feed::record_changes;
use self::items::{apply, load, plan};
use super::{
    Change, Condition, Item, Key, Page, Query, StoreError, Table, Update, Write, key_item,
    validate_transaction,
};

/// Items by `PK \0 SK`.
const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
/// The secondary index: `GSI1PK \0 GSI1SK \0 PK \0 SK` → nothing (the item is read from ITEMS).
const GSI1: TableDefinition<&[u8], ()> = TableDefinition::new("gsi1");
/// The change feed: sequence number → the change, as JSON.
const CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("changes");
/// Counters that must survive the records they count: `last_seq`, the last sequence number
/// given out (so numbers never repeat, even after every record was acknowledged).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const SEP: u8 = 0;

/// The most memory `redb` keeps pages in (its default is 1 GiB, filled as pages are read). The
/// local server's memory should not grow with the size of its data: with the default, the
/// server that exported 100,000 run users (and replayed their changes through the feed) held
/// 324 MiB more than the one that exported 10,000; with 4 MiB, 1.9 MiB more, at the same rows/s
/// (BENCHMARKS.md, "CSV export"). Pages beyond it are read again from the file, which the
/// operating system caches.
pub const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// The embedded table. Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
    changed: Arc<Notify>,
}

fn fail(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

impl EmbeddedTable {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        if let Some(dir) = path.as_ref().parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(fail)?;
        let txn = db.begin_write().map_err(fail)?;
        txn.open_table(ITEMS).map_err(fail)?;
        txn.open_table(GSI1).map_err(fail)?;
        txn.open_table(CHANGES).map_err(fail)?;
        txn.open_table(META).map_err(fail)?;
        txn.commit().map_err(fail)?;
        Ok(EmbeddedTable {
            db: Arc::new(db),
            changed: Arc::new(Notify::new()),
        })
    }

    /// Runs `work` in one write transaction; commits when it returns `Ok`, records its changes on
    /// the feed in the same transaction, and wakes feed consumers.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<(T, Vec<Change>), StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        let (value, changed) = blocking(move || {
            let txn = db.begin_write().map_err(fail)?;
            let (value, changes) = work(&txn)?;
            let changed = !changes.is_empty();
            record_changes(&txn, &changes)?;
            txn.commit().map_err(fail)?;
            Ok((value, changed))
        })
        .await?;
        if changed {
            self.changed.notify_waiters();
        }
        Ok(value)
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&redb::ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        // On the calling task: a redb read transaction never waits for a writer (it reads the
        // last committed state) and takes microseconds, less than handing it to a blocking
        // thread and back (which cost the local server two thirds of its metered throughput;
        // BENCHMARKS "Metering, load"). Writes, which sync to disk, still go to a blocking thread.
        let txn = self.db.begin_read().map_err(fail)?;
        work(&txn)
    }
}

async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(fail)?
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let bytes = encode_key(key)?;
        self.read(move |txn| {
            let table = txn.open_table(ITEMS).map_err(fail)?;
            match table.get(bytes.as_slice()).map_err(fail)? {
                Some(found) => Ok(Some(decode_item(found.value())?)),
                None => Ok(None),
            }
        })
        .await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let key =
            Key::of(&item).ok_or_else(|| StoreError::Invalid("an item needs PK and SK".into()))?;
        encode_key(&key)?;
        self.write(move |txn| {
            let old = load(txn, &key)?;
            let write = Write::Put { item, condition };
            let new = plan(&write, old.as_ref())?.ok_or(StoreError::ConditionFailed)?;
            let change = apply(txn, &key, old, new)?;
            Ok(((), change.into_iter().collect()))
        })
        .await
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<Condition>,
    ) -> Result<Item, StoreError> {
        let key = key.clone();
        encode_key(&key)?;
        self.write(move |txn| {
            let old = load(txn, &key)?;
            let current = old.clone();
            let write = Write::Update {
                key: key.clone(),
                update,
                condition,
            };
            let new = plan(&write, old.as_ref())?.ok_or(StoreError::ConditionFailed)?;
            let change = apply(txn, &key, old, new.clone())?;
            let item = new.or(current).unwrap_or_else(|| key_item(&key));
            Ok((item, change.into_iter().collect()))
        })
        .await
    }

    async fn delete(
        &self,
        key: &Key,
        condition: Option<Condition>,
    ) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        encode_key(&key)?;
        self.write(move |txn| {
            let old = load(txn, &key)?;
            let write = Write::Delete {
                key: key.clone(),
                condition,
            };
            plan(&write, old.as_ref())?.ok_or(StoreError::ConditionFailed)?;
            let change = apply(txn, &key, old.clone(), None)?;
            Ok((old, change.into_iter().collect()))
        })
        .await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        super::cursor_check::check(&query)?;
        self.query_page(query).await
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let keys = validate_transaction(&writes)?;
        for key in &keys {
            encode_key(key)?;
        }
        self.write(move |txn| {
            let mut planned = Vec::with_capacity(writes.len());
            let mut failed = Vec::new();
            for (index, (write, key)) in writes.iter().zip(&keys).enumerate() {
                let old = load(txn, key)?;
                match plan(write, old.as_ref())? {
                    Some(new) => planned.push((key, old, new)),
                    None => failed.push(index),
                }
            }
            if !failed.is_empty() {
                // Dropping the transaction without commit writes nothing.
                return Err(StoreError::TransactionCancelled { failed });
            }
            let mut changes = Vec::new();
            for (key, old, new) in planned {
                changes.extend(apply(txn, key, old, new)?);
            }
            Ok(((), changes))
        })
        .await
    }

    async fn scan(&self, cursor: Option<Item>) -> Result<Page, StoreError> {
        self.scan_page(cursor).await
    }
}
