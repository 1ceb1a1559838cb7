//! How items and keys are laid out in `redb`: key bytes (`PK \0 SK`, and `GSI1PK \0 GSI1SK \0
//! PK \0 SK` in the index), items as JSON, and the cursors that resume a page.

use std::ops::Bound;

use serde_json::Value;

use super::{SEP, fail};
use crate::store::{GSI1PK, GSI1SK, Index, Item, Key, PK, SK, StoreError};

pub(super) fn encode_key(key: &Key) -> Result<Vec<u8>, StoreError> {
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

pub(super) fn gsi_key(item: &Item, primary: &[u8]) -> Option<Vec<u8>> {
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
pub(super) fn primary_of_gsi_entry(entry: &[u8]) -> &[u8] {
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

pub(super) fn decode_item(bytes: &[u8]) -> Result<Item, StoreError> {
    serde_json::from_slice(bytes).map_err(fail)
}

pub(super) fn encode_item(item: &Item) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(item).map_err(fail)
}

pub(super) fn check_numbers(item: &Item) -> Result<(), StoreError> {
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
pub(super) fn cursor_of(item: &Item, index: Index) -> Item {
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
pub(super) fn cursor_position(cursor: &Item, index: Index) -> Result<Vec<u8>, StoreError> {
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

pub(super) fn prefix_bytes(partition: &str, sort: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(partition.len() + sort.len() + 1);
    bytes.extend_from_slice(partition.as_bytes());
    bytes.push(SEP);
    bytes.extend_from_slice(sort.as_bytes());
    bytes
}

/// The smallest byte string greater than every string starting with `prefix`.
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

pub(super) fn as_slice(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(bytes) => Bound::Included(bytes.as_slice()),
        Bound::Excluded(bytes) => Bound::Excluded(bytes.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
