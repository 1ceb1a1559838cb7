//! Who is calling, and what they may reach. One layer, deny by default: every route declares an
//! [`Access`]; the router refuses the request before the handler runs unless the caller meets it.

use uuid::Uuid;

use crate::app::App;
use crate::domain::Role;
use crate::domain::records::{MemberRecord, TokenKind, TokenRecord};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::secrets::{self, SecretKind};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Anyone,
    /// An account's login session.
    Session,
    /// Someone on the profile named by the path's `{pid}`, with at least this role.
    Profile(Role),
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub enum Principal {
    /// An account, through a login session (reaches all the account's profiles, by role).
    Account { aid: Uuid, token_digest: String },
}

impl Principal {
    pub fn account_id(&self) -> Uuid {
        match self {
            Principal::Account { aid, .. } => *aid,
        }
    }
}

/// A caller cleared for one profile.
#[derive(Clone, Debug)]
pub struct ProfileCaller {
    pub pid: Uuid,
    pub role: Role,
    pub principal: Principal,
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::Unauthorized(detail.to_owned())
}

/// The caller behind an `Authorization: Bearer …` header: one read of the token item.
pub async fn authenticate(app: &App, authorization: Option<&str>) -> ApiResult<Principal> {
    let header =
        authorization.ok_or_else(|| unauthorized("an Authorization: Bearer token is required"))?;
    let secret = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    // A malformed secret or a failed checksum is refused without reading the store.
    let kind = secrets::parse(secret).ok_or_else(|| unauthorized("the token is not valid"))?;
    if kind != SecretKind::Session {
        return Err(unauthorized("this kind of token cannot be used here"));
    }
    let digest = secrets::digest(secret);
    let item = app
        .table
        .get(&keys::token(&digest))
        .await?
        .ok_or_else(|| unauthorized("the token is not valid or was revoked"))?;
    let record: TokenRecord = keys::from_item(item)?;
    if record.expires_at.is_some_and(|at| at <= app.now()) {
        return Err(unauthorized("the token has expired"));
    }
    match record.kind {
        TokenKind::Session => Ok(Principal::Account {
            aid: record.aid,
            token_digest: digest,
        }),
    }
}

/// Clears `principal` for profile `pid` when it holds at least `need` there. Someone who is not
/// on the profile gets 404, exactly as for a profile that does not exist.
pub async fn for_profile(
    app: &App,
    principal: Principal,
    pid: Uuid,
    need: Role,
) -> ApiResult<ProfileCaller> {
    let member = app
        .table
        .get(&keys::profile_member(pid, principal.account_id()))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let member: MemberRecord = keys::from_item(member)?;
    if member.role < need {
        return Err(ApiError::Forbidden(format!(
            "this needs the {} role on the profile",
            role_name(need)
        )));
    }
    Ok(ProfileCaller {
        pid,
        role: member.role,
        principal,
    })
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}
