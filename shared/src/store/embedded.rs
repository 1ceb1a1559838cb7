//! The embedded adapter of the table port: in-process, persistent on disk (`redb`), with the same
//! semantics as DynamoDB and a durable change feed that stands in for DynamoDB Streams.
//!
//! Every write runs in one `redb` write transaction, which `redb` serialises: a condition checked
//! inside it cannot be raced. The change records of a write are stored in that same transaction,
//! so the feed never misses or invents a change.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde_json::Value;
use tokio::sync::Notify;

use super::{
    Change, Condition, GSI1PK, GSI1SK, Index, Item, Key, PAGE_BYTES, PK, Page, Query, SK, SortKey,
    StoreError, TTL, Table, Update, Write, apply_update, condition_holds, key_item, strip_nulls,
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
/// How many change records the feed keeps when nobody acknowledges them.
const FEED_RETENTION: u64 = 100_000;

const SEP: u8 = 0;

/// The embedded table. Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct EmbeddedTable {
    db: Arc<Database>,
    changed: Arc<Notify>,
}

fn fail(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn encode_key(key: &Key) -> Result<Vec<u8>, StoreError> {
    if key.pk.is_empty() || key.sk.is_empty() {
        return Err(StoreError::Invalid("PK and SK must not be empty".into()));
    }
    if key.pk.as_bytes().contains(&SEP) || key.sk.as_bytes().contains(&SEP) {
        return Err(StoreError::Invalid("keys must not contain NUL".into()));
    }
    let mut bytes = Vec::with_capacity(key.pk.len() + key.sk.len() + 1);
    bytes.extend_from_slice(key.pk.as_bytes());
    bytes.push(SEP);
    bytes.extend_from_slice(key.sk.as_bytes());
    Ok(bytes)
}

fn gsi_key(item: &Item, primary: &[u8]) -> Option<Vec<u8>> {
    let pk = item.get(GSI1PK)?.as_str()?;
    let sk = item.get(GSI1SK)?.as_str()?;
    let mut bytes = Vec::with_capacity(pk.len() + sk.len() + primary.len() + 2);
    bytes.extend_from_slice(pk.as_bytes());
    bytes.push(SEP);
    bytes.extend_from_slice(sk.as_bytes());
    bytes.push(SEP);
    bytes.extend_from_slice(primary);
    Some(bytes)
}

/// The primary key bytes at the end of a GSI entry (after the second separator).
fn primary_of_gsi_entry(entry: &[u8]) -> &[u8] {
    let mut seps = 0;
    for (i, byte) in entry.iter().enumerate() {
        if *byte == SEP {
            seps += 1;
            if seps == 2 {
                return &entry[i + 1..];
            }
        }
    }
    &[]
}

fn decode_item(bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes).map_err(fail)
}

fn encode_item(item: &Item) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(item).map_err(fail)
}

fn check_numbers(item: &Item) -> Result<(), StoreError> {
    fn ok(value: &Value) -> bool {
        match value {
            Value::Number(n) => n.is_i64() || n.is_u64(),
            Value::Array(values) => values.iter().all(ok),
            Value::Object(map) => map.values().all(ok),
            _ => true,
        }
    }
    if item.values().all(ok) {
        Ok(())
    } else {
        Err(StoreError::Invalid("numbers must be integers".into()))
    }
}

/// The cursor a page ends with: the key attributes of its last item (and the index's, on GSI1).
fn cursor_of(item: &Item, index: Index) -> Item {
    let attrs: &[&str] = match index {
        Index::Table => &[PK, SK],
        Index::Gsi1 => &[PK, SK, GSI1PK, GSI1SK],
    };
    attrs
        .iter()
        .filter_map(|a| item.get(*a).map(|v| ((*a).to_owned(), v.clone())))
        .collect()
}

fn string_attr(item: &Item, attr: &str) -> Result<String, StoreError> {
    item.get(attr)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Invalid(format!("the cursor lacks `{attr}`")))
}

/// The index key a cursor points at.
fn cursor_position(cursor: &Item, index: Index) -> Result<Vec<u8>, StoreError> {
    let primary = encode_key(&Key::new(
        string_attr(cursor, PK)?,
        string_attr(cursor, SK)?,
    ))?;
    match index {
        Index::Table => Ok(primary),
        Index::Gsi1 => gsi_key(cursor, &primary)
            .ok_or_else(|| StoreError::Invalid("the cursor lacks the index key".into())),
    }
}

fn prefix_bytes(partition: &str, sort: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(partition.len() + sort.len() + 1);
    bytes.extend_from_slice(partition.as_bytes());
    bytes.push(SEP);
    bytes.extend_from_slice(sort.as_bytes());
    bytes
}

/// The smallest byte string greater than every string starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl EmbeddedTable {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        if let Some(dir) = path.as_ref().parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let db = Database::create(path).map_err(fail)?;
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

    /// Woken after every committed write, for change-feed consumers.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Up to `max` change records after sequence number `after`, oldest first.
    pub async fn changes_after(
        &self,
        after: u64,
        max: usize,
    ) -> Result<Vec<(u64, Change)>, StoreError> {
        let db = self.db.clone();
        blocking(move || {
            let txn = db.begin_read().map_err(fail)?;
            let table = txn.open_table(CHANGES).map_err(fail)?;
            let mut out = Vec::new();
            for entry in table
                .range((Bound::Excluded(after), Bound::Unbounded))
                .map_err(fail)?
                .take(max)
            {
                let (seq, bytes) = entry.map_err(fail)?;
                out.push((seq.value(), decode_change(bytes.value())?));
            }
            Ok(out)
        })
        .await
    }

    /// Forgets change records up to and including `upto`, once they have been handled.
    pub async fn ack_changes(&self, upto: u64) -> Result<(), StoreError> {
        let db = self.db.clone();
        blocking(move || {
            let txn = db.begin_write().map_err(fail)?;
            {
                let mut table = txn.open_table(CHANGES).map_err(fail)?;
                table.retain_in(..=upto, |_, _| false).map_err(fail)?;
            }
            txn.commit().map_err(fail)
        })
        .await
    }

    /// Deletes the items whose `ttl` has passed, as DynamoDB's TTL does (lazily, in the
    /// background); each deletion is reported on the change feed. Returns how many went.
    pub async fn purge_expired(&self, now_epoch_seconds: i64) -> Result<usize, StoreError> {
        let db = self.db.clone();
        let purged = blocking(move || {
            let txn = db.begin_write().map_err(fail)?;
            let mut expired = Vec::new();
            {
                let items = txn.open_table(ITEMS).map_err(fail)?;
                for entry in items.iter().map_err(fail)? {
                    let (_, bytes) = entry.map_err(fail)?;
                    let item = decode_item(bytes.value())?;
                    let due = item.get(TTL).and_then(Value::as_i64);
                    if due.is_some_and(|due| due < now_epoch_seconds)
                        && let Some(key) = Key::of(&item)
                    {
                        expired.push(key);
                    }
                }
            }
            let mut changes = Vec::new();
            for key in &expired {
                if let Some(old) = remove_item(&txn, key)? {
                    changes.push(Change {
                        key: key.clone(),
                        old: Some(old),
                        new: None,
                        expired: true,
                    });
                }
            }
            record_changes(&txn, &changes)?;
            txn.commit().map_err(fail)?;
            Ok(expired.len())
        })
        .await?;
        if purged > 0 {
            self.changed.notify_waiters();
        }
        Ok(purged)
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
        let db = self.db.clone();
        blocking(move || {
            let txn = db.begin_read().map_err(fail)?;
            work(&txn)
        })
        .await
    }
}

async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(work).await.map_err(fail)?
}

fn decode_change(bytes: &[u8]) -> Result<Change, StoreError> {
    let value: Value = serde_json::from_slice(bytes).map_err(fail)?;
    let image = |name: &str| -> Option<Item> { value.get(name)?.as_object().cloned() };
    let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(Change {
        key: Key::new(
            text("pk").ok_or_else(|| fail("a change record without pk"))?,
            text("sk").ok_or_else(|| fail("a change record without sk"))?,
        ),
        old: image("old"),
        new: image("new"),
        expired: value
            .get("expired")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn record_changes(txn: &WriteTransaction, changes: &[Change]) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(CHANGES).map_err(fail)?;
    let mut meta = txn.open_table(META).map_err(fail)?;
    let last_given = meta.get("last_seq").map_err(fail)?.map(|v| v.value());
    let last_kept = table.last().map_err(fail)?.map(|(last, _)| last.value());
    let mut seq = last_given.max(last_kept).unwrap_or(0);
    for change in changes {
        seq += 1;
        let record = serde_json::json!({
            "pk": change.key.pk,
            "sk": change.key.sk,
            "old": change.old,
            "new": change.new,
            "expired": change.expired,
        });
        let bytes = serde_json::to_vec(&record).map_err(fail)?;
        table.insert(seq, bytes.as_slice()).map_err(fail)?;
    }
    meta.insert("last_seq", seq).map_err(fail)?;
    if seq > FEED_RETENTION && table.len().map_err(fail)? > FEED_RETENTION {
        let keep_from = seq - FEED_RETENTION;
        table.retain_in(..keep_from, |_, _| false).map_err(fail)?;
    }
    Ok(())
}

fn load(txn: &WriteTransaction, key: &Key) -> Result<Option<Item>, StoreError> {
    let table = txn.open_table(ITEMS).map_err(fail)?;
    let bytes = encode_key(key)?;
    match table.get(bytes.as_slice()).map_err(fail)? {
        Some(found) => Ok(Some(decode_item(found.value())?)),
        None => Ok(None),
    }
}

/// Stores `item` (replacing what was under its key) and keeps the index in step.
fn store_item(txn: &WriteTransaction, old: Option<&Item>, item: &Item) -> Result<(), StoreError> {
    check_numbers(item)?;
    let key = Key::of(item).ok_or_else(|| StoreError::Invalid("an item needs PK and SK".into()))?;
    let primary = encode_key(&key)?;
    let mut gsi = txn.open_table(GSI1).map_err(fail)?;
    if let Some(old_entry) = old.and_then(|old| gsi_key(old, &primary)) {
        gsi.remove(old_entry.as_slice()).map_err(fail)?;
    }
    if let Some(entry) = gsi_key(item, &primary) {
        gsi.insert(entry.as_slice(), ()).map_err(fail)?;
    }
    let mut items = txn.open_table(ITEMS).map_err(fail)?;
    items
        .insert(primary.as_slice(), encode_item(item)?.as_slice())
        .map_err(fail)?;
    Ok(())
}

fn remove_item(txn: &WriteTransaction, key: &Key) -> Result<Option<Item>, StoreError> {
    let primary = encode_key(key)?;
    let old = {
        let mut items = txn.open_table(ITEMS).map_err(fail)?;
        let removed = items.remove(primary.as_slice()).map_err(fail)?;
        match removed {
            Some(bytes) => Some(decode_item(bytes.value())?),
            None => None,
        }
    };
    if let Some(entry) = old.as_ref().and_then(|old| gsi_key(old, &primary)) {
        let mut gsi = txn.open_table(GSI1).map_err(fail)?;
        gsi.remove(entry.as_slice()).map_err(fail)?;
    }
    Ok(old)
}

/// What one write would leave under its key: `Some(new item)`, `None` for a deletion, or the
/// write's own error. Does not store anything.
fn plan(write: &Write, current: Option<&Item>) -> Result<Option<Option<Item>>, StoreError> {
    let holds = |condition: &Option<Condition>| {
        condition
            .as_ref()
            .is_none_or(|condition| condition_holds(condition, current))
    };
    match write {
        Write::Put { item, condition } => {
            if !holds(condition) {
                return Ok(None);
            }
            let item = strip_nulls(item.clone());
            check_numbers(&item)?;
            Ok(Some(Some(item)))
        }
        Write::Update {
            key,
            update,
            condition,
        } => {
            if !holds(condition) {
                return Ok(None);
            }
            Ok(Some(Some(apply_update(key, update, current)?)))
        }
        Write::Delete { condition, .. } => {
            if !holds(condition) {
                return Ok(None);
            }
            Ok(Some(None))
        }
        Write::Check { condition, .. } => {
            if !condition_holds(condition, current) {
                return Ok(None);
            }
            // Nothing to write: leave the item as it is.
            Ok(Some(current.cloned()))
        }
    }
}

/// Applies the planned outcome of a write under `key`; returns the change, if anything changed.
fn apply(
    txn: &WriteTransaction,
    key: &Key,
    old: Option<Item>,
    new: Option<Item>,
) -> Result<Option<Change>, StoreError> {
    if old == new {
        return Ok(None);
    }
    match &new {
        Some(item) => store_item(txn, old.as_ref(), item)?,
        None => {
            remove_item(txn, key)?;
        }
    }
    Ok(Some(Change {
        key: key.clone(),
        old,
        new,
        expired: false,
    }))
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
        let (start, end) = match &query.sort {
            SortKey::All => {
                let start = prefix_bytes(&query.partition, "");
                let end = prefix_end(&start);
                (
                    Bound::Included(start),
                    end.map_or(Bound::Unbounded, Bound::Excluded),
                )
            }
            SortKey::Prefix(prefix) => {
                let start = prefix_bytes(&query.partition, prefix);
                let end = prefix_end(&start);
                (
                    Bound::Included(start),
                    end.map_or(Bound::Unbounded, Bound::Excluded),
                )
            }
            SortKey::Between(from, to) => {
                // On GSI1 an entry continues after the sort key (`\0 PK \0 SK`), so "up to `to`"
                // means every entry that starts with `to \0`.
                let upper = prefix_bytes(&query.partition, to);
                let end = match query.index {
                    Index::Table => Bound::Included(upper),
                    Index::Gsi1 => {
                        let mut with_sep = upper;
                        with_sep.push(SEP);
                        prefix_end(&with_sep).map_or(Bound::Unbounded, Bound::Excluded)
                    }
                };
                (Bound::Included(prefix_bytes(&query.partition, from)), end)
            }
        };
        let resume = match &query.cursor {
            Some(cursor) => Some(cursor_position(cursor, query.index)?),
            None => None,
        };
        let (start, end) = match (resume, query.forward) {
            (Some(after), true) => (Bound::Excluded(after), end),
            (Some(before), false) => (start, Bound::Excluded(before)),
            (None, _) => (start, end),
        };
        let limit = query.limit.unwrap_or(usize::MAX).max(1);
        let index = query.index;
        let forward = query.forward;
        self.read(move |txn| {
            let items = txn.open_table(ITEMS).map_err(fail)?;
            let gsi = txn.open_table(GSI1).map_err(fail)?;
            let mut page = Page::default();
            let mut bytes_read = 0usize;
            let mut push = |bytes: &[u8]| -> Result<bool, StoreError> {
                // true: the page is full and more items follow.
                if page.items.len() >= limit || bytes_read >= PAGE_BYTES {
                    return Ok(true);
                }
                bytes_read += bytes.len();
                page.items.push(decode_item(bytes)?);
                Ok(false)
            };
            let mut full = false;
            match index {
                Index::Table => {
                    let range = items
                        .range::<&[u8]>((as_slice(&start), as_slice(&end)))
                        .map_err(fail)?;
                    let entries: Box<dyn Iterator<Item = _>> = if forward {
                        Box::new(range)
                    } else {
                        Box::new(range.rev())
                    };
                    for entry in entries {
                        let (_, value) = entry.map_err(fail)?;
                        if push(value.value())? {
                            full = true;
                            break;
                        }
                    }
                }
                Index::Gsi1 => {
                    let range = gsi
                        .range::<&[u8]>((as_slice(&start), as_slice(&end)))
                        .map_err(fail)?;
                    let entries: Box<dyn Iterator<Item = _>> = if forward {
                        Box::new(range)
                    } else {
                        Box::new(range.rev())
                    };
                    for entry in entries {
                        let (entry, _) = entry.map_err(fail)?;
                        let primary = primary_of_gsi_entry(entry.value());
                        let Some(found) = items.get(primary).map_err(fail)? else {
                            continue;
                        };
                        if push(found.value())? {
                            full = true;
                            break;
                        }
                    }
                }
            }
            if full {
                page.next = page.items.last().map(|item| cursor_of(item, index));
            }
            Ok(page)
        })
        .await
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
        let start = match &cursor {
            Some(cursor) => Bound::Excluded(cursor_position(cursor, Index::Table)?),
            None => Bound::Unbounded,
        };
        self.read(move |txn| {
            let items = txn.open_table(ITEMS).map_err(fail)?;
            let mut page = Page::default();
            let mut bytes_read = 0usize;
            for entry in items
                .range::<&[u8]>((as_slice(&start), Bound::Unbounded))
                .map_err(fail)?
            {
                let (_, value) = entry.map_err(fail)?;
                if bytes_read >= PAGE_BYTES {
                    page.next = page.items.last().map(|item| cursor_of(item, Index::Table));
                    break;
                }
                bytes_read += value.value().len();
                page.items.push(decode_item(value.value())?);
            }
            Ok(page)
        })
        .await
    }
}

fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(bytes) => Bound::Included(bytes.as_slice()),
        Bound::Excluded(bytes) => Bound::Excluded(bytes.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
