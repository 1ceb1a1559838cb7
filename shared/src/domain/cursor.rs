//! Paging cursors (DESIGN.md, "Security rules"): opaque to clients, bound to the list and the
//! profile they came from, and tamper-evident. A cursor carries a store page's `next` key and
//! an HMAC-SHA256 tag over that key, the list's name and the profile id; decoding refuses
//! (`Refusal::InvalidCursor`, 400) a cursor of another list or profile, an edited one, or
//! anything that is not a cursor at all, without telling which.
//!
//! The key is `CURSOR_SECRET` when set, else a random key made once and stored in the table
//! (`keys::cursor_key`), so every process (every Lambda instance) accepts the cursors of every
//! other: a per-process key would refuse a cursor whenever the next page lands on another
//! instance.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::app::App;
use crate::keys;
use crate::refusal::{Decided, Refusal};
use crate::store::{Condition, Item, StoreError};

type HmacSha256 = Hmac<Sha256>;

/// The longest cursor decoded; anything longer is refused before any work.
pub const MAX_CURSOR_CHARS: usize = 2048;

/// Tells the tag of one cursor format from any other use of the key.
const CONTEXT: &[u8] = b"tenantry-cursor-v1";

/// The key cursors are signed with (32 bytes).
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// A key derived from a configured secret (any length; its SHA-256).
    pub fn from_secret(secret: &str) -> Self {
        CursorKey(Sha256::digest(secret.as_bytes()).into())
    }

    /// A fresh random key.
    pub fn random() -> Decided<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| Refusal::Internal)?;
        Ok(CursorKey(bytes))
    }

    fn mac(&self, list: &str, pid: Uuid, payload: &[u8]) -> Decided<HmacSha256> {
        let mut mac = HmacSha256::new_from_slice(&self.0).map_err(|_| Refusal::Internal)?;
        // Length-prefixed parts: no two (list, profile, payload) triples share an input.
        for part in [CONTEXT, list.as_bytes(), pid.as_bytes(), payload] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        Ok(mac)
    }
}

/// The stored key item (`SECRET#CURSOR / SECRET`).
#[derive(Serialize, Deserialize)]
struct StoredKey {
    key: String,
}

/// The key of this deployment: `CURSOR_SECRET` when configured, else the one stored in the
/// table, made (with a condition, so concurrent first uses agree) when there is none yet.
pub async fn key(app: &App) -> Decided<CursorKey> {
    if let Some(secret) = &app.config.cursor_secret {
        return Ok(CursorKey::from_secret(secret));
    }
    // Stored once and never changed: each process reads it once.
    if let Some(bytes) = app.cursor_key.get() {
        return Ok(CursorKey(*bytes));
    }
    let key = stored_or_new(app).await?;
    Ok(CursorKey(*app.cursor_key.get_or_init(|| key.0)))
}

async fn stored_or_new(app: &App) -> Decided<CursorKey> {
    let item_key = keys::cursor_key();
    if let Some(item) = app.table.get(&item_key).await? {
        return stored(item);
    }
    let fresh = CursorKey::random()?;
    let record = StoredKey {
        key: URL_SAFE_NO_PAD.encode(fresh.0),
    };
    match app
        .table
        .put(
            keys::to_item(&item_key, &record)?,
            Some(Condition::NotExists),
        )
        .await
    {
        Ok(_) => Ok(fresh),
        // Another process stored one first: use that one.
        Err(StoreError::ConditionFailed) => match app.table.get(&item_key).await? {
            Some(item) => stored(item),
            None => Err(Refusal::Internal),
        },
        Err(error) => Err(error.into()),
    }
}

fn stored(item: Item) -> Decided<CursorKey> {
    let record: StoredKey = keys::from_item(item)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(record.key)
        .map_err(|_| Refusal::Internal)?;
    Ok(CursorKey(bytes.try_into().map_err(|_| Refusal::Internal)?))
}

fn invalid() -> Refusal {
    Refusal::InvalidCursor("the cursor is not valid for this list".into())
}

/// The opaque cursor of list `list` of profile `pid` that resumes after the store key `next`.
pub fn encode(key: &CursorKey, list: &str, pid: Uuid, next: &Item) -> Decided<String> {
    let payload = serde_json::to_vec(next).map_err(|_| Refusal::Internal)?;
    let tag = key.mac(list, pid, &payload)?.finalize().into_bytes();
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// The store key a cursor of list `list` of profile `pid` resumes after; refused (400
/// `invalid-cursor`) when it was made for another list or profile, was edited, or is not a
/// cursor.
pub fn decode(key: &CursorKey, list: &str, pid: Uuid, cursor: &str) -> Decided<Item> {
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(invalid());
    }
    let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
    // Constant-time comparison of the tag.
    key.mac(list, pid, &payload)?
        .verify_slice(&tag)
        .map_err(|_| invalid())?;
    match serde_json::from_slice(&payload) {
        Ok(serde_json::Value::Object(item)) => Ok(item),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next() -> Item {
        let mut item = Item::new();
        item.insert("PK".into(), "PROFILE#x".into());
        item.insert("SK".into(), "RUNUSER#y".into());
        item
    }

    fn key() -> CursorKey {
        CursorKey::from_secret("a test secret that is long enough!")
    }

    #[test]
    fn a_cursor_comes_back_as_the_key_it_was_made_from() {
        let pid = Uuid::now_v7();
        let cursor = encode(&key(), "run-users", pid, &next()).unwrap();
        assert_eq!(decode(&key(), "run-users", pid, &cursor).unwrap(), next());
    }

    #[test]
    fn a_cursor_is_opaque_url_safe_text() {
        let cursor = encode(&key(), "run-users", Uuid::now_v7(), &next()).unwrap();
        assert!(
            cursor
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert!(!cursor.contains("RUNUSER"));
    }

    #[test]
    fn a_cursor_of_another_list_is_refused() {
        let pid = Uuid::now_v7();
        let cursor = encode(&key(), "run-users", pid, &next()).unwrap();
        assert!(matches!(
            decode(&key(), "policies", pid, &cursor),
            Err(Refusal::InvalidCursor(_))
        ));
    }

    #[test]
    fn a_cursor_of_another_profile_is_refused() {
        let cursor = encode(&key(), "run-users", Uuid::now_v7(), &next()).unwrap();
        assert!(matches!(
            decode(&key(), "run-users", Uuid::now_v7(), &cursor),
            Err(Refusal::InvalidCursor(_))
        ));
    }

    #[test]
    fn a_cursor_signed_with_another_key_is_refused() {
        let pid = Uuid::now_v7();
        let cursor = encode(&key(), "run-users", pid, &next()).unwrap();
        let other = CursorKey::from_secret("another secret, also long enough..");
        assert!(matches!(
            decode(&other, "run-users", pid, &cursor),
            Err(Refusal::InvalidCursor(_))
        ));
    }

    #[test]
    fn an_edited_cursor_is_refused() {
        let pid = Uuid::now_v7();
        let cursor = encode(&key(), "run-users", pid, &next()).unwrap();
        let (payload, tag) = cursor.split_once('.').unwrap();
        // Another key under the original tag.
        let mut other = next();
        other.insert("PK".into(), "PROFILE#z".into());
        let forged = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap())
        );
        // Each character of the cursor changed in turn.
        let mut edits = vec![
            forged,
            format!("{payload}.{tag}x"),
            format!("{payload}x.{tag}"),
        ];
        for at in 0..cursor.len() {
            let mut bytes = cursor.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            edits.push(String::from_utf8(bytes).unwrap());
        }
        for edited in edits {
            if edited == cursor {
                continue;
            }
            assert!(
                matches!(
                    decode(&key(), "run-users", pid, &edited),
                    Err(Refusal::InvalidCursor(_))
                ),
                "{edited} was accepted"
            );
        }
    }

    #[test]
    fn garbage_is_refused() {
        let pid = Uuid::now_v7();
        for garbage in ["", ".", "abc", "abc.def", "!!!.???", &"A".repeat(5000)] {
            assert!(
                matches!(
                    decode(&key(), "run-users", pid, garbage),
                    Err(Refusal::InvalidCursor(_))
                ),
                "{garbage} was accepted"
            );
        }
    }

    #[test]
    fn a_non_object_payload_with_a_valid_tag_is_refused() {
        let pid = Uuid::now_v7();
        let payload = b"[1,2]";
        let tag = key()
            .mac("run-users", pid, payload)
            .unwrap()
            .finalize()
            .into_bytes();
        let cursor = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(tag)
        );
        assert!(matches!(
            decode(&key(), "run-users", pid, &cursor),
            Err(Refusal::InvalidCursor(_))
        ));
    }
}
