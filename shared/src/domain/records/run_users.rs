//! What is stored for a profile's run users (see `keys` for where).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::email::Email;

/// One tag of a run user: custom sign-up fields become tags, and policies target them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A run user (`PROFILE#pid / RUNUSER#uid`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunUserRecord {
    pub uid: Uuid,
    pub pid: Uuid,
    pub email: Email,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<DateTime<Utc>>,
    /// argon2id; absent for a user created without a password (who signs in after a reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Raised by every change that must end the user's sessions (deactivation, a new password):
    /// a session opened under an older version no longer works.
    #[serde(default)]
    pub session_version: i64,
    /// Raised by every write of the record: a write conditioned on the revision it read loses
    /// no concurrent change.
    #[serde(default)]
    pub revision: i64,
}

impl RunUserRecord {
    /// A new, active run user of profile `pid` without a password, tags or optional fields,
    /// created `now` (the rest is set by the caller: `RunUserRecord { tags, ..new(…) }`).
    pub fn new(pid: Uuid, email: Email, name: String, now: DateTime<Utc>) -> Self {
        RunUserRecord {
            uid: Uuid::now_v7(),
            pid,
            email,
            name,
            timezone: None,
            company: None,
            phone: None,
            language: None,
            tags: Vec::new(),
            active: true,
            created_at: now,
            updated_at: now,
            last_login: None,
            password_hash: None,
            session_version: 0,
            revision: 0,
        }
    }

    /// The value of tag `key`, if the user carries it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|tag| tag.key == key)
            .map(|tag| tag.value.as_str())
    }
}

/// An index entry of a run user (the e-mail claim, a name or a tag entry): which user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunUserEntry {
    pub uid: Uuid,
}

/// A run user's session (`TOKEN#<digest>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSessionRecord {
    pub pid: Uuid,
    pub uid: Uuid,
    /// The user's `session_version` when the session opened.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ttl: i64,
}

/// The secret of a run user's password-reset link (`TOKEN#<digest>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResetTokenRecord {
    pub pid: Uuid,
    pub uid: Uuid,
    pub rid: Uuid,
    /// The user's `session_version` when the link was made: a new password since makes the
    /// link stale.
    pub version: i64,
    pub expires_at: DateTime<Utc>,
    pub ttl: i64,
}

/// A run user's password-reset request (`PROFILE#pid / RUNRESET#rid`): its insertion makes the
/// notifications handler e-mail a link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResetRequestRecord {
    pub rid: Uuid,
    pub pid: Uuid,
    pub uid: Uuid,
    pub email: Email,
    pub profile_name: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// SHA-256 of the link's secret, once the e-mail was prepared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hash: Option<String>,
    pub ttl: i64,
}

/// The type of a custom sign-up field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Text,
    Number,
    Email,
    Phone,
    Select,
}

/// A custom sign-up field: its value becomes the tag `{key, value}` of the new user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupField {
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
    /// The values a `select` field offers (only for `select`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
}

/// A profile's sign-up settings (`PROFILE#pid / RUNSETTINGS`). Without the item, sign-up is off
/// and there are no custom fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupSettings {
    pub signup_enabled: bool,
    #[serde(default)]
    pub fields: Vec<SignupField>,
}
