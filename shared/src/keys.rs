//! The single-table key design of DESIGN.md, written once. Every item a tenant owns lives under
//! its own partition (`PROFILE#<pid>`), or names that profile in an attribute we can find it by.

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;
use crate::store::{GSI1PK, GSI1SK, Item, Key};

pub fn account(aid: Uuid) -> Key {
    Key::new(format!("ACCOUNT#{aid}"), "ACCOUNT")
}

/// The claim that makes an e-mail unique; `email` must already be normalised.
pub fn email_claim(email: &str) -> Key {
    Key::new(format!("EMAIL#{email}"), "EMAIL")
}

pub fn account_member(aid: Uuid, pid: Uuid) -> Key {
    Key::new(format!("ACCOUNT#{aid}"), format!("MEMBER#{pid}"))
}

pub fn account_partition(aid: Uuid) -> String {
    format!("ACCOUNT#{aid}")
}

pub fn profile(pid: Uuid) -> Key {
    Key::new(profile_partition(pid), "PROFILE")
}

pub fn profile_partition(pid: Uuid) -> String {
    format!("PROFILE#{pid}")
}

pub fn profile_member(pid: Uuid, aid: Uuid) -> Key {
    Key::new(profile_partition(pid), format!("MEMBER#{aid}"))
}

/// A session or API token, by the SHA-256 of its secret.
pub fn token(digest: &str) -> Key {
    Key::new(format!("TOKEN#{digest}"), "TOKEN")
}

pub const MEMBER_PREFIX: &str = "MEMBER#";

/// Serialises `value` into an item stored under `key`.
pub fn to_item<T: Serialize>(key: &Key, value: &T) -> Result<Item, ApiError> {
    let mut item = match serde_json::to_value(value) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return Err(ApiError::Internal),
    };
    item.insert("PK".into(), key.pk.clone().into());
    item.insert("SK".into(), key.sk.clone().into());
    Ok(crate::store::strip_nulls(item))
}

/// The same, also placed in the secondary index.
pub fn to_indexed_item<T: Serialize>(
    key: &Key,
    gsi1: (&str, &str),
    value: &T,
) -> Result<Item, ApiError> {
    let mut item = to_item(key, value)?;
    item.insert(GSI1PK.into(), gsi1.0.into());
    item.insert(GSI1SK.into(), gsi1.1.into());
    Ok(item)
}

/// Reads a stored item back into its record type (the key attributes are not part of it).
pub fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, ApiError> {
    for attr in ["PK", "SK", GSI1PK, GSI1SK] {
        item.remove(attr);
    }
    serde_json::from_value(serde_json::Value::Object(item)).map_err(|error| {
        tracing::error!(%error, "a stored item does not match its record type");
        ApiError::Internal
    })
}

/// The GSI1 partition that lists a profile's API tokens.
pub fn profile_tokens(pid: Uuid) -> String {
    format!("TOKENS#{pid}")
}

/// The GSI1 sort key of one API token.
pub fn token_index_sk(tid: Uuid) -> String {
    format!("TOKEN#{tid}")
}

pub fn invitation(pid: Uuid, iid: Uuid) -> Key {
    Key::new(profile_partition(pid), format!("INVITE#{iid}"))
}

pub const INVITE_PREFIX: &str = "INVITE#";

/// The GSI1 partition of the invitations addressed to one (normalised) e-mail.
pub fn invitee(email: &str) -> String {
    format!("INVITEE#{email}")
}

/// Marks the one pending invitation a profile may have for an e-mail.
pub fn pending_invitation(pid: Uuid, email: &str) -> Key {
    Key::new(profile_partition(pid), format!("PENDING#{email}"))
}

/// Counts a profile's invitations within one hour (`yyyy-mm-ddThh`).
pub fn invitation_rate(pid: Uuid, hour: &str) -> Key {
    Key::new(profile_partition(pid), format!("RATE#INVITES#{hour}"))
}

/// The sent-marker of one change record: written (with a condition) before its e-mail goes.
pub fn notification_marker(event_id: &str) -> Key {
    Key::new(format!("NOTIFIED#{event_id}"), "NOTIFIED")
}
