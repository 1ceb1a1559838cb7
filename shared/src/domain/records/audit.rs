//! Audit entries (`PROFILE#pid | ACCOUNT#aid / AUDIT#<uuid v7>`, DESIGN.md "Audit log").

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// An account, through a login session (or the account itself, at login or by a link).
    Account,
    /// A profile's API token (`id` is the token's id).
    Token,
    /// A run user of the profile.
    RunUser,
    /// Tenantry itself (the maintenance job); no `id`.
    System,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    pub kind: ActorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
}

impl Actor {
    pub fn account(aid: Uuid) -> Self {
        Actor {
            kind: ActorKind::Account,
            id: Some(aid),
        }
    }
    pub fn token(tid: Uuid) -> Self {
        Actor {
            kind: ActorKind::Token,
            id: Some(tid),
        }
    }
    pub fn run_user(uid: Uuid) -> Self {
        Actor {
            kind: ActorKind::RunUser,
            id: Some(uid),
        }
    }
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            id: None,
        }
    }
}

/// What was done to what. Stable dotted names: clients filter on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Action {
    #[serde(rename = "profile.created")]
    ProfileCreated,
    #[serde(rename = "profile.updated")]
    ProfileUpdated,
    #[serde(rename = "profile.deleted")]
    ProfileDeleted,
    #[serde(rename = "limits.updated")]
    LimitsUpdated,
    #[serde(rename = "invitation.created")]
    InvitationCreated,
    #[serde(rename = "invitation.resent")]
    InvitationResent,
    #[serde(rename = "invitation.revoked")]
    InvitationRevoked,
    #[serde(rename = "invitation.accepted")]
    InvitationAccepted,
    #[serde(rename = "invitation.declined")]
    InvitationDeclined,
    #[serde(rename = "invitation.expired")]
    InvitationExpired,
    #[serde(rename = "member.role_changed")]
    MemberRoleChanged,
    #[serde(rename = "member.removed")]
    MemberRemoved,
    #[serde(rename = "token.created")]
    TokenCreated,
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    #[serde(rename = "run_user.created")]
    RunUserCreated,
    #[serde(rename = "run_user.updated")]
    RunUserUpdated,
    #[serde(rename = "run_user.password_set")]
    RunUserPasswordSet,
    #[serde(rename = "run_user.deleted")]
    RunUserDeleted,
    #[serde(rename = "settings.updated")]
    SettingsUpdated,
    #[serde(rename = "policy.created")]
    PolicyCreated,
    #[serde(rename = "policy.updated")]
    PolicyUpdated,
    #[serde(rename = "policy.deleted")]
    PolicyDeleted,
    #[serde(rename = "resource_types.updated")]
    ResourceTypesUpdated,
    #[serde(rename = "login.succeeded")]
    LoginSucceeded,
    #[serde(rename = "login.failed")]
    LoginFailed,
    #[serde(rename = "password.changed")]
    PasswordChanged,
    #[serde(rename = "password.reset")]
    PasswordReset,
    #[serde(rename = "email.verified")]
    EmailVerified,
    #[serde(rename = "session.revoked")]
    SessionRevoked,
    #[serde(rename = "account.deleted")]
    AccountDeleted,
}

impl Action {
    /// Its stable name (`profile.updated`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The action named `name`, if any.
    pub fn named(name: &str) -> Option<Action> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }
}

/// What it was done to: `{type, id}` (`profile`, `token`, `run_user`, `policy`, `member`,
/// `invitation`, `account`, `session`, `settings`, `resource_types`, `limits`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "AuditTarget")]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl Target {
    pub fn new(kind: &str, id: impl ToString) -> Self {
        Target {
            kind: kind.to_owned(),
            id: id.to_string(),
        }
    }
}

/// One audit entry. Never a secret's or a password's value: changed fields by name only.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: Action,
    pub target: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The names of the fields the change set.
    #[serde(default)]
    pub fields: Vec<String>,
    pub ttl: i64,
}
