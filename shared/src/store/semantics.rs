//! The semantics of conditions, updates and transactions, written once for the adapters that
//! evaluate them themselves (and for tests that state what DynamoDB must agree with).

use serde_json::Value;

use super::{Condition, Item, Key, MAX_TRANSACTION_WRITES, PK, SK, StoreError, Update, Write};

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
        Condition::Any(any) => any.iter().any(|c| condition_holds(c, current)),
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

/// Refuses an update step on a key attribute (an update never moves an item).
pub(super) fn guard_key_attr(attr: &str) -> Result<(), StoreError> {
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
