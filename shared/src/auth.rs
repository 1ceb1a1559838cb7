//! Who is calling, and what they may reach. One layer, deny by default: every route declares an
//! [`Access`]; the router refuses the request before the handler runs unless the caller meets it.

use axum::http::Method;
use uuid::Uuid;

use crate::app::App;
use crate::domain::Role;
use crate::domain::records::{MemberRecord, Permission, ProfileRecord, TokenRecord};
use crate::domain::usage;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::secrets::{self, SecretKind};
use crate::store::{Condition, Update};

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Anyone,
    /// An account's login session (not an API token).
    Session,
    /// Someone on the profile named by the path's `{pid}`, with at least this role, in this area.
    Profile(Role, Area),
}

/// What part of a profile a route touches; API tokens below `full` cannot reach `Governance`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The profile and its application side (run users, export, policies, usage).
    App,
    /// Team, tokens, limits and deleting the profile.
    Governance,
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub enum Principal {
    /// An account, through a login session: all the account's profiles, by role.
    Account { aid: Uuid, token_digest: String },
    /// A profile's API token: one profile, its creator's current role, capped by `permission`.
    Token {
        tid: Uuid,
        pid: Uuid,
        /// The creator.
        aid: Uuid,
        permission: Permission,
    },
}

impl Principal {
    /// The account this caller acts as.
    pub fn account_id(&self) -> Uuid {
        match self {
            Principal::Account { aid, .. } | Principal::Token { aid, .. } => *aid,
        }
    }
}

/// A caller cleared for one profile, with the profile as read while clearing it (its limits
/// and gauges included), so handlers need not read it again.
#[derive(Clone, Debug)]
pub struct ProfileCaller {
    pub pid: Uuid,
    pub role: Role,
    pub principal: Principal,
    pub profile: ProfileRecord,
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::Unauthorized(detail.to_owned())
}

/// How often a token's `last_used_at` is written, at most.
const LAST_USED_EVERY_SECONDS: i64 = 60;

/// The caller behind an `Authorization: Bearer …` header: one read of the token item (plus, at
/// most once a minute per API token, the write of its `last_used_at`).
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
    if !matches!(kind, SecretKind::Session | SecretKind::ProfileToken) {
        return Err(unauthorized("this kind of token cannot be used here"));
    }
    let digest = secrets::digest(secret);
    let key = keys::token(&digest);
    let item = app
        .table
        .get(&key)
        .await?
        .ok_or_else(|| unauthorized("the token is not valid or was revoked"))?;
    let record: TokenRecord = keys::from_item(item)?;
    let now = app.now();
    if record.expires_at().is_some_and(|at| at <= now) {
        return Err(unauthorized("the token has expired"));
    }
    match record {
        TokenRecord::Session(session) => Ok(Principal::Account {
            aid: session.aid,
            token_digest: digest,
        }),
        TokenRecord::Invitation(_) => Err(unauthorized("this kind of token cannot be used here")),
        TokenRecord::Profile(token) => {
            let epoch = now.timestamp();
            if token.last_used_epoch + LAST_USED_EVERY_SECONDS <= epoch {
                // Guarded: a revoked token is never re-created, and two requests in the same
                // minute write once.
                let touched = app
                    .table
                    .update(
                        &key,
                        Update::new()
                            .set("last_used_at", now.to_rfc3339())
                            .set("last_used_epoch", epoch),
                        Some(Condition::All(vec![
                            Condition::Exists,
                            Condition::Below(
                                "last_used_epoch".into(),
                                epoch - LAST_USED_EVERY_SECONDS + 1,
                            ),
                        ])),
                    )
                    .await;
                match touched {
                    Ok(_) | Err(crate::store::StoreError::ConditionFailed) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Ok(Principal::Token {
                tid: token.tid,
                pid: token.pid,
                aid: token.aid,
                permission: token.permission,
            })
        }
    }
}

/// Clears a session-only route: API tokens are refused.
pub fn for_session(principal: &Principal) -> ApiResult<()> {
    match principal {
        Principal::Account { .. } => Ok(()),
        Principal::Token { .. } => Err(ApiError::Forbidden(
            "this route needs a login session, not an API token".into(),
        )),
    }
}

/// Clears `principal` for profile `pid` when it holds at least `need` there and, for a token,
/// its permission covers `method` in `area`. Someone who is not on the profile (or a token of
/// another profile) gets 404, exactly as for a profile that does not exist.
pub async fn for_profile(
    app: &App,
    principal: Principal,
    pid: Uuid,
    need: Role,
    area: Area,
    method: &Method,
) -> ApiResult<ProfileCaller> {
    if let Principal::Token {
        pid: token_pid,
        permission,
        ..
    } = &principal
    {
        if *token_pid != pid {
            return Err(ApiError::not_found());
        }
        permission_covers(*permission, method, area)?;
    }
    // The membership and the profile, read at the same time.
    let member_key = keys::profile_member(pid, principal.account_id());
    let profile_key = keys::profile(pid);
    let (member, profile) = tokio::join!(app.table.get(&member_key), app.table.get(&profile_key));
    let (Some(member), Some(profile)) = (member?, profile?) else {
        return Err(ApiError::not_found());
    };
    let member: MemberRecord = keys::from_item(member)?;
    let profile: ProfileRecord = keys::from_item(profile)?;
    if member.role < need {
        return Err(ApiError::Forbidden(format!(
            "this needs the {} role on the profile",
            role_name(need)
        )));
    }
    usage::count_request(app, &profile).await?;
    Ok(ProfileCaller {
        pid,
        role: member.role,
        principal,
        profile,
    })
}

/// What each token permission allows: `read` safe methods outside governance, `write` anything
/// outside governance, `full` everything its creator may do.
pub fn permission_covers(permission: Permission, method: &Method, area: Area) -> ApiResult<()> {
    let safe = method == Method::GET || method == Method::HEAD;
    let allowed = match permission {
        Permission::Full => true,
        Permission::Write => area == Area::App,
        Permission::Read => area == Area::App && safe,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "a {} token cannot do this",
            match permission {
                Permission::Read => "read",
                Permission::Write => "write",
                Permission::Full => "full",
            }
        )))
    }
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

/// Tokens belong in the `Authorization` header only: a query string that carries one (or a
/// parameter named like one) is refused, so secrets never land in access logs.
pub fn refuse_query_tokens(query: Option<&str>) -> ApiResult<()> {
    let Some(query) = query else { return Ok(()) };
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = name.to_ascii_lowercase();
        let named_like_a_token = matches!(
            name.as_str(),
            "token" | "access_token" | "api_key" | "apikey" | "auth" | "authorization" | "bearer"
        );
        let looks_like_a_secret = SecretKind::ALL
            .iter()
            .any(|kind| value.starts_with(kind.prefix()));
        if named_like_a_token || looks_like_a_secret {
            return Err(ApiError::BadRequest(
                "tokens are accepted only in the Authorization: Bearer header, never in the URL"
                    .into(),
            ));
        }
    }
    Ok(())
}
