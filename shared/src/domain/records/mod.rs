//! What is stored, item by item (see `keys` for where).

mod audit;
mod policies;
mod run_users;
pub use audit::*;
pub use policies::*;
pub use run_users::*;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalogue::{Amounts, Metering, Service};
use crate::email::Email;

/// A member's role on a profile. Ordered by power: member < admin < owner.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

/// What a token may do on its profile, on top of its creator's role.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Safe methods only (GET, HEAD), outside team, tokens and limits.
    Read,
    /// Anything but team, tokens, limits and deleting the profile.
    Write,
    /// Everything its creator may do.
    Full,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccountRecord {
    pub aid: Uuid,
    pub email: Email,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    /// Profiles this account owns (the last one cannot be deleted).
    #[serde(default)]
    pub profile_count: i64,
    /// No longer used: failed logins are counted in the throttle's own items
    /// (`domain::throttle`). Kept so items written before still read (a stray `failed_since`
    /// would otherwise land in `meters`, which holds only numbers).
    #[serde(default)]
    pub failed_logins: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_since: Option<DateTime<Utc>>,
    /// Whether the owner of the mailbox proved it (a verification link, or a password reset).
    #[serde(default)]
    pub email_verified: bool,
    /// Raised by sign-up and by every request for a new verification link: the notifications
    /// handler sends one verification e-mail per version; older links stop working.
    #[serde(default)]
    pub verify_version: i64,
    /// SHA-256 of the current verification link's secret, once its e-mail was prepared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token_hash: Option<String>,
    /// Set when the account's deletion began (by its owner, or to replace a stale unverified
    /// account): nothing verifies it any more, and a retry finishes the job.
    #[serde(default)]
    pub deleting: bool,
    /// `pool_<service>` and `alloc_<service>` (see `usage`).
    #[serde(flatten)]
    pub meters: BTreeMap<String, i64>,
}

impl AccountRecord {
    pub fn pool(&self) -> Amounts {
        Amounts::read(&self.meters, Service::pool_attr)
    }
    pub fn allocated(&self) -> Amounts {
        Amounts::read(&self.meters, Service::alloc_attr)
    }
}

/// The claim of an e-mail by an account (`EMAIL#<email> / CLAIM`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailClaim {
    pub aid: Uuid,
    /// The account's password hash, set in every transaction that sets the account's, so a
    /// login reads this one item (DECISIONS "Round trips"). A claim written before it was kept
    /// here has none: a login then reads the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

/// A deleted profile whose items are still being removed (`PURGE / PROFILE#<pid>`): written with
/// the profile's deletion, removed last by the purge (`profiles::purge`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingPurge {
    pub pid: Uuid,
    pub since: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProfileRecord {
    pub pid: Uuid,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    pub owner: Uuid,
    pub created_at: DateTime<Utc>,
    /// The policy-set version: raised (an atomic add) by every policy create, change and delete
    /// and every catalogue replacement, in the same transaction as the change; the compiled
    /// policies cached in memory are valid while it stays (`domain::policy_set`).
    #[serde(default)]
    pub policy_version: i64,
    /// `limit_<service>` and `used_<gauge>` (see `usage`).
    #[serde(flatten)]
    pub meters: BTreeMap<String, i64>,
}

impl ProfileRecord {
    pub fn limits(&self) -> Amounts {
        Amounts::read(&self.meters, Service::limit_attr)
    }
    pub fn limit(&self, service: Service) -> i64 {
        self.meters.get(&service.limit_attr()).copied().unwrap_or(0)
    }
    /// The current value of a gauge (0 for monthly services: read their usage item).
    pub fn gauge(&self, service: Service) -> i64 {
        match service.metering() {
            Metering::Gauge => self.meters.get(&service.used_attr()).copied().unwrap_or(0),
            Metering::Monthly => 0,
        }
    }
}

/// A profile's usage in one month (`PROFILE#pid / USAGE#yyyy-mm`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UsageRecord {
    #[serde(default)]
    pub month: String,
    #[serde(flatten)]
    pub counts: BTreeMap<String, i64>,
}

/// Membership, profile side (`PROFILE#pid / MEMBER#aid`): the team is one query.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberRecord {
    pub pid: Uuid,
    pub aid: Uuid,
    pub role: Role,
    pub email: Email,
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

/// A login session or a profile's API token, stored under the SHA-256 of its secret
/// (`TOKEN#<digest> / TOKEN`): verifying one is one read.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenRecord {
    Session(SessionRecord),
    Profile(ApiTokenRecord),
    /// The secret of an invitation link: which invitation, and which sending of it.
    Invitation(InvitationTokenRecord),
    /// The secret of an e-mail verification link: which account, which sending.
    Verification(VerificationTokenRecord),
    /// The secret of a password-reset link: which account, which request.
    Reset(ResetTokenRecord),
    /// A run user's session: one profile, one user, and the user's `session_version` it was
    /// opened under (raising that version ends every session at once).
    RunSession(RunSessionRecord),
    /// The secret of a run user's password-reset link.
    RunReset(RunResetTokenRecord),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerificationTokenRecord {
    pub aid: Uuid,
    /// The account's `verify_version` this link was sent for.
    pub version: i64,
    pub expires_at: DateTime<Utc>,
    pub ttl: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResetTokenRecord {
    pub aid: Uuid,
    /// The account's e-mail (its claim holds the password hash too).
    pub email: Email,
    pub rid: Uuid,
    pub expires_at: DateTime<Utc>,
    pub ttl: i64,
}

/// A password-reset request (`ACCOUNT#aid / RESET#<rid>`): its insertion makes the
/// notifications handler e-mail a link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ResetRequestRecord {
    pub rid: Uuid,
    pub aid: Uuid,
    pub email: Email,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// SHA-256 of the link's secret, once the e-mail was prepared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hash: Option<String>,
    pub ttl: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvitationTokenRecord {
    pub pid: Uuid,
    pub iid: Uuid,
    /// The invitation's `version` this link was sent for; a resend makes older links stale.
    pub version: i64,
    pub expires_at: DateTime<Utc>,
    pub ttl: i64,
}

/// Where an invitation stands. `expired`: its time has passed (the maintenance job stores it;
/// until then it is computed when read). An expired invitation can be resent or revoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Revoked,
    Expired,
}

/// An invitation (`PROFILE#pid / INVITE#iid`; GSI1 `INVITEE#<email> / INVITE#<iid>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvitationRecord {
    pub iid: Uuid,
    pub pid: Uuid,
    pub profile_name: String,
    /// The invitee's e-mail and account.
    pub email: Email,
    pub invitee: Uuid,
    pub role: Role,
    pub invited_by: Uuid,
    pub inviter_name: String,
    pub status: InvitationStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Raised by every resend; the notifications handler sends one e-mail per version.
    pub version: i64,
    /// SHA-256 of the current link's secret, once the e-mail was prepared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<DateTime<Utc>>,
}

impl InvitationRecord {
    /// The status as clients see it (pending past its expiry is `expired`).
    pub fn status_at(&self, now: DateTime<Utc>) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && self.expires_at <= now {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }
}

impl TokenRecord {
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self {
            TokenRecord::Session(session) => Some(session.expires_at),
            TokenRecord::Profile(token) => token.expires_at,
            TokenRecord::Invitation(link) => Some(link.expires_at),
            TokenRecord::Verification(link) => Some(link.expires_at),
            TokenRecord::Reset(link) => Some(link.expires_at),
            TokenRecord::RunSession(session) => Some(session.expires_at),
            TokenRecord::RunReset(link) => Some(link.expires_at),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionRecord {
    pub aid: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Epoch seconds at which DynamoDB TTL may remove the item.
    pub ttl: i64,
}

/// A profile's API token. Listed through GSI1 (`TOKENS#<pid>` / `TOKEN#<tid>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    pub tid: Uuid,
    pub pid: Uuid,
    /// The creator: the token acts as this account, capped by `permission`.
    pub aid: Uuid,
    pub name: String,
    pub permission: Permission,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// `last_used_at` as epoch seconds, for the once-a-minute write condition.
    #[serde(default)]
    pub last_used_epoch: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}
