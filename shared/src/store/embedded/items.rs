//! Writes inside one `redb` transaction: load an item, plan what a write leaves under its key
//! (its condition checked), and store or remove it with its index entry.

use redb::{ReadableTable, WriteTransaction};

use super::codec::{check_numbers, decode_item, encode_item, encode_key, gsi_key};
use super::{GSI1, ITEMS, fail};
use crate::store::{
    Change, Condition, Item, Key, StoreError, Write, apply_update, condition_holds, strip_nulls,
};

pub(super) fn load(txn: &WriteTransaction, key: &Key) -> Result<Option<Item>, StoreError> {
    let table = txn.open_table(ITEMS).map_err(fail)?;
    let bytes = encode_key(key)?;
    match table.get(bytes.as_slice()).map_err(fail)? {
        Some(found) => Ok(Some(decode_item(found.value())?)),
        None => Ok(None),
    }
}

/// Stores `item` (replacing what was under its key) and keeps the index in step.
pub(super) fn store_item(
    txn: &WriteTransaction,
    old: Option<&Item>,
    item: &Item,
) -> Result<(), StoreError> {
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

pub(super) fn remove_item(txn: &WriteTransaction, key: &Key) -> Result<Option<Item>, StoreError> {
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
pub(super) fn plan(
    write: &Write,
    current: Option<&Item>,
) -> Result<Option<Option<Item>>, StoreError> {
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
pub(super) fn apply(
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
