//! What is stored, item by item (see `keys` for where).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A member's role on a profile. Ordered by power: member < admin < owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountRecord {
    pub aid: Uuid,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    /// Profiles this account owns (the last one cannot be deleted).
    #[serde(default)]
    pub profile_count: i64,
    /// Failed logins counted since `failed_since`.
    #[serde(default)]
    pub failed_logins: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_since: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailClaim {
    pub aid: Uuid,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileRecord {
    pub pid: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    pub owner: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Membership, profile side (`PROFILE#pid / MEMBER#aid`): the team is one query.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberRecord {
    pub pid: Uuid,
    pub aid: Uuid,
    pub role: Role,
    pub email: String,
    pub name: String,
    pub joined_at: DateTime<Utc>,
}

/// Membership, account side (`ACCOUNT#aid / MEMBER#pid`): "my profiles" is one query. Carries
/// the profile's name and logo so the list needs no further reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MembershipRecord {
    pub pid: Uuid,
    pub aid: Uuid,
    pub role: Role,
    pub profile_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    pub joined_at: DateTime<Utc>,
}

/// What a stored token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Session,
}

/// A session or token, stored under the SHA-256 of its secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenRecord {
    pub kind: TokenKind,
    pub aid: Uuid,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Epoch seconds at which DynamoDB TTL may remove the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}
