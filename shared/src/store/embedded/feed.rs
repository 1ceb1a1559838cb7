//! The change feed that stands in for DynamoDB Streams: every write records its changes in its
//! own transaction, consumers read and acknowledge them, and the TTL purge reports what expired.

use std::ops::Bound;
use std::sync::Arc;

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde_json::Value;
use tokio::sync::Notify;

use super::codec::decode_item;
use super::items::remove_item;
use super::{CHANGES, EmbeddedTable, ITEMS, META, blocking, fail};
use crate::store::{Change, Item, Key, StoreError, TTL};

/// How many change records the feed keeps when nobody acknowledges them.
const FEED_RETENTION: u64 = 100_000;

impl EmbeddedTable {
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

pub(super) fn record_changes(txn: &WriteTransaction, changes: &[Change]) -> Result<(), StoreError> {
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
