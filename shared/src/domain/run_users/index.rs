//! The items beside each run user that let the list read only what it shows: an entry per
//! (lower-cased) name and per tag, the e-mail claim (kept by the record's writes), and the
//! profile's registry of tag keys. Entries hold only the user's id; the list re-reads the user
//! and checks every filter again, so an entry that outlived its value (see
//! [`apply_stale_deletes`]) can never put a user in the wrong list.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::super::records::{RunUserEntry, RunUserRecord};
use super::super::tx::Tx;
use super::fields::MAX_PROFILE_TAG_KEYS;
use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Key, MAX_TRANSACTION_WRITES, Update, Write};

/// The attribute of the tag-key registry that records `key`.
pub fn registry_attr(key: &str) -> String {
    format!("key:{key}")
}

/// The name and tag entries of `user` (what the list reads; the invariant checker expects them).
pub fn entries(user: &RunUserRecord) -> BTreeSet<Key> {
    let mut entries = BTreeSet::new();
    entries.insert(keys::run_name_entry(
        user.pid,
        &user.name.to_lowercase(),
        user.uid,
    ));
    for tag in &user.tags {
        entries.insert(keys::run_tag_entry(
            user.pid, &tag.key, &tag.value, user.uid,
        ));
    }
    entries
}

/// The entries to write and to remove when a user goes from `old` to `new` (either may be
/// absent: a creation, a deletion).
pub struct EntryChanges {
    pub put: Vec<Write>,
    pub delete: Vec<Key>,
}

pub fn changes(old: Option<&RunUserRecord>, new: Option<&RunUserRecord>) -> Decided<EntryChanges> {
    let before = old.map(entries).unwrap_or_default();
    let after = new.map(entries).unwrap_or_default();
    let mut put = Vec::new();
    if let Some(user) = new {
        for key in after.difference(&before) {
            put.push(Write::put(keys::to_item(
                key,
                &RunUserEntry { uid: user.uid },
            )?));
        }
    }
    let delete = before.difference(&after).cloned().collect();
    Ok(EntryChanges { put, delete })
}

/// Adds `changes` to `tx`: every new entry, and as many removals as the transaction still has
/// room for. Returns the removals left over, for [`apply_stale_deletes`] once `tx` committed.
pub fn add_changes(tx: &mut Tx, changes: EntryChanges) -> Vec<Key> {
    for write in changes.put {
        tx.add(write);
    }
    let mut left = Vec::new();
    for key in changes.delete {
        if tx.len() < MAX_TRANSACTION_WRITES {
            tx.add(Write::delete(key));
        } else {
            left.push(key);
        }
    }
    left
}

/// Removes entries that did not fit in their change's transaction. Until they are gone they
/// only cost the list a read: it checks every user it reads against the filters.
pub async fn apply_stale_deletes(app: &App, left: Vec<Key>) -> Decided<()> {
    for chunk in left.chunks(MAX_TRANSACTION_WRITES) {
        let writes = chunk.iter().cloned().map(Write::delete).collect();
        app.table.transact(writes).await?;
    }
    Ok(())
}

/// The tag keys ever used in profile `pid`, sorted (the export's columns).
pub async fn tag_keys(app: &App, pid: Uuid) -> Decided<Vec<String>> {
    let Some(item) = app.table.get(&keys::run_tag_keys(pid)).await? else {
        return Ok(Vec::new());
    };
    let mut registered: Vec<String> = item
        .keys()
        .filter_map(|attr| attr.strip_prefix("key:"))
        .map(str::to_owned)
        .collect();
    registered.sort();
    Ok(registered)
}

/// The write that registers the keys of `user`'s tags not yet in the profile's registry (none
/// when every key is known), refused when the profile would pass its number of tag keys.
pub async fn register_keys(app: &App, user: &RunUserRecord) -> Decided<Option<Write>> {
    if user.tags.is_empty() {
        return Ok(None);
    }
    let known = tag_keys(app, user.pid).await?;
    let new: Vec<&str> = user
        .tags
        .iter()
        .map(|tag| tag.key.as_str())
        .filter(|key| {
            known
                .binary_search_by(|known| known.as_str().cmp(key))
                .is_err()
        })
        .collect();
    if new.is_empty() {
        return Ok(None);
    }
    if known.len() + new.len() > MAX_PROFILE_TAG_KEYS {
        return Err(Refusal::invalid(
            "tags",
            format!("a profile uses at most {MAX_PROFILE_TAG_KEYS} different tag keys"),
        ));
    }
    let mut update = Update::new();
    for key in new {
        update = update.set(registry_attr(key), true);
    }
    Ok(Some(Write::update(keys::run_tag_keys(user.pid), update)))
}
